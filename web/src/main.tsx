import { render } from 'preact';
import { App } from './App';
import { initLang } from './i18n';
import './styles.css';

initLang();
const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}

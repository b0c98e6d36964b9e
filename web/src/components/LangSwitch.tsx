import { t, toggleLang } from '../i18n';
import { useSession } from '../session';

/** Toggles zh-CN ⇄ English; the choice is kept in localStorage. */
export function LangSwitch() {
  useSession(); // re-render on language change
  return (
    <button
      type="button"
      id="lang-switch"
      class="btn btn-ghost lang-switch"
      title={t('lang.switchTitle')}
      aria-label={t('lang.switchTitle')}
      onClick={() => toggleLang()}
    >
      {t('lang.other')}
    </button>
  );
}

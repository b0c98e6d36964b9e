// Hash router: "#/admin/sites?x=1" → path "/admin/sites".

import { useEffect, useState } from 'preact/hooks';

export function parseHash(hash: string): string {
  let h = hash.startsWith('#') ? hash.slice(1) : hash;
  const q = h.indexOf('?');
  if (q >= 0) h = h.slice(0, q);
  if (!h.startsWith('/')) h = '/' + h;
  if (h.length > 1 && h.endsWith('/')) h = h.slice(0, -1);
  return h;
}

export function currentPath(): string {
  return parseHash(window.location.hash);
}

export function navigate(path: string, replace = false): void {
  const hash = '#' + path;
  if (window.location.hash === hash) return;
  if (replace) {
    window.history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    window.location.hash = hash;
  }
}

export function useRoute(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const on = () => setPath(currentPath());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return path;
}

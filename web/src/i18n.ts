// Language handling: two dictionaries (strings.ts), a current language kept in
// localStorage, and t() to look strings up. Every visible string goes through t().

import { en, zhCN, type MessageKey } from './strings';

export type Lang = 'zh-CN' | 'en';
export const LANGS: readonly Lang[] = ['zh-CN', 'en'];
export const STORAGE_KEY = 'attendant.lang';

export const dictionaries: Record<Lang, Record<MessageKey, string>> = {
  en,
  'zh-CN': zhCN,
};

let current: Lang = 'en';
const listeners = new Set<(lang: Lang) => void>();

/** The language to start with: a stored choice wins, else zh for any zh* browser language. */
export function detectLang(stored: string | null | undefined, navigatorLanguage: string | null | undefined): Lang {
  if (stored === 'zh-CN' || stored === 'en') return stored;
  if (navigatorLanguage && navigatorLanguage.toLowerCase().startsWith('zh')) return 'zh-CN';
  return 'en';
}

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // e.g. storage disabled by the browser
  }
}

/** Reads the stored or browser language and applies it to the document. */
export function initLang(): Lang {
  const stored = storage()?.getItem(STORAGE_KEY) ?? null;
  const nav = typeof navigator === 'undefined' ? undefined : navigator.language;
  setLang(detectLang(stored, nav), false);
  return current;
}

export function getLang(): Lang {
  return current;
}

export function setLang(lang: Lang, persist = true): void {
  current = lang;
  if (persist) {
    try {
      storage()?.setItem(STORAGE_KEY, lang);
    } catch {
      /* quota or privacy mode: the choice just isn't remembered */
    }
  }
  if (typeof document !== 'undefined') {
    document.documentElement.lang = lang;
    document.title = t('app.title');
  }
  for (const fn of listeners) fn(lang);
}

export function otherLang(lang: Lang = current): Lang {
  return lang === 'en' ? 'zh-CN' : 'en';
}

export function toggleLang(): Lang {
  setLang(otherLang());
  return current;
}

export function onLangChange(fn: (lang: Lang) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Replaces {name} placeholders with params[name]; unknown placeholders stay as they are. */
export function interpolate(s: string, params?: Record<string, string | number>): string {
  if (!params) return s;
  return s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

export function t(key: MessageKey, params?: Record<string, string | number>, lang: Lang = current): string {
  const s = dictionaries[lang][key] ?? en[key] ?? key;
  return interpolate(s, params);
}

export function hasKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(en, key);
}

/**
 * Label of an enum value from the server, e.g. tEnum('kind', 'box') looks up
 * "kind.box". A value the dictionary does not know is shown as it came.
 */
export function tEnum(group: string, value: string | null | undefined, lang: Lang = current): string {
  if (value === null || value === undefined || value === '') return '';
  const key = `${group}.${value}`;
  return hasKey(key) ? t(key, undefined, lang) : value;
}

/** Date and time in the user's language; "" for null, the raw text if it doesn't parse. */
export function formatDateTime(iso: string | null | undefined, lang: Lang = current): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  });
}

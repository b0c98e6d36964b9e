// Time helpers shared by the review and compliance pages: <input
// type="datetime-local"> values ⇄ RFC 3339, times with seconds, clock and
// duration text.

import { getLang, t, type Lang } from './i18n';

const LOCAL_INPUT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/** Milliseconds since the epoch of an RFC 3339 time; NaN for null or junk. */
export function parseTime(iso: string | null | undefined): number {
  if (!iso) return NaN;
  return new Date(iso).getTime();
}

/**
 * The RFC 3339 (UTC) form of a datetime-local value, which is in the browser's
 * time zone: "" for an empty field, null when it doesn't parse. A value that
 * already carries a zone ("…Z", "…+08:00") is taken as it is.
 */
export function inputToRFC3339(value: string | null | undefined): string | null {
  const v = (value ?? '').trim();
  if (!v) return '';
  const m = LOCAL_INPUT.exec(v);
  let d: Date;
  if (m) {
    const n = (i: number) => Number(m[i] ?? 0);
    const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
    d = new Date(n(1), n(2) - 1, n(3), n(4), n(5), n(6), ms);
    // new Date() rolls 2025-02-30 over to March: refuse such dates.
    if (d.getFullYear() !== n(1) || d.getMonth() !== n(2) - 1 || d.getDate() !== n(3)) return null;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(v)) {
    d = new Date(v);
  } else {
    return null;
  }
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A datetime-local value (local time, to the second) for a Date, ms or RFC 3339 time; "" if invalid. */
export function toInputValue(when: Date | number | string | null | undefined): string {
  if (when === null || when === undefined || when === '') return '';
  const d = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Date and time to the second in the user's language; "" for null, the raw text if it doesn't parse. */
export function formatDateTimeSec(iso: string | null | undefined, lang: Lang = getLang()): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

/** Time of day to the second, e.g. "10:00:05". */
export function formatTimeOfDay(ms: number, lang: Lang = getLang()): string {
  if (!Number.isFinite(ms)) return '';
  return new Date(ms).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** A player's clock: "0:07.3", "12:00.0", "1:02:03.4" (tenths, rounded down). */
export function formatClock(seconds: number): string {
  const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  const tenths = Math.floor(s * 10 + 1e-6);
  const h = Math.floor(tenths / 36000);
  const m = Math.floor((tenths % 36000) / 600);
  const sec = Math.floor((tenths % 600) / 10);
  const d = tenths % 10;
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}.${d}` : `${m}:${pad(sec)}.${d}`;
}

/** "20 s", "1 min 5 s", "1 h 2 min" in the current language. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return t('time.hm', { h, m });
  if (m > 0) return t('time.ms', { m, s });
  return t('time.s', { s });
}

/**
 * "2025-03-04 10:00:05 – 10:00:25 (20 s)": the start with date, the end as a
 * time of day when it is the same day, and the length; one time for an instant.
 */
export function formatSpan(start: string | null | undefined, end: string | null | undefined, lang: Lang = getLang()): string {
  const a = parseTime(start);
  if (Number.isNaN(a)) return start ?? '';
  const from = formatDateTimeSec(start, lang);
  const b = parseTime(end);
  if (Number.isNaN(b) || b <= a) return from;
  const sameDay = new Date(a).toDateString() === new Date(b).toDateString();
  const to = sameDay ? formatTimeOfDay(b, lang) : formatDateTimeSec(end, lang);
  return `${from} – ${to} (${formatDuration((b - a) / 1000)})`;
}

/** The message key of what is wrong with a from/to pair of datetime-local values, or null. */
export function spanProblem(from: string, to: string): 'time.badFrom' | 'time.badTo' | 'time.fromAfterTo' | null {
  const a = inputToRFC3339(from);
  if (a === null) return 'time.badFrom';
  const b = inputToRFC3339(to);
  if (b === null) return 'time.badTo';
  if (a && b && parseTime(a) > parseTime(b)) return 'time.fromAfterTo';
  return null;
}

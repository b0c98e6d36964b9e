// A case's history (GET /cases/{id}/history): its audit entries in words.

import { tEnum, type Lang } from '../i18n';

/** One audit entry of a case, as the server gives it to reviewers. */
export interface HistoryEntry {
  seq: number;
  at: string;
  actor_id: string;
  actor_name: string;
  action: string;
  /** The action's details: the server's JSON, shown, never interpreted as markup. */
  detail: unknown;
  hash: string;
}

/** The action in words; an action the dictionary does not know is shown as it is. */
export function historyAction(action: string, lang?: Lang): string {
  return tEnum('auditAction', action, lang);
}

const MAX_FIELDS = 12;
const MAX_VALUE = 80;

/**
 * The details as "key value" pairs, nested objects flattened with dots
 * ("media.robot_lost 2"), in the server's order; long values cut, at most
 * MAX_FIELDS pairs.
 */
export function historyDetail(detail: unknown): string {
  const pairs: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (pairs.length >= MAX_FIELDS) return;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, sub] of Object.entries(v as Record<string, unknown>)) walk(sub, path ? `${path}.${k}` : k);
      return;
    }
    if (v === null || v === undefined || v === '') return;
    let text = Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : String(v);
    if (text.length > MAX_VALUE) text = `${text.slice(0, MAX_VALUE - 1)}…`;
    pairs.push(path ? `${path} ${text}` : text);
  };
  walk(detail, '');
  return pairs.join(' · ');
}

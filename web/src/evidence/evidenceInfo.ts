// Pure helpers of the compliance search page: the search query, sizes,
// hashes, which player fits an object, safe links.

import { DEFAULT_LIMIT, type QueryValue } from '../api';
import type { MessageKey } from '../strings';
import { inputToRFC3339, spanProblem } from '../time';
import { t } from '../i18n';
import type { Role, VerifyProblem } from '../types';

/** The search form as typed. */
export interface CaseSearch {
  site: string;
  kind: string;
  disposition: string;
  camera: string;
  device: string;
  handler: string;
  from: string;
  to: string;
}

export const EMPTY_SEARCH: CaseSearch = { site: '', kind: '', disposition: '', camera: '', device: '', handler: '', from: '', to: '' };

export function searchProblem(s: CaseSearch): MessageKey | null {
  return spanProblem(s.from, s.to);
}

/** Query of GET /api/v1/cases for the form, newest first. */
export function caseSearchParams(s: CaseSearch, cursor?: string | null, limit: number = DEFAULT_LIMIT): Record<string, QueryValue> {
  return {
    site_id: s.site,
    kind: s.kind,
    disposition: s.disposition,
    camera_id: s.camera.trim(),
    device_id: s.device.trim(),
    handler_id: s.handler.trim(),
    from: inputToRFC3339(s.from) ?? '',
    to: inputToRFC3339(s.to) ?? '',
    cursor: cursor ?? '',
    limit,
  };
}

/** "/evidence/<caseId>" → the case; "/evidence" → null. */
export function caseFromPath(path: string): string | null {
  const m = /^\/evidence\/([^/]+)$/.exec(path);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1] as string);
  } catch {
    return m[1] as string;
  }
}

export function evidencePath(caseId: string | null): string {
  return caseId ? `/evidence/${encodeURIComponent(caseId)}` : '/evidence';
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** "512 B", "1.5 KiB", "23.4 MiB". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return '';
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} ${UNITS[0]}` : `${v < 100 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

/** First 12 hex digits of a hash and an ellipsis (the full value goes in the title). */
export function shortHash(h: string | null | undefined, n = 12): string {
  if (!h) return '';
  return h.length > n ? `${h.slice(0, n)}…` : h;
}

export type PlayerKind = 'video' | 'audio' | 'image' | 'none';

/** Which element plays an object of this media type. */
export function playerKind(mediaType: string | null | undefined): PlayerKind {
  const mt = (mediaType ?? '').toLowerCase();
  if (mt.startsWith('video/')) return 'video';
  if (mt.startsWith('audio/')) return 'audio';
  if (mt.startsWith('image/')) return 'image';
  return 'none';
}

/** The URL if it is http(s) or same-origin, else null (never a javascript: or data: link from a server answer). */
export function safeHref(url: string | null | undefined): string | null {
  if (!url) return null;
  const u = url.trim();
  if (/^https?:\/\//i.test(u)) return u;
  if (u.startsWith('/') && !u.startsWith('//')) return u;
  return null;
}

/**
 * A share link as the user can pass it on: the server's own signed links are
 * paths ("/api/v1/evidence/…?sig="), made absolute with this page's origin.
 */
export function absoluteUrl(url: string, origin: string): string {
  const u = url.trim();
  return u.startsWith('/') && !u.startsWith('//') ? origin.replace(/\/+$/, '') + u : u;
}

/** "#2 sites/…/clip.mp4: sha256 mismatch", leaving out what the finding doesn't name. */
export function formatProblem(p: VerifyProblem): string {
  const where = p.key || p.evidence_id || '';
  if (p.seq && where) return t('evidence.problem', { seq: p.seq, key: where, problem: p.problem });
  if (where) return t('evidence.problemAt', { key: where, problem: p.problem });
  return p.problem;
}

/** Only supervisors and admins place or lift a legal hold. */
export function canHold(role: Role | undefined): boolean {
  return role === 'supervisor' || role === 'admin';
}

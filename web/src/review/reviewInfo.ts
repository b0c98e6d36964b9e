// Pure helpers of the box-event review page: paths, list queries, the
// disposition form, which evidence plays where.

import { DEFAULT_LIMIT, type QueryValue } from '../api';
import { roleLabel } from '../cameras/cameraInfo';
import { hasRef } from '../cases';
import { t } from '../i18n';
import type { MessageKey } from '../strings';
import { inputToRFC3339, spanProblem } from '../time';
import type { Camera, Case, DispositionFilter, Evidence } from '../types';

export type ReviewTab = 'pending' | 'normal' | 'abnormal';
export const REVIEW_TABS: readonly ReviewTab[] = ['pending', 'normal', 'abnormal'];

/** The disposition filter a tab lists: pending events have none yet. */
export function tabDisposition(tab: ReviewTab): DispositionFilter {
  return tab === 'pending' ? 'none' : tab;
}

/** The tab a case belongs in. */
export function caseTab(c: Pick<Case, 'disposition'>): ReviewTab {
  return c.disposition === 'normal' || c.disposition === 'abnormal' ? c.disposition : 'pending';
}

export interface ReviewPath {
  siteId: string | null;
  caseId: string | null;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** "/review" → nothing chosen; "/review/<site>" → a box; "/review/<site>/<case>" → a box and one of its events. */
export function parseReviewPath(path: string): ReviewPath {
  const m = /^\/review(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(path);
  if (!m) return { siteId: null, caseId: null };
  return { siteId: m[1] ? decode(m[1]) : null, caseId: m[1] && m[2] ? decode(m[2]) : null };
}

export function reviewPath(siteId: string | null, caseId?: string | null): string {
  if (!siteId) return '/review';
  const base = `/review/${encodeURIComponent(siteId)}`;
  return caseId ? `${base}/${encodeURIComponent(caseId)}` : base;
}

/** The filter fields as typed (datetime-local values, ids). */
export interface ReviewFilters {
  from: string;
  to: string;
  kind: string;
  handler: string;
  type: string;
}

export const EMPTY_REVIEW_FILTERS: ReviewFilters = { from: '', to: '', kind: '', handler: '', type: '' };

/** Why the filters can't be used, or null. */
export function reviewFiltersProblem(f: ReviewFilters): MessageKey | null {
  return spanProblem(f.from, f.to);
}

/** Query of GET /api/v1/cases for one tab of a box's events, newest first. */
export function reviewCaseParams(
  siteId: string,
  tab: ReviewTab,
  f: ReviewFilters,
  cursor?: string | null,
  limit: number = DEFAULT_LIMIT,
): Record<string, QueryValue> {
  return {
    site_id: siteId,
    kind: 'event',
    disposition: tabDisposition(tab),
    event_kind: f.kind,
    handler_id: f.handler.trim(),
    abnormal_type: f.type,
    from: inputToRFC3339(f.from) ?? '',
    to: inputToRFC3339(f.to) ?? '',
    cursor: cursor ?? '',
    limit,
  };
}

export type DispositionChoice = '' | 'normal' | 'abnormal';

export interface DispositionForm {
  disposition: DispositionChoice;
  abnormalType: string;
  remark: string;
}

/** Longest remark the server takes (characters); a longer one is refused here, never silently cut. */
export const REMARK_MAX = 2000;

/**
 * What is wrong with the form, or null. Abnormal needs a type, and one of
 * the configured types when the list is known.
 */
export function dispositionProblem(f: DispositionForm, types: readonly string[]): MessageKey | null {
  if (f.disposition !== 'normal' && f.disposition !== 'abnormal') return 'review.chooseDisposition';
  if (f.disposition === 'abnormal') {
    if (!f.abnormalType) return 'review.chooseType';
    if (types.length > 0 && !types.includes(f.abnormalType)) return 'review.chooseType';
  }
  if ([...f.remark.trim()].length > REMARK_MAX) return 'review.remarkTooLong';
  return null;
}

/** The body of POST /cases/{id}/disposition (call after dispositionProblem said null). */
export function dispositionBody(f: DispositionForm): { disposition: 'normal' | 'abnormal'; abnormal_type: string; remark: string } {
  return {
    disposition: f.disposition === 'abnormal' ? 'abnormal' : 'normal',
    abnormal_type: f.disposition === 'abnormal' ? f.abnormalType : '',
    remark: f.remark.trim(),
  };
}

/** The form for a case: its current disposition, if any. */
export function formFor(c: Pick<Case, 'disposition' | 'abnormal_type' | 'remark'> | null): DispositionForm {
  const d = c?.disposition === 'normal' || c?.disposition === 'abnormal' ? c.disposition : '';
  return { disposition: d, abnormalType: d === 'abnormal' ? (c?.abnormal_type ?? '') : '', remark: c?.remark ?? '' };
}

/**
 * The event to open after the current one was disposed: the next pending one
 * below it in the (newest first) list, else the nearest pending one above it.
 */
export function nextPending(list: readonly Pick<Case, 'id' | 'disposition'>[], currentId: string): string | null {
  const pending = (c: Pick<Case, 'id' | 'disposition'>) => c.id !== currentId && !c.disposition;
  const i = list.findIndex((c) => c.id === currentId);
  if (i >= 0) {
    for (let j = i + 1; j < list.length; j++) if (pending(list[j]!)) return list[j]!.id;
    for (let j = i - 1; j >= 0; j--) if (pending(list[j]!)) return list[j]!.id;
    return null;
  }
  return list.find(pending)?.id ?? null;
}

/** Whether the evidence is video the synchronised player shows. */
export function isVideo(e: Pick<Evidence, 'kind' | 'media_type'>): boolean {
  return e.kind === 'clip' || (e.media_type ?? '').toLowerCase().startsWith('video/');
}

/** Whether the evidence is a still picture (snapshots). */
export function isImage(e: Pick<Evidence, 'media_type'>): boolean {
  return (e.media_type ?? '').toLowerCase().startsWith('image/');
}

export interface EvidenceGroups {
  videos: Evidence[];
  images: Evidence[];
  purged: Evidence[];
}

/** Splits a case's evidence into playable videos, pictures, and objects retention deleted. */
export function groupEvidence(items: readonly Evidence[]): EvidenceGroups {
  const out: EvidenceGroups = { videos: [], images: [], purged: [] };
  for (const e of items) {
    if (e.purged_at) {
      if (isVideo(e) || isImage(e)) out.purged.push(e);
    } else if (isVideo(e)) out.videos.push(e);
    else if (isImage(e)) out.images.push(e);
  }
  return out;
}

/** Roles that may add events for a box (POST /api/v1/events). */
export function canAppendEvents(role: string | undefined): boolean {
  return role === 'agent' || role === 'supervisor' || role === 'admin';
}

/** The "append event" form as typed. */
export interface AppendForm {
  kind: string;
  from: string;
  to: string;
}

/** What is wrong with the append form, or null: a kind and a start are needed, the end is optional. */
export function appendProblem(f: AppendForm): MessageKey | null {
  if (!f.kind) return 'review.appendKindRequired';
  if (!f.from.trim()) return 'review.appendFromRequired';
  const span = spanProblem(f.from, f.to);
  if (span) return span;
  return null;
}

/** The body of POST /api/v1/events for the form (call after appendProblem said null). */
export function appendBody(siteId: string, f: AppendForm): { site_id: string; kind: string; at: string; end?: string } {
  const at = inputToRFC3339(f.from) ?? '';
  const end = inputToRFC3339(f.to) ?? '';
  return end ? { site_id: siteId, kind: f.kind, at, end } : { site_id: siteId, kind: f.kind, at };
}

/** Label of a camera by id: "Front door · Channel 2", or "Camera <id>" when the list doesn't have it. */
export function cameraLabel(cameras: readonly Camera[], id: string | null | undefined): string {
  if (!hasRef(id)) return t('common.dash');
  const cam = cameras.find((c) => c.id === id);
  return cam ? `${cam.name} · ${roleLabel(cam)}` : t('review.camera', { id });
}

// The parking system's answers as the gate-call page shows them: money in
// minor units, the permit, the vehicle's stay and photos, and which HTTP
// failures mean what (docs/parking.md). Pure.

import { evidenceContentUrl, type PayCode, type PlateLookup } from '../cases';

/** The longest plate the page sends (the server normalises and checks it: 422 for an invalid one). */
export const PLATE_MAX = 16;

/** The plate as typed, ready to send: trimmed, spaces and separators dropped, letters upper-case. */
export function cleanPlate(input: string): string {
  return input
    .trim()
    .replace(/[\s·•.\-_]/g, '')
    .toUpperCase()
    .slice(0, PLATE_MAX);
}

/** Digits after the decimal point of a currency (CNY 2, JPY 0); 2 when the browser does not know it. */
export function currencyDigits(currency: string): number {
  try {
    const d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
    return typeof d === 'number' ? d : 2;
  } catch {
    return 2;
  }
}

/** An amount in minor units as money in the user's language: 1250 CNY → "¥12.50" / "CN¥12.50". */
export function formatMoney(minor: number, currency: string, lang: string): string {
  const n = Number.isFinite(minor) ? minor : 0;
  if (!currency) return String(n);
  const digits = currencyDigits(currency);
  const value = n / 10 ** digits;
  try {
    return new Intl.NumberFormat(lang, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

/** What a failed plate lookup or pay-code request means for the agent. */
export type ParkingFailure = 'invalid_plate' | 'parking_error' | 'not_configured' | 'not_available' | 'no_plate' | 'closed' | 'other';

/** From the HTTP status (and the error code, which tells the 409s apart). */
export function parkingFailure(status: number, code = ''): ParkingFailure {
  switch (status) {
    case 409:
      return code === 'no_plate' ? 'no_plate' : 'closed';
    case 422:
    case 400:
      return 'invalid_plate';
    case 502:
    case 504:
      return 'parking_error';
    case 503:
      return 'not_configured';
    case 404:
    case 405:
      return 'not_available';
    default:
      return 'other';
  }
}

/** The fee line: "—" for nothing to pay, else the amount. */
export function feeText(l: Pick<PlateLookup, 'fee_due' | 'currency'>, lang: string): string {
  return l.fee_due > 0 ? formatMoney(l.fee_due, l.currency, lang) : '';
}

/** The permit as facts to show (null without one). */
export interface PermitFacts {
  kind: string;
  validUntil: string | null;
  expired: boolean;
  expiredDays: number;
}

export function permitFacts(l: Pick<PlateLookup, 'permit'>): PermitFacts | null {
  const p = l.permit;
  if (!p || typeof p !== 'object') return null;
  return {
    kind: typeof p.kind === 'string' ? p.kind : '',
    validUntil: typeof p.valid_until === 'string' ? p.valid_until : null,
    expired: !!p.expired,
    expiredDays: Number.isFinite(p.expired_days) ? Math.max(0, Math.floor(p.expired_days)) : 0,
  };
}

/** Whether a pay code can go to the robot display now. */
export function payCodeUsable(pc: PayCode, now: number): boolean {
  if (!pc.issued || !pc.payload) return false;
  if (!pc.expires_at) return true;
  const at = Date.parse(pc.expires_at);
  return Number.isNaN(at) || at > now;
}

/** A vehicle photo as the page shows it. */
export interface ShownPhoto {
  evidenceId: string;
  kind: 'entry' | 'exit';
  takenAt: string;
  /** This server's evidence content path, as for the snapshot thumbnails. */
  src: string;
}

/**
 * The lookup's photos the page can show: an evidence id and a known kind.
 * The picture is read from the evidence content path built here (the same
 * path as content_url), so nothing in the answer points the page elsewhere.
 */
export function platePhotos(l: Pick<PlateLookup, 'photos'>): ShownPhoto[] {
  const out: ShownPhoto[] = [];
  for (const p of Array.isArray(l.photos) ? l.photos : []) {
    if (!p || typeof p !== 'object' || typeof p.evidence_id !== 'string' || p.evidence_id === '') continue;
    if (p.kind !== 'entry' && p.kind !== 'exit') continue;
    out.push({ evidenceId: p.evidence_id, kind: p.kind, takenAt: typeof p.taken_at === 'string' ? p.taken_at : '', src: evidenceContentUrl(p.evidence_id) });
  }
  return out;
}

/** How many photos the parking system sent that could not be used (0 when none or unknown). */
export function photosDropped(l: Pick<PlateLookup, 'photos_dropped'>): number {
  const n = l.photos_dropped;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

// The parking system's answers as the gate-call page shows them: money in
// minor units, the permit, the vehicle's stay, and which HTTP failures mean
// what (docs/parking.md). Pure.

import type { PayCode, PlateLookup } from '../cases';

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

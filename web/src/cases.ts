// Client of the case, evidence and review endpoints (docs/evidence.md).

import { API_BASE, DEFAULT_LIMIT, buildQuery, request, type QueryValue } from './api';
import type { Case, CaseWithEvidence, Disposition, EventCreated, Evidence, EvidenceLink, Page, ReviewSite, VerifyReport } from './types';

const enc = encodeURIComponent;

/** The evidence object's bytes (cookie session, Range supported); as an attachment with download. */
export function evidenceContentUrl(id: string, download = false): string {
  return `${API_BASE}/evidence/${enc(id)}/content${download ? '?download=1' : ''}`;
}

/** The case's ZIP (manifest.json + evidence/…). */
export function caseExportUrl(id: string): string {
  return `${API_BASE}/cases/${enc(id)}/export`;
}

export function listCases(params: Record<string, QueryValue>, signal?: AbortSignal): Promise<Page<Case>> {
  return request<Page<Case>>('GET', `/cases${buildQuery({ limit: DEFAULT_LIMIT, ...params })}`, undefined, { signal });
}

export function getCase(id: string, signal?: AbortSignal): Promise<CaseWithEvidence> {
  return request<CaseWithEvidence>('GET', `/cases/${enc(id)}`, undefined, { signal });
}

export interface DispositionBody {
  disposition: Exclude<Disposition, ''>;
  abnormal_type: string;
  remark: string;
}

/** Sets the disposition; the answer is taken to be the updated case (null when the server sent none). */
export async function setDisposition(id: string, body: DispositionBody): Promise<Case | null> {
  const res = await request<Case | undefined>('POST', `/cases/${enc(id)}/disposition`, body);
  return res && typeof res === 'object' && 'id' in res ? res : null;
}

export async function setHold(id: string, hold: boolean, reason: string): Promise<Case | null> {
  const res = await request<Case | undefined>('POST', `/cases/${enc(id)}/hold`, { hold, reason });
  return res && typeof res === 'object' && 'id' in res ? res : null;
}

export function verifyCase(id: string): Promise<VerifyReport> {
  return request<VerifyReport>('GET', `/cases/${enc(id)}/verify`);
}

export function evidenceLink(id: string): Promise<EvidenceLink> {
  return request<EvidenceLink>('POST', `/evidence/${enc(id)}/link`);
}

export interface EventBody {
  site_id: string;
  kind: string;
  at: string;
  end?: string;
}

export function createEvent(body: EventBody): Promise<EventCreated> {
  return request<EventCreated>('POST', '/events', body);
}

export async function reviewSites(signal?: AbortSignal): Promise<ReviewSite[]> {
  const res = await request<{ items: ReviewSite[] | null }>('GET', '/review/sites', undefined, { signal });
  return res?.items ?? [];
}

export async function abnormalTypes(signal?: AbortSignal): Promise<string[]> {
  const res = await request<{ items: string[] | null }>('GET', '/review/abnormal-types', undefined, { signal });
  return res?.items ?? [];
}

/** A server reference (user, device, camera id) that may be "" or null. */
export function hasRef(v: string | null | undefined): v is string {
  return typeof v === 'string' && v !== '';
}

/** POST /cases/{id}/close: the agent's "close ticket", with a remark; the updated case (null when the server sent none). */
export async function closeCase(id: string, remark: string): Promise<Case | null> {
  const res = await request<Case | undefined>('POST', `/cases/${enc(id)}/close`, { remark });
  return res && typeof res === 'object' && 'id' in res ? res : null;
}

export type SnapshotRole = 'scene' | 'id_document';

/** POST /cases/{id}/snapshots: the camera's picture now, stored as evidence of the case. */
export function takeSnapshot(caseId: string, cameraId: string, role: SnapshotRole): Promise<Evidence> {
  return request<Evidence>('POST', `/cases/${enc(caseId)}/snapshots`, { camera_id: cameraId, role });
}

// ── Parking system, through the case (docs/parking.md) ──────────────────────

/** A pass the vehicle has (monthly, annual, staff…), as the parking system names it. */
export interface PlatePermit {
  kind: string;
  valid_until: string | null;
  expired: boolean;
  /** Whole days since valid_until. */
  expired_days: number;
}

/** POST /cases/{id}/plate: what the parking system knows of a plate. */
export interface PlateLookup {
  found: boolean;
  plate: string;
  entry_time: string | null;
  exit_time: string | null;
  /** Still to pay, in minor units (fen, cents) of currency. */
  fee_due: number;
  currency: string;
  paid: boolean;
  vehicle_class: string;
  permit: PlatePermit | null;
  whitelisted: boolean;
  message: string;
  /** The plate as typed, normalised and stored on the case. */
  case_plate?: string;
  /** The vehicle's entry/exit photos the parking system sent, now evidence of the case. */
  photos?: PlatePhoto[] | null;
  /** Photos the parking system sent that broke the protocol and were left out. */
  photos_dropped?: number;
  /** Set when the photos could not be kept (e.g. store_unavailable); the lookup itself stands. */
  photos_error?: { code: string; message: string } | null;
}

/** A vehicle photo from the parking system, kept as evidence of the case. */
export interface PlatePhoto {
  evidence_id: string;
  kind: 'entry' | 'exit';
  /** When the parking system took it (RFC 3339). */
  taken_at: string;
  /** The evidence content path (GET with the session). */
  content_url: string;
}

/** POST /cases/{id}/pay-code: a payment the robot display can show as a QR code. */
export interface PayCode {
  issued: boolean;
  /** What the QR code encodes (a pay URL), at most 512 bytes. */
  payload: string;
  expires_at: string | null;
  amount: number;
  currency: string;
  message: string;
  /** The plate the code was asked for. */
  plate?: string;
}

/** Looks a plate up in the parking system for the case's lane (422 invalid plate, 502 parking system error, 503 not configured). */
export function lookupPlate(caseId: string, plate: string, signal?: AbortSignal): Promise<PlateLookup> {
  return request<PlateLookup>('POST', `/cases/${enc(caseId)}/plate`, { plate }, { signal });
}

/** Asks the parking system for a pay code for the case's vehicle (the plate given, else the one stored on the case). */
export function requestPayCode(caseId: string, plate: string): Promise<PayCode> {
  return request<PayCode>('POST', `/cases/${enc(caseId)}/pay-code`, plate ? { plate } : {});
}

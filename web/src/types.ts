// Shapes of the JSON objects served under /api/v1 (see the API contract).

export type Role = 'agent' | 'supervisor' | 'reviewer' | 'admin';
export const ROLES: readonly Role[] = ['agent', 'supervisor', 'reviewer', 'admin'];

export type SiteKind = 'box' | 'parking' | 'web';
export const SITE_KINDS: readonly SiteKind[] = ['box', 'parking', 'web'];

export type AccessPointKind = 'door' | 'entrance' | 'exit';
export const ACCESS_POINT_KINDS: readonly AccessPointKind[] = ['door', 'entrance', 'exit'];

export type DeviceKind = 'robot' | 'intercom';
export const DEVICE_KINDS: readonly DeviceKind[] = ['robot', 'intercom'];

export type CameraRole = 'environment' | 'gate' | 'id_document' | 'channel';
export const CAMERA_ROLES: readonly CameraRole[] = ['environment', 'gate', 'id_document', 'channel'];
export type CameraTransport = 'tcp' | 'udp' | 'auto';
export const CAMERA_TRANSPORTS: readonly CameraTransport[] = ['auto', 'tcp', 'udp'];
export type CameraRecord = 'off' | 'events' | 'continuous';
export const CAMERA_RECORDS: readonly CameraRecord[] = ['off', 'events', 'continuous'];

interface Timestamps {
  created_at: string;
  updated_at: string;
}

export interface Site extends Timestamps {
  id: string;
  name: string;
  kind: SiteKind;
  code: string;
  province: string;
  city: string;
  district: string;
  compound: string;
  address: string;
  latitude: number | null;
  longitude: number | null;
  tariff: string;
  emergency_contact: string;
  notes: string;
}

export interface AccessPoint extends Timestamps {
  id: string;
  site_id: string;
  name: string;
  kind: AccessPointKind;
}

export interface Device extends Timestamps {
  id: string;
  site_id: string;
  access_point_id: string;
  name: string;
  kind: DeviceKind;
  factory_code: string;
  phone: string;
  sip_username: string;
  has_sip_password: boolean;
  enabled: boolean;
}

/** The server's live state of a camera's ingest (GET /api/v1/cameras). */
export type CameraState = 'connecting' | 'connected' | 'failed' | 'disabled';
export const CAMERA_STATES: readonly CameraState[] = ['connecting', 'connected', 'failed', 'disabled'];

export interface Camera extends Timestamps {
  id: string;
  site_id: string;
  access_point_id: string;
  device_id: string;
  name: string;
  url: string;
  substream_url?: string;
  username: string;
  has_password: boolean;
  role: CameraRole;
  channel: number;
  transport: CameraTransport;
  record: CameraRecord;
  enabled: boolean;
  // Live status, filled in by the server's ingest (absent where it has none).
  state?: CameraState;
  last_error?: string;
  /** Main stream's codec as the server names it ("h264", "h265"; shown upper-case). */
  codec?: string;
  width?: number;
  height?: number;
  fps?: number;
  /** WHEP sessions watching the camera now. */
  viewers?: number;
  /** The camera has a second (H.264) stream, reached with /whep?stream=sub. */
  has_substream?: boolean;
}

export interface User extends Timestamps {
  id: string;
  username: string;
  display_name: string;
  role: Role;
  seat: string;
  email: string;
  phone: string;
  groups: string[];
  site_ids: string[];
  disabled: boolean;
}

export interface Token {
  id: string;
  name: string;
  user_id: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** POST /api/v1/tokens answers with the secret, shown once. */
export interface CreatedToken extends Token {
  token: string;
}

export interface LoginResponse {
  token: string;
  user: User;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

// ── Cases, evidence, box-event review (docs/evidence.md) ─────────────────────

export type CaseKind = 'call' | 'event' | 'chat' | 'video' | 'manual';
export const CASE_KINDS: readonly CaseKind[] = ['call', 'event', 'chat', 'video', 'manual'];

export type CaseStatus = 'pending' | 'in_progress' | 'closed';
export const CASE_STATUSES: readonly CaseStatus[] = ['pending', 'in_progress', 'closed'];

/** A case's disposition as the server stores it: "" until reviewed. */
export type Disposition = '' | 'normal' | 'abnormal';
/** The disposition filter of GET /cases: "none" asks for cases not reviewed yet. */
export type DispositionFilter = 'none' | 'normal' | 'abnormal';
export const DISPOSITION_FILTERS: readonly DispositionFilter[] = ['none', 'normal', 'abnormal'];

/** Kinds of box events POST /api/v1/events accepts. */
export const EVENT_KINDS = ['door-open', 'payment', 'customer-entered', 'customer-left', 'alarm', 'manual', 'other'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** The server's default abnormal types (--abnormal-types replaces them; unknown ones are shown as they come). */
export const DEFAULT_ABNORMAL_TYPES = ['deliberate-theft', 'unpaid-item', 'damage', 'tailgating', 'device-fault', 'other'] as const;

/** What POST /api/v1/events says about each camera's clip. */
export const CLIP_STATUSES = ['scheduled', 'not_recording'] as const;

export interface Case {
  id: string;
  site_id: string;
  kind: CaseKind;
  status: CaseStatus;
  disposition: Disposition | null;
  abnormal_type: string;
  remark: string;
  attribute: string;
  /** For event cases: door-open, payment, customer-entered, … */
  event_kind: string;
  /** "" (or null) until someone set a disposition. */
  handler_id: string | null;
  device_id: string | null;
  access_point_id: string | null;
  started_at: string;
  ended_at: string | null;
  closed_at: string | null;
  disposed_at: string | null;
  legal_hold: boolean;
  /** The vehicle's plate as the agent entered it (normalised), "" if none. */
  plate: string;
  evidence_count: number;
  evidence_head: string;
  created_at: string;
  updated_at: string;
}

export interface Evidence {
  id: string;
  case_id?: string;
  key: string;
  /** clip, snapshot-scene, snapshot-id_document, vehicle-photo-entry, vehicle-photo-exit, call-audio, transcript, … */
  kind: string;
  media_type: string;
  camera_id: string | null;
  device_id?: string | null;
  taken_by?: string | null;
  sha256: string;
  size: number;
  /** Wall-clock span the object covers (RFC 3339). */
  start: string;
  end: string;
  seq: number;
  prev_hash?: string;
  chain_hash: string;
  /** Set when retention deleted the object; the row stays in the chain. */
  purged_at: string | null;
  created_at?: string;
}

/** GET /api/v1/cases/{id}: the case and its evidence in chain order. */
export interface CaseWithEvidence extends Case {
  evidence: Evidence[];
}

/** GET /api/v1/review/sites: event counts per box. */
export interface ReviewSite {
  site_id: string;
  name: string;
  code: string;
  kind: string;
  pending: number;
  abnormal: number;
  normal: number;
}

/** One finding of GET /cases/{id}/verify; seq, evidence_id and key are left out where they don't apply. */
export interface VerifyProblem {
  seq?: number;
  evidence_id?: string;
  key?: string;
  problem: string;
}

export interface VerifyReport {
  ok: boolean;
  problems: VerifyProblem[] | null;
  checked: number;
  bytes: number;
  purged: number;
  evidence_head: string;
}

export interface EvidenceLink {
  url: string;
  expires_at: string;
}

export interface ClipRequest {
  camera_id: string;
  from: string;
  to: string;
  status: string;
}

/** POST /api/v1/events answers with the event, its case and the clips asked for. */
export interface EventCreated {
  id: string;
  case_id: string;
  clips: ClipRequest[] | null;
}

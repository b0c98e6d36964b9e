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

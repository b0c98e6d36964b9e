// The calls console's state as the WebSocket protocol (docs/protocol.md)
// drives it: a pure reducer, no browser APIs, so it runs in the unit tests.
// socket.ts feeds it the server's messages and its own connection events.

import type { Camera, CameraRole } from '../types';

/** What the server says of a call (CallInfo). */
export interface CallInfo {
  id: string;
  case_id: string;
  site_id: string;
  device_id: string;
  from: string;
  codec: string;
  state: 'ringing' | 'connecting' | 'answered' | 'ended' | string;
  agent_id?: string;
  since: string;
}

/** The connected agent, from "welcome". */
export interface AgentInfo {
  id: string;
  username: string;
  role: string;
  seat: string;
  presence: string;
}

export type Presence = 'online' | 'away' | 'busy';
export const PRESENCES: readonly Presence[] = ['online', 'away', 'busy'];

/** One JSON message from the server; type says which fields matter. */
export interface ServerMessage {
  type: string;
  ref?: string;
  call_id?: string;
  sdp?: string;
  state?: string;
  reason?: string;
  digit?: string;
  by?: string;
  call?: CallInfo;
  calls?: CallInfo[];
  agent?: AgentInfo;
  version?: number;
  code?: string;
  message?: string;
}

/**
 * connecting: the first attempt; connected: "welcome" received; reconnecting:
 * dropped (or refused), the next attempt is scheduled; closed: stopped.
 */
export type ConnState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export type ActiveState = 'connecting' | 'answered' | 'ended';

/** The agent's own call, from accepting it until the ticket is closed. */
export interface ActiveCall {
  call: CallInfo;
  state: ActiveState;
  /** Why it ended (the server's reason, or "lost" when it vanished while we were away). */
  reason: string | null;
  /** Keys the robot sent, in order. */
  dtmf: string;
  hold: boolean;
  /** When it was accepted here (ms). */
  acceptedAt: number;
  /** When the robot was connected (ms); the timer counts from here. */
  answeredAt: number | null;
  endedAt: number | null;
  /** The server sent call.offer for it at least once (so a "taken" error can no longer undo the accept). */
  offered: boolean;
}

export interface CallError {
  code: string;
  message: string;
  callId: string | null;
  /** Who took the call (call.taken). */
  by?: string;
}

export interface CallsState {
  conn: ConnState;
  /** Failed attempts since the last welcome. */
  attempts: number;
  agent: AgentInfo | null;
  /** The presence the server has (welcome) or we last asked for. */
  presence: Presence;
  /** What the agent picked in this tab; sent again after a reconnect. */
  wantedPresence: Presence | null;
  /** Calls ringing for this agent, oldest first. */
  ringing: CallInfo[];
  active: ActiveCall | null;
  /** The last error the server sent that is not about the active call's panel. */
  error: CallError | null;
  /** Protocol version from "welcome". */
  version: number | null;
}

export const initialCallsState: CallsState = {
  conn: 'connecting',
  attempts: 0,
  agent: null,
  presence: 'online',
  wantedPresence: null,
  ringing: [],
  active: null,
  error: null,
  version: null,
};

export type CallsAction =
  | { type: 'conn.connecting' }
  | { type: 'conn.lost' }
  | { type: 'conn.closed' }
  | { type: 'server'; msg: ServerMessage; now: number }
  /** The agent pressed accept here (before the server answers). */
  | { type: 'accept'; callId: string; now: number }
  | { type: 'presence'; state: Presence }
  /** The ticket was closed: back to idle. */
  | { type: 'ticket.closed'; callId: string }
  | { type: 'error.clear' };

export function isPresence(v: unknown): v is Presence {
  return v === 'online' || v === 'away' || v === 'busy';
}

/** The active call is still on the line (not ended). */
export function isLive(a: ActiveCall | null | undefined): a is ActiveCall {
  return !!a && a.state !== 'ended';
}

function sinceMs(c: CallInfo): number {
  const ms = Date.parse(c.since);
  return Number.isNaN(ms) ? 0 : ms;
}

/** The list with c added or replaced, oldest call first. */
function upsert(list: readonly CallInfo[], c: CallInfo): CallInfo[] {
  const out = list.filter((x) => x.id !== c.id);
  out.push(c);
  out.sort((a, b) => sinceMs(a) - sinceMs(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

function without(list: readonly CallInfo[], id: string | undefined): CallInfo[] {
  if (!id || !list.some((c) => c.id === id)) return list as CallInfo[];
  return list.filter((c) => c.id !== id);
}

function activeFrom(call: CallInfo, prev: ActiveCall | null, now: number, offered: boolean): ActiveCall {
  const same = prev && prev.call.id === call.id ? prev : null;
  const answered = call.state === 'answered';
  return {
    call,
    state: answered ? 'answered' : 'connecting',
    reason: null,
    dtmf: same?.dtmf ?? '',
    hold: same?.hold ?? false,
    acceptedAt: same?.acceptedAt ?? now,
    // Resumed after a reload: the answer time is unknown, the ring start stands in for it.
    answeredAt: same?.answeredAt ?? (answered ? sinceMs(call) || now : null),
    endedAt: null,
    offered: offered || !!same?.offered,
  };
}

function ended(a: ActiveCall, reason: string, now: number): ActiveCall {
  if (a.state === 'ended') return a;
  return { ...a, state: 'ended', reason, hold: false, endedAt: now };
}

/** Errors after which an accept that has not been offered yet did not happen. */
const ACCEPT_UNDONE = new Set(['taken', 'no_such_call', 'busy']);

function onServer(s: CallsState, m: ServerMessage, now: number): CallsState {
  const a = s.active;
  const mine = (id: string | undefined) => !!a && !!id && a.call.id === id;
  switch (m.type) {
    case 'welcome': {
      const me = m.agent ?? null;
      const calls = m.calls ?? [];
      let ringing: CallInfo[] = [];
      let active: ActiveCall | null = a;
      let own: CallInfo | undefined;
      for (const c of calls) {
        if (me && c.agent_id && c.agent_id === me.id) own = c;
        else if (!c.agent_id) ringing = upsert(ringing, c);
      }
      if (own) active = activeFrom(own, a, now, a?.offered ?? false);
      else if (a && a.state !== 'ended') {
        // Our call is gone: it ended while we were away — unless it was only just accepted
        // here and not offered yet, in which case the accept is as good as lost.
        active = a.offered || a.state === 'answered' ? ended(a, 'lost', now) : null;
      }
      if (active) ringing = without(ringing, active.call.id);
      const presence = isPresence(me?.presence) ? me.presence : s.presence;
      return { ...s, conn: 'connected', attempts: 0, agent: me, presence, ringing, active, version: m.version ?? null };
    }
    case 'call.ringing': {
      const c = m.call;
      if (!c || !c.id || mine(c.id)) return s;
      return { ...s, ringing: upsert(s.ringing, c) };
    }
    case 'call.taken': {
      const ringing = without(s.ringing, m.call_id);
      if (mine(m.call_id) && a && !a.offered && a.state === 'connecting') {
        // We pressed accept, somebody else was first.
        return { ...s, ringing, active: null, error: { code: 'taken', message: '', by: m.by ?? '', callId: m.call_id ?? null } };
      }
      return ringing === s.ringing ? s : { ...s, ringing };
    }
    case 'call.offer': {
      const id = m.call_id ?? m.call?.id;
      if (!id) return s;
      const base: CallInfo | undefined =
        m.call ?? (a && a.call.id === id ? a.call : undefined) ?? s.ringing.find((c) => c.id === id);
      if (!base) return s;
      const call: CallInfo = { ...base, id };
      const active = activeFrom(call, a, now, true);
      // A new offer is for a call that is still on: a stale "ended" from before it does not count.
      return { ...s, ringing: without(s.ringing, id), active, error: s.error && s.error.callId === id ? null : s.error };
    }
    case 'call.answered': {
      if (!a || !mine(m.call_id) || a.state === 'ended') return s;
      const call = m.call ? { ...a.call, ...m.call } : { ...a.call, state: 'answered' };
      return { ...s, active: { ...a, call, state: 'answered', answeredAt: a.answeredAt ?? now } };
    }
    case 'call.dtmf': {
      if (!a || !mine(m.call_id) || !m.digit) return s;
      return { ...s, active: { ...a, dtmf: a.dtmf + m.digit } };
    }
    case 'call.hold': {
      if (!a || !mine(m.call_id)) return s;
      const hold = m.state === 'hold';
      return hold === a.hold ? s : { ...s, active: { ...a, hold } };
    }
    case 'call.ended': {
      const ringing = without(s.ringing, m.call_id);
      if (a && mine(m.call_id)) return { ...s, ringing, active: ended(a, m.reason || 'ended', now) };
      return ringing === s.ringing ? s : { ...s, ringing };
    }
    case 'error': {
      const err: CallError = { code: m.code || 'error', message: m.message || '', callId: m.call_id || null };
      if (a && mine(m.call_id) && a.state === 'connecting' && !a.offered && ACCEPT_UNDONE.has(err.code)) {
        return { ...s, active: null, ringing: without(s.ringing, m.call_id), error: err };
      }
      if (err.code === 'no_such_call' && m.call_id) {
        // It has gone: don't offer it any more.
        const ringing = without(s.ringing, m.call_id);
        const active = a && mine(m.call_id) && a.state !== 'ended' ? ended(a, 'lost', now) : a;
        return { ...s, ringing, active, error: err };
      }
      return { ...s, error: err };
    }
    default:
      return s; // pong and anything newer than this client
  }
}

export function callsReducer(s: CallsState, action: CallsAction): CallsState {
  switch (action.type) {
    case 'conn.connecting':
      return s.conn === 'connected' ? s : { ...s, conn: s.attempts > 0 ? 'reconnecting' : 'connecting' };
    case 'conn.lost':
      return { ...s, conn: 'reconnecting', attempts: s.attempts + 1 };
    case 'conn.closed':
      return { ...s, conn: 'closed' };
    case 'server':
      return onServer(s, action.msg, action.now);
    case 'accept': {
      if (isLive(s.active)) return s;
      const call = s.ringing.find((c) => c.id === action.callId);
      if (!call) return s;
      const active: ActiveCall = {
        call: { ...call, state: 'connecting' },
        state: 'connecting',
        reason: null,
        dtmf: '',
        hold: false,
        acceptedAt: action.now,
        answeredAt: null,
        endedAt: null,
        offered: false,
      };
      return { ...s, active, ringing: without(s.ringing, call.id), error: null };
    }
    case 'presence':
      return { ...s, presence: action.state, wantedPresence: action.state };
    case 'ticket.closed':
      return s.active && s.active.call.id === action.callId ? { ...s, active: null } : s;
    case 'error.clear':
      return s.error ? { ...s, error: null } : s;
  }
}

// ── Helpers for the page ───────────────────────────────────────────────────

/** "0:07", "12:34", "1:02:03" for a span in ms (negative counts as 0). */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const p = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${p(m)}:${p(s)}` : `${m}:${p(s)}`;
}

/** How long a call has been ringing at now (ms). */
export function waitingMs(c: Pick<CallInfo, 'since'>, now: number): number {
  const ms = Date.parse(c.since);
  return Number.isNaN(ms) ? 0 : Math.max(0, now - ms);
}

/** The call timer: from the answer (or the accept while connecting) to the end or now. */
export function callElapsedMs(a: ActiveCall, now: number): number {
  const from = a.answeredAt ?? a.acceptedAt;
  const to = a.endedAt ?? now;
  return Math.max(0, to - from);
}

/** The camera shown live during a call: environment, else gate, else the first. */
export function pickLiveCamera<T extends Pick<Camera, 'role'>>(cams: readonly T[]): T | null {
  return byRole(cams, 'environment') ?? byRole(cams, 'gate') ?? cams[0] ?? null;
}

/** The camera for a scene snapshot: environment, else gate, else any that is not the ID-document camera. */
export function pickSceneCamera<T extends Pick<Camera, 'role'>>(cams: readonly T[]): T | null {
  return byRole(cams, 'environment') ?? byRole(cams, 'gate') ?? cams.find((c) => c.role !== 'id_document') ?? null;
}

export function pickIdCamera<T extends Pick<Camera, 'role'>>(cams: readonly T[]): T | null {
  return byRole(cams, 'id_document');
}

function byRole<T extends Pick<Camera, 'role'>>(cams: readonly T[], role: CameraRole): T | null {
  return cams.find((c) => c.role === role) ?? null;
}

export interface AudioStats {
  packetsReceived: number;
  packetsSent: number;
  /** inbound audioLevel (0…1), else totalAudioEnergy; null when the browser reports neither. */
  audioLevel: number | null;
}

type StatsEntry = Record<string, unknown> & { type?: unknown };

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function isAudio(s: StatsEntry): boolean {
  return s.kind === 'audio' || s.mediaType === 'audio';
}

/** Audio packets in and out and the caller's level from a getStats() report (pass report.values()). */
export function audioStats(entries: Iterable<StatsEntry>): AudioStats {
  let packetsReceived = 0;
  let packetsSent = 0;
  let level: number | undefined;
  let energy: number | undefined;
  for (const s of entries) {
    if (s.type === 'inbound-rtp' && isAudio(s)) {
      packetsReceived += num(s.packetsReceived) ?? 0;
      level ??= num(s.audioLevel);
      energy ??= num(s.totalAudioEnergy);
    } else if (s.type === 'outbound-rtp' && isAudio(s)) {
      packetsSent += num(s.packetsSent) ?? 0;
    }
  }
  return { packetsReceived, packetsSent, audioLevel: level ?? energy ?? null };
}

/** The WebSocket URL of the page's server: ws://host/api/v1/ws, wss:// under https. */
export function wsUrl(loc: Pick<Location, 'protocol' | 'host'>): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/api/v1/ws`;
}

/** Whether a role takes calls (reviewers get 403 on the WebSocket). */
export function takesCalls(role: string | null | undefined): boolean {
  return role === 'agent' || role === 'supervisor' || role === 'admin';
}

/** Reads one frame as a server message; null for anything that isn't a JSON object with a type. */
export function parseMessage(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const v: unknown = JSON.parse(data);
    if (v && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string') return v as ServerMessage;
  } catch {
    /* not JSON */
  }
  return null;
}

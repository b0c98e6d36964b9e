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
  /** The agent put the robot on hold (call.hold by agent). */
  held?: boolean;
  /** A transfer: who hands the call over (call.ringing with state "transfer", and the call once taken). */
  transfer_from?: string;
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
  /** agents: the answer to agents.list. */
  agents?: AgentEntry[];
  /** callout.list: the congested lanes, longest-waiting first. */
  lanes?: Lane[];
  device_id?: string;
  /** The robot's last state (call.offer, robot.state): its own JSON, untrusted. */
  robot_state?: unknown;
  /** robot.result: the robot's SIP answer. */
  status?: number;
  /** call.quality: how the robot's line did over the last few seconds. */
  quality?: LineQuality;
}

/** The robot's line (call.quality), as the server measured it. */
export interface LineQuality {
  level: 'good' | 'fair' | 'poor' | 'silent';
  /** Fraction of the robot's packets lost, 0..1. */
  loss: number;
  jitter_ms: number;
  rtt_ms?: number;
}

/** An agent connected now who shares a site (agents.list). */
export interface AgentEntry {
  id: string;
  username: string;
  role: string;
  seat: string;
  /** online, away, busy (on a call counts as busy). */
  presence: string;
  site_ids?: string[];
}

/** A lane on the call-out list (callout.list): a vehicle has been waiting there. */
export interface Lane {
  device_id: string;
  device_name: string;
  site_id: string;
  access_point_id?: string;
  lane?: string;
  lane_kind?: 'entrance' | 'exit' | string;
  waiting_since: string;
  plate?: string;
  on_call: boolean;
}

/**
 * connecting: the first attempt; connected: "welcome" received; reconnecting:
 * dropped (or refused), the next attempt is scheduled; closed: stopped.
 */
export type ConnState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export type ActiveState = 'connecting' | 'answered' | 'ended';

/** What the client asked for with a ref: the ref's prefix (socket.ts), so an error can be put where it belongs. */
export type RefKind = 'hold' | 'transfer' | 'dial' | 'cmd' | 'agents' | 'callout' | 'ping';

export function refKind(ref: string | undefined): RefKind | null {
  const k = ref ? ref.slice(0, ref.indexOf(':')) : '';
  return k === 'hold' || k === 'transfer' || k === 'dial' || k === 'cmd' || k === 'agents' || k === 'callout' || k === 'ping' ? k : null;
}

/** A transfer of the agent's call under way. */
export interface TransferOut {
  /** User id, "" for any free agent. */
  to: string;
  /** Name shown ("" for any free agent until someone takes it). */
  toName: string;
  /** requested: sent; ringing: call.transferring came. */
  state: 'requested' | 'ringing';
}

export type CommandState = 'sent' | 'ok' | 'failed';

/** One robot.command sent during the call and what came of it. */
export interface CommandEntry {
  ref: string;
  /** The command's action (open_gate, display, voice, led). */
  action: string;
  /** A short description for the log (mode, payload, colour…), made by the sender. */
  detail: string;
  abnormal: boolean;
  state: CommandState;
  /** The robot's SIP status (robot.result), or the status that failed. */
  status: number | null;
  code: string | null;
  message: string | null;
  at: number;
}

/** The agent's own call, from accepting it until the ticket is closed. */
export interface ActiveCall {
  call: CallInfo;
  state: ActiveState;
  /** Why it ended (the server's reason, or "lost" when it vanished while we were away). */
  reason: string | null;
  /** Keys the robot sent, in order. */
  dtmf: string;
  /** The robot's line, from the last call.quality (null until the first). */
  line: LineQuality | null;
  /** On hold, by either side (heldByAgent || heldByRobot). */
  hold: boolean;
  /** The agent held the robot (call.hold by agent, CallInfo.held). */
  heldByAgent: boolean;
  /** The robot put the call on hold (call.hold by robot). */
  heldByRobot: boolean;
  /** The agent asked for hold or resume; the server's call.hold has not come yet. */
  holdPending: 'hold' | 'resume' | null;
  transfer: TransferOut | null;
  /** Why the last transfer failed (call.transfer_failed's reason, or an error code). */
  transferFailed: string | null;
  /** The robot's last reported state (untrusted JSON; robotState.ts reads it). */
  robotState: unknown;
  /** Robot commands sent, oldest first. */
  commands: CommandEntry[];
  /** The agent dialled this call (call.dial). */
  outbound: boolean;
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

/** The agent's outbound call while it rings (call.dial → call.dialing → call.ringing_out → call.offer). */
export interface DialState {
  deviceId: string;
  /** requested: call.dial sent; dialing: the server opened a case; ringing: the robot rings. */
  state: 'requested' | 'dialing' | 'ringing';
  /** The server's CallInfo (no id until answered; case_id from call.dialing). */
  call: CallInfo | null;
  since: number;
}

/** How the last outbound call attempt ended without an answer. */
export interface DialResult {
  deviceId: string;
  /** call.ended's reason (refused 486, no answer, cancelled, failed) or an error code. */
  reason: string;
  message: string;
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
  /** The call-out list (null until the server sent one). */
  callout: Lane[] | null;
  /** Agents connected now (the last agents answer; null until asked). */
  agents: AgentEntry[] | null;
  dial: DialState | null;
  dialResult: DialResult | null;
  /** The agent's call went to another agent (call.transferred): the note on the idle page. */
  handedOff: { callId: string; caseId: string; by: string } | null;
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
  callout: null,
  agents: null,
  dial: null,
  dialResult: null,
  handedOff: null,
};

/** Most robot commands kept per call for the panel's log. */
export const MAX_COMMANDS = 20;

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
  | { type: 'error.clear' }
  /** Declined a call offered here (a transfer): it leaves this agent's queue. */
  | { type: 'decline'; callId: string }
  | { type: 'hold.request'; callId: string; state: 'hold' | 'resume' }
  | { type: 'transfer.request'; callId: string; to: string; toName: string }
  | { type: 'transfer.failed.clear' }
  | { type: 'command.sent'; callId: string; ref: string; action: string; detail: string; abnormal: boolean; now: number }
  | { type: 'dial.request'; deviceId: string; now: number }
  | { type: 'dial.result.clear' }
  | { type: 'handed.clear' };

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
  const heldByAgent = call.held ?? same?.heldByAgent ?? false;
  const heldByRobot = same?.heldByRobot ?? false;
  return {
    call,
    state: answered ? 'answered' : 'connecting',
    reason: null,
    dtmf: same?.dtmf ?? '',
    line: same?.line ?? null,
    hold: heldByAgent || heldByRobot,
    heldByAgent,
    heldByRobot,
    holdPending: same?.holdPending ?? null,
    transfer: same?.transfer ?? null,
    transferFailed: same?.transferFailed ?? null,
    robotState: same?.robotState ?? null,
    commands: same?.commands ?? [],
    outbound: same?.outbound ?? false,
    acceptedAt: same?.acceptedAt ?? now,
    // Resumed after a reload: the answer time is unknown, the ring start stands in for it.
    answeredAt: same?.answeredAt ?? (answered ? sinceMs(call) || now : null),
    endedAt: null,
    offered: offered || !!same?.offered,
  };
}

/** A fresh active call for an accept (or an outbound call's first offer). */
function newActive(call: CallInfo, now: number): ActiveCall {
  return {
    call,
    state: 'connecting',
    reason: null,
    dtmf: '',
    line: null,
    hold: false,
    heldByAgent: false,
    heldByRobot: false,
    holdPending: null,
    transfer: null,
    transferFailed: null,
    robotState: null,
    commands: [],
    outbound: false,
    acceptedAt: now,
    answeredAt: null,
    endedAt: null,
    offered: false,
  };
}

function ended(a: ActiveCall, reason: string, now: number): ActiveCall {
  if (a.state === 'ended') return a;
  return { ...a, state: 'ended', reason, hold: false, heldByAgent: false, heldByRobot: false, holdPending: null, transfer: null, endedAt: now };
}

function withHold(a: ActiveCall, patch: Partial<Pick<ActiveCall, 'heldByAgent' | 'heldByRobot' | 'holdPending'>>): ActiveCall {
  const next = { ...a, ...patch };
  next.hold = next.heldByAgent || next.heldByRobot;
  return next;
}

function updateCommand(a: ActiveCall, ref: string, patch: Partial<CommandEntry>): ActiveCall | null {
  const i = a.commands.findIndex((c) => c.ref === ref);
  if (i < 0) return null;
  const commands = a.commands.slice();
  commands[i] = { ...(commands[i] as CommandEntry), ...patch };
  return { ...a, commands };
}

/** Errors after which an accept that has not been offered yet did not happen. */
const ACCEPT_UNDONE = new Set(['taken', 'no_such_call', 'busy']);

/** Whether an offer is for the outbound call this tab is dialling. */
function isDialledOffer(d: DialState | null, m: ServerMessage): boolean {
  if (!d || !m.call) return false;
  if (d.call?.case_id && m.call.case_id) return d.call.case_id === m.call.case_id;
  return m.call.device_id === d.deviceId;
}

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
        if (me && c.agent_id && c.agent_id === me.id && c.state !== 'transfer') own = c;
        else if (!c.agent_id || c.state === 'transfer') ringing = upsert(ringing, c);
      }
      if (own) active = activeFrom(own, a, now, a?.offered ?? false);
      else if (a && a.state !== 'ended') {
        // Our call is gone: it ended while we were away — unless it was only just accepted
        // here and not offered yet, in which case the accept is as good as lost.
        active = a.offered || a.state === 'answered' ? ended(a, 'lost', now) : null;
      }
      if (active) ringing = without(ringing, active.call.id);
      const presence = isPresence(me?.presence) ? me.presence : s.presence;
      // A dial in flight did not survive the dropped connection's request; an outbound call
      // that got answered meanwhile comes back as our own call above.
      return { ...s, conn: 'connected', attempts: 0, agent: me, presence, ringing, active, version: m.version ?? null, dial: null };
    }
    case 'call.ringing': {
      const c = m.call;
      if (!c || !c.id || mine(c.id)) return s;
      return { ...s, ringing: upsert(s.ringing, c) };
    }
    case 'call.taken': {
      const ringing = without(s.ringing, m.call_id);
      if (mine(m.call_id) && a && !a.offered && a.state === 'connecting') {
        // We pressed accept, somebody else was first (or a transfer offered to us was taken back).
        return { ...s, ringing, active: null, error: { code: 'taken', message: m.reason ?? '', by: m.by ?? '', callId: m.call_id ?? null } };
      }
      return ringing === s.ringing ? s : { ...s, ringing };
    }
    case 'call.offer': {
      const id = m.call_id ?? m.call?.id;
      if (!id) return s;
      const dialled = !mine(id) && isDialledOffer(s.dial, m);
      const base: CallInfo | undefined =
        m.call ?? (a && a.call.id === id ? a.call : undefined) ?? s.ringing.find((c) => c.id === id);
      if (!base) return s;
      const call: CallInfo = { ...base, id };
      let active = activeFrom(call, dialled ? null : a, now, true);
      if (dialled) active = { ...active, outbound: true };
      if (m.robot_state !== undefined && m.robot_state !== null) active = { ...active, robotState: m.robot_state };
      // A new offer is for a call that is still on: a stale "ended" from before it does not count.
      return {
        ...s,
        ringing: without(s.ringing, id),
        active,
        dial: dialled ? null : s.dial,
        dialResult: dialled ? null : s.dialResult,
        handedOff: null,
        error: s.error && s.error.callId === id ? null : s.error,
      };
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
    case 'call.quality': {
      if (!a || !mine(m.call_id) || a.state === 'ended' || !isLineQuality(m.quality)) return s;
      return { ...s, active: { ...a, line: m.quality } };
    }
    case 'call.hold': {
      if (!a || !mine(m.call_id) || a.state === 'ended') return s;
      const on = m.state === 'hold';
      if (m.by === 'robot') return on === a.heldByRobot ? s : { ...s, active: withHold(a, { heldByRobot: on }) };
      if (m.by === 'agent') return { ...s, active: withHold({ ...a, call: { ...a.call, held: on } }, { heldByAgent: on, holdPending: null }) };
      // An older server without "by": the robot's.
      return on === a.heldByRobot ? s : { ...s, active: withHold(a, { heldByRobot: on }) };
    }
    case 'call.transferring': {
      if (!a || !mine(m.call_id) || a.state === 'ended') return s;
      const tr = a.transfer ?? { to: '', toName: '', state: 'requested' as const };
      return { ...s, active: { ...a, transfer: { ...tr, state: 'ringing', toName: m.by || tr.toName }, transferFailed: null } };
    }
    case 'call.transfer_failed': {
      if (!a || !mine(m.call_id)) return s;
      return { ...s, active: { ...a, transfer: null, transferFailed: m.reason || 'failed' } };
    }
    case 'call.transferred': {
      if (!a || !mine(m.call_id)) return s;
      // The call is someone else's now: this page goes back to idle with a note.
      return { ...s, active: null, handedOff: { callId: a.call.id, caseId: a.call.case_id, by: m.by || a.transfer?.toName || '' } };
    }
    case 'robot.state': {
      if (!a || a.state === 'ended') return s;
      if (!(mine(m.call_id) || (!m.call_id && m.device_id && m.device_id === a.call.device_id))) return s;
      return { ...s, active: { ...a, robotState: m.robot_state ?? null } };
    }
    case 'robot.result': {
      if (!a || !m.ref) return s;
      const ok = typeof m.status === 'number' && m.status >= 200 && m.status < 300;
      const next = updateCommand(a, m.ref, { state: ok ? 'ok' : 'failed', status: m.status ?? null });
      return next ? { ...s, active: next } : s;
    }
    case 'agents':
      return { ...s, agents: Array.isArray(m.agents) ? m.agents : [] };
    case 'callout.list':
      return { ...s, callout: sortLanes(Array.isArray(m.lanes) ? m.lanes : []) };
    case 'call.dialing':
    case 'call.ringing_out': {
      const d = s.dial;
      if (!d || (m.device_id && m.device_id !== d.deviceId)) return s;
      return { ...s, dial: { ...d, state: m.type === 'call.dialing' ? 'dialing' : 'ringing', call: m.call ?? d.call } };
    }
    case 'call.ended': {
      const ringing = without(s.ringing, m.call_id);
      if (a && mine(m.call_id)) return { ...s, ringing, active: ended(a, m.reason || 'ended', now) };
      const d = s.dial;
      if (d && !m.call_id && (m.device_id === d.deviceId || (!!m.call?.case_id && m.call.case_id === d.call?.case_id))) {
        return { ...s, ringing, dial: null, dialResult: { deviceId: d.deviceId, reason: m.reason || 'failed', message: '' } };
      }
      return ringing === s.ringing ? s : { ...s, ringing };
    }
    case 'error':
      return onError(s, m, now);
    default:
      return s; // pong and anything newer than this client
  }
}

function onError(s: CallsState, m: ServerMessage, now: number): CallsState {
  const a = s.active;
  const mine = (id: string | undefined) => !!a && !!id && a.call.id === id;
  const err: CallError = { code: m.code || 'error', message: m.message || '', callId: m.call_id || null };
  const kind = refKind(m.ref);
  if (kind === 'cmd' && a && m.ref) {
    // A robot command's error belongs to its line in the panel's log.
    const next = updateCommand(a, m.ref, { state: 'failed', code: err.code, message: err.message });
    if (next) return { ...s, active: next };
  }
  if (kind === 'dial' && s.dial) {
    return { ...s, dial: null, dialResult: { deviceId: s.dial.deviceId, reason: err.code, message: err.message } };
  }
  if (kind === 'dial' && m.code === 'no_such_call') return s; // a cancel that came after the end
  if (kind === 'hold' && a && mine(m.call_id)) {
    return { ...s, active: withHold(a, { holdPending: null }), error: err };
  }
  if (kind === 'transfer' && a && mine(m.call_id)) {
    const active = a.transfer && a.transfer.state === 'requested' ? { ...a, transfer: null, transferFailed: err.code } : a;
    return { ...s, active, error: err };
  }
  if (kind === 'agents' || kind === 'callout' || kind === 'ping') return s;
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
      if (isLive(s.active) || s.dial) return s;
      const call = s.ringing.find((c) => c.id === action.callId);
      if (!call) return s;
      const active = newActive({ ...call, state: 'connecting' }, action.now);
      return { ...s, active, ringing: without(s.ringing, call.id), error: null, handedOff: null, dialResult: null };
    }
    case 'decline': {
      const ringing = without(s.ringing, action.callId);
      return ringing === s.ringing ? s : { ...s, ringing };
    }
    case 'presence':
      return { ...s, presence: action.state, wantedPresence: action.state };
    case 'ticket.closed':
      return s.active && s.active.call.id === action.callId ? { ...s, active: null } : s;
    case 'error.clear':
      return s.error ? { ...s, error: null } : s;
    case 'hold.request': {
      const a = s.active;
      if (!isLive(a) || a.call.id !== action.callId) return s;
      return { ...s, active: withHold(a, { holdPending: action.state }) };
    }
    case 'transfer.request': {
      const a = s.active;
      if (!isLive(a) || a.call.id !== action.callId) return s;
      return { ...s, active: { ...a, transfer: { to: action.to, toName: action.toName, state: 'requested' }, transferFailed: null } };
    }
    case 'transfer.failed.clear':
      return s.active?.transferFailed ? { ...s, active: { ...s.active, transferFailed: null } } : s;
    case 'command.sent': {
      const a = s.active;
      if (!a || a.call.id !== action.callId) return s;
      const entry: CommandEntry = {
        ref: action.ref,
        action: action.action,
        detail: action.detail,
        abnormal: action.abnormal,
        state: 'sent',
        status: null,
        code: null,
        message: null,
        at: action.now,
      };
      return { ...s, active: { ...a, commands: [...a.commands, entry].slice(-MAX_COMMANDS) } };
    }
    case 'dial.request':
      if (isLive(s.active) || s.dial) return s;
      return { ...s, dial: { deviceId: action.deviceId, state: 'requested', call: null, since: action.now }, dialResult: null, handedOff: null };
    case 'dial.result.clear':
      return s.dialResult ? { ...s, dialResult: null } : s;
    case 'handed.clear':
      return s.handedOff ? { ...s, handedOff: null } : s;
  }
}

/** Lanes longest-waiting first (the server sends them so; kept so here whatever comes). */
export function sortLanes(lanes: readonly Lane[]): Lane[] {
  const at = (l: Lane) => {
    const ms = Date.parse(l.waiting_since);
    return Number.isNaN(ms) ? Infinity : ms;
  };
  return lanes.slice().sort((x, y) => at(x) - at(y) || (x.device_id < y.device_id ? -1 : x.device_id > y.device_id ? 1 : 0));
}

/** Whether the agent may dial a lane's robot now. */
export function canDial(s: Pick<CallsState, 'conn' | 'active' | 'dial'>, lane: Pick<Lane, 'on_call'>): boolean {
  return s.conn === 'connected' && !isLive(s.active) && !s.dial && !lane.on_call;
}

/** Agents a call may be handed to: the others, online ones first, then by name. */
export function transferTargets(agents: readonly AgentEntry[] | null, meId: string | null | undefined): AgentEntry[] {
  const rank = (p: string) => (p === 'online' ? 0 : 1);
  return (agents ?? [])
    .filter((x) => x.id !== meId)
    .slice()
    .sort((x, y) => rank(x.presence) - rank(y.presence) || x.username.localeCompare(y.username));
}

/** Whether a call in the queue is a transfer offered to this agent. */
export function isTransferOffer(c: Pick<CallInfo, 'state'>): boolean {
  return c.state === 'transfer';
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

const lineLevels: readonly string[] = ['good', 'fair', 'poor', 'silent'];

/** A call.quality the page can show: a known level and finite figures. */
function isLineQuality(q: unknown): q is LineQuality {
  if (typeof q !== 'object' || q === null) return false;
  const l = q as Record<string, unknown>;
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  return (
    typeof l.level === 'string' &&
    lineLevels.includes(l.level) &&
    finite(l.loss) &&
    finite(l.jitter_ms) &&
    (l.rtt_ms === undefined || finite(l.rtt_ms))
  );
}

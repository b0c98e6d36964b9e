// The browser's WebSocket to the server's call signaling (GET /api/v1/ws,
// docs/protocol.md). One per tab: it connects, keeps the state (callState.ts)
// up to date from the server's messages, sends the agent's (presence,
// call.accept, call.answer, call.hangup, ping every 20 s) and reconnects
// after 1, 2, 4, 8, then every 10 s when the connection drops.
//
// The browser pieces (WebSocket, timers, the page's address) come in through
// SocketEnv so the unit tests drive it with fakes.

import { backoffMs } from '../cameras/whep';
import {
  callsReducer,
  initialCallsState,
  isLive,
  parseMessage,
  wsUrl,
  type CallsAction,
  type CallsState,
  type Presence,
  type RefKind,
  type ServerMessage,
} from './callState';
import { describeCommand, type RobotCommand } from './robot';

export const PING_MS = 20000;
/** Nothing heard for this long (two pings unanswered): the connection is dead, start again. */
export const SILENCE_MS = 50000;

/** The part of a WebSocket we use. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

const OPEN = 1;

type Handle = unknown;

export interface SocketEnv {
  createSocket(url: string): SocketLike;
  setTimeout(fn: () => void, ms: number): Handle;
  clearTimeout(h: Handle): void;
  setInterval(fn: () => void, ms: number): Handle;
  clearInterval(h: Handle): void;
  now(): number;
  url(): string;
  /** A connection closed before "welcome": maybe the session is over (the upgrade's 401 is invisible here). */
  onRefused?(): void;
}

export function browserSocketEnv(onRefused?: () => void): SocketEnv {
  const env: SocketEnv = {
    createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (h) => window.clearTimeout(h as number),
    setInterval: (fn, ms) => window.setInterval(fn, ms),
    clearInterval: (h) => window.clearInterval(h as number),
    now: () => Date.now(),
    url: () => wsUrl(window.location),
  };
  if (onRefused) env.onRefused = onRefused;
  return env;
}

/** A message to the server. */
export type ClientMessage =
  | { type: 'presence'; state: Presence }
  | { type: 'call.accept'; call_id: string }
  | { type: 'call.decline'; call_id: string }
  | { type: 'call.answer'; call_id: string; sdp: string }
  | { type: 'call.hangup'; call_id: string }
  | { type: 'call.hold'; call_id: string; state: 'hold' | 'resume'; ref: string }
  | { type: 'call.transfer'; call_id: string; to: string; ref: string }
  | { type: 'call.transfer_cancel'; call_id: string; ref: string }
  | { type: 'call.dial'; device_id: string; ref: string }
  | { type: 'call.dial_cancel'; ref: string }
  | { type: 'robot.command'; call_id: string; command: RobotCommand; reason: string; ref: string }
  | { type: 'agents.list'; ref: string }
  | { type: 'callout.list'; ref: string }
  | { type: 'ping'; ref: string };

export class CallSocket {
  private readonly env: SocketEnv;
  private s: CallsState = initialCallsState;
  private ws: SocketLike | null = null;
  private running = false;
  private welcomed = false;
  private retryTimer: Handle | null = null;
  private pingTimer: Handle | null = null;
  private lastHeard = 0;
  private pings = 0;
  private refs = 0;
  private readonly stateListeners = new Set<(s: CallsState) => void>();
  private readonly messageListeners = new Set<(m: ServerMessage, before: CallsState) => void>();

  constructor(env: SocketEnv) {
    this.env = env;
  }

  get state(): CallsState {
    return this.s;
  }

  /** Called after every change of the state. */
  subscribe(fn: (s: CallsState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Called with every server message after the state took it in, and the state before it. */
  onMessage(fn: (m: ServerMessage, before: CallsState) => void): () => void {
    this.messageListeners.add(fn);
    return () => this.messageListeners.delete(fn);
  }

  dispatch(action: CallsAction): void {
    const next = callsReducer(this.s, action);
    if (next === this.s) return;
    this.s = next;
    for (const fn of this.stateListeners) fn(next);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.teardown();
    this.dispatch({ type: 'conn.closed' });
  }

  /** Sends a message if the connection is up (and the server said welcome); false if it could not. */
  send(m: ClientMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN || !this.welcomed) return false;
    try {
      ws.send(JSON.stringify(m));
      return true;
    } catch {
      return false;
    }
  }

  accept(callId: string): boolean {
    if (isLive(this.s.active) || this.s.dial) return false;
    if (!this.send({ type: 'call.accept', call_id: callId })) return false;
    this.dispatch({ type: 'accept', callId, now: this.env.now() });
    return true;
  }

  /** call.accept for the agent's own call again: the server re-bridges it and sends a new offer. */
  reclaim(callId: string): boolean {
    return this.send({ type: 'call.accept', call_id: callId });
  }

  hangup(callId: string): boolean {
    return this.send({ type: 'call.hangup', call_id: callId });
  }

  /** Declines a call offered to this agent (a transfer); it leaves the queue here. */
  decline(callId: string): boolean {
    if (!this.send({ type: 'call.decline', call_id: callId })) return false;
    this.dispatch({ type: 'decline', callId });
    return true;
  }

  /** Puts the agent's call on hold or resumes it; the server confirms with call.hold {by: agent}. */
  hold(callId: string, state: 'hold' | 'resume'): boolean {
    const a = this.s.active;
    if (!isLive(a) || a.call.id !== callId) return false;
    if (!this.send({ type: 'call.hold', call_id: callId, state, ref: this.ref('hold') })) return false;
    this.dispatch({ type: 'hold.request', callId, state });
    return true;
  }

  /** Hands the agent's call to another agent (to: user id; "" for any free agent of the site). */
  transfer(callId: string, to: string, toName: string): boolean {
    const a = this.s.active;
    if (!isLive(a) || a.call.id !== callId || a.transfer) return false;
    if (!this.send({ type: 'call.transfer', call_id: callId, to, ref: this.ref('transfer') })) return false;
    this.dispatch({ type: 'transfer.request', callId, to, toName });
    return true;
  }

  cancelTransfer(callId: string): boolean {
    return this.send({ type: 'call.transfer_cancel', call_id: callId, ref: this.ref('transfer') });
  }

  /** Calls a lane's robot (call.dial); follow state.dial. */
  dial(deviceId: string): boolean {
    if (isLive(this.s.active) || this.s.dial) return false;
    if (!this.send({ type: 'call.dial', device_id: deviceId, ref: this.ref('dial') })) return false;
    this.dispatch({ type: 'dial.request', deviceId, now: this.env.now() });
    return true;
  }

  cancelDial(): boolean {
    return this.send({ type: 'call.dial_cancel', ref: this.ref('dial') });
  }

  /** Sends a robot command for the agent's call; its line in the log follows robot.result or error. The ref, or null. */
  command(callId: string, command: RobotCommand, reason = ''): string | null {
    const a = this.s.active;
    if (!isLive(a) || a.call.id !== callId) return null;
    const ref = this.ref('cmd');
    if (!this.send({ type: 'robot.command', call_id: callId, command, reason, ref })) return null;
    const abnormal = command.action === 'open_gate' && !!command.abnormal;
    this.dispatch({ type: 'command.sent', callId, ref, action: command.action, detail: describeCommand(command), abnormal, now: this.env.now() });
    return ref;
  }

  listAgents(): boolean {
    return this.send({ type: 'agents.list', ref: this.ref('agents') });
  }

  listCallout(): boolean {
    return this.send({ type: 'callout.list', ref: this.ref('callout') });
  }

  private ref(kind: RefKind): string {
    return `${kind}:${++this.refs}`;
  }

  answer(callId: string, sdp: string): boolean {
    return this.send({ type: 'call.answer', call_id: callId, sdp });
  }

  setPresence(state: Presence): boolean {
    this.dispatch({ type: 'presence', state });
    return this.send({ type: 'presence', state });
  }

  /** Asks the server for what rings now (sending the presence again re-rings waiting calls when online). */
  resync(): void {
    this.send({ type: 'presence', state: this.s.presence });
  }

  private connect(): void {
    this.teardown();
    if (!this.running) return;
    this.dispatch({ type: 'conn.connecting' });
    let ws: SocketLike;
    try {
      ws = this.env.createSocket(this.env.url());
    } catch {
      this.lost();
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    this.lastHeard = this.env.now();
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.lastHeard = this.env.now();
      this.pingTimer = this.env.setInterval(() => this.ping(ws), PING_MS);
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = this.env.now();
      const m = parseMessage(ev.data);
      if (m) this.received(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.lost();
    };
    ws.onerror = () => undefined; // onclose follows
  }

  private received(m: ServerMessage): void {
    if (m.type === 'welcome') this.welcomed = true;
    const before = this.s;
    this.dispatch({ type: 'server', msg: m, now: this.env.now() });
    if (m.type === 'welcome') {
      const wanted = this.s.wantedPresence;
      if (wanted && wanted !== this.s.presence) this.setPresence(wanted);
      this.listCallout();
    }
    // Our call is over: the server rang nobody on a call, so ask for what waits now.
    if (m.type === 'call.ended' && isLive(before.active) && before.active.call.id === m.call_id) this.resync();
    // Likewise once it went to another agent.
    if (m.type === 'call.transferred' && before.active && before.active.call.id === m.call_id) this.resync();
    for (const fn of this.messageListeners) fn(m, before);
  }

  private ping(ws: SocketLike): void {
    if (this.ws !== ws) return;
    if (this.env.now() - this.lastHeard >= SILENCE_MS) {
      this.lost();
      return;
    }
    this.send({ type: 'ping', ref: `p${++this.pings}` });
  }

  private lost(): void {
    const refused = !this.welcomed;
    this.teardown();
    if (!this.running) return;
    const delay = backoffMs(this.s.attempts);
    this.dispatch({ type: 'conn.lost' });
    if (refused) this.env.onRefused?.();
    this.retryTimer = this.env.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private teardown(): void {
    if (this.retryTimer !== null) {
      this.env.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.pingTimer !== null) {
      this.env.clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
    const ws = this.ws;
    this.ws = null;
    this.welcomed = false;
    if (ws) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = null;
      try {
        ws.close(1000, 'bye');
      } catch {
        /* already closed */
      }
    }
  }
}

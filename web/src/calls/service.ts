// One tab's call service: the WebSocket (socket.ts) and the call's audio
// (phone.ts) wired together, plus what the page needs to act (accept, hang
// up, presence, close ticket). It lives as long as the signed-in shell, so a
// call keeps its audio while the agent looks at another page.

import { me } from '../api';
import { closeCase } from '../cases';
import { t } from '../i18n';
import type { Case } from '../types';
import { isLive, type CallsState, type Presence } from './callState';
import { IDLE_PHONE, Phone, type PhoneEnv, type PhoneStatus } from './phone';
import { Ringer, ringSoundOn, setRingSound, shouldRing, type RingerAudio, type RingerLike } from './ringer';
import type { RobotCommand } from './robot';
import { CallSocket, browserSocketEnv, type SocketEnv } from './socket';

export interface CallsView {
  state: CallsState;
  phone: PhoneStatus;
  /** The browser refused to play the caller's audio without a click. */
  audioBlocked: boolean;
  /** The ring's sound: off (not ringing, or silent), running, or blocked until the agent touches the page. */
  ring: RingerAudio;
  /** The console rings (sound or not) for a call now. */
  ringing: boolean;
  /** The agent's choice to ring with sound. */
  ringSound: boolean;
}

export interface ServiceOptions {
  socketEnv?: SocketEnv;
  phoneEnv?: PhoneEnv;
  close?: (caseId: string, remark: string) => Promise<Case | null>;
  /** Rings for incoming calls; default: the browser's (none outside one). */
  ringer?: RingerLike | null;
  /** Reads and keeps the agent's ring-sound choice; default: localStorage. */
  ringSound?: { get(): boolean; set(on: boolean): void };
}

/** How long "close ticket" waits for the hang-up of a call still on before closing anyway. */
const HANGUP_WAIT_MS = 5000;

export class CallService {
  readonly socket: CallSocket;
  readonly phone: Phone;
  private v: CallsView;
  private readonly listeners = new Set<(v: CallsView) => void>();
  private audio: HTMLAudioElement | null = null;
  private remote: MediaStream | null = null;
  private refusedAt = -Infinity;
  private readonly close: (caseId: string, remark: string) => Promise<Case | null>;
  private readonly unsubs: (() => void)[] = [];
  private readonly ringer: RingerLike | null;
  private readonly ringSoundStore: { get(): boolean; set(on: boolean): void };

  constructor(opts: ServiceOptions = {}) {
    this.close = opts.close ?? closeCase;
    this.ringSoundStore = opts.ringSound ?? { get: ringSoundOn, set: setRingSound };
    this.ringer = opts.ringer !== undefined ? opts.ringer : typeof window === 'undefined' ? null : new Ringer(() => this.syncRing());
    this.socket = new CallSocket(opts.socketEnv ?? browserSocketEnv(() => this.refused()));
    const phoneOpts: ConstructorParameters<typeof Phone>[0] = {
      sendAnswer: (callId, sdp) => this.socket.answer(callId, sdp),
      onStatus: (phone) => this.update({ phone }),
      onRemoteStream: (stream) => this.setRemote(stream),
      onFailed: (callId) => {
        const a = this.socket.state.active;
        if (isLive(a) && a.call.id === callId) this.socket.reclaim(callId);
      },
    };
    if (opts.phoneEnv) phoneOpts.env = opts.phoneEnv;
    this.phone = new Phone(phoneOpts);
    this.v = { state: this.socket.state, phone: IDLE_PHONE, audioBlocked: false, ring: 'off', ringing: false, ringSound: this.ringSoundStore.get() };
    this.unsubs.push(
      this.socket.subscribe((state) => {
        this.reconcile(state);
        this.update({ state });
        this.syncRing();
      }),
      this.socket.onMessage((m, before) => {
        const a = this.socket.state.active;
        if (m.type === 'welcome') {
          // Our call is still on (a reload, a dropped connection): the server offers it here again.
          // Not if this tab knew it as running in another tab: that one answers.
          const elsewhere = isLive(before.active) && before.active.call.id === a?.call.id && before.active.offered;
          if (isLive(a) && !this.phone.owns(a.call.id) && !elsewhere) {
            this.phone.own(a.call.id);
            this.reconcile(this.socket.state); // held before the reload: muted from the start
          }
        } else if (m.type === 'call.offer' && m.call_id && typeof m.sdp === 'string') {
          // The first offer of the call this tab dialled: its audio is ours.
          if (before.dial && a?.outbound && a.call.id === m.call_id && !this.phone.owns(m.call_id)) this.phone.own(m.call_id);
          void this.phone.handleOffer(m.call_id, m.sdp);
        }
      }),
    );
  }

  get view(): CallsView {
    return this.v;
  }

  subscribe(fn: (v: CallsView) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  start(): void {
    this.socket.start();
  }

  stop(): void {
    this.socket.stop();
    this.phone.end();
    this.ringer?.close();
    for (const u of this.unsubs.splice(0)) u();
    this.listeners.clear();
  }

  /** Accepts a ringing call: call.accept, and the microphone asked for at once. False when not connected or busy. */
  accept(callId: string): boolean {
    if (!this.socket.accept(callId)) return false;
    this.phone.own(callId);
    return true;
  }

  /** Moves the agent's own call to this tab (it was open in another one). */
  takeHere(callId: string): boolean {
    const a = this.socket.state.active;
    if (!isLive(a) || a.call.id !== callId) return false;
    this.phone.own(callId);
    if (this.socket.reclaim(callId)) return true;
    this.phone.end();
    return false;
  }

  hangup(): boolean {
    const a = this.socket.state.active;
    if (!isLive(a)) return false;
    return this.socket.hangup(a.call.id);
  }

  /** Declines a call offered to this agent (a transfer). */
  decline(callId: string): boolean {
    return this.socket.decline(callId);
  }

  /** Holds the robot (and mutes the microphone here) or resumes it. */
  setHold(on: boolean): boolean {
    const a = this.socket.state.active;
    if (!isLive(a)) return false;
    return this.socket.hold(a.call.id, on ? 'hold' : 'resume');
  }

  transfer(to: string, toName: string): boolean {
    const a = this.socket.state.active;
    if (!isLive(a)) return false;
    return this.socket.transfer(a.call.id, to, toName);
  }

  cancelTransfer(): boolean {
    const a = this.socket.state.active;
    if (!isLive(a) || !a.transfer) return false;
    return this.socket.cancelTransfer(a.call.id);
  }

  listAgents(): boolean {
    return this.socket.listAgents();
  }

  dial(deviceId: string): boolean {
    return this.socket.dial(deviceId);
  }

  cancelDial(): boolean {
    return !!this.socket.state.dial && this.socket.cancelDial();
  }

  /** Sends a robot command for the active call; its ref (the log line), or null when it could not go. */
  command(command: RobotCommand, reason = ''): string | null {
    const a = this.socket.state.active;
    if (!isLive(a)) return null;
    return this.socket.command(a.call.id, command, reason);
  }

  setPresence(p: Presence): boolean {
    return this.socket.setPresence(p);
  }

  clearError(): void {
    this.socket.dispatch({ type: 'error.clear' });
  }

  /**
   * Closes the active call's ticket with the remark (hanging up first if it
   * is still on) and returns to idle. Throws the API error.
   */
  async closeTicket(remark: string): Promise<void> {
    const a = this.socket.state.active;
    if (!a) return;
    const callId = a.call.id;
    if (isLive(a) && this.socket.hangup(callId)) await this.waitEnded(callId, HANGUP_WAIT_MS);
    await this.close(a.call.case_id, remark);
    this.socket.dispatch({ type: 'ticket.closed', callId });
    this.socket.resync();
  }

  /** The page's <audio id="call-audio">, which plays the caller. */
  setAudioElement(el: HTMLAudioElement | null): void {
    this.audio = el;
    this.attachAudio();
  }

  /** Plays the caller's audio after the browser blocked autoplay (call from a click). */
  unblockAudio(): void {
    const el = this.audio;
    if (!el) return;
    el.play().then(
      () => this.update({ audioBlocked: false }),
      () => this.update({ audioBlocked: true }),
    );
  }

  /** Rings with sound or silently (the title still blinks); kept for the next visit. */
  setRingSound(on: boolean): void {
    this.ringSoundStore.set(on);
    this.update({ ringSound: on });
    this.syncRing();
  }

  /** Lets a ring the browser blocked play: call from a click or key press. */
  unblockRing(): void {
    this.ringer?.unblock();
  }

  /** Rings while a call rings for this agent, and says so in the view. */
  private syncRing(): void {
    const r = this.ringer;
    if (!r) return;
    if (shouldRing(this.socket.state)) r.start(t('calls.incoming'), this.v.ringSound);
    else r.stop();
    this.update({ ring: r.status(), ringing: r.ringing });
  }

  private waitEnded(callId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (s: CallsState) => !s.active || s.active.call.id !== callId || s.active.state === 'ended';
      if (done(this.socket.state)) {
        resolve();
        return;
      }
      const h = setTimeout(finish, ms);
      const unsub = this.socket.subscribe((s) => {
        if (done(s)) finish();
      });
      function finish() {
        clearTimeout(h);
        unsub();
        resolve();
      }
    });
  }

  private reconcile(state: CallsState): void {
    const id = this.phone.callId;
    if (!id) return;
    const a = state.active;
    if (!a || a.call.id !== id || a.state === 'ended') {
      this.phone.end();
      return;
    }
    // Held by the agent (or asked to be): the robot hears nothing from here either.
    this.phone.setMuted(a.heldByAgent || a.holdPending === 'hold');
  }

  private setRemote(stream: MediaStream | null): void {
    this.remote = stream;
    this.attachAudio();
  }

  private attachAudio(): void {
    const el = this.audio;
    if (!el) return;
    if (el.srcObject !== this.remote) el.srcObject = this.remote;
    if (!this.remote) {
      if (this.v.audioBlocked) this.update({ audioBlocked: false });
      return;
    }
    el.play().then(
      () => this.update({ audioBlocked: false }),
      (e: unknown) => {
        // A newer stream replaced this one while it started: not a refusal.
        if (e instanceof DOMException && e.name === 'AbortError') return;
        this.update({ audioBlocked: true });
      },
    );
  }

  private refused(): void {
    // The upgrade was refused or the server is away: a 401 means the session ended (GET /me says so).
    const now = Date.now();
    if (now - this.refusedAt < 10000) return;
    this.refusedAt = now;
    me().catch(() => undefined);
  }

  private update(patch: Partial<CallsView>): void {
    const next = { ...this.v, ...patch };
    const same = (Object.keys(next) as (keyof CallsView)[]).every((k) => next[k] === this.v[k]);
    if (same) return;
    this.v = next;
    for (const fn of this.listeners) fn(next);
  }
}

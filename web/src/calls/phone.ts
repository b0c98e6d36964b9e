// The agent's side of a call's audio: the server offers (call.offer, one
// sendrecv audio m-line in the robot's codec, ICE already gathered), the
// browser answers with its microphone. One RTCPeerConnection per offer: a new
// offer for the same call (after a reconnect) replaces the old connection.
// Without a microphone the call goes on receive-only and the page warns.
//
// Browser pieces come in through PhoneEnv so the unit tests use fakes.

import { waitIceGathering, type Timers } from '../cameras/whep';
import { audioStats, type AudioStats } from './callState';

export type MicState = 'none' | 'pending' | 'ok' | 'failed';

export interface PhoneStatus {
  /** The call whose audio this tab handles (accepted here, or resumed here after a reload). */
  callId: string | null;
  mic: MicState;
  /** Why the microphone could not be used. */
  micError: string | null;
  /** The PeerConnection's state; "none" before the first offer. */
  pc: RTCPeerConnectionState | 'none';
  /** An offer is being answered. */
  answering: boolean;
  /** Answers sent for the call (one per offer). */
  answers: number;
  /** Why the last offer could not be answered. */
  error: string | null;
  /** The microphone is muted here (the agent holds the call). */
  muted: boolean;
}

export const IDLE_PHONE: PhoneStatus = { callId: null, mic: 'none', micError: null, pc: 'none', answering: false, answers: 0, error: null, muted: false };

export interface PhoneEnv extends Timers {
  createPeerConnection(): RTCPeerConnection;
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
  createMediaStream(tracks: MediaStreamTrack[]): MediaStream;
}

export function browserPhoneEnv(): PhoneEnv {
  return {
    createPeerConnection: () => new RTCPeerConnection(),
    getUserMedia: (c) => {
      const md = typeof navigator === 'undefined' ? undefined : navigator.mediaDevices;
      if (!md || typeof md.getUserMedia !== 'function') {
        return Promise.reject(new Error('no microphone access on this page (it needs https or localhost)'));
      }
      return md.getUserMedia(c);
    },
    createMediaStream: (tracks) => new MediaStream(tracks),
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (h) => window.clearTimeout(h as number),
  };
}

export interface PhoneOptions {
  /** Sends call.answer; false when the socket is down. */
  sendAnswer: (callId: string, sdp: string) => boolean;
  onStatus: (s: PhoneStatus) => void;
  /** The caller's audio to play (null: stop playing). */
  onRemoteStream: (stream: MediaStream | null) => void;
  /** The connection failed: ask the server for a new offer (call.accept again). */
  onFailed?: (callId: string) => void;
  env?: PhoneEnv;
  /** Longest wait for ICE gathering before the answer goes anyway. */
  iceGatherTimeoutMs?: number;
  /** Longest wait for the microphone (a permission prompt) before answering; it is added when it comes. */
  micWaitMs?: number;
}

function message(e: unknown): string {
  if (e instanceof Error) return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}

type StatsEntry = Record<string, unknown> & { type?: unknown };

export class Phone {
  private readonly opts: PhoneOptions;
  private readonly env: PhoneEnv;
  private status: PhoneStatus = IDLE_PHONE;
  private pc: RTCPeerConnection | null = null;
  /** Bumped whenever the connection is replaced or the call ends: late async steps then stop. */
  private epoch = 0;
  private mic: Promise<MediaStreamTrack | null> | null = null;
  private micTrack: MediaStreamTrack | null = null;
  private micStream: MediaStream | null = null;
  /** The sender the microphone goes to once it arrives late. */
  private sender: RTCRtpSender | null = null;
  private before: AudioStats = { packetsReceived: 0, packetsSent: 0, audioLevel: null };
  private last: AudioStats = { packetsReceived: 0, packetsSent: 0, audioLevel: null };
  private failedAt = -Infinity;

  constructor(opts: PhoneOptions) {
    this.opts = opts;
    this.env = opts.env ?? browserPhoneEnv();
  }

  get current(): PhoneStatus {
    return this.status;
  }

  get callId(): string | null {
    return this.status.callId;
  }

  owns(callId: string | null | undefined): boolean {
    return !!callId && this.status.callId === callId;
  }

  /** Takes the call's audio in this tab and asks for the microphone at once (the offer is on its way). */
  own(callId: string): void {
    if (this.status.callId === callId) return;
    if (this.status.callId) this.end();
    this.setStatus({ ...IDLE_PHONE, callId });
    this.startMic();
  }

  /** Answers an offer for the call this tab owns; offers for other calls are left alone. */
  async handleOffer(callId: string, sdp: string): Promise<void> {
    if (!this.owns(callId)) return;
    this.closePc();
    const epoch = ++this.epoch;
    const stale = () => epoch !== this.epoch;
    const env = this.env;
    let pc: RTCPeerConnection;
    try {
      pc = env.createPeerConnection();
    } catch (e) {
      this.setStatus({ error: message(e) });
      return;
    }
    this.pc = pc;
    pc.ontrack = (ev) => {
      if (stale()) return;
      this.opts.onRemoteStream(ev.streams?.[0] ?? env.createMediaStream([ev.track]));
    };
    pc.onconnectionstatechange = () => {
      if (stale()) return;
      this.setStatus({ pc: pc.connectionState });
      if (pc.connectionState === 'failed') this.failed(callId);
    };
    this.setStatus({ pc: pc.connectionState ?? 'new', answering: true, error: null });
    try {
      const mic = await this.waitMic();
      if (stale()) return;
      await pc.setRemoteDescription({ type: 'offer', sdp });
      if (stale()) return;
      const tr = pc.getTransceivers().find((t) => t.receiver?.track?.kind === 'audio') ?? pc.getTransceivers()[0];
      if (tr) {
        if (mic) await tr.sender.replaceTrack(mic);
        // No microphone for good: receive only. Still asking (a permission prompt): send, and add it when it comes.
        tr.direction = this.status.mic === 'failed' ? 'recvonly' : 'sendrecv';
        this.sender = tr.sender;
      } else if (mic) {
        this.sender = pc.addTrack(mic, this.micStream ?? env.createMediaStream([mic]));
      }
      if (stale()) return;
      const answer = await pc.createAnswer();
      if (stale()) return;
      await pc.setLocalDescription(answer);
      if (stale()) return;
      await waitIceGathering(pc, this.opts.iceGatherTimeoutMs ?? 2000, env);
      if (stale()) return;
      const out = pc.localDescription?.sdp ?? answer.sdp ?? '';
      if (!this.opts.sendAnswer(callId, out)) {
        this.setStatus({ answering: false, error: 'not connected' });
        return;
      }
      this.setStatus({ answering: false, answers: this.status.answers + 1 });
    } catch (e) {
      if (!stale()) this.setStatus({ answering: false, error: message(e) });
    }
  }

  /** Mutes the microphone (its track disabled: silence goes out) or lets it talk again; kept for a track that comes later. */
  setMuted(on: boolean): void {
    if (this.status.muted === on) return;
    if (this.micTrack) this.micTrack.enabled = !on;
    this.setStatus({ muted: on });
  }

  /** The call is over here: connection closed, microphone released. */
  end(): void {
    this.epoch++;
    this.closePc();
    if (this.micTrack) this.micTrack.stop();
    for (const tr of this.micStream?.getTracks() ?? []) tr.stop();
    this.mic = null;
    this.micTrack = null;
    this.micStream = null;
    this.before = { packetsReceived: 0, packetsSent: 0, audioLevel: null };
    this.last = { ...this.before };
    this.failedAt = -Infinity;
    if (this.status !== IDLE_PHONE) this.setStatus(IDLE_PHONE);
  }

  /** Audio packets in and out over the call (summed across replaced connections) and the caller's level now. */
  async stats(): Promise<AudioStats> {
    const pc = this.pc;
    const epoch = this.epoch;
    if (pc) {
      try {
        const report = await pc.getStats();
        if (epoch === this.epoch) this.last = audioStats(report.values() as Iterable<StatsEntry>);
      } catch {
        /* closed meanwhile */
      }
    }
    return {
      packetsReceived: this.before.packetsReceived + this.last.packetsReceived,
      packetsSent: this.before.packetsSent + this.last.packetsSent,
      audioLevel: pc ? this.last.audioLevel : null,
    };
  }

  private setStatus(patch: Partial<PhoneStatus>): void {
    this.status = { ...this.status, ...patch };
    this.opts.onStatus(this.status);
  }

  private closePc(): void {
    const pc = this.pc;
    if (!pc) return;
    this.pc = null;
    this.sender = null;
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    try {
      pc.close();
    } catch {
      /* already closed */
    }
    this.before = {
      packetsReceived: this.before.packetsReceived + this.last.packetsReceived,
      packetsSent: this.before.packetsSent + this.last.packetsSent,
      audioLevel: null,
    };
    this.last = { packetsReceived: 0, packetsSent: 0, audioLevel: null };
    this.opts.onRemoteStream(null);
  }

  private startMic(): void {
    if (this.mic) return;
    this.setStatus({ mic: 'pending', micError: null });
    let media: Promise<MediaStream>;
    try {
      media = this.env.getUserMedia({ audio: true });
    } catch (e) {
      media = Promise.reject(e);
    }
    const asked: Promise<MediaStreamTrack | null> = media.then(
      (stream) => {
        const track = stream.getAudioTracks()[0] ?? null;
        if (this.mic !== asked) {
          for (const tr of stream.getTracks()) tr.stop(); // the call ended meanwhile
          return null;
        }
        this.micStream = stream;
        this.micTrack = track;
        if (track) track.enabled = !this.status.muted;
        this.setStatus(track ? { mic: 'ok', micError: null } : { mic: 'failed', micError: 'no audio track' });
        // Arrived after the answer went out (sendrecv without a track): send it now.
        if (track && this.sender && !this.sender.track) this.sender.replaceTrack(track).catch(() => undefined);
        return track;
      },
      (e: unknown) => {
        if (this.mic === asked) this.setStatus({ mic: 'failed', micError: message(e) });
        return null;
      },
    );
    this.mic = asked;
  }

  /** The microphone track, or null without one; a permission prompt is waited on for micWaitMs at most. */
  private waitMic(): Promise<MediaStreamTrack | null> {
    if (!this.mic) this.startMic();
    const mic = this.mic as Promise<MediaStreamTrack | null>;
    return new Promise((resolve) => {
      const h = this.env.setTimeout(() => resolve(null), this.opts.micWaitMs ?? 8000);
      void mic.then((track) => {
        this.env.clearTimeout(h);
        resolve(track);
      });
    });
  }

  private failed(callId: string): void {
    // At most one new offer asked for every 5 s.
    const now = Date.now();
    if (now - this.failedAt < 5000) return;
    this.failedAt = now;
    this.opts.onFailed?.(callId);
  }
}

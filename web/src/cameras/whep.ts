// WHEP client: plays one camera in the browser. One receive-only
// PeerConnection per camera, the offer POSTed as application/sdp to
// /api/v1/cameras/{id}/whep (cookie session), the answer and a session URL
// (Location) back, DELETE on that URL when done. It reconnects by itself:
// the server says 503 while it is reconnecting to the camera, and a lost
// connection is retried with backoff (1 s … 10 s).
//
// The browser pieces (fetch, RTCPeerConnection, MediaStream, timers) come in
// through WhepEnv so the whole flow runs in the unit tests with fakes.

import { API_BASE, errorFromBody, notifyUnauthorized } from '../api';

export type WhepStream = 'main' | 'sub';

/**
 * connecting: first attempt under way; connected: media is flowing (ICE and
 * DTLS up); reconnecting: an attempt failed or the connection dropped, the
 * next one is scheduled; unsupported: the camera sends H.265, the browser
 * can't take it and there is no sub-stream; failed: the server refused for
 * good (no access, no such camera); closed: stopped.
 */
export type WhepState = 'connecting' | 'connected' | 'reconnecting' | 'unsupported' | 'failed' | 'closed';

export interface WhepStatus {
  state: WhepState;
  /** The stream being played: "sub" after the main one's codec was refused. */
  stream: WhepStream;
  /** Code of the last failure: the server's ("not_connected", "codec_not_supported", "http_404" …) or ours ("network", "ice_failed", "disconnected", "timeout", "bad_answer", "offer"). */
  code: string | null;
  /** Text of the last failure, for a tooltip; null once connected. */
  error: string | null;
}

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 10000;

/** Delay before retry number attempt (0-based): 1 s, 2 s, 4 s, 8 s, then 10 s. */
export function backoffMs(attempt: number): number {
  const n = Math.max(0, Math.floor(attempt));
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(n, 10));
}

/** The WHEP endpoint of a camera; the sub-stream is asked for with ?stream=sub. */
export function whepUrl(cameraId: string, stream: WhepStream = 'main'): string {
  const base = `${API_BASE}/cameras/${encodeURIComponent(cameraId)}/whep`;
  return stream === 'sub' ? `${base}?stream=sub` : base;
}

/** The session URL from a Location header, resolved against the URL that was POSTed to. */
export function resolveLocation(location: string, requestUrl: string, pageUrl: string): string {
  try {
    return new URL(location, new URL(requestUrl, pageUrl)).href;
  } catch {
    return location;
  }
}

export type WhepOutcome =
  | { kind: 'answer'; sdp: string; location: string | null }
  /** Try again later: the camera is reconnecting (503 not_connected), the server is busy or down. */
  | { kind: 'retry'; code: string; message: string }
  /** 406 codec_not_supported: the browser's offer lacks the camera's codec (H.265). */
  | { kind: 'codec'; code: string; message: string }
  /** Trying again won't help: no access, no such camera, a bad offer. */
  | { kind: 'fatal'; status: number; code: string; message: string };

/** What a response to the offer means. */
export function classifyResponse(status: number, statusText: string, body: string, location: string | null): WhepOutcome {
  if (status === 200 || status === 201) {
    if (!/^\s*v=0/.test(body)) return { kind: 'retry', code: 'bad_answer', message: 'the answer is not SDP' };
    return { kind: 'answer', sdp: body, location: location || null };
  }
  const err = errorFromBody(status, statusText, body);
  if (status === 406 && err.code === 'codec_not_supported') return { kind: 'codec', code: err.code, message: err.message };
  if (status >= 500 || status === 408 || status === 429 || status === 0) return { kind: 'retry', code: err.code, message: err.message };
  return { kind: 'fatal', status, code: err.code, message: err.message };
}

export interface VideoStats {
  /** Frames the browser decoded (for the tile: summed over reconnects). */
  framesDecoded: number;
  /** Audio packets have arrived (an audio track alone says nothing: the server may send none). */
  audio?: boolean;
  width?: number;
  height?: number;
  fps?: number;
  /** "H264", "H265", "VP8" … from the codec's MIME type. */
  codec?: string;
}

type StatsEntry = Record<string, unknown> & { id?: unknown; type?: unknown };

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The inbound video of a getStats() report (pass report.values()); null when there is none yet. */
export function videoStats(entries: Iterable<StatsEntry>): VideoStats | null {
  const all = [...entries];
  const inbound = all.find((s) => s.type === 'inbound-rtp' && (s.kind === 'video' || s.mediaType === 'video'));
  if (!inbound) return null;
  const out: VideoStats = { framesDecoded: num(inbound.framesDecoded) ?? 0 };
  const w = num(inbound.frameWidth);
  const h = num(inbound.frameHeight);
  const fps = num(inbound.framesPerSecond);
  if (w) out.width = w;
  if (h) out.height = h;
  if (fps !== undefined) out.fps = fps;
  const codec = all.find((s) => s.type === 'codec' && s.id === inbound.codecId);
  if (codec && typeof codec.mimeType === 'string') {
    const slash = codec.mimeType.indexOf('/');
    out.codec = (slash >= 0 ? codec.mimeType.slice(slash + 1) : codec.mimeType).toUpperCase();
  }
  return out;
}

/** Whether the report shows audio arriving (inbound-rtp audio with packets). */
export function receivesAudio(entries: Iterable<StatsEntry>): boolean {
  for (const s of entries) {
    if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.mediaType === 'audio') && (num(s.packetsReceived) ?? 0) > 0) return true;
  }
  return false;
}

type TimerHandle = unknown;

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

/** Waits until ICE gathering is complete, at most ms; then the offer goes out with the candidates found so far. */
export function waitIceGathering(
  pc: Pick<RTCPeerConnection, 'iceGatheringState' | 'addEventListener' | 'removeEventListener'>,
  ms: number,
  timers: Timers,
): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      timers.clearTimeout(handle);
      pc.removeEventListener('icegatheringstatechange', onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const handle = timers.setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', onChange);
  });
}

export interface WhepEnv extends Timers {
  fetch(url: string, init: RequestInit): Promise<Response>;
  createPeerConnection(): RTCPeerConnection;
  createMediaStream(): MediaStream;
  /** The page's URL, to resolve a relative Location against. */
  pageUrl(): string;
  /** A 401: the session is over. */
  onUnauthorized(): void;
}

export function browserEnv(): WhepEnv {
  return {
    fetch: (url, init) => fetch(url, init),
    createPeerConnection: () => new RTCPeerConnection(),
    createMediaStream: () => new MediaStream(),
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    clearTimeout: (h) => window.clearTimeout(h as number),
    pageUrl: () => window.location.href,
    onUnauthorized: notifyUnauthorized,
  };
}

export interface WhepOptions {
  cameraId: string;
  /** Read on a 406: whether to fall back to ?stream=sub. */
  hasSubstream: () => boolean;
  onStatus: (status: WhepStatus) => void;
  /** The stream to show; called again when a track is added or a new connection starts. */
  onStream: (stream: MediaStream | null) => void;
  env?: WhepEnv;
  /** Longest wait for ICE gathering before the offer is sent anyway. */
  iceGatherTimeoutMs?: number;
  /** How long "disconnected" may last before we reconnect. */
  disconnectGraceMs?: number;
  /** How long after the answer the connection may take to come up. */
  connectTimeoutMs?: number;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class WhepClient {
  private readonly opts: WhepOptions;
  private readonly env: WhepEnv;
  /** Bumped by every teardown: an async step that finds it changed stops and cleans up after itself. */
  private epoch = 0;
  private running = false;
  private pc: RTCPeerConnection | null = null;
  private session: string | null = null;
  private stream: WhepStream = 'main';
  private attempt = 0;
  private retryTimer: TimerHandle | null = null;
  private disconnectTimer: TimerHandle | null = null;
  private connectTimer: TimerHandle | null = null;
  private status: WhepStatus = { state: 'closed', stream: 'main', code: null, error: null };
  private framesBefore = 0;
  private framesNow = 0;

  constructor(opts: WhepOptions) {
    this.opts = opts;
    this.env = opts.env ?? browserEnv();
  }

  get current(): WhepStatus {
    return this.status;
  }

  /** The URL of the live session (the Location the server gave), if any. */
  get sessionUrl(): string | null {
    return this.session;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.setStatus({ state: 'connecting', code: null, error: null });
    void this.connect();
  }

  /** Ends the session (DELETE on its URL) and stops retrying. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.teardown();
    this.setStatus({ state: 'closed' });
  }

  /** Decoded frames and picture facts of the connection now; the frame count goes on across reconnects. */
  async stats(): Promise<VideoStats> {
    const pc = this.pc;
    const epoch = this.epoch;
    if (pc) {
      try {
        const report = await pc.getStats();
        const entries = [...(report.values() as Iterable<StatsEntry>)];
        const vs = videoStats(entries);
        if (vs && epoch === this.epoch) {
          this.framesNow = vs.framesDecoded;
          return { ...vs, framesDecoded: this.framesBefore + this.framesNow, audio: receivesAudio(entries) };
        }
      } catch {
        /* closed meanwhile */
      }
    }
    return { framesDecoded: this.framesBefore + this.framesNow };
  }

  private setStatus(patch: Partial<WhepStatus>): void {
    const next: WhepStatus = { ...this.status, stream: this.stream, ...patch };
    const s = this.status;
    if (next.state === s.state && next.stream === s.stream && next.code === s.code && next.error === s.error) return;
    this.status = next;
    this.opts.onStatus(next);
  }

  private clearTimer(h: TimerHandle | null): null {
    if (h !== null) this.env.clearTimeout(h);
    return null;
  }

  /** Closes the connection and its server session, cancels pending work. */
  private teardown(): void {
    this.epoch++;
    this.retryTimer = this.clearTimer(this.retryTimer);
    this.disconnectTimer = this.clearTimer(this.disconnectTimer);
    this.connectTimer = this.clearTimer(this.connectTimer);
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      try {
        pc.close();
      } catch {
        /* already closed */
      }
      this.framesBefore += this.framesNow;
      this.framesNow = 0;
      this.opts.onStream(null);
    }
    if (this.session) {
      this.deleteSession(this.session);
      this.session = null;
    }
  }

  private deleteSession(url: string): void {
    // keepalive: the DELETE still goes out when the tab is closing.
    this.env.fetch(url, { method: 'DELETE', credentials: 'same-origin', keepalive: true }).catch(() => undefined);
  }

  /** Tears down and tries again after the backoff delay. */
  private retry(code: string, error: string): void {
    this.teardown();
    if (!this.running) return;
    this.setStatus({ state: 'reconnecting', code, error });
    const delay = backoffMs(this.attempt++);
    this.retryTimer = this.env.setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  private async connect(): Promise<void> {
    this.teardown();
    if (!this.running) return;
    const epoch = this.epoch;
    const stale = () => epoch !== this.epoch;
    const env = this.env;
    let pc: RTCPeerConnection;
    try {
      pc = env.createPeerConnection();
    } catch (e) {
      this.fatal(0, 'offer', message(e));
      return;
    }
    this.pc = pc;
    const media = env.createMediaStream();
    pc.ontrack = (ev) => {
      if (stale()) return;
      media.addTrack(ev.track);
      this.opts.onStream(media);
    };
    pc.onconnectionstatechange = () => this.onConnectionState(epoch, pc);

    let sdp: string;
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const offer = await pc.createOffer();
      if (stale()) return;
      await pc.setLocalDescription(offer);
      if (stale()) return;
      await waitIceGathering(pc, this.opts.iceGatherTimeoutMs ?? 1000, env);
      if (stale()) return;
      sdp = pc.localDescription?.sdp ?? offer.sdp ?? '';
    } catch (e) {
      if (!stale()) this.fatal(0, 'offer', message(e));
      return;
    }

    const url = whepUrl(this.opts.cameraId, this.stream);
    let outcome: WhepOutcome;
    try {
      const res = await env.fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
        body: sdp,
        credentials: 'same-origin',
      });
      const body = await res.text().catch(() => '');
      outcome = classifyResponse(res.status, res.statusText, body, res.headers.get('Location'));
    } catch (e) {
      if (!stale()) this.retry('network', message(e));
      return;
    }
    const session = outcome.kind === 'answer' && outcome.location ? resolveLocation(outcome.location, url, env.pageUrl()) : null;
    if (stale()) {
      // Stopped or restarted while the answer was on its way: end the session the server just made.
      if (session) this.deleteSession(session);
      return;
    }

    switch (outcome.kind) {
      case 'answer':
        this.session = session;
        try {
          await pc.setRemoteDescription({ type: 'answer', sdp: outcome.sdp });
        } catch (e) {
          if (!stale()) this.retry('bad_answer', message(e));
          return;
        }
        if (stale()) return;
        this.connectTimer = env.setTimeout(() => {
          this.connectTimer = null;
          if (!stale() && pc.connectionState !== 'connected') this.retry('timeout', 'no connection');
        }, this.opts.connectTimeoutMs ?? 10000);
        this.onConnectionState(epoch, pc);
        return;
      case 'codec':
        if (this.stream === 'main' && this.opts.hasSubstream()) {
          this.stream = 'sub';
          this.attempt = 0;
          this.setStatus({ stream: 'sub' });
          void this.connect();
          return;
        }
        this.teardown();
        this.setStatus({ state: 'unsupported', code: outcome.code, error: outcome.message });
        return;
      case 'retry':
        this.retry(outcome.code, outcome.message);
        return;
      case 'fatal':
        this.fatal(outcome.status, outcome.code, outcome.message);
        return;
    }
  }

  private fatal(status: number, code: string, error: string): void {
    this.teardown();
    this.setStatus({ state: 'failed', code, error });
    if (status === 401) this.env.onUnauthorized();
  }

  private onConnectionState(epoch: number, pc: RTCPeerConnection): void {
    if (epoch !== this.epoch) return;
    switch (pc.connectionState) {
      case 'connected':
        this.disconnectTimer = this.clearTimer(this.disconnectTimer);
        this.connectTimer = this.clearTimer(this.connectTimer);
        this.attempt = 0;
        this.setStatus({ state: 'connected', code: null, error: null });
        return;
      case 'disconnected':
        if (this.disconnectTimer !== null) return;
        this.disconnectTimer = this.env.setTimeout(() => {
          this.disconnectTimer = null;
          if (epoch === this.epoch && pc.connectionState !== 'connected') this.retry('disconnected', 'connection lost');
        }, this.opts.disconnectGraceMs ?? 3000);
        return;
      case 'failed':
        this.retry('ice_failed', 'connection failed');
        return;
      case 'closed':
        // Not our own close (teardown unhooks this handler first): the other side ended it.
        this.retry('closed', 'connection closed');
        return;
      default:
        return;
    }
  }
}

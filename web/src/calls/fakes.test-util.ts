/// <reference types="node" />
// Fakes shared by the calls tests: a clock with timeouts and intervals, a
// WebSocket, a PeerConnection and media tracks.
// (Not a test file itself: the runner picks up *.test.ts only.)

import type { SocketLike } from './socket';

type Timer = { at: number; every: number | null; fn: () => void };

export class FakeClock {
  now = 0;
  private seq = 0;
  private timers = new Map<number, Timer>();
  setTimeout = (fn: () => void, ms: number): unknown => this.add(fn, ms, null);
  setInterval = (fn: () => void, ms: number): unknown => this.add(fn, ms, ms);
  clearTimeout = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  clearInterval = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  private add(fn: () => void, ms: number, every: number | null): number {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, every, fn });
    return id;
  }
  pending(): number {
    return this.timers.size;
  }
  /** Moves time on, running due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      let next: [number, Timer] | null = null;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.now = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

export class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }
  // the server's side
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  msg(m: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }
  types(): unknown[] {
    return this.sent.map((m) => m.type);
  }
}

export class FakeTrack {
  stopped = false;
  enabled = true;
  constructor(readonly kind: string) {}
  stop(): void {
    this.stopped = true;
  }
}

export class FakeStream {
  constructor(readonly tracks: FakeTrack[]) {}
  getTracks(): FakeTrack[] {
    return this.tracks;
  }
  getAudioTracks(): FakeTrack[] {
    return this.tracks.filter((t) => t.kind === 'audio');
  }
}

export class FakeSender {
  track: FakeTrack | null = null;
  replaced = 0;
  async replaceTrack(t: FakeTrack | null): Promise<void> {
    this.track = t;
    this.replaced++;
  }
}

export class FakeTransceiver {
  direction = 'recvonly';
  sender = new FakeSender();
  receiver = { track: new FakeTrack('audio') };
}

export class FakePC {
  iceGatheringState = 'complete';
  connectionState = 'new';
  remote: { type: string; sdp: string } | null = null;
  localDescription: { type: string; sdp: string } | null = null;
  transceivers: FakeTransceiver[] = [];
  closed = false;
  packetsReceived = 0;
  packetsSent = 0;
  ontrack: ((ev: { track: unknown; streams: unknown[] }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  constructor(readonly n: number) {}
  async setRemoteDescription(d: { type: string; sdp: string }): Promise<void> {
    this.remote = d;
    this.transceivers.push(new FakeTransceiver());
  }
  getTransceivers(): FakeTransceiver[] {
    return this.transceivers;
  }
  async createAnswer(): Promise<{ type: string; sdp: string }> {
    return { type: 'answer', sdp: `answer-${this.n}-${this.transceivers[0]?.direction}` };
  }
  async setLocalDescription(d: { type: string; sdp: string }): Promise<void> {
    this.localDescription = d;
  }
  addEventListener(): void {}
  removeEventListener(): void {}
  close(): void {
    this.closed = true;
  }
  async getStats(): Promise<Map<string, Record<string, unknown>>> {
    return new Map<string, Record<string, unknown>>([
      ['in', { type: 'inbound-rtp', kind: 'audio', packetsReceived: this.packetsReceived, audioLevel: 0.1 }],
      ['out', { type: 'outbound-rtp', kind: 'audio', packetsSent: this.packetsSent }],
    ]);
  }
  // test helpers
  track(): void {
    this.ontrack?.({ track: new FakeTrack('audio'), streams: [new FakeStream([])] });
  }
  setState(s: string): void {
    this.connectionState = s;
    this.onconnectionstatechange?.();
  }
}

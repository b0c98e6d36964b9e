/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  WhepClient,
  backoffMs,
  classifyResponse,
  receivesAudio,
  resolveLocation,
  videoStats,
  waitIceGathering,
  whepUrl,
  type WhepEnv,
  type WhepStatus,
} from './whep';

describe('whep helpers', () => {
  it('backs off from 1 s to 10 s', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map(backoffMs), [1000, 2000, 4000, 8000, 10000, 10000, 10000]);
    assert.equal(backoffMs(-1), 1000);
  });
  it('builds the endpoint and resolves the session URL', () => {
    assert.equal(whepUrl('c1'), '/api/v1/cameras/c1/whep');
    assert.equal(whepUrl('a/b', 'sub'), '/api/v1/cameras/a%2Fb/whep?stream=sub');
    const page = 'http://127.0.0.1:8080/#/cameras/s1';
    assert.equal(resolveLocation('/api/v1/cameras/c1/whep/x1', '/api/v1/cameras/c1/whep', page), 'http://127.0.0.1:8080/api/v1/cameras/c1/whep/x1');
    assert.equal(resolveLocation('whep/x1', '/api/v1/cameras/c1/whep', page), 'http://127.0.0.1:8080/api/v1/cameras/c1/whep/x1');
    assert.equal(resolveLocation('http://other:9/s/1', '/api/v1/cameras/c1/whep', page), 'http://other:9/s/1');
  });
  it('classifies the answers to an offer', () => {
    assert.deepEqual(classifyResponse(201, 'Created', 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n', '/s/1'), {
      kind: 'answer',
      sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n',
      location: '/s/1',
    });
    assert.equal(classifyResponse(201, 'Created', '', '/s/1').kind, 'retry');
    const busy = classifyResponse(503, 'Service Unavailable', '{"error":{"code":"not_connected","message":"camera is reconnecting"}}', null);
    assert.deepEqual(busy, { kind: 'retry', code: 'not_connected', message: 'camera is reconnecting' });
    assert.equal(classifyResponse(502, 'Bad Gateway', '', null).kind, 'retry');
    assert.equal(classifyResponse(429, 'Too Many Requests', '', null).kind, 'retry');
    assert.equal(classifyResponse(406, 'Not Acceptable', '{"error":{"code":"codec_not_supported","message":"H265"}}', null).kind, 'codec');
    assert.equal(classifyResponse(406, 'Not Acceptable', '', null).kind, 'fatal');
    assert.deepEqual(classifyResponse(404, 'Not Found', '{"error":{"code":"not_found","message":"no such camera"}}', null), {
      kind: 'fatal',
      status: 404,
      code: 'not_found',
      message: 'no such camera',
    });
  });
  it('reads the inbound video stats', () => {
    const report = new Map<string, Record<string, unknown>>([
      ['a', { id: 'a', type: 'inbound-rtp', kind: 'audio', packetsReceived: 10 }],
      ['v', { id: 'v', type: 'inbound-rtp', kind: 'video', framesDecoded: 42, frameWidth: 640, frameHeight: 360, framesPerSecond: 25, codecId: 'c' }],
      ['c', { id: 'c', type: 'codec', mimeType: 'video/H264' }],
    ]);
    assert.deepEqual(videoStats(report.values()), { framesDecoded: 42, width: 640, height: 360, fps: 25, codec: 'H264' });
    assert.deepEqual(videoStats([{ type: 'inbound-rtp', kind: 'video' }]), { framesDecoded: 0 });
    assert.equal(videoStats([{ type: 'inbound-rtp', kind: 'audio' }]), null);
    assert.equal(videoStats([]), null);
  });
  it('tells whether audio arrives', () => {
    assert.equal(receivesAudio([{ type: 'inbound-rtp', kind: 'audio', packetsReceived: 3 }]), true);
    assert.equal(receivesAudio([{ type: 'inbound-rtp', kind: 'audio', packetsReceived: 0 }]), false);
    assert.equal(receivesAudio([{ type: 'inbound-rtp', kind: 'video', packetsReceived: 3 }]), false);
  });
});

// ── Fakes: a clock, a PeerConnection, fetch ──────────────────────────────

class FakeClock {
  now = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  pending(): number {
    return this.timers.size;
  }
  /** Moves time on, running due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

class FakePC {
  iceGatheringState: RTCIceGatheringState = 'complete';
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: { type: string; sdp: string } | null = null;
  remote: { type: string; sdp: string } | null = null;
  transceivers: { kind: string; direction: string | undefined }[] = [];
  closed = false;
  framesDecoded = 0;
  ontrack: ((ev: { track: unknown }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  private listeners = new Map<string, Set<() => void>>();
  constructor(readonly n: number) {}
  addTransceiver(kind: string, init?: { direction?: string }) {
    this.transceivers.push({ kind, direction: init?.direction });
  }
  async createOffer() {
    return { type: 'offer', sdp: `v=0\r\noffer ${this.n}\r\n` };
  }
  async setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = { ...d, sdp: d.sdp + (this.iceGatheringState === 'complete' ? 'a=candidate:1\r\n' : '') };
  }
  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.remote = d;
  }
  async getStats() {
    return new Map([['v', { id: 'v', type: 'inbound-rtp', kind: 'video', framesDecoded: this.framesDecoded }]]);
  }
  addEventListener(type: string, fn: () => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(fn);
  }
  removeEventListener(type: string, fn: () => void) {
    this.listeners.get(type)?.delete(fn);
  }
  listenerCount(type: string): number {
    return this.listeners.get(type)?.size ?? 0;
  }
  gatheringDone() {
    this.iceGatheringState = 'complete';
    for (const fn of this.listeners.get('icegatheringstatechange') ?? []) fn();
  }
  setConnection(state: RTCPeerConnectionState) {
    this.connectionState = state;
    this.onconnectionstatechange?.();
  }
  close() {
    this.closed = true;
    this.connectionState = 'closed';
  }
}

type Call = { url: string; method: string; headers: Record<string, string>; body: unknown; credentials: unknown; keepalive: unknown };
type Reply = Response | Error | Promise<Response>;

const answer = (loc = '/api/v1/cameras/c1/whep/sess-1') =>
  new Response('v=0\r\nanswer\r\n', { status: 201, headers: { 'Content-Type': 'application/sdp', Location: loc } });
const apiError = (status: number, code: string) => new Response(JSON.stringify({ error: { code, message: code } }), { status });

function setup(opts: { hasSubstream?: boolean; gathering?: boolean } = {}) {
  const clock = new FakeClock();
  const pcs: FakePC[] = [];
  const calls: Call[] = [];
  const replies: Reply[] = [];
  const statuses: WhepStatus[] = [];
  const streams: unknown[] = [];
  let unauthorized = 0;
  const env: WhepEnv = {
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    fetch: async (url, init) => {
      calls.push({
        url,
        method: init.method ?? 'GET',
        headers: (init.headers ?? {}) as Record<string, string>,
        body: init.body,
        credentials: init.credentials,
        keepalive: init.keepalive,
      });
      if (init.method === 'DELETE') return new Response(null, { status: 204 });
      const r = replies.shift();
      if (!r) throw new Error('unexpected POST ' + url);
      if (r instanceof Error) throw r;
      return r;
    },
    createPeerConnection: () => {
      const pc = new FakePC(pcs.length + 1);
      if (opts.gathering) pc.iceGatheringState = 'gathering';
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
    createMediaStream: () => {
      const tracks: unknown[] = [];
      return { addTrack: (t: unknown) => tracks.push(t), getAudioTracks: () => tracks, tracks } as unknown as MediaStream;
    },
    pageUrl: () => 'http://127.0.0.1:8080/#/cameras/s1',
    onUnauthorized: () => unauthorized++,
  };
  const client = new WhepClient({
    cameraId: 'c1',
    hasSubstream: () => !!opts.hasSubstream,
    onStatus: (s) => statuses.push(s),
    onStream: (s) => streams.push(s),
    env,
  });
  const posts = () => calls.filter((c) => c.method === 'POST');
  const deletes = () => calls.filter((c) => c.method === 'DELETE').map((c) => c.url);
  return { clock, pcs, calls, replies, statuses, streams, client, posts, deletes, unauthorized: () => unauthorized };
}

describe('WhepClient', () => {
  it('offers receive-only video and audio, plays the answer, and DELETEs the session on stop', async () => {
    const s = setup();
    s.replies.push(answer());
    s.client.start();
    await settle();
    assert.equal(s.pcs.length, 1);
    const pc = s.pcs[0] as FakePC;
    assert.deepEqual(pc.transceivers, [
      { kind: 'video', direction: 'recvonly' },
      { kind: 'audio', direction: 'recvonly' },
    ]);
    const [post] = s.posts();
    assert.ok(post);
    assert.equal(post.url, '/api/v1/cameras/c1/whep');
    assert.equal(post.headers['Content-Type'], 'application/sdp');
    assert.equal(post.credentials, 'same-origin');
    assert.equal(post.body, 'v=0\r\noffer 1\r\na=candidate:1\r\n');
    assert.deepEqual(pc.remote, { type: 'answer', sdp: 'v=0\r\nanswer\r\n' });
    assert.equal(s.client.current.state, 'connecting');
    assert.equal(s.client.sessionUrl, 'http://127.0.0.1:8080/api/v1/cameras/c1/whep/sess-1');

    pc.ontrack?.({ track: 'video-track' });
    assert.equal(s.streams.length, 1);
    pc.setConnection('connected');
    assert.equal(s.client.current.state, 'connected');
    assert.deepEqual(
      s.statuses.map((x) => x.state),
      ['connecting', 'connected'],
    );

    s.client.stop();
    assert.equal(pc.closed, true);
    await settle();
    assert.deepEqual(s.deletes(), ['http://127.0.0.1:8080/api/v1/cameras/c1/whep/sess-1']);
    assert.equal(s.calls.at(-1)?.keepalive, true);
    assert.equal(s.client.current.state, 'closed');
    assert.equal(s.clock.pending(), 0);
  });

  it('waits for ICE gathering, at most about a second', async () => {
    const s = setup({ gathering: true });
    s.replies.push(answer(), answer('/s/2'));
    s.client.start();
    await settle();
    assert.equal(s.posts().length, 0);
    (s.pcs[0] as FakePC).gatheringDone();
    await settle();
    assert.equal(s.posts().length, 1);
    assert.equal((s.pcs[0] as FakePC).listenerCount('icegatheringstatechange'), 0);

    // The second connection's gathering never completes: the offer goes after 1 s.
    (s.pcs[0] as FakePC).setConnection('failed');
    await s.clock.advance(1000); // backoff
    assert.equal(s.pcs.length, 2);
    assert.equal(s.posts().length, 1);
    await s.clock.advance(999);
    assert.equal(s.posts().length, 1);
    await s.clock.advance(1);
    assert.equal(s.posts().length, 2);
  });

  it('retries with backoff while the camera is reconnecting (503)', async () => {
    const s = setup();
    s.replies.push(apiError(503, 'not_connected'), apiError(503, 'not_connected'), new Error('Failed to fetch'), answer());
    s.client.start();
    await settle();
    assert.equal(s.client.current.state, 'reconnecting');
    assert.equal(s.client.current.code, 'not_connected');
    assert.equal((s.pcs[0] as FakePC).closed, true);
    await s.clock.advance(999);
    assert.equal(s.posts().length, 1);
    await s.clock.advance(1);
    assert.equal(s.posts().length, 2);
    await s.clock.advance(2000);
    assert.equal(s.posts().length, 3);
    assert.equal(s.client.current.code, 'network');
    await s.clock.advance(3999);
    assert.equal(s.posts().length, 3);
    await s.clock.advance(1);
    assert.equal(s.posts().length, 4);
    (s.pcs[3] as FakePC).setConnection('connected');
    assert.equal(s.client.current.state, 'connected');
    assert.equal(s.client.current.error, null);
    // A drop after that starts again at 1 s.
    s.replies.push(answer('/s/5'));
    (s.pcs[3] as FakePC).setConnection('failed');
    assert.equal(s.client.current.state, 'reconnecting');
    await s.clock.advance(1000);
    assert.equal(s.posts().length, 5);
  });

  it('falls back to the sub-stream when the browser lacks H.265', async () => {
    const s = setup({ hasSubstream: true });
    s.replies.push(apiError(406, 'codec_not_supported'), answer());
    s.client.start();
    await settle();
    assert.deepEqual(
      s.posts().map((p) => p.url),
      ['/api/v1/cameras/c1/whep', '/api/v1/cameras/c1/whep?stream=sub'],
    );
    assert.equal(s.client.current.stream, 'sub');
    (s.pcs[1] as FakePC).setConnection('connected');
    assert.deepEqual(s.client.current, { state: 'connected', stream: 'sub', code: null, error: null });
    // Reconnects stay on the sub-stream.
    s.replies.push(answer());
    (s.pcs[1] as FakePC).setConnection('failed');
    await s.clock.advance(1000);
    assert.equal(s.posts().at(-1)?.url, '/api/v1/cameras/c1/whep?stream=sub');
  });

  it('says so when H.265 cannot be played and there is no sub-stream', async () => {
    const s = setup({ hasSubstream: false });
    s.replies.push(apiError(406, 'codec_not_supported'));
    s.client.start();
    await settle();
    assert.equal(s.client.current.state, 'unsupported');
    assert.equal(s.client.current.code, 'codec_not_supported');
    await s.clock.advance(60000);
    assert.equal(s.posts().length, 1);
    assert.equal(s.clock.pending(), 0);
  });

  it('gives up on refusals and reports a lost session', async () => {
    const s = setup();
    s.replies.push(apiError(403, 'forbidden'));
    s.client.start();
    await settle();
    assert.equal(s.client.current.state, 'failed');
    assert.equal(s.client.current.code, 'forbidden');
    assert.equal(s.clock.pending(), 0);

    const u = setup();
    u.replies.push(new Response('', { status: 401 }));
    u.client.start();
    await settle();
    assert.equal(u.client.current.state, 'failed');
    assert.equal(u.unauthorized(), 1);
  });

  it('reconnects after more than 3 s disconnected, not before', async () => {
    const s = setup();
    s.replies.push(answer('/s/1'));
    s.client.start();
    await settle();
    const pc = s.pcs[0] as FakePC;
    pc.setConnection('connected');
    pc.setConnection('disconnected');
    await s.clock.advance(2500);
    pc.setConnection('connected');
    await s.clock.advance(5000);
    assert.equal(s.posts().length, 1);
    assert.equal(s.client.current.state, 'connected');

    s.replies.push(answer('/s/2'));
    pc.setConnection('disconnected');
    await s.clock.advance(2999);
    assert.equal(s.client.current.state, 'connected');
    await s.clock.advance(1);
    assert.equal(s.client.current.state, 'reconnecting');
    assert.equal(s.client.current.code, 'disconnected');
    assert.deepEqual(s.deletes(), ['http://127.0.0.1:8080/s/1']);
    await s.clock.advance(1000);
    assert.equal(s.posts().length, 2);
    assert.equal(s.client.sessionUrl, 'http://127.0.0.1:8080/s/2');
  });

  it('reconnects when the other side closes the connection', async () => {
    const s = setup();
    s.replies.push(answer('/s/1'), answer('/s/2'));
    s.client.start();
    await settle();
    (s.pcs[0] as FakePC).setConnection('connected');
    (s.pcs[0] as FakePC).setConnection('closed');
    assert.equal(s.client.current.state, 'reconnecting');
    await s.clock.advance(1000);
    assert.equal(s.posts().length, 2);
  });

  it('retries when the connection never comes up', async () => {
    const s = setup();
    s.replies.push(answer('/s/1'), answer('/s/2'));
    s.client.start();
    await settle();
    (s.pcs[0] as FakePC).setConnection('connecting');
    await s.clock.advance(10000);
    assert.equal(s.client.current.code, 'timeout');
    await s.clock.advance(1000);
    assert.equal(s.posts().length, 2);
  });

  it('ends a session whose answer arrives after stop', async () => {
    const s = setup();
    let reply: (r: Response) => void = () => undefined;
    s.replies.push(new Promise<Response>((r) => (reply = r)));
    s.client.start();
    await settle();
    assert.equal(s.posts().length, 1);
    s.client.stop();
    reply(answer('/s/late'));
    await settle();
    assert.equal((s.pcs[0] as FakePC).remote, null);
    assert.deepEqual(s.deletes(), ['http://127.0.0.1:8080/s/late']);
    assert.equal(s.client.current.state, 'closed');
  });

  it('counts decoded frames across reconnects', async () => {
    const s = setup();
    s.replies.push(answer('/s/1'), answer('/s/2'));
    s.client.start();
    await settle();
    const first = s.pcs[0] as FakePC;
    first.setConnection('connected');
    first.framesDecoded = 100;
    assert.deepEqual(await s.client.stats(), { framesDecoded: 100, audio: false });
    first.setConnection('failed');
    assert.equal((await s.client.stats()).framesDecoded, 100);
    await s.clock.advance(1000);
    const second = s.pcs[1] as FakePC;
    second.framesDecoded = 5;
    assert.equal((await s.client.stats()).framesDecoded, 105);
  });
});

describe('waitIceGathering', () => {
  it('returns at once when gathering is complete', async () => {
    const clock = new FakeClock();
    const pc = new FakePC(1);
    await waitIceGathering(pc as unknown as RTCPeerConnection, 1000, clock);
    assert.equal(clock.pending(), 0);
  });
});

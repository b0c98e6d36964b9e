/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallInfo, CallsState } from './callState';
import { FakeClock, FakeSocket, settle } from './fakes.test-util';
import { CallSocket, PING_MS, type SocketEnv } from './socket';

function setup() {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  let refused = 0;
  const env: SocketEnv = {
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    setInterval: clock.setInterval,
    clearInterval: clock.clearInterval,
    now: () => clock.now,
    url: () => 'ws://test/api/v1/ws',
    onRefused: () => refused++,
  };
  const sock = new CallSocket(env);
  const states: CallsState[] = [];
  sock.subscribe((s) => states.push(s));
  return { clock, sockets, sock, states, refused: () => refused, last: () => sockets[sockets.length - 1] as FakeSocket };
}

const AGENT = { id: 'u1', username: 'alice', role: 'agent', seat: '', presence: 'online' };

function ringing(id: string, patch: Partial<CallInfo> = {}): CallInfo {
  return { id, case_id: `case-${id}`, site_id: 's1', device_id: 'd1', from: '1001', codec: 'PCMA', state: 'ringing', since: '2025-05-01T10:00:00Z', ...patch };
}

describe('CallSocket', () => {
  it('connects, takes the welcome and sends only once welcomed', () => {
    const { sock, last } = setup();
    sock.start();
    const ws = last();
    assert.equal(ws.url, 'ws://test/api/v1/ws');
    assert.equal(sock.state.conn, 'connecting');
    ws.open();
    assert.equal(sock.setPresence('away'), false);
    ws.msg({ type: 'welcome', version: 1, agent: AGENT, calls: [ringing('c1')] });
    assert.equal(sock.state.conn, 'connected');
    assert.deepEqual(sock.state.ringing.map((c) => c.id), ['c1']);
    // The wish made before the welcome goes out right after it, then the call-out list is asked for.
    assert.deepEqual(ws.sent, [
      { type: 'presence', state: 'away' },
      { type: 'callout.list', ref: 'callout:1' },
    ]);
    ws.sent.splice(1, 1);
    assert.equal(sock.accept('c1'), true);
    assert.deepEqual(ws.sent[1], { type: 'call.accept', call_id: 'c1' });
    assert.equal(sock.state.active?.call.id, 'c1');
    assert.equal(sock.answer('c1', 'v=0\r\n'), true);
    assert.equal(sock.hangup('c1'), true);
    assert.deepEqual(ws.sent.slice(2), [
      { type: 'call.answer', call_id: 'c1', sdp: 'v=0\r\n' },
      { type: 'call.hangup', call_id: 'c1' },
    ]);
    // On a call: no second accept.
    ws.msg({ type: 'call.ringing', call: ringing('c2') });
    assert.equal(sock.accept('c2'), false);
  });

  it('reconnects after 1, 2, 4, 8, then every 10 s, and starts over after a welcome', async () => {
    const { clock, sockets, sock, last, refused } = setup();
    sock.start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = sockets.length;
      const at = clock.now;
      last().drop();
      assert.equal(sock.state.conn, 'reconnecting');
      while (sockets.length === before) await clock.advance(250);
      delays.push(clock.now - at);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 10000, 10000]);
    assert.equal(refused(), 6);
    last().open();
    last().msg({ type: 'welcome', version: 1, agent: AGENT, calls: [] });
    assert.equal(sock.state.attempts, 0);
    const before = sockets.length;
    const at = clock.now;
    last().drop();
    while (sockets.length === before) await clock.advance(250);
    assert.equal(clock.now - at, 1000);
    assert.equal(refused(), 6, 'a drop after the welcome is not a refusal');
  });

  it('pings every 20 s and gives up on a silent connection', async () => {
    const { clock, sockets, sock, last } = setup();
    sock.start();
    const ws = last();
    ws.open();
    ws.msg({ type: 'welcome', version: 1, agent: AGENT, calls: [] });
    assert.deepEqual(ws.types(), ['callout.list']);
    ws.sent.length = 0;
    await clock.advance(PING_MS);
    assert.deepEqual(ws.sent, [{ type: 'ping', ref: 'p1' }]);
    ws.msg({ type: 'pong', ref: 'p1' });
    await clock.advance(PING_MS);
    assert.deepEqual(ws.types(), ['ping', 'ping']);
    // No answer to two pings: at the third the connection is given up and a new one made.
    await clock.advance(PING_MS * 2);
    assert.equal(ws.closed, true);
    assert.equal(sock.state.conn, 'reconnecting');
    await clock.advance(1000);
    assert.equal(sockets.length, 2);
  });

  it('asks for what rings again when its call ends', () => {
    const { sock, last } = setup();
    sock.start();
    const ws = last();
    ws.open();
    ws.msg({ type: 'welcome', version: 1, agent: AGENT, calls: [ringing('c1')] });
    sock.accept('c1');
    ws.msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: ringing('c1', { agent_id: 'u1', state: 'connecting' }) });
    ws.msg({ type: 'call.ended', call_id: 'c1', reason: 'remote-bye' });
    assert.equal(sock.state.active?.state, 'ended');
    assert.deepEqual(ws.sent[ws.sent.length - 1], { type: 'presence', state: 'online' });
  });

  it('hands every message to listeners with the state before it', () => {
    const { sock, last } = setup();
    const seen: [string, string][] = [];
    sock.onMessage((m, before) => seen.push([m.type, before.conn]));
    sock.start();
    last().open();
    last().msg({ type: 'welcome', version: 1, agent: AGENT, calls: [] });
    last().msg({ type: 'pong' });
    assert.deepEqual(seen, [
      ['welcome', 'connecting'],
      ['pong', 'connected'],
    ]);
  });

  it('stops for good', async () => {
    const { clock, sockets, sock, last } = setup();
    sock.start();
    const ws = last();
    ws.open();
    sock.stop();
    assert.equal(ws.closed, true);
    assert.equal(sock.state.conn, 'closed');
    await clock.advance(60000);
    await settle();
    assert.equal(sockets.length, 1);
    assert.equal(clock.pending(), 0);
  });
});

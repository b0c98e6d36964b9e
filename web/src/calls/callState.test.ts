/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  audioStats,
  callElapsedMs,
  callsReducer,
  formatDuration,
  initialCallsState,
  isLive,
  parseMessage,
  pickIdCamera,
  pickLiveCamera,
  pickSceneCamera,
  takesCalls,
  waitingMs,
  wsUrl,
  type CallInfo,
  type CallsAction,
  type CallsState,
  type ServerMessage,
} from './callState';

const ME = { id: 'u1', username: 'alice', role: 'agent', seat: '7', presence: 'online' };

function call(id: string, patch: Partial<CallInfo> = {}): CallInfo {
  return {
    id,
    case_id: `case-${id}`,
    site_id: 'site-1',
    device_id: 'dev-1',
    from: '1001',
    codec: 'PCMU',
    state: 'ringing',
    since: '2025-05-01T10:00:00Z',
    ...patch,
  };
}

const T0 = Date.parse('2025-05-01T10:00:00Z');

function run(actions: CallsAction[], from: CallsState = initialCallsState): CallsState {
  return actions.reduce(callsReducer, from);
}

const srv = (msg: ServerMessage, now = T0): CallsAction => ({ type: 'server', msg, now });
const welcome = (calls: CallInfo[] = [], presence = 'online'): CallsAction => srv({ type: 'welcome', version: 1, agent: { ...ME, presence }, calls });

describe('calls reducer: connection and welcome', () => {
  it('goes connecting → connected, and reconnecting with a count of failures', () => {
    let s = run([{ type: 'conn.connecting' }]);
    assert.equal(s.conn, 'connecting');
    s = run([{ type: 'conn.lost' }, { type: 'conn.connecting' }], s);
    assert.equal(s.conn, 'reconnecting');
    assert.equal(s.attempts, 1);
    s = run([{ type: 'conn.lost' }], s);
    assert.equal(s.attempts, 2);
    s = run([welcome()], s);
    assert.equal(s.conn, 'connected');
    assert.equal(s.attempts, 0);
    assert.equal(s.agent?.username, 'alice');
    assert.equal(s.version, 1);
    assert.equal(run([{ type: 'conn.closed' }], s).conn, 'closed');
  });
  it('splits the calls of welcome into ringing (oldest first) and my own', () => {
    const s = run([
      welcome([
        call('b', { since: '2025-05-01T10:00:05Z' }),
        call('mine', { agent_id: 'u1', state: 'answered', since: '2025-05-01T09:59:00Z' }),
        call('a', { since: '2025-05-01T10:00:01Z' }),
      ], 'away'),
    ]);
    assert.deepEqual(s.ringing.map((c) => c.id), ['a', 'b']);
    assert.equal(s.active?.call.id, 'mine');
    assert.equal(s.active?.state, 'answered');
    // Resumed after a reload: the timer counts from the ring start.
    assert.equal(s.active?.answeredAt, Date.parse('2025-05-01T09:59:00Z'));
    assert.equal(s.presence, 'away');
  });
  it('marks my call ended when a reconnect finds it gone', () => {
    let s = run([welcome([call('x')]), { type: 'accept', callId: 'x', now: T0 }, srv({ type: 'call.offer', call_id: 'x', sdp: 'v=0', call: call('x', { agent_id: 'u1', state: 'connecting' }) })]);
    assert.equal(s.active?.offered, true);
    s = run([{ type: 'conn.lost' }, welcome([])], s);
    assert.equal(s.active?.state, 'ended');
    assert.equal(s.active?.reason, 'lost');
    // An ended call waits for its ticket to be closed across reconnects.
    s = run([welcome([])], s);
    assert.equal(s.active?.state, 'ended');
  });
  it('forgets an accept that was never offered when the reconnect does not list it', () => {
    const s = run([welcome([call('x')]), { type: 'accept', callId: 'x', now: T0 }, { type: 'conn.lost' }, welcome([])]);
    assert.equal(s.active, null);
  });
});

describe('calls reducer: ringing', () => {
  it('adds each ringing call once and drops it when taken or ended', () => {
    let s = run([welcome(), srv({ type: 'call.ringing', call: call('a') }), srv({ type: 'call.ringing', call: call('b', { since: '2025-05-01T09:00:00Z' }) })]);
    s = run([srv({ type: 'call.ringing', call: call('a', { from: '1002' }) })], s);
    assert.deepEqual(s.ringing.map((c) => [c.id, c.from]), [['b', '1001'], ['a', '1002']]);
    s = run([srv({ type: 'call.taken', call_id: 'a', by: 'bob' })], s);
    assert.deepEqual(s.ringing.map((c) => c.id), ['b']);
    s = run([srv({ type: 'call.ended', call_id: 'b', reason: 'cancelled' })], s);
    assert.deepEqual(s.ringing, []);
    assert.equal(s.active, null);
    assert.equal(s.error, null);
  });
  it('ignores messages it does not know and calls without ids', () => {
    const s = run([welcome()]);
    assert.equal(callsReducer(s, srv({ type: 'pong', ref: 'p1' })), s);
    assert.equal(callsReducer(s, srv({ type: 'call.ringing' })), s);
    assert.equal(callsReducer(s, srv({ type: 'chat.message' })), s);
  });
});

describe('calls reducer: a call from accept to close', () => {
  it('follows the call through offer, answer, keys, hold, end and close', () => {
    let s = run([welcome([call('x'), call('y')]), { type: 'accept', callId: 'x', now: T0 + 5000 }]);
    assert.equal(s.active?.call.id, 'x');
    assert.equal(s.active?.state, 'connecting');
    assert.equal(s.active?.offered, false);
    assert.deepEqual(s.ringing.map((c) => c.id), ['y']);
    // A second accept while on a call does nothing.
    assert.equal(callsReducer(s, { type: 'accept', callId: 'y', now: T0 }), s);

    s = run([srv({ type: 'call.offer', call_id: 'x', sdp: 'v=0', call: call('x', { agent_id: 'u1', state: 'connecting' }) })], s);
    assert.equal(s.active?.offered, true);
    assert.equal(s.active?.state, 'connecting');
    s = run([srv({ type: 'call.answered', call_id: 'x', call: call('x', { agent_id: 'u1', state: 'answered' }) }, T0 + 6000)], s);
    assert.equal(s.active?.state, 'answered');
    assert.equal(s.active?.answeredAt, T0 + 6000);
    assert.ok(isLive(s.active));

    s = run([
      srv({ type: 'call.dtmf', call_id: 'x', digit: '1' }),
      srv({ type: 'call.dtmf', call_id: 'other', digit: '9' }),
      srv({ type: 'call.dtmf', call_id: 'x', digit: '#' }),
      srv({ type: 'call.hold', call_id: 'x', state: 'hold' }),
    ], s);
    assert.equal(s.active?.dtmf, '1#');
    assert.equal(s.active?.hold, true);
    s = run([srv({ type: 'call.hold', call_id: 'x', state: 'resume' })], s);
    assert.equal(s.active?.hold, false);

    // A reconnect: a new offer for the same call keeps what was seen.
    s = run([srv({ type: 'call.offer', call_id: 'x', sdp: 'v=0', call: call('x', { agent_id: 'u1', state: 'answered' }) })], s);
    assert.equal(s.active?.dtmf, '1#');
    assert.equal(s.active?.answeredAt, T0 + 6000);

    assert.equal(callElapsedMs(s.active!, T0 + 16000), 10000);
    s = run([srv({ type: 'call.ended', call_id: 'x', reason: 'remote-bye' }, T0 + 26000)], s);
    assert.equal(s.active?.state, 'ended');
    assert.equal(s.active?.reason, 'remote-bye');
    assert.equal(isLive(s.active), false);
    assert.equal(callElapsedMs(s.active!, T0 + 99000), 20000);
    // Late messages about it change nothing.
    assert.equal(callsReducer(s, srv({ type: 'call.answered', call_id: 'x' })), s);

    assert.equal(callsReducer(s, { type: 'ticket.closed', callId: 'other' }), s);
    s = run([{ type: 'ticket.closed', callId: 'x' }], s);
    assert.equal(s.active, null);
  });
  it('undoes an accept another agent won', () => {
    const s = run([welcome([call('x')]), { type: 'accept', callId: 'x', now: T0 }, srv({ type: 'call.taken', call_id: 'x', by: 'bob' })]);
    assert.equal(s.active, null);
    assert.deepEqual(s.error, { code: 'taken', message: '', by: 'bob', callId: 'x' });
  });
  it('undoes an accept the server refused', () => {
    for (const code of ['taken', 'no_such_call', 'busy']) {
      const s = run([welcome([call('x')]), { type: 'accept', callId: 'x', now: T0 }, srv({ type: 'error', code, message: 'no', call_id: 'x' })]);
      assert.equal(s.active, null, code);
      assert.equal(s.error?.code, code);
    }
  });
  it('keeps the call on other errors and shows them', () => {
    const s = run([
      welcome([call('x')]),
      { type: 'accept', callId: 'x', now: T0 },
      srv({ type: 'call.offer', call_id: 'x', sdp: 'v=0', call: call('x', { agent_id: 'u1', state: 'connecting' }) }),
      srv({ type: 'error', code: 'bad_sdp', message: 'the WebRTC answer was not accepted', call_id: 'x' }),
    ]);
    assert.equal(s.active?.call.id, 'x');
    assert.deepEqual(s.error, { code: 'bad_sdp', message: 'the WebRTC answer was not accepted', callId: 'x' });
    assert.equal(callsReducer(s, { type: 'error.clear' }).error, null);
  });
  it('drops a ringing call the server no longer has', () => {
    const s = run([welcome([call('x')]), srv({ type: 'error', code: 'no_such_call', message: 'gone', call_id: 'x' })]);
    assert.deepEqual(s.ringing, []);
  });
  it('takes an offer for a call accepted in another tab as my active call', () => {
    const s = run([welcome([call('x')]), srv({ type: 'call.offer', call_id: 'x', sdp: 'v=0', call: call('x', { agent_id: 'u1', state: 'connecting' }) })]);
    assert.equal(s.active?.call.id, 'x');
    assert.deepEqual(s.ringing, []);
  });
  it('remembers the presence asked for', () => {
    const s = run([welcome(), { type: 'presence', state: 'busy' }]);
    assert.equal(s.presence, 'busy');
    assert.equal(s.wantedPresence, 'busy');
    // The server forgot it (it had dropped us): welcome says online, the wish stays for the socket to send again.
    const t = run([welcome()], s);
    assert.equal(t.presence, 'online');
    assert.equal(t.wantedPresence, 'busy');
  });
});

describe('calls helpers', () => {
  it('formats durations and waiting times', () => {
    assert.equal(formatDuration(0), '0:00');
    assert.equal(formatDuration(7999), '0:07');
    assert.equal(formatDuration(754000), '12:34');
    assert.equal(formatDuration(3723000), '1:02:03');
    assert.equal(formatDuration(-5), '0:00');
    assert.equal(formatDuration(NaN), '0:00');
    assert.equal(waitingMs(call('a'), T0 + 12000), 12000);
    assert.equal(waitingMs({ since: 'junk' }, T0), 0);
    assert.equal(waitingMs(call('a'), T0 - 5), 0);
  });
  it('picks the cameras of a call', () => {
    const env = { id: 'e', role: 'environment' as const };
    const gate = { id: 'g', role: 'gate' as const };
    const id = { id: 'i', role: 'id_document' as const };
    const ch = { id: 'c', role: 'channel' as const };
    assert.equal(pickLiveCamera([ch, gate, env, id])?.id, 'e');
    assert.equal(pickLiveCamera([ch, gate, id])?.id, 'g');
    assert.equal(pickLiveCamera([id, ch])?.id, 'i');
    assert.equal(pickLiveCamera([]), null);
    assert.equal(pickSceneCamera([id, gate])?.id, 'g');
    assert.equal(pickSceneCamera([id, ch])?.id, 'c');
    assert.equal(pickSceneCamera([id]), null);
    assert.equal(pickIdCamera([env, id])?.id, 'i');
    assert.equal(pickIdCamera([env]), null);
  });
  it('reads the audio stats', () => {
    const report = new Map<string, Record<string, unknown>>([
      ['in', { type: 'inbound-rtp', kind: 'audio', packetsReceived: 150, audioLevel: 0.25, totalAudioEnergy: 3 }],
      ['out', { type: 'outbound-rtp', kind: 'audio', packetsSent: 140 }],
      ['v', { type: 'inbound-rtp', kind: 'video', packetsReceived: 999 }],
    ]);
    assert.deepEqual(audioStats(report.values()), { packetsReceived: 150, packetsSent: 140, audioLevel: 0.25 });
    assert.deepEqual(audioStats([{ type: 'inbound-rtp', mediaType: 'audio', packetsReceived: 3, totalAudioEnergy: 0.5 }]), {
      packetsReceived: 3,
      packetsSent: 0,
      audioLevel: 0.5,
    });
    assert.deepEqual(audioStats([]), { packetsReceived: 0, packetsSent: 0, audioLevel: null });
  });
  it('builds the socket URL from the page', () => {
    assert.equal(wsUrl({ protocol: 'http:', host: '127.0.0.1:8099' }), 'ws://127.0.0.1:8099/api/v1/ws');
    assert.equal(wsUrl({ protocol: 'https:', host: 'att.example' }), 'wss://att.example/api/v1/ws');
  });
  it('parses frames and knows who takes calls', () => {
    assert.deepEqual(parseMessage('{"type":"pong","ref":"p1"}'), { type: 'pong', ref: 'p1' });
    assert.equal(parseMessage('nope'), null);
    assert.equal(parseMessage('[1]'), null);
    assert.equal(parseMessage('{"x":1}'), null);
    assert.equal(parseMessage(new ArrayBuffer(2)), null);
    assert.deepEqual(['agent', 'supervisor', 'admin', 'reviewer', undefined].map(takesCalls), [true, true, true, false, false]);
  });
});

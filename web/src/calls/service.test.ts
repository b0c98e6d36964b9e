/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallInfo } from './callState';
import { FakeClock, FakePC, FakeSocket, FakeStream, FakeTrack, settle } from './fakes.test-util';
import type { PhoneEnv } from './phone';
import { CallService } from './service';
import type { SocketEnv } from './socket';

const AGENT = { id: 'u1', username: 'alice', role: 'agent', seat: '', presence: 'online' };

function info(id: string, patch: Partial<CallInfo> = {}): CallInfo {
  return { id, case_id: `case-${id}`, site_id: 's1', device_id: 'd1', from: '1001', codec: 'PCMU', state: 'ringing', since: '2025-05-01T10:00:00Z', ...patch };
}

/** A ringer that records what it was told. */
class FakeRinger {
  ringing = false;
  sound = false;
  label = '';
  starts = 0;
  unblocks = 0;
  status() {
    return this.ringing && this.sound ? ('running' as const) : ('off' as const);
  }
  start(label: string, sound: boolean) {
    if (this.ringing && sound === this.sound) return;
    this.ringing = true;
    this.sound = sound;
    this.label = label;
    this.starts++;
  }
  stop() {
    this.ringing = false;
  }
  unblock() {
    this.unblocks++;
  }
  close() {
    this.ringing = false;
  }
}

function setup() {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const pcs: FakePC[] = [];
  const closed: [string, string][] = [];
  const socketEnv: SocketEnv = {
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
  };
  const phoneEnv: PhoneEnv = {
    createPeerConnection: () => {
      const pc = new FakePC(pcs.length + 1);
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
    getUserMedia: async () => new FakeStream([new FakeTrack('audio')]) as unknown as MediaStream,
    createMediaStream: (tracks) => new FakeStream(tracks as unknown as FakeTrack[]) as unknown as MediaStream,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  };
  const ringer = new FakeRinger();
  let soundStored = true;
  const svc = new CallService({
    socketEnv,
    phoneEnv,
    ringer,
    ringSound: {
      get: () => soundStored,
      set: (on) => {
        soundStored = on;
      },
    },
    close: async (caseId, remark) => {
      closed.push([caseId, remark]);
      return null;
    },
  });
  svc.start();
  const ws = () => sockets[sockets.length - 1] as FakeSocket;
  const connect = (calls: CallInfo[] = []) => {
    ws().open();
    ws().msg({ type: 'welcome', version: 1, agent: AGENT, calls });
  };
  return { clock, sockets, pcs, closed, svc, ws, connect, ringer, sound: () => soundStored };
}

describe('CallService', () => {
  it('accepts, answers the offer over the socket and hangs up', async () => {
    const t = setup();
    t.connect([info('c1')]);
    assert.equal(t.svc.accept('c1'), true);
    assert.equal(t.svc.phone.callId, 'c1');
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0 offer', call: info('c1', { agent_id: 'u1', state: 'connecting' }) });
    await settle();
    const answer = t.ws().sent.find((m) => m.type === 'call.answer');
    assert.deepEqual(answer, { type: 'call.answer', call_id: 'c1', sdp: 'answer-1-sendrecv' });
    t.ws().msg({ type: 'call.answered', call_id: 'c1', call: info('c1', { agent_id: 'u1', state: 'answered' }) });
    assert.equal(t.svc.view.state.active?.state, 'answered');
    assert.equal(t.svc.hangup(), true);
    assert.deepEqual(t.ws().sent[t.ws().sent.length - 1], { type: 'call.hangup', call_id: 'c1' });
    t.ws().msg({ type: 'call.ended', call_id: 'c1', reason: 'local-bye' });
    // The audio is over at once; the panel waits for the ticket.
    assert.equal(t.svc.phone.callId, null);
    assert.equal(t.pcs[0]?.closed, true);
    assert.equal(t.svc.view.state.active?.state, 'ended');
    await t.svc.closeTicket('  paid at the gate ');
    // The remark goes as given (the panel trims it).
    assert.deepEqual(t.closed, [['case-c1', '  paid at the gate ']]);
    assert.equal(t.svc.view.state.active, null);
  });

  it('hangs up before closing the ticket of a call still on', async () => {
    const t = setup();
    t.connect([info('c1')]);
    t.svc.accept('c1');
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: info('c1', { agent_id: 'u1', state: 'connecting' }) });
    await settle();
    const closing = t.svc.closeTicket('done');
    await settle();
    assert.deepEqual(t.ws().sent[t.ws().sent.length - 1], { type: 'call.hangup', call_id: 'c1' });
    assert.deepEqual(t.closed, [], 'not before the call ended');
    t.ws().msg({ type: 'call.ended', call_id: 'c1', reason: 'local-bye' });
    await closing;
    assert.deepEqual(t.closed, [['case-c1', 'done']]);
    assert.equal(t.svc.view.state.active, null);
  });

  it('takes its call back after a reload and answers the new offer', async () => {
    const t = setup();
    t.connect([info('c1', { agent_id: 'u1', state: 'answered' })]);
    assert.equal(t.svc.phone.callId, 'c1');
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: info('c1', { agent_id: 'u1', state: 'answered' }) });
    await settle();
    assert.equal(t.ws().sent.filter((m) => m.type === 'call.answer').length, 1);
    assert.equal(t.svc.view.state.active?.state, 'answered');
  });

  it('answers the new offer after its own connection dropped, on a new PeerConnection', async () => {
    const t = setup();
    t.connect([info('c1')]);
    t.svc.accept('c1');
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: info('c1', { agent_id: 'u1', state: 'connecting' }) });
    await settle();
    t.ws().drop();
    await t.clock.advance(1000);
    t.connect([info('c1', { agent_id: 'u1', state: 'answered' })]);
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0 again', call: info('c1', { agent_id: 'u1', state: 'answered' }) });
    await settle();
    assert.equal(t.pcs.length, 2);
    assert.equal(t.pcs[0]?.closed, true);
    assert.equal(t.ws().sent.filter((m) => m.type === 'call.answer').length, 1);
  });

  it('leaves a call answered in another tab to that tab until asked to take it here', async () => {
    const t = setup();
    t.connect([info('c1')]);
    // Another tab of the same agent accepted: this one gets the offer too.
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: info('c1', { agent_id: 'u1', state: 'connecting' }) });
    await settle();
    assert.equal(t.pcs.length, 0);
    assert.equal(t.svc.view.state.active?.call.id, 'c1');
    // Its own reconnect does not steal the call either.
    t.ws().drop();
    await t.clock.advance(1000);
    t.connect([info('c1', { agent_id: 'u1', state: 'answered' })]);
    assert.equal(t.svc.phone.callId, null);
    assert.equal(t.svc.takeHere('c1'), true);
    assert.deepEqual(t.ws().sent[t.ws().sent.length - 1], { type: 'call.accept', call_id: 'c1' });
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: info('c1', { agent_id: 'u1', state: 'answered' }) });
    await settle();
    assert.equal(t.pcs.length, 1);
  });

  it('drops the audio when another agent wins the accept', async () => {
    const t = setup();
    t.connect([info('c1')]);
    t.svc.accept('c1');
    t.ws().msg({ type: 'call.taken', call_id: 'c1', by: 'bob' });
    assert.equal(t.svc.phone.callId, null);
    assert.equal(t.svc.view.state.active, null);
    assert.equal(t.svc.view.state.error?.by, 'bob');
  });

  it('mutes the microphone while the agent holds the call', async () => {
    const t = setup();
    t.connect([info('c1')]);
    t.svc.accept('c1');
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: info('c1', { agent_id: 'u1', state: 'connecting' }) });
    await settle();
    t.ws().msg({ type: 'call.answered', call_id: 'c1', call: info('c1', { agent_id: 'u1', state: 'answered' }) });
    const mic = t.pcs[0]?.transceivers[0]?.sender.track as FakeTrack;
    assert.equal(mic.enabled, true);
    assert.equal(t.svc.setHold(true), true);
    const sent = t.ws().sent[t.ws().sent.length - 1];
    assert.equal(sent?.type, 'call.hold');
    assert.equal(sent?.state, 'hold');
    assert.equal(mic.enabled, false, 'muted at once');
    t.ws().msg({ type: 'call.hold', call_id: 'c1', state: 'hold', by: 'agent' });
    assert.equal(t.svc.view.phone.muted, true);
    t.svc.setHold(false);
    assert.equal(mic.enabled, false, 'until the server resumed');
    t.ws().msg({ type: 'call.hold', call_id: 'c1', state: 'resume', by: 'agent' });
    assert.equal(mic.enabled, true);
    assert.equal(t.svc.view.phone.muted, false);
  });

  it('answers the offer of a call it dialled', async () => {
    const t = setup();
    t.connect();
    assert.equal(t.svc.dial('d1'), true);
    const dial = t.ws().sent[t.ws().sent.length - 1];
    assert.equal(dial?.type, 'call.dial');
    assert.equal(dial?.device_id, 'd1');
    const out = info('', { case_id: 'case-out', state: 'dialing', agent_id: 'u1' });
    t.ws().msg({ type: 'call.dialing', device_id: 'd1', call: out });
    t.ws().msg({ type: 'call.ringing_out', device_id: 'd1', call: out });
    assert.equal(t.svc.view.state.dial?.state, 'ringing');
    t.ws().msg({ type: 'call.offer', call_id: 'o1', sdp: 'v=0', call: { ...out, id: 'o1', state: 'connecting' } });
    await settle();
    assert.equal(t.svc.phone.callId, 'o1');
    const answer = t.ws().sent.find((m) => m.type === 'call.answer');
    assert.deepEqual(answer, { type: 'call.answer', call_id: 'o1', sdp: 'answer-1-sendrecv' });
    assert.equal(t.svc.view.state.active?.outbound, true);
  });

  it('lets the call go when it was handed to another agent', async () => {
    const t = setup();
    t.connect([info('c1')]);
    t.svc.accept('c1');
    t.ws().msg({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: info('c1', { agent_id: 'u1', state: 'connecting' }) });
    await settle();
    t.ws().msg({ type: 'call.answered', call_id: 'c1', call: info('c1', { agent_id: 'u1', state: 'answered' }) });
    assert.equal(t.svc.transfer('u2', 'bob'), true);
    const tr = t.ws().sent[t.ws().sent.length - 1];
    assert.equal(tr?.type, 'call.transfer');
    assert.equal(tr?.to, 'u2');
    t.ws().msg({ type: 'call.transferring', call_id: 'c1', by: 'bob' });
    t.ws().msg({ type: 'call.transferred', call_id: 'c1', by: 'bob' });
    assert.equal(t.svc.phone.callId, null);
    assert.equal(t.pcs[0]?.closed, true);
    assert.equal(t.svc.view.state.active, null);
    assert.equal(t.svc.view.state.handedOff?.by, 'bob');
    // Free again: the presence goes out so that waiting calls ring.
    assert.equal(t.ws().sent[t.ws().sent.length - 1]?.type, 'presence');
  });

  it('sends robot commands with a ref and logs the answer', () => {
    const t = setup();
    t.connect([info('c1', { agent_id: 'u1', state: 'answered' })]);
    const ref = t.svc.command({ action: 'open_gate', abnormal: true, abnormal_reason: 'special-vehicle' }, 'fire engine');
    assert.ok(ref);
    assert.deepEqual(t.ws().sent[t.ws().sent.length - 1], {
      type: 'robot.command',
      call_id: 'c1',
      command: { action: 'open_gate', abnormal: true, abnormal_reason: 'special-vehicle' },
      reason: 'fire engine',
      ref,
    });
    t.ws().msg({ type: 'robot.result', call_id: 'c1', ref, status: 200 });
    assert.equal(t.svc.view.state.active?.commands[0]?.state, 'ok');
  });
});

describe('the ring', () => {
  it('rings while a call rings for the agent, and stops on accept', async () => {
    const { svc, ws, connect, ringer } = setup();
    connect();
    assert.equal(ringer.ringing, false);
    assert.equal(svc.view.ringing, false);
    ws().msg({ type: 'call.ringing', call: info('c1') });
    assert.equal(ringer.ringing, true);
    assert.equal(ringer.sound, true);
    assert.equal(ringer.label, 'Incoming call');
    assert.equal(svc.view.ringing, true);
    assert.equal(svc.view.ring, 'running');
    assert.ok(svc.accept('c1'));
    await settle();
    assert.equal(ringer.ringing, false, 'quiet once accepted');
    assert.equal(svc.view.ring, 'off');
  });
  it('stops when the caller gives up, and rings silently when the agent says so', () => {
    const { svc, ws, connect, ringer, sound } = setup();
    connect();
    ws().msg({ type: 'call.ringing', call: info('c1') });
    ws().msg({ type: 'call.ended', call_id: 'c1', reason: 'cancelled' });
    assert.equal(ringer.ringing, false);
    svc.setRingSound(false);
    assert.equal(sound(), false, 'the choice is kept');
    assert.equal(svc.view.ringSound, false);
    ws().msg({ type: 'call.ringing', call: info('c2') });
    assert.equal(ringer.ringing, true, 'the title still blinks');
    assert.equal(ringer.sound, false);
    assert.equal(svc.view.ring, 'off');
    svc.setRingSound(true);
    assert.equal(ringer.sound, true, 'the sound comes back on the ring going on');
    svc.unblockRing();
    assert.equal(ringer.unblocks, 1);
    svc.stop();
    assert.equal(ringer.ringing, false);
  });
});

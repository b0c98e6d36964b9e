/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, FakePC, FakeSender, FakeStream, FakeTrack, settle } from './fakes.test-util';
import { Phone, type PhoneEnv, type PhoneStatus } from './phone';

function setup(micWaitMs = 8000) {
  const clock = new FakeClock();
  const pcs: FakePC[] = [];
  const answers: [string, string][] = [];
  const statuses: PhoneStatus[] = [];
  const streams: unknown[] = [];
  const failed: string[] = [];
  let mic: { resolve: (s: FakeStream) => void; reject: (e: unknown) => void } | null = null;
  let micAsks = 0;
  const env: PhoneEnv = {
    createPeerConnection: () => {
      const pc = new FakePC(pcs.length + 1);
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
    getUserMedia: () => {
      micAsks++;
      return new Promise<MediaStream>((resolve, reject) => {
        mic = { resolve: (s) => resolve(s as unknown as MediaStream), reject };
      });
    },
    createMediaStream: (tracks) => new FakeStream(tracks as unknown as FakeTrack[]) as unknown as MediaStream,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  };
  const phone = new Phone({
    env,
    micWaitMs,
    sendAnswer: (id, sdp) => {
      answers.push([id, sdp]);
      return true;
    },
    onStatus: (s) => statuses.push(s),
    onRemoteStream: (s) => streams.push(s),
    onFailed: (id) => failed.push(id),
  });
  return {
    clock,
    pcs,
    answers,
    statuses,
    streams,
    failed,
    phone,
    mic: () => mic as NonNullable<typeof mic>,
    micAsks: () => micAsks,
  };
}

describe('Phone', () => {
  it('answers an offer with the microphone, sendrecv', async () => {
    const t = setup();
    t.phone.own('c1');
    assert.equal(t.micAsks(), 1);
    assert.equal(t.phone.current.mic, 'pending');
    const micTrack = new FakeTrack('audio');
    t.mic().resolve(new FakeStream([micTrack]));
    await t.phone.handleOffer('c1', 'v=0 offer');
    const pc = t.pcs[0] as FakePC;
    assert.deepEqual(pc.remote, { type: 'offer', sdp: 'v=0 offer' });
    assert.equal(pc.transceivers[0]?.direction, 'sendrecv');
    assert.equal(pc.transceivers[0]?.sender.track, micTrack);
    assert.deepEqual(t.answers, [['c1', 'answer-1-sendrecv']]);
    assert.equal(t.phone.current.mic, 'ok');
    assert.equal(t.phone.current.answers, 1);
    assert.equal(t.phone.current.answering, false);
    pc.track();
    assert.equal(t.streams.length, 1);
  });

  it('answers receive-only without a microphone and says why', async () => {
    const t = setup();
    t.phone.own('c1');
    t.mic().reject(Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' }));
    await t.phone.handleOffer('c1', 'v=0');
    assert.equal(t.phone.current.mic, 'failed');
    assert.equal(t.phone.current.micError, 'NotAllowedError: Permission denied');
    assert.equal(t.pcs[0]?.transceivers[0]?.direction, 'recvonly');
    assert.deepEqual(t.answers, [['c1', 'answer-1-recvonly']]);
  });

  it('does not hold the answer up for a permission prompt, and sends the microphone once allowed', async () => {
    const t = setup(3000);
    t.phone.own('c1');
    const done = t.phone.handleOffer('c1', 'v=0');
    await t.clock.advance(3000);
    await done;
    assert.deepEqual(t.answers, [['c1', 'answer-1-sendrecv']]);
    const sender = t.pcs[0]?.transceivers[0]?.sender as FakeSender;
    assert.equal(sender.track, null);
    const micTrack = new FakeTrack('audio');
    t.mic().resolve(new FakeStream([micTrack]));
    await settle();
    assert.equal(sender.track, micTrack);
    assert.equal(t.phone.current.mic, 'ok');
  });

  it('replaces the connection on a new offer for the same call, counting packets over both', async () => {
    const t = setup();
    t.phone.own('c1');
    t.mic().resolve(new FakeStream([new FakeTrack('audio')]));
    await t.phone.handleOffer('c1', 'v=0 one');
    const first = t.pcs[0] as FakePC;
    first.packetsReceived = 100;
    first.packetsSent = 90;
    assert.deepEqual(await t.phone.stats(), { packetsReceived: 100, packetsSent: 90, audioLevel: 0.1 });
    await t.phone.handleOffer('c1', 'v=0 two');
    assert.equal(first.closed, true);
    assert.equal(t.micAsks(), 1, 'the microphone is kept');
    const second = t.pcs[1] as FakePC;
    second.packetsReceived = 5;
    second.packetsSent = 4;
    assert.deepEqual(await t.phone.stats(), { packetsReceived: 105, packetsSent: 94, audioLevel: 0.1 });
    assert.deepEqual(
      t.answers.map((a) => a[1]),
      ['answer-1-sendrecv', 'answer-2-sendrecv'],
    );
    assert.equal(t.phone.current.answers, 2);
  });

  it('leaves offers of calls it does not own alone', async () => {
    const t = setup();
    await t.phone.handleOffer('c1', 'v=0');
    t.phone.own('c2');
    await t.phone.handleOffer('c1', 'v=0');
    assert.equal(t.pcs.length, 0);
    assert.deepEqual(t.answers, []);
  });

  it('releases the microphone and the connection when the call ends', async () => {
    const t = setup();
    t.phone.own('c1');
    const micTrack = new FakeTrack('audio');
    t.mic().resolve(new FakeStream([micTrack]));
    await t.phone.handleOffer('c1', 'v=0');
    t.phone.end();
    assert.equal(t.pcs[0]?.closed, true);
    assert.equal(micTrack.stopped, true);
    assert.equal(t.streams[t.streams.length - 1], null);
    assert.equal(t.phone.callId, null);
    assert.deepEqual(await t.phone.stats(), { packetsReceived: 0, packetsSent: 0, audioLevel: null });
  });

  it('stops a microphone that arrives after the call ended', async () => {
    const t = setup();
    t.phone.own('c1');
    const pending = t.mic();
    t.phone.end();
    const micTrack = new FakeTrack('audio');
    pending.resolve(new FakeStream([micTrack]));
    await settle();
    assert.equal(micTrack.stopped, true);
    assert.equal(t.phone.current.mic, 'none');
  });

  it('asks for a new offer when the connection fails', async () => {
    const t = setup();
    t.phone.own('c1');
    t.mic().resolve(new FakeStream([new FakeTrack('audio')]));
    await t.phone.handleOffer('c1', 'v=0');
    const pc = t.pcs[0] as FakePC;
    pc.setState('connected');
    assert.equal(t.phone.current.pc, 'connected');
    pc.setState('failed');
    pc.setState('failed');
    assert.deepEqual(t.failed, ['c1']);
  });
});

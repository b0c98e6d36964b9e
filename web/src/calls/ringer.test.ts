/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialCallsState, type CallInfo, type CallsState } from './callState';
import { ringSoundOn, ringTitle, RING_PATTERN, RING_PERIOD_S, shouldRing } from './ringer';

const call: CallInfo = { id: 'c1', case_id: 'k1', site_id: 's1', device_id: 'd1', from: 'robot9', codec: 'PCMU', state: 'ringing', since: '2025-05-01T10:00:00Z' };

describe('ringing', () => {
  const base: CallsState = { ...initialCallsState, conn: 'connected', presence: 'online', ringing: [call] };
  it('rings for a call ringing for an online, free agent only', () => {
    assert.equal(shouldRing(base), true);
    assert.equal(shouldRing({ ...base, ringing: [] }), false, 'nothing rings');
    assert.equal(shouldRing({ ...base, presence: 'away' }), false, 'away: the server offers nothing to take');
    assert.equal(shouldRing({ ...base, presence: 'busy' }), false);
    assert.equal(shouldRing({ ...base, conn: 'reconnecting' }), false, 'cannot accept while disconnected');
  });
  it('is quiet on a call, rings again once it ended', () => {
    const on: CallsState = { ...base, active: { call: { ...call, id: 'c0', state: 'answered' }, state: 'answered' } as CallsState['active'] };
    assert.equal(shouldRing(on), false);
    const ended: CallsState = { ...base, active: { call: { ...call, id: 'c0' }, state: 'ended' } as CallsState['active'] };
    assert.equal(shouldRing(ended), true);
  });
  it('blinks the title and keeps its tones inside a period', () => {
    assert.equal(ringTitle('attendant', 'Incoming call', 0), '☎ Incoming call');
    assert.equal(ringTitle('attendant', 'Incoming call', 1), 'attendant');
    for (const tone of RING_PATTERN) assert.ok(tone.at + tone.len < RING_PERIOD_S / 2, 'tones end before the title tick that does not ring');
  });
  it('rings with sound unless the agent turned it off (no storage: on)', () => {
    assert.equal(ringSoundOn(), true);
  });
});

/// <reference types="node" />
// The gate-call page's logic beyond answering: hold, transfer (both sides),
// robot commands and state, outbound calls and the call-out list, the
// abnormal-open rules, parking answers and the QR code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abnormalIdCamera, abnormalProblems, abnormalSceneCamera, canTakeSnap, countSnaps, snapCountText } from './abnormal';
import {
  callsReducer,
  canDial,
  initialCallsState,
  isTransferOffer,
  MAX_COMMANDS,
  refKind,
  sortLanes,
  transferTargets,
  type CallInfo,
  type CallsAction,
  type CallsState,
  type Lane,
  type ServerMessage,
} from './callState';
import { cleanPlate, formatMoney, parkingFailure, payCodeUsable, permitFacts, photosDropped, platePhotos } from './parking';
import { lineText } from './line';
import { darkModules, qrPath } from './qr';
import { ABNORMAL_REASONS, abnormalOpen, describeCommand, displayQr, displayText, LED_COLORS, readRobotState, robotTextProblem, voice } from './robot';
import { en, zhCN } from '../strings';

const ME = { id: 'u1', username: 'amy', role: 'agent', seat: '7', presence: 'online' };
const T0 = Date.parse('2025-05-01T10:00:00Z');

function call(id: string, patch: Partial<CallInfo> = {}): CallInfo {
  return { id, case_id: `case-${id}`, site_id: 's1', device_id: 'd1', from: 'robot9', codec: 'PCMU', state: 'ringing', since: '2025-05-01T10:00:00Z', ...patch };
}

const srv = (msg: ServerMessage, now = T0): CallsAction => ({ type: 'server', msg, now });

function run(actions: CallsAction[], from: CallsState = initialCallsState): CallsState {
  return actions.reduce(callsReducer, from);
}

/** Connected, with call c1 accepted and answered. */
function onCall(extra: Partial<CallInfo> = {}): CallsState {
  return run([
    srv({ type: 'welcome', version: 1, agent: ME, calls: [call('c1')] }),
    { type: 'accept', callId: 'c1', now: T0 },
    srv({ type: 'call.offer', call_id: 'c1', sdp: 'v=0', call: call('c1', { agent_id: 'u1', state: 'connecting', ...extra }), robot_state: { display: { mode: 'text', payload: 'Please wait' } } }),
    srv({ type: 'call.answered', call_id: 'c1', call: call('c1', { agent_id: 'u1', state: 'answered', ...extra }) }),
  ]);
}

describe('refs', () => {
  it('name what was asked', () => {
    assert.equal(refKind('hold:3'), 'hold');
    assert.equal(refKind('cmd:12'), 'cmd');
    assert.equal(refKind('p1'), null);
    assert.equal(refKind(undefined), null);
    assert.equal(refKind('evil:1'), null);
  });
});

describe('hold', () => {
  it('shows the agent asking, the server confirming, and resuming', () => {
    let s = onCall();
    s = run([{ type: 'hold.request', callId: 'c1', state: 'hold' }], s);
    assert.equal(s.active?.holdPending, 'hold');
    assert.equal(s.active?.hold, false);
    s = run([srv({ type: 'call.hold', call_id: 'c1', state: 'hold', by: 'agent' })], s);
    assert.equal(s.active?.heldByAgent, true);
    assert.equal(s.active?.hold, true);
    assert.equal(s.active?.holdPending, null);
    assert.equal(s.active?.call.held, true);
    s = run([{ type: 'hold.request', callId: 'c1', state: 'resume' }, srv({ type: 'call.hold', call_id: 'c1', state: 'resume', by: 'agent' })], s);
    assert.equal(s.active?.heldByAgent, false);
    assert.equal(s.active?.hold, false);
  });
  it('keeps the robot\'s hold apart from the agent\'s', () => {
    let s = run([srv({ type: 'call.hold', call_id: 'c1', state: 'hold', by: 'robot' })], onCall());
    assert.equal(s.active?.heldByRobot, true);
    assert.equal(s.active?.heldByAgent, false);
    assert.equal(s.active?.hold, true);
    s = run([srv({ type: 'call.hold', call_id: 'c1', state: 'hold', by: 'agent' }), srv({ type: 'call.hold', call_id: 'c1', state: 'resume', by: 'robot' })], s);
    assert.equal(s.active?.heldByRobot, false);
    assert.equal(s.active?.hold, true, 'still held by the agent');
  });
  it('takes the held flag of a call after a reload', () => {
    const s = run([srv({ type: 'welcome', version: 1, agent: ME, calls: [call('c1', { agent_id: 'u1', state: 'answered', held: true })] })]);
    assert.equal(s.active?.heldByAgent, true);
    assert.equal(s.active?.hold, true);
  });
  it('drops a pending hold the server refused, and shows why', () => {
    let s = run([{ type: 'hold.request', callId: 'c1', state: 'hold' }], onCall());
    s = run([srv({ type: 'error', ref: 'hold:4', call_id: 'c1', code: 'hold_unsupported', message: 'this call cannot be put on hold' })], s);
    assert.equal(s.active?.holdPending, null);
    assert.equal(s.active?.hold, false);
    assert.equal(s.error?.code, 'hold_unsupported');
    assert.equal(s.error?.callId, 'c1');
  });
  it('is not asked for a call that is not ours', () => {
    const s = onCall();
    assert.equal(run([{ type: 'hold.request', callId: 'other', state: 'hold' }], s), s);
  });
});

describe('transfer, handing over', () => {
  it('goes requested → ringing → transferred, and the page returns to idle with a note', () => {
    let s = run([{ type: 'transfer.request', callId: 'c1', to: 'u2', toName: 'bob' }], onCall());
    assert.deepEqual(s.active?.transfer, { to: 'u2', toName: 'bob', state: 'requested' });
    s = run([srv({ type: 'call.transferring', call_id: 'c1', by: 'bob' })], s);
    assert.equal(s.active?.transfer?.state, 'ringing');
    s = run([srv({ type: 'call.transferred', call_id: 'c1', by: 'bob' })], s);
    assert.equal(s.active, null);
    assert.deepEqual(s.handedOff, { callId: 'c1', caseId: 'case-c1', by: 'bob' });
    assert.equal(run([{ type: 'handed.clear' }], s).handedOff, null);
  });
  it('names who took a transfer offered to any free agent', () => {
    let s = run([{ type: 'transfer.request', callId: 'c1', to: '', toName: '' }], onCall());
    s = run([srv({ type: 'call.transferring', call_id: 'c1', by: '' }), srv({ type: 'call.transferred', call_id: 'c1', by: 'carl' })], s);
    assert.equal(s.handedOff?.by, 'carl');
  });
  it('keeps the call when the transfer fails, with the reason', () => {
    let s = run([{ type: 'transfer.request', callId: 'c1', to: 'u2', toName: 'bob' }, srv({ type: 'call.transferring', call_id: 'c1', by: 'bob' })], onCall());
    s = run([srv({ type: 'call.transfer_failed', call_id: 'c1', reason: 'declined by bob' })], s);
    assert.equal(s.active?.call.id, 'c1');
    assert.equal(s.active?.state, 'answered');
    assert.equal(s.active?.transfer, null);
    assert.equal(s.active?.transferFailed, 'declined by bob');
    assert.equal(run([{ type: 'transfer.failed.clear' }], s).active?.transferFailed, null);
  });
  it('forgets a transfer the server refused at once', () => {
    let s = run([{ type: 'transfer.request', callId: 'c1', to: 'u2', toName: 'bob' }], onCall());
    s = run([srv({ type: 'error', ref: 'transfer:2', call_id: 'c1', code: 'no_such_agent', message: 'no free agent' })], s);
    assert.equal(s.active?.transfer, null);
    assert.equal(s.active?.transferFailed, 'no_such_agent');
  });
  it('lists the other agents, online first', () => {
    const agents = [
      { id: 'u3', username: 'zoe', role: 'agent', seat: '3', presence: 'online' },
      { id: 'u1', username: 'amy', role: 'agent', seat: '7', presence: 'busy' },
      { id: 'u2', username: 'bob', role: 'agent', seat: '2', presence: 'away' },
      { id: 'u4', username: 'al', role: 'agent', seat: '4', presence: 'online' },
    ];
    const s = run([srv({ type: 'agents', ref: 'agents:1', agents })], onCall());
    assert.deepEqual(transferTargets(s.agents, 'u1').map((a) => a.username), ['al', 'zoe', 'bob']);
  });
});

describe('transfer, taking over', () => {
  it('shows a transfer in the queue, accepts it like any call, or declines it', () => {
    const tr = call('c9', { state: 'transfer', transfer_from: 'amy', agent_id: 'u5' });
    let s = run([srv({ type: 'welcome', version: 1, agent: ME, calls: [] }), srv({ type: 'call.ringing', call: tr })]);
    assert.equal(s.ringing.length, 1);
    assert.equal(isTransferOffer(s.ringing[0] as CallInfo), true);
    assert.equal(s.ringing[0]?.transfer_from, 'amy');
    const declined = run([{ type: 'decline', callId: 'c9' }], s);
    assert.equal(declined.ringing.length, 0);
    s = run([{ type: 'accept', callId: 'c9', now: T0 }], s);
    assert.equal(s.active?.call.transfer_from, 'amy');
    s = run([srv({ type: 'call.offer', call_id: 'c9', sdp: 'v=0', call: call('c9', { state: 'connecting', transfer_from: 'amy', agent_id: 'u5' }), robot_state: { plate: '沪A12345' } })], s);
    assert.equal(s.active?.offered, true);
    assert.deepEqual(s.active?.robotState, { plate: '沪A12345' });
  });
  it('drops the offer when its agent takes it back', () => {
    const tr = call('c9', { state: 'transfer', transfer_from: 'amy' });
    const s = run([srv({ type: 'welcome', version: 1, agent: ME, calls: [] }), srv({ type: 'call.ringing', call: tr }), srv({ type: 'call.taken', call_id: 'c9', reason: 'transfer cancelled' })]);
    assert.equal(s.ringing.length, 0);
  });
});

describe('robot commands and state', () => {
  it('logs each command and what the robot answered', () => {
    let s = onCall();
    s = run([
      { type: 'command.sent', callId: 'c1', ref: 'cmd:1', action: 'open_gate', detail: '', abnormal: false, now: T0 },
      { type: 'command.sent', callId: 'c1', ref: 'cmd:2', action: 'display', detail: 'text: hi', abnormal: false, now: T0 },
      { type: 'command.sent', callId: 'c1', ref: 'cmd:3', action: 'open_gate', detail: 'special-vehicle', abnormal: true, now: T0 },
    ], s);
    assert.deepEqual(s.active?.commands.map((c) => c.state), ['sent', 'sent', 'sent']);
    s = run([
      srv({ type: 'robot.result', ref: 'cmd:1', call_id: 'c1', status: 200 }),
      srv({ type: 'error', ref: 'cmd:2', call_id: 'c1', code: 'robot_unreachable', message: 'the robot did not take the command' }),
      srv({ type: 'error', ref: 'cmd:3', call_id: 'c1', code: 'evidence_required', message: 'an abnormal open at an exit needs snapshots' }),
    ], s);
    const [a, b, c] = s.active?.commands ?? [];
    assert.equal(a?.state, 'ok');
    assert.equal(a?.status, 200);
    assert.equal(b?.state, 'failed');
    assert.equal(b?.code, 'robot_unreachable');
    assert.equal(c?.code, 'evidence_required');
    assert.equal(s.error, null, 'a command error stays in its line');
  });
  it('counts a non-2xx robot answer as failed, and keeps the last commands only', () => {
    let s = run([{ type: 'command.sent', callId: 'c1', ref: 'cmd:1', action: 'led', detail: 'red', abnormal: false, now: T0 }, srv({ type: 'robot.result', ref: 'cmd:1', status: 486 })], onCall());
    assert.equal(s.active?.commands[0]?.state, 'failed');
    for (let i = 2; i < MAX_COMMANDS + 5; i++) s = run([{ type: 'command.sent', callId: 'c1', ref: `cmd:${i}`, action: 'led', detail: 'red', abnormal: false, now: T0 }], s);
    assert.equal(s.active?.commands.length, MAX_COMMANDS);
  });
  it('follows the robot\'s state from the offer and its updates', () => {
    let s = onCall();
    assert.deepEqual(s.active?.robotState, { display: { mode: 'text', payload: 'Please wait' } });
    s = run([srv({ type: 'robot.state', call_id: 'c1', device_id: 'd1', robot_state: { display: { mode: 'qr', payload: 'https://pay.example/t/1' } } })], s);
    assert.equal(readRobotState(s.active?.robotState).mode, 'qr');
    const other = run([srv({ type: 'robot.state', call_id: 'zz', device_id: 'd9', robot_state: {} })], s);
    assert.equal(other, s);
  });
  it('reads a robot state as plain text and ignores what is not', () => {
    assert.deepEqual(readRobotState({ display: { mode: 'text', payload: '<b>hi</b>\u0007' }, gate: 'closed', plate: '沪A12345', led: 'green' }), {
      mode: 'text',
      payload: '<b>hi</b>',
      gate: 'closed',
      plate: '沪A12345',
      led: 'green',
      known: true,
    });
    assert.equal(readRobotState({ display: { mode: 'video', payload: 7 }, gate: { open: true } }).known, false);
    assert.equal(readRobotState('garbage').known, false);
    assert.equal(readRobotState(null).known, false);
    assert.equal(readRobotState([1, 2]).known, false);
    assert.equal(readRobotState({ vehicle: { present: true, plate: '京B0001' } }).plate, '京B0001');
    assert.equal([...readRobotState({ display: { mode: 'text', payload: 'x'.repeat(5000) } }).payload].length, 1024);
  });
  it('describes and checks commands', () => {
    assert.equal(describeCommand(displayText('Please wait')), 'text: Please wait');
    assert.equal(describeCommand(abnormalOpen('special-person')), 'special-person');
    assert.equal(describeCommand(voice('x'.repeat(100))).length, 60);
    assert.deepEqual(displayQr('https://p/1'), { action: 'display', mode: 'qr', payload: 'https://p/1' });
    assert.equal(robotTextProblem('  '), 'empty');
    assert.equal(robotTextProblem('好'.repeat(171)), 'too_long', '513 bytes');
    assert.equal(robotTextProblem('好'.repeat(170)), null);
  });
});

describe('outbound calls and the call-out list', () => {
  const lane = (id: string, since: string, on_call = false): Lane => ({
    device_id: id,
    device_name: `Robot ${id}`,
    site_id: 's1',
    lane: 'North exit',
    lane_kind: 'exit',
    waiting_since: since,
    plate: '沪A12345',
    on_call,
  });
  it('keeps the list longest-waiting first', () => {
    const s = run([srv({ type: 'callout.list', lanes: [lane('d2', '2025-05-01T10:00:30Z'), lane('d1', '2025-05-01T10:00:10Z')] })]);
    assert.deepEqual(s.callout?.map((l) => l.device_id), ['d1', 'd2']);
    assert.deepEqual(sortLanes([lane('b', 'bad'), lane('a', '2025-05-01T10:00:00Z')]).map((l) => l.device_id), ['a', 'b']);
    assert.deepEqual(run([srv({ type: 'callout.list' })]).callout, []);
  });
  it('dials, follows the robot ringing and opens the call on the offer', () => {
    let s = run([srv({ type: 'welcome', version: 1, agent: ME, calls: [] })]);
    assert.equal(canDial(s, lane('d1', '')), true);
    assert.equal(canDial(s, lane('d1', '', true)), false, 'a robot on a call');
    s = run([{ type: 'dial.request', deviceId: 'd1', now: T0 }], s);
    assert.equal(s.dial?.state, 'requested');
    assert.equal(canDial(s, lane('d2', '')), false, 'one at a time');
    const info = call('', { case_id: 'case-out', state: 'dialing', agent_id: 'u1' });
    s = run([srv({ type: 'call.dialing', device_id: 'd1', call: info }), srv({ type: 'call.ringing_out', device_id: 'd1', call: info })], s);
    assert.equal(s.dial?.state, 'ringing');
    s = run([srv({ type: 'call.offer', call_id: 'out1', sdp: 'v=0', call: { ...info, id: 'out1', state: 'connecting' } })], s);
    assert.equal(s.dial, null);
    assert.equal(s.active?.call.id, 'out1');
    assert.equal(s.active?.outbound, true);
    assert.equal(canDial(s, lane('d2', '')), false, 'on a call');
  });
  it('ends a dial that was refused, not answered or cancelled, with the reason', () => {
    let s = run([srv({ type: 'welcome', version: 1, agent: ME, calls: [] }), { type: 'dial.request', deviceId: 'd1', now: T0 }]);
    s = run([srv({ type: 'call.ended', device_id: 'd1', reason: 'refused 486', call: call('', { case_id: 'case-out' }) })], s);
    assert.equal(s.dial, null);
    assert.deepEqual(s.dialResult, { deviceId: 'd1', reason: 'refused 486', message: '' });
    s = run([{ type: 'dial.request', deviceId: 'd1', now: T0 }, srv({ type: 'error', ref: 'dial:5', code: 'busy', message: 'you are on another call' })], s);
    assert.equal(s.dial, null);
    assert.equal(s.dialResult?.reason, 'busy');
    assert.equal(run([{ type: 'dial.result.clear' }], s).dialResult, null);
  });
});

describe('abnormal open', () => {
  const snaps = (scene: number, id: number) => [
    ...Array.from({ length: scene }, () => ({ kind: 'snapshot-scene' })),
    ...Array.from({ length: id }, () => ({ kind: 'snapshot-id_document' })),
    { kind: 'call-audio' },
  ];
  it('needs a reason and a remark', () => {
    assert.deepEqual(abnormalProblems({ reason: '', remark: ' ' }, false, countSnaps([])), ['reason', 'remark']);
    assert.deepEqual(abnormalProblems({ reason: 'special-vehicle', remark: 'fire engine' }, false, countSnaps([])), []);
    assert.deepEqual(abnormalProblems({ reason: 'vip', remark: 'x' }, false, countSnaps([])), ['reason']);
  });
  it('needs an ID and a scene snapshot at an exit', () => {
    assert.deepEqual(abnormalProblems({ reason: 'special-person', remark: 'doctor' }, true, countSnaps(snaps(1, 0))), ['id_document']);
    assert.deepEqual(abnormalProblems({ reason: 'special-person', remark: 'doctor' }, true, countSnaps(snaps(0, 2))), ['scene']);
    assert.deepEqual(abnormalProblems({ reason: 'special-person', remark: 'doctor' }, true, countSnaps(snaps(1, 1))), []);
  });
  it('counts snapshots per role, 4 at most', () => {
    const c = countSnaps(snaps(4, 2));
    assert.deepEqual(c, { scene: 4, id_document: 2 });
    assert.equal(canTakeSnap(c, 'scene'), false);
    assert.equal(canTakeSnap(c, 'id_document'), true);
    assert.equal(snapCountText(2), '2/4');
  });
  it('picks the cameras of the robot\'s lane', () => {
    const cam = (id: string, role: string, device_id = '', access_point_id = '') => ({ id, role: role as 'environment', device_id, access_point_id, enabled: true });
    const cams = [cam('e-other', 'environment', 'd9'), cam('id-site', 'id_document'), cam('e-ap', 'environment', '', 'ap1'), cam('id-dev', 'id_document', 'd1')];
    const lane = { deviceId: 'd1', accessPointId: 'ap1' };
    assert.equal(abnormalSceneCamera(cams, lane)?.id, 'e-ap');
    assert.equal(abnormalIdCamera(cams, lane)?.id, 'id-dev');
    assert.equal(abnormalIdCamera([cam('g', 'gate')], lane), null);
    assert.equal(abnormalSceneCamera([cam('g', 'gate')], lane)?.id, 'g');
  });
});

describe('parking answers', () => {
  it('formats minor units per currency', () => {
    assert.equal(formatMoney(1250, 'CNY', 'en'), 'CN¥12.50');
    assert.equal(formatMoney(1250, 'CNY', 'zh-CN'), '¥12.50');
    assert.equal(formatMoney(500, 'JPY', 'en'), '¥500');
    assert.equal(formatMoney(5, 'USD', 'en'), '$0.05');
    assert.equal(formatMoney(7, '', 'en'), '7');
  });
  it('cleans a typed plate', () => {
    assert.equal(cleanPlate(' 沪a·12 345 '), '沪A12345');
  });
  it('says what a failed request means', () => {
    assert.equal(parkingFailure(422), 'invalid_plate');
    assert.equal(parkingFailure(502), 'parking_error');
    assert.equal(parkingFailure(503), 'not_configured');
    assert.equal(parkingFailure(404), 'not_available');
    assert.equal(parkingFailure(500), 'other');
    assert.equal(parkingFailure(409, 'no_plate'), 'no_plate');
    assert.equal(parkingFailure(409, 'conflict'), 'closed');
  });
  it('reads a permit and whether a pay code still works', () => {
    assert.deepEqual(permitFacts({ permit: { kind: 'monthly', valid_until: '2025-04-01T00:00:00Z', expired: true, expired_days: 30 } }), {
      kind: 'monthly',
      validUntil: '2025-04-01T00:00:00Z',
      expired: true,
      expiredDays: 30,
    });
    assert.equal(permitFacts({ permit: null }), null);
    const pc = { issued: true, payload: 'https://pay/1', expires_at: '2025-05-01T10:05:00Z', amount: 500, currency: 'CNY', message: '' };
    assert.equal(payCodeUsable(pc, T0), true);
    assert.equal(payCodeUsable(pc, T0 + 10 * 60000), false);
    assert.equal(payCodeUsable({ ...pc, issued: false }, T0), false);
  });
  it('shows the vehicle photos kept as evidence, read from this server only', () => {
    const entry = { evidence_id: 'ev/1', kind: 'entry' as const, taken_at: '2025-05-01T07:50:00Z', content_url: '/api/v1/evidence/ev%2F1/content' };
    assert.deepEqual(platePhotos({ photos: [entry] }), [
      { evidenceId: 'ev/1', kind: 'entry', takenAt: '2025-05-01T07:50:00Z', src: '/api/v1/evidence/ev%2F1/content' },
    ]);
    // the content URL an answer names is not followed: the page builds the evidence path itself
    const elsewhere = { ...entry, evidence_id: 'ev2', kind: 'exit' as const, content_url: 'https://images.example/car.jpg' };
    assert.equal(platePhotos({ photos: [elsewhere] })[0].src, '/api/v1/evidence/ev2/content');
    const odd = [null, 42, { ...entry, kind: 'side' }, { ...entry, evidence_id: '' }, { ...entry, evidence_id: 7 }, { ...entry, taken_at: null }];
    assert.deepEqual(
      platePhotos({ photos: odd as never }).map((p) => [p.evidenceId, p.takenAt]),
      [['ev/1', '']],
      'unknown kinds and missing ids are left out',
    );
    assert.deepEqual(platePhotos({ photos: null }), []);
    assert.deepEqual(platePhotos({}), [], 'an older server sends no photos');
    assert.equal(photosDropped({ photos_dropped: 2 }), 2);
    assert.equal(photosDropped({ photos_dropped: -1 }), 0);
    assert.equal(photosDropped({ photos_dropped: NaN }), 0);
    assert.equal(photosDropped({}), 0);
  });
});

describe('QR code', () => {
  it('draws a payload as one path with a border', () => {
    const p = qrPath('https://pay.example/t/8841');
    assert.ok(p);
    assert.equal(p.size, 25 + 4, 'version 2 with a 2-module border');
    assert.ok(darkModules(p) > 100);
    assert.equal(qrPath('https://pay.example/t/8841')?.d, p.d, 'the same every time');
    assert.equal(qrPath(''), null);
  });
});

describe("the robot's line", () => {
  it('shows the last call.quality of our call and ignores others and junk', () => {
    let s = onCall();
    assert.equal(s.active?.line, null);
    s = run([srv({ type: 'call.quality', call_id: 'c1', quality: { level: 'fair', loss: 0.025, jitter_ms: 41.2, rtt_ms: 120.4 } })], s);
    assert.deepEqual(s.active?.line, { level: 'fair', loss: 0.025, jitter_ms: 41.2, rtt_ms: 120.4 });
    for (const junk of [
      { type: 'call.quality', call_id: 'other', quality: { level: 'poor', loss: 0.5, jitter_ms: 1 } },
      { type: 'call.quality', call_id: 'c1', quality: { level: 'awful', loss: 0.5, jitter_ms: 1 } },
      { type: 'call.quality', call_id: 'c1', quality: { level: 'poor', loss: -1, jitter_ms: 1 } },
      { type: 'call.quality', call_id: 'c1', quality: { level: 'poor', loss: '0.5', jitter_ms: 1 } },
      { type: 'call.quality', call_id: 'c1' },
    ] as unknown as ServerMessage[]) {
      assert.deepEqual(run([srv(junk)], s).active?.line, s.active?.line, JSON.stringify(junk));
    }
    s = run([srv({ type: 'call.quality', call_id: 'c1', quality: { level: 'silent', loss: 0, jitter_ms: 3 } })], s);
    assert.equal(s.active?.line?.level, 'silent');
  });
  it('keeps the line across a reload of the same call', () => {
    let s = run([srv({ type: 'call.quality', call_id: 'c1', quality: { level: 'good', loss: 0, jitter_ms: 2 } })], onCall());
    s = run([srv({ type: 'welcome', version: 1, agent: ME, calls: [call('c1', { agent_id: 'u1', state: 'answered' })] })], s);
    assert.equal(s.active?.line?.level, 'good');
  });
  it('is said in both languages', () => {
    const q = { level: 'fair', loss: 0.025, jitter_ms: 41.2, rtt_ms: 120.4 } as const;
    assert.equal(lineText(q, 'en'), 'Fair · 2.5% lost, jitter 41 ms · round trip 120 ms');
    assert.equal(lineText(q, 'zh-CN'), '一般 · 丢包 2.5%，抖动 41 毫秒 · 往返 120 毫秒');
    assert.equal(lineText({ level: 'silent', loss: 0, jitter_ms: 0 }, 'en'), 'No audio from the robot');
  });
});

describe('words', () => {
  it('name every abnormal reason, LED colour and command in both languages', () => {
    const keys = [
      ...ABNORMAL_REASONS.map((r) => `calls.abnormalReason.${r}`),
      ...LED_COLORS.map((c) => `calls.ledColor.${c}`),
      ...['open_gate', 'display', 'voice', 'led'].map((a) => `calls.action.${a}`),
      ...['requested', 'dialing', 'ringing'].map((d) => `calls.dialState.${d}`),
      ...['entry', 'exit'].flatMap((k) => [`calls.platePhoto.${k}`, `calls.platePhotoAlt.${k}`, `evidenceKind.vehicle-photo-${k}`]),
    ];
    for (const k of keys) {
      assert.ok(k in en, `en ${k}`);
      assert.ok(k in zhCN, `zh-CN ${k}`);
    }
    assert.equal(zhCN['calls.abnormalReason.special-vehicle'], '特殊车辆');
    assert.equal(zhCN['calls.abnormalOpen'], '异常开闸');
  });
});

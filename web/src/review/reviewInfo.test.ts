/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setLang } from '../i18n';
import type { Camera, Evidence } from '../types';
import {
  EMPTY_REVIEW_FILTERS,
  appendBody,
  appendProblem,
  cameraLabel,
  canAppendEvents,
  caseTab,
  dispositionBody,
  dispositionProblem,
  formFor,
  groupEvidence,
  isVideo,
  nextPending,
  parseReviewPath,
  reviewCaseParams,
  reviewFiltersProblem,
  reviewPath,
  tabDisposition,
} from './reviewInfo';

describe('review paths', () => {
  it('reads the box and the event', () => {
    assert.deepEqual(parseReviewPath('/review'), { siteId: null, caseId: null });
    assert.deepEqual(parseReviewPath('/review/s1'), { siteId: 's1', caseId: null });
    assert.deepEqual(parseReviewPath('/review/s1/c%2F2'), { siteId: 's1', caseId: 'c/2' });
    assert.deepEqual(parseReviewPath('/review/s1/c2/x'), { siteId: null, caseId: null });
    assert.deepEqual(parseReviewPath('/reviewx'), { siteId: null, caseId: null });
  });
  it('writes them', () => {
    assert.equal(reviewPath(null), '/review');
    assert.equal(reviewPath('A 1'), '/review/A%201');
    assert.equal(reviewPath('s1', 'c/2'), '/review/s1/c%2F2');
    assert.equal(reviewPath(null, 'c1'), '/review');
  });
});

describe('review list query', () => {
  it('asks for one tab of a box, with the filters given', () => {
    assert.equal(tabDisposition('pending'), 'none');
    assert.equal(tabDisposition('abnormal'), 'abnormal');
    assert.deepEqual(reviewCaseParams('s1', 'pending', EMPTY_REVIEW_FILTERS), {
      site_id: 's1',
      kind: 'event',
      disposition: 'none',
      event_kind: '',
      handler_id: '',
      abnormal_type: '',
      from: '',
      to: '',
      cursor: '',
      limit: 50,
    });
    const p = reviewCaseParams('s1', 'abnormal', { from: '2025-03-04T10:00', to: '', kind: 'door-open', handler: ' u1 ', type: 'deliberate-theft' }, 'CUR', 20);
    assert.equal(p.disposition, 'abnormal');
    assert.equal(p.event_kind, 'door-open');
    assert.equal(p.handler_id, 'u1');
    assert.equal(p.abnormal_type, 'deliberate-theft');
    assert.equal(p.from, new Date(2025, 2, 4, 10, 0).toISOString());
    assert.equal(p.cursor, 'CUR');
    assert.equal(p.limit, 20);
  });
  it('refuses a span that ends before it starts', () => {
    assert.equal(reviewFiltersProblem({ ...EMPTY_REVIEW_FILTERS, from: '2025-03-04T10:00', to: '2025-03-04T09:00' }), 'time.fromAfterTo');
    assert.equal(reviewFiltersProblem({ ...EMPTY_REVIEW_FILTERS, from: '2025-03-04T10:00' }), null);
  });
});

describe('disposition form', () => {
  const types = ['deliberate-theft', 'vandalism'];
  it('needs a choice, and a known type for abnormal', () => {
    assert.equal(dispositionProblem({ disposition: '', abnormalType: '', remark: '' }, types), 'review.chooseDisposition');
    assert.equal(dispositionProblem({ disposition: 'normal', abnormalType: '', remark: '' }, types), null);
    assert.equal(dispositionProblem({ disposition: 'abnormal', abnormalType: '', remark: 'x' }, types), 'review.chooseType');
    assert.equal(dispositionProblem({ disposition: 'abnormal', abnormalType: 'alien', remark: '' }, types), 'review.chooseType');
    assert.equal(dispositionProblem({ disposition: 'abnormal', abnormalType: 'alien', remark: '' }, []), null);
    assert.equal(dispositionProblem({ disposition: 'abnormal', abnormalType: 'vandalism', remark: '' }, types), null);
    assert.equal(dispositionProblem({ disposition: 'normal', abnormalType: '', remark: '理'.repeat(2001) }, types), 'review.remarkTooLong');
    assert.equal(dispositionProblem({ disposition: 'normal', abnormalType: '', remark: '理'.repeat(2000) }, types), null);
  });
  it('sends the type only for abnormal, and the remark trimmed', () => {
    assert.deepEqual(dispositionBody({ disposition: 'normal', abnormalType: 'vandalism', remark: ' 理货员维护 ' }), {
      disposition: 'normal',
      abnormal_type: '',
      remark: '理货员维护',
    });
    assert.deepEqual(dispositionBody({ disposition: 'abnormal', abnormalType: 'deliberate-theft', remark: '' }), {
      disposition: 'abnormal',
      abnormal_type: 'deliberate-theft',
      remark: '',
    });
  });
  it('starts from the case as it is', () => {
    assert.deepEqual(formFor(null), { disposition: '', abnormalType: '', remark: '' });
    assert.deepEqual(formFor({ disposition: '', abnormal_type: '', remark: '' }), { disposition: '', abnormalType: '', remark: '' });
    assert.deepEqual(formFor({ disposition: 'abnormal', abnormal_type: 'vandalism', remark: 'r' }), {
      disposition: 'abnormal',
      abnormalType: 'vandalism',
      remark: 'r',
    });
    assert.deepEqual(formFor({ disposition: null, abnormal_type: '', remark: '' }).disposition, '');
    assert.equal(caseTab({ disposition: 'normal' }), 'normal');
    assert.equal(caseTab({ disposition: '' }), 'pending');
    assert.equal(caseTab({ disposition: null }), 'pending');
  });
});

describe('nextPending', () => {
  const list = [
    { id: 'a', disposition: '' as const },
    { id: 'b', disposition: 'normal' as const },
    { id: 'c', disposition: '' as const },
    { id: 'd', disposition: '' as const },
  ];
  it('goes down the list, then up', () => {
    assert.equal(nextPending(list, 'a'), 'c');
    assert.equal(nextPending(list, 'c'), 'd');
    assert.equal(nextPending(list, 'd'), 'c');
    assert.equal(nextPending(list, 'zz'), 'a');
    assert.equal(nextPending([{ id: 'a', disposition: '' }], 'a'), null);
    assert.equal(nextPending([], 'a'), null);
  });
});

describe('evidence groups', () => {
  const ev = (id: string, kind: string, media_type: string, purged_at: string | null = null): Evidence => ({
    id,
    key: `k/${id}`,
    kind,
    media_type,
    camera_id: 'cam',
    sha256: '',
    size: 1,
    start: '2025-03-04T10:00:00Z',
    end: '2025-03-04T10:00:20Z',
    seq: 1,
    chain_hash: '',
    purged_at,
  });
  it('splits clips, snapshots and purged objects', () => {
    assert.equal(isVideo({ kind: 'clip', media_type: '' }), true);
    assert.equal(isVideo({ kind: 'call-video', media_type: 'video/webm' }), true);
    assert.equal(isVideo({ kind: 'call-audio', media_type: 'audio/ogg' }), false);
    const g = groupEvidence([
      ev('1', 'clip', 'video/mp4'),
      ev('2', 'snapshot-scene', 'image/jpeg'),
      ev('3', 'clip', 'video/mp4', '2025-04-01T00:00:00Z'),
      ev('4', 'transcript', 'text/plain'),
      ev('5', 'clip', 'video/mp4'),
    ]);
    assert.deepEqual(
      g.videos.map((e) => e.id),
      ['1', '5'],
    );
    assert.deepEqual(
      g.images.map((e) => e.id),
      ['2'],
    );
    assert.deepEqual(
      g.purged.map((e) => e.id),
      ['3'],
    );
  });
});

describe('append event', () => {
  it('needs a kind and a start; the end is optional', () => {
    assert.equal(appendProblem({ kind: '', from: '2025-03-04T10:00', to: '' }), 'review.appendKindRequired');
    assert.equal(appendProblem({ kind: 'manual', from: ' ', to: '' }), 'review.appendFromRequired');
    assert.equal(appendProblem({ kind: 'manual', from: 'yesterday', to: '' }), 'time.badFrom');
    assert.equal(appendProblem({ kind: 'manual', from: '2025-03-04T10:00', to: '2025-03-04T09:59' }), 'time.fromAfterTo');
    assert.equal(appendProblem({ kind: 'manual', from: '2025-03-04T10:00', to: '2025-03-04T10:05' }), null);
  });
  it('builds the body of POST /events', () => {
    const at = new Date(2025, 2, 4, 10, 0, 0).toISOString();
    const end = new Date(2025, 2, 4, 10, 5, 30).toISOString();
    assert.deepEqual(appendBody('s1', { kind: 'manual', from: '2025-03-04T10:00', to: '2025-03-04T10:05:30' }), { site_id: 's1', kind: 'manual', at, end });
    assert.deepEqual(appendBody('s1', { kind: 'door-open', from: '2025-03-04T10:00', to: '' }), { site_id: 's1', kind: 'door-open', at });
  });
  it('is for agents, supervisors and admins', () => {
    assert.equal(canAppendEvents('agent'), true);
    assert.equal(canAppendEvents('supervisor'), true);
    assert.equal(canAppendEvents('admin'), true);
    assert.equal(canAppendEvents('reviewer'), false);
    assert.equal(canAppendEvents(undefined), false);
  });
});

describe('cameraLabel', () => {
  it('names the camera, or says which id it is', () => {
    const cams = [{ id: 'c1', name: 'A1004 门口', role: 'channel', channel: 2 }] as unknown as Camera[];
    setLang('zh-CN', false);
    assert.equal(cameraLabel(cams, 'c1'), 'A1004 门口 · 视频通道 2');
    assert.equal(cameraLabel(cams, 'c9'), '摄像头 c9');
    setLang('en', false);
    assert.equal(cameraLabel(cams, 'c9'), 'Camera c9');
    assert.equal(cameraLabel(cams, null), '—');
  });
});

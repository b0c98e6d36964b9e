/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { caseExportUrl, evidenceContentUrl, hasRef } from '../cases';
import { setLang } from '../i18n';
import { historyAction, historyDetail } from './history';
import { EMPTY_SEARCH, absoluteUrl, canHold, caseFromPath, caseSearchParams, evidencePath, formatBytes, formatProblem, playerKind, safeHref, searchProblem, shortHash } from './evidenceInfo';

describe('search query', () => {
  it('maps the form onto GET /cases', () => {
    assert.deepEqual(caseSearchParams(EMPTY_SEARCH), {
      site_id: '',
      kind: '',
      disposition: '',
      camera_id: '',
      device_id: '',
      handler_id: '',
      from: '',
      to: '',
      cursor: '',
      limit: 50,
    });
    const p = caseSearchParams(
      { site: 's1', kind: 'event', disposition: 'abnormal', camera: ' c1 ', device: 'd1', handler: 'u1', from: '2025-03-04T00:00', to: '2025-03-05T00:00' },
      'N2',
    );
    assert.equal(p.site_id, 's1');
    assert.equal(p.camera_id, 'c1');
    assert.equal(p.from, new Date(2025, 2, 4).toISOString());
    assert.equal(p.to, new Date(2025, 2, 5).toISOString());
    assert.equal(p.cursor, 'N2');
  });
  it('checks the span', () => {
    assert.equal(searchProblem({ ...EMPTY_SEARCH, from: '2025-03-05T00:00', to: '2025-03-04T00:00' }), 'time.fromAfterTo');
    assert.equal(searchProblem(EMPTY_SEARCH), null);
  });
});

describe('paths and URLs', () => {
  it('reads and writes the open case', () => {
    assert.equal(caseFromPath('/evidence'), null);
    assert.equal(caseFromPath('/evidence/c1'), 'c1');
    assert.equal(caseFromPath('/evidence/c%201'), 'c 1');
    assert.equal(caseFromPath('/evidence/c1/x'), null);
    assert.equal(evidencePath('c 1'), '/evidence/c%201');
    assert.equal(evidencePath(null), '/evidence');
  });
  it('builds content and export URLs', () => {
    assert.equal(evidenceContentUrl('e1'), '/api/v1/evidence/e1/content');
    assert.equal(evidenceContentUrl('e/1', true), '/api/v1/evidence/e%2F1/content?download=1');
    assert.equal(caseExportUrl('c1'), '/api/v1/cases/c1/export');
  });
  it('only links to http(s) and this origin', () => {
    assert.equal(safeHref('https://minio.local/b/k?X-Amz-Signature=1'), 'https://minio.local/b/k?X-Amz-Signature=1');
    assert.equal(safeHref('/api/v1/evidence/e1/content?sig=1'), '/api/v1/evidence/e1/content?sig=1');
    assert.equal(safeHref('javascript:alert(1)'), null);
    assert.equal(safeHref('//evil.example/x'), null);
    assert.equal(safeHref('data:text/html,x'), null);
    assert.equal(safeHref(''), null);
  });
});

describe('formatting', () => {
  it('formats sizes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 * 1024), '5.0 MiB');
    assert.equal(formatBytes(300 * 1024 * 1024), '300 MiB');
    assert.equal(formatBytes(null), '');
    assert.equal(formatBytes(-1), '');
  });
  it('shortens hashes', () => {
    const h = 'a'.repeat(64);
    assert.equal(shortHash(h), 'aaaaaaaaaaaa…');
    assert.equal(shortHash('abc'), 'abc');
    assert.equal(shortHash(null), '');
  });
  it('picks a player by media type', () => {
    assert.equal(playerKind('video/mp4'), 'video');
    assert.equal(playerKind('Audio/Ogg'), 'audio');
    assert.equal(playerKind('image/jpeg'), 'image');
    assert.equal(playerKind('text/plain'), 'none');
    assert.equal(playerKind(undefined), 'none');
  });
  it('knows who holds and which refs are set', () => {
    assert.equal(canHold('supervisor'), true);
    assert.equal(canHold('admin'), true);
    assert.equal(canHold('reviewer'), false);
    assert.equal(canHold('agent'), false);
    assert.equal(hasRef(''), false);
    assert.equal(hasRef(null), false);
    assert.equal(hasRef('u1'), true);
  });
});

describe('share links and verify findings', () => {
  it('makes this server\'s signed paths absolute', () => {
    assert.equal(absoluteUrl('/api/v1/evidence/e1/content?download=1&exp=1&sig=ab', 'https://att.example/'), 'https://att.example/api/v1/evidence/e1/content?download=1&exp=1&sig=ab');
    assert.equal(absoluteUrl('https://minio.local/b/k?sig=1', 'https://att.example'), 'https://minio.local/b/k?sig=1');
  });
  it('names what a finding names', () => {
    setLang('en', false);
    assert.equal(formatProblem({ seq: 2, key: 'k/2.mp4', evidence_id: 'e2', problem: 'sha256 mismatch' }), '#2 k/2.mp4: sha256 mismatch');
    assert.equal(formatProblem({ evidence_id: 'e9', problem: 'missing from the index' }), 'e9: missing from the index');
    assert.equal(formatProblem({ problem: 'head does not match' }), 'head does not match');
    setLang('zh-CN', false);
    assert.equal(formatProblem({ seq: 1, key: 'k', problem: 'x' }), '#1 k：x');
    setLang('en', false);
  });
});

describe('case history', () => {
  it('names the actions in both languages, and shows an unknown one as it is', () => {
    assert.equal(historyAction('robot.open_gate', 'en'), 'Gate opened');
    assert.equal(historyAction('robot.open_gate', 'zh-CN'), '开闸');
    assert.equal(historyAction('case.close', 'zh-CN'), '关单');
    assert.equal(historyAction('evidence.play', 'en'), 'Evidence played');
    assert.equal(historyAction('something.new', 'en'), 'something.new');
  });
  it('flattens the details in the server order, cutting long values', () => {
    assert.equal(
      historyDetail({ call_id: 'c1', reason: 'remote-bye', answered: true, media: { robot_packets: 1503, robot_lost: 2, rtt_ms: 84.5 } }),
      'call_id c1 · reason remote-bye · answered true · media.robot_packets 1503 · media.robot_lost 2 · media.rtt_ms 84.5',
    );
    assert.equal(historyDetail({ remark: '', objects_held: null, reason: 'x' }), 'reason x', 'empty values left out');
    assert.equal(historyDetail({ ids: ['a', 'b'] }), 'ids a, b');
    assert.equal(historyDetail({}), '');
    assert.equal(historyDetail(null), '');
    const long = historyDetail({ remark: 'x'.repeat(200) });
    assert.equal(long.length, 'remark '.length + 80);
    assert.ok(long.endsWith('…'));
    const many: Record<string, number> = {};
    for (let i = 0; i < 30; i++) many[`k${i}`] = i;
    assert.equal(historyDetail(many).split(' · ').length, 12);
  });
  it('keeps markup as text: the page renders it escaped', () => {
    assert.equal(historyDetail({ remark: '<img src=x onerror=alert(1)>' }), 'remark <img src=x onerror=alert(1)>');
  });
});

/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setLang } from '../i18n';
import type { CameraRole } from '../types';
import { cameraActive, camerasPath, formatVideoFacts, gridShape, mergeFacts, roleLabel, siteFromPath, snapshotUrl, sortCameras } from './cameraInfo';

const cam = (id: string, role: CameraRole, channel = 0, name = id) => ({ id, name, role, channel });

describe('sortCameras', () => {
  it('puts channels first by number, then environment, gate, ID document', () => {
    const got = sortCameras([
      cam('idd', 'id_document'),
      cam('ch3', 'channel', 3),
      cam('gate', 'gate'),
      cam('env', 'environment'),
      cam('ch1', 'channel', 1),
      cam('ch10', 'channel', 10),
      cam('ch2', 'channel', 2),
    ]).map((c) => c.id);
    assert.deepEqual(got, ['ch1', 'ch2', 'ch3', 'ch10', 'env', 'gate', 'idd']);
  });
  it('orders equal roles by name and leaves the input alone', () => {
    const input = [cam('b', 'gate', 0, 'West'), cam('a', 'gate', 0, 'East')];
    assert.deepEqual(
      sortCameras(input).map((c) => c.id),
      ['a', 'b'],
    );
    assert.equal(input[0]?.id, 'b');
  });
});

describe('gridShape', () => {
  it('keeps pictures large', () => {
    assert.deepEqual(gridShape(0), { cols: 1, rows: 1 });
    assert.deepEqual(gridShape(1), { cols: 1, rows: 1 });
    assert.deepEqual(gridShape(2), { cols: 2, rows: 1 });
    assert.deepEqual(gridShape(3), { cols: 2, rows: 2 });
    assert.deepEqual(gridShape(4), { cols: 2, rows: 2 });
    assert.deepEqual(gridShape(5), { cols: 3, rows: 2 });
    assert.deepEqual(gridShape(9), { cols: 3, rows: 3 });
    assert.deepEqual(gridShape(16), { cols: 4, rows: 4 });
    assert.deepEqual(gridShape(17), { cols: 4, rows: 5 });
  });
});

describe('labels', () => {
  it('names the role in both languages', () => {
    setLang('en', false);
    assert.equal(roleLabel({ role: 'channel', channel: 3 }), 'Channel 3');
    assert.equal(roleLabel({ role: 'id_document', channel: 0 }), 'ID-document camera');
    setLang('zh-CN', false);
    assert.equal(roleLabel({ role: 'channel', channel: 3 }), '视频通道 3');
    assert.equal(roleLabel({ role: 'environment', channel: 0 }), '环境摄像头（远景摄像头）');
    assert.equal(formatVideoFacts({ codec: 'h265', width: 2560, height: 1440, fps: 20 }), 'H265 · 2560×1440 · 20 帧/秒');
    setLang('en', false);
  });
  it('formats what is known of the picture', () => {
    setLang('en', false);
    assert.equal(formatVideoFacts({ codec: 'H264', width: 1920, height: 1080, fps: 25 }), 'H264 · 1920×1080 · 25 fps');
    assert.equal(formatVideoFacts({ width: 640, height: 360, fps: 24.96 }), '640×360 · 25 fps');
    assert.equal(formatVideoFacts({ codec: 'H264', fps: 0 }), 'H264');
    assert.equal(formatVideoFacts({}), '');
    assert.deepEqual(mergeFacts({ codec: 'H265', width: 0 }, { codec: 'H264', width: 640, height: 360, fps: 25 }), {
      codec: 'H265',
      width: 640,
      height: 360,
      fps: 25,
    });
    assert.deepEqual(mergeFacts({ codec: 'H264' }, null), { codec: 'H264', width: undefined, height: undefined, fps: undefined });
  });
});

describe('paths and flags', () => {
  it('reads and writes the site in the path', () => {
    assert.equal(siteFromPath('/cameras'), null);
    assert.equal(siteFromPath('/cameras/s1'), 's1');
    assert.equal(siteFromPath('/cameras/a%20b'), 'a b');
    assert.equal(siteFromPath('/cameras/a/b'), null);
    assert.equal(camerasPath('a b'), '/cameras/a%20b');
    assert.equal(camerasPath(null), '/cameras');
    assert.equal(snapshotUrl('c/1'), '/api/v1/cameras/c%2F1/snapshot.jpg');
    assert.equal(snapshotUrl('c1', 5), '/api/v1/cameras/c1/snapshot.jpg?t=5');
  });
  it('plays enabled cameras only', () => {
    assert.equal(cameraActive({ enabled: true, state: 'connected' }), true);
    assert.equal(cameraActive({ enabled: true, state: 'failed' }), true);
    assert.equal(cameraActive({ enabled: true }), true);
    assert.equal(cameraActive({ enabled: false, state: 'connecting' }), false);
    assert.equal(cameraActive({ enabled: true, state: 'disabled' }), false);
  });
});

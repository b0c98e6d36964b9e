/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCoordinates, niceStep, project, stepDecimals, ticks } from './geo';
import { fullAddress, kindColor } from './siteInfo';

const s = (id: string, latitude: number | null, longitude: number | null) => ({ id, latitude, longitude });

describe('project', () => {
  it('fits all placed sites inside the padded panel, north up', () => {
    const sites = [s('sz', 22.54, 113.94), s('gz', 23.13, 113.26), s('hk', 22.3, 114.17), s('none', null, null)];
    const p = project(sites, 800, 500, 40);
    assert.equal(p.placed.length, 3);
    assert.deepEqual(
      p.unplaced.map((x) => x.id),
      ['none'],
    );
    for (const { x, y } of p.placed) {
      assert.ok(x >= 40 - 1e-9 && x <= 760 + 1e-9, `x ${x}`);
      assert.ok(y >= 40 - 1e-9 && y <= 460 + 1e-9, `y ${y}`);
    }
    const byId = Object.fromEntries(p.placed.map((q) => [q.item.id, q]));
    assert.ok(byId.gz.y < byId.sz.y, 'north is up');
    assert.ok(byId.hk.x > byId.gz.x, 'east is right');
    // The drawing fills one dimension edge to edge.
    const xs = p.placed.map((q) => q.x);
    const ys = p.placed.map((q) => q.y);
    const fillsX = Math.abs(Math.min(...xs) - 40) < 1e-6 && Math.abs(Math.max(...xs) - 760) < 1e-6;
    const fillsY = Math.abs(Math.min(...ys) - 40) < 1e-6 && Math.abs(Math.max(...ys) - 460) < 1e-6;
    assert.ok(fillsX || fillsY);
  });

  it('keeps the aspect ratio (longitude scaled by cos latitude)', () => {
    // Around 60.5°N, 1° of longitude is cos(60.5°) ≈ 0.49 times as long as 1° of latitude.
    const p = project([s('a', 60, 10), s('b', 61, 12)], 1000, 1000, 0);
    const [a, b] = p.placed;
    const ratio = Math.abs(b.x - a.x) / Math.abs(b.y - a.y);
    const want = 2 * Math.cos((60.5 * Math.PI) / 180);
    assert.ok(Math.abs(ratio - want) < 1e-6, `ratio ${ratio}, want ${want}`);
  });

  it('centres one site', () => {
    const p = project([s('one', 31.23, 121.47)], 800, 500, 40);
    assert.equal(p.placed.length, 1);
    assert.ok(Math.abs(p.placed[0].x - 400) < 1e-6);
    assert.ok(Math.abs(p.placed[0].y - 250) < 1e-6);
    assert.ok(p.bounds && p.bounds.maxLat > p.bounds.minLat);
  });

  it('handles nothing placeable', () => {
    const p = project([s('a', null, 1), s('b', 100, 0)], 800, 500, 40);
    assert.equal(p.placed.length, 0);
    assert.equal(p.unplaced.length, 2);
    assert.equal(p.bounds, null);
  });

  it('bounds map back onto the panel edges', () => {
    const p = project([s('a', 22, 113), s('b', 23, 114)], 800, 500, 40);
    const b = p.bounds!;
    const tl = p.toXY(b.maxLat, b.minLon);
    const br = p.toXY(b.minLat, b.maxLon);
    assert.ok(Math.abs(tl.x) < 1e-6 && Math.abs(tl.y) < 1e-6);
    assert.ok(Math.abs(br.x - 800) < 1e-6 && Math.abs(br.y - 500) < 1e-6);
  });
});

describe('grid helpers', () => {
  it('hasCoordinates', () => {
    assert.equal(hasCoordinates(s('a', 0, 0)), true);
    assert.equal(hasCoordinates(s('a', null, 0)), false);
    assert.equal(hasCoordinates(s('a', 91, 0)), false);
    assert.equal(hasCoordinates({ latitude: NaN, longitude: 1 }), false);
  });
  it('niceStep', () => {
    assert.equal(niceStep(10, 5), 2);
    assert.equal(niceStep(1, 5), 0.2);
    assert.equal(niceStep(0.07, 5), 0.01);
    assert.equal(niceStep(0, 5), 1);
  });
  it('ticks', () => {
    assert.deepEqual(ticks(0.05, 0.95, 0.2), [0.2, 0.4, 0.6, 0.8]);
    assert.deepEqual(ticks(-1, 1, 1), [-1, 0, 1]);
    assert.deepEqual(ticks(1, 0, 1), []);
  });
  it('stepDecimals', () => {
    assert.equal(stepDecimals(1), 0);
    assert.equal(stepDecimals(0.2), 1);
    assert.equal(stepDecimals(0.01), 2);
    assert.equal(stepDecimals(5), 0);
  });
});

describe('site info', () => {
  it('fullAddress joins parts and skips blanks and repeats', () => {
    assert.equal(
      fullAddress({ province: '广东省', city: '深圳市', district: '南山区', compound: '科技园', address: '科苑路 8 号' }),
      '广东省 深圳市 南山区 科技园 科苑路 8 号',
    );
    assert.equal(fullAddress({ province: '上海市', city: '上海市', district: '', compound: '', address: '' }), '上海市');
  });
  it('kindColor has a fallback', () => {
    assert.notEqual(kindColor('box'), kindColor('parking'));
    assert.equal(kindColor('other'), '#6b7280');
  });
});

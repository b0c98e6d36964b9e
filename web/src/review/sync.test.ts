/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SyncController,
  clipDuration,
  clipOffsets,
  correction,
  formatSkew,
  inRange,
  maxSkew,
  timelineLength,
  type MediaLike,
} from './sync';

/** A video that plays at its rate when advance() is called, like a browser would. */
class FakeMedia implements MediaLike {
  currentTime = 0;
  duration: number;
  paused = true;
  ended = false;
  readyState = 4;
  seeking = false;
  playbackRate = 1;
  plays = 0;
  seeks = 0;
  constructor(duration: number) {
    this.duration = duration;
  }
  play(): Promise<void> {
    this.plays++;
    this.paused = false;
    this.ended = false;
    return Promise.resolve();
  }
  pause(): void {
    this.paused = true;
  }
  advance(dt: number): void {
    if (this.paused || this.readyState < 3) return;
    this.currentTime += dt * this.playbackRate;
    if (this.currentTime >= this.duration) {
      this.currentTime = this.duration;
      this.paused = true;
      this.ended = true;
    }
  }
}

/** A setter-counting wrapper would hide the property; count seeks through a proxy instead. */
function counting(m: FakeMedia): FakeMedia {
  return new Proxy(m, {
    set(target, prop, value) {
      if (prop === 'currentTime') target.seeks++;
      (target as unknown as Record<string | symbol, unknown>)[prop] = value;
      return true;
    },
  });
}

describe('offsets and lengths', () => {
  it('places clips by wall-clock start', () => {
    assert.deepEqual(clipOffsets(['2025-03-04T10:00:01.500Z', '2025-03-04T10:00:00Z', '2025-03-04T10:00:00.040Z']), [1.5, 0, 0.04]);
    assert.deepEqual(clipOffsets(['2025-03-04T18:00:00+08:00', '2025-03-04T10:00:02Z']), [0, 2]);
    assert.deepEqual(clipOffsets(['junk', '2025-03-04T10:00:02Z']), [0, 0]);
    assert.deepEqual(clipOffsets([null, undefined]), [0, 0]);
    assert.deepEqual(clipOffsets([]), []);
  });
  it('takes the media duration once known, else the evidence span', () => {
    assert.equal(clipDuration(12.5, '2025-03-04T10:00:00Z', '2025-03-04T10:00:20Z'), 12.5);
    assert.equal(clipDuration(NaN, '2025-03-04T10:00:00Z', '2025-03-04T10:00:20Z'), 20);
    assert.equal(clipDuration(Infinity, '2025-03-04T10:00:00Z', '2025-03-04T10:00:20Z'), 20);
    assert.equal(clipDuration(NaN, '2025-03-04T10:00:20Z', '2025-03-04T10:00:00Z'), 0);
    assert.equal(clipDuration(0), 0);
  });
  it('ends the timeline where the last clip ends', () => {
    assert.equal(timelineLength([0, 1.5, 0.04], [20, 10, 20]), 20.04);
    assert.equal(timelineLength([], []), 0);
    assert.equal(inRange(5, 1, 3), false);
    assert.equal(inRange(4, 1, 3), true);
    assert.equal(inRange(0.97, 1, 3), true);
    assert.equal(inRange(0.9, 1, 3), false);
  });
  it('measures skew', () => {
    assert.equal(maxSkew([]), 0);
    assert.equal(maxSkew([3]), 0);
    assert.ok(Math.abs(maxSkew([3, 3.05, 2.98]) - 0.07) < 1e-9);
    assert.equal(maxSkew([1, NaN, 1.5]), 0.5);
    assert.equal(formatSkew(0.0734), '0.073');
    assert.equal(formatSkew(0), '0.000');
    assert.equal(formatSkew(NaN), '0.000');
  });
});

describe('correction', () => {
  it('leaves small drift alone', () => {
    assert.deepEqual(correction(5.01, 5), { kind: 'rate', rate: 1 });
  });
  it('nudges the rate against moderate drift', () => {
    assert.deepEqual(correction(4.9, 5), { kind: 'rate', rate: 1.2 }); // behind: faster
    assert.deepEqual(correction(5.1, 5), { kind: 'rate', rate: 0.8 }); // ahead: slower
    assert.deepEqual(correction(4.8, 5), { kind: 'rate', rate: 1.25 }); // capped
  });
  it('seeks past large drift', () => {
    assert.deepEqual(correction(3, 5), { kind: 'seek', to: 5 });
    assert.deepEqual(correction(NaN, 5), { kind: 'seek', to: 5 });
  });
});

describe('SyncController', () => {
  const setup = (offsets: number[], durations: number[]) => {
    let now = 0;
    const media = durations.map((d) => counting(new FakeMedia(d)));
    const ctl = new SyncController(
      media.map((m, i) => ({ media: m, offset: offsets[i] ?? 0 })),
      () => now,
    );
    const run = (seconds: number, step = 0.2, lag?: (i: number) => number) => {
      for (let t = 0; t < seconds - 1e-9; t += step) {
        now += step * 1000;
        media.forEach((m, i) => m.advance(step * (lag ? lag(i) : 1)));
        ctl.tick();
      }
    };
    return { media, ctl, run };
  };

  it('seeks every video to its own offset', () => {
    const { media, ctl } = setup([0, 1.5], [20, 10]);
    assert.equal(ctl.total(), 20);
    ctl.seek(4);
    assert.equal(media[0]!.currentTime, 4);
    assert.equal(media[1]!.currentTime, 2.5);
    ctl.seek(1); // before the second clip starts: it waits on its first frame
    assert.equal(media[1]!.currentTime, 0);
    ctl.seek(99);
    assert.equal(ctl.position(), 20);
    assert.equal(media[1]!.currentTime, 10);
    assert.equal(ctl.stats().skew, 0);
  });

  it('plays together and corrects drift', () => {
    const { media, ctl, run } = setup([0, 0.04, 0], [20, 20, 20]);
    ctl.play();
    // The second clip's footage starts 40 ms in: it waits on its first frame until then.
    assert.deepEqual(
      media.map((m) => m.paused),
      [false, true, false],
    );
    // The third video runs 5% slow (a decoder falling behind).
    run(6, 0.2, (i) => (i === 2 ? 0.95 : 1));
    const s = ctl.stats();
    assert.ok(media.every((m) => !m.paused));
    assert.equal(s.ready, 3);
    assert.ok(s.skew < 0.1, `skew ${s.skew}`);
    assert.ok(ctl.position() > 5.5 && ctl.position() <= 6.01, `position ${ctl.position()}`);
  });

  it('seeks a video that fell far behind', () => {
    const { media, ctl, run } = setup([0, 0], [20, 20]);
    ctl.play();
    run(1);
    media[1]!.currentTime -= 2; // a stall
    run(0.2);
    assert.ok(Math.abs(media[1]!.currentTime - media[0]!.currentTime) < 0.3);
    run(1);
    assert.ok(ctl.stats().skew < 0.1);
  });

  it('starts a later clip when the timeline reaches it', () => {
    const { media, ctl, run } = setup([0, 2], [10, 6]);
    ctl.play();
    assert.equal(media[1]!.paused, true);
    run(1);
    assert.equal(media[1]!.paused, true);
    run(1.6);
    assert.equal(media[1]!.paused, false);
    assert.ok(Math.abs(media[1]!.currentTime + 2 - (media[0]!.currentTime + 0)) < 0.25);
  });

  it('waits while the master buffers and stops at the end', () => {
    const { media, ctl, run } = setup([0, 0], [3, 3]);
    ctl.play();
    run(1);
    media.forEach((m) => (m.readyState = 2)); // both buffering
    const before = ctl.position();
    run(1);
    assert.equal(ctl.position(), before);
    media.forEach((m) => (m.readyState = 4));
    run(3);
    assert.equal(ctl.playing, false);
    assert.equal(ctl.position(), 3);
    assert.ok(media.every((m) => m.paused));
    ctl.play(); // from the end: starts over
    assert.equal(ctl.position(), 0);
    assert.equal(media[0]!.currentTime, 0);
  });

  it('pauses in line', () => {
    const { media, ctl, run } = setup([0, 0.5], [10, 10]);
    ctl.play();
    run(2, 0.2, (i) => (i === 1 ? 1.02 : 1));
    ctl.pause();
    assert.ok(media.every((m) => m.paused));
    const p = ctl.position();
    assert.ok(Math.abs(media[0]!.currentTime - p) < 1e-9);
    assert.ok(Math.abs(media[1]!.currentTime + 0.5 - p) < 1e-9);
    assert.equal(formatSkew(ctl.stats().skew), '0.000');
  });

  it('leaves a clip that starts later out of the skew until it does', () => {
    const { media, ctl } = setup([0, 0.04], [10, 10]);
    ctl.seek(0);
    assert.equal(media[1]!.currentTime, 0);
    assert.equal(ctl.stats().skew, 0);
    ctl.seek(5);
    assert.ok(Math.abs(media[1]!.currentTime - 4.96) < 1e-9);
    assert.equal(formatSkew(ctl.stats().skew), '0.000');
  });

  it('counts only ready videos', () => {
    const { media, ctl } = setup([0, 0, 0], [5, 5, 5]);
    media[0]!.readyState = 1;
    media[1]!.readyState = 2;
    assert.equal(ctl.stats().ready, 2);
  });
});

describe('SyncController with a broken video', () => {
  it('does not wait for it', () => {
    let now = 0;
    const ok = new FakeMedia(5);
    const broken = Object.assign(new FakeMedia(5), { readyState: 0, error: { code: 4 } });
    const ctl = new SyncController(
      [
        { media: ok, offset: 0 },
        { media: broken, offset: 0 },
      ],
      () => now,
    );
    ctl.play();
    for (let i = 0; i < 10; i++) {
      now += 200;
      ok.advance(0.2);
      broken.advance(0.2);
      ctl.tick();
    }
    assert.ok(ctl.position() > 1.9, `position ${ctl.position()}`);
    assert.equal(ctl.stats().ready, 1);
  });
});

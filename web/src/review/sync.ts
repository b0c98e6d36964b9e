// Synchronised playback of an event's clips: each clip is placed on a shared
// timeline by its wall-clock start (evidence "start" minus the earliest start
// among them), one clock drives them all, and a periodic correction keeps
// every video within a tenth of a second of it — small drift by nudging the
// playback rate, large drift (a stall, a seek that landed elsewhere) by
// seeking. Pure logic and a controller over anything media-like, so that it is
// tested without a browser.

import { parseTime } from '../time';

/** What the controller needs of an HTMLVideoElement. */
export interface MediaLike {
  currentTime: number;
  readonly duration: number;
  readonly paused: boolean;
  readonly ended: boolean;
  readonly readyState: number;
  readonly seeking: boolean;
  playbackRate: number;
  /** Set when the media failed (HTMLMediaElement.error); such a video no longer holds the others up. */
  readonly error?: unknown;
  play(): Promise<void> | void;
  pause(): void;
}

/** HTMLMediaElement.readyState values used here. */
export const HAVE_CURRENT_DATA = 2;
export const HAVE_FUTURE_DATA = 3;

/** Seconds from the earliest start to each start; 0 for a start that doesn't parse. */
export function clipOffsets(starts: readonly (string | null | undefined)[]): number[] {
  const ms = starts.map(parseTime);
  const valid = ms.filter((v) => Number.isFinite(v));
  if (valid.length === 0) return starts.map(() => 0);
  const min = Math.min(...valid);
  return ms.map((v) => (Number.isFinite(v) ? (v - min) / 1000 : 0));
}

/** The clip's length: the media's own once known, else its evidence span, else 0. */
export function clipDuration(mediaDuration: number, start?: string | null, end?: string | null): number {
  if (Number.isFinite(mediaDuration) && mediaDuration > 0) return mediaDuration;
  const a = parseTime(start);
  const b = parseTime(end);
  return Number.isFinite(a) && Number.isFinite(b) && b > a ? (b - a) / 1000 : 0;
}

/** Length of the shared timeline: where the last clip ends. */
export function timelineLength(offsets: readonly number[], durations: readonly number[]): number {
  let total = 0;
  offsets.forEach((o, i) => {
    total = Math.max(total, o + (durations[i] ?? 0));
  });
  return total;
}

/** A little slack at the ends of a clip, where frames and edit lists round. */
export const RANGE_SLACK = 0.05;

/** Whether timeline position T falls inside the clip. */
export function inRange(T: number, offset: number, duration: number): boolean {
  const local = T - offset;
  return local >= -RANGE_SLACK && local <= duration + RANGE_SLACK;
}

/** Largest difference between positions on the timeline (0 for fewer than two). */
export function maxSkew(positions: readonly number[]): number {
  const ok = positions.filter((p) => Number.isFinite(p));
  if (ok.length < 2) return 0;
  return Math.max(...ok) - Math.min(...ok);
}

/** Seconds with 3 decimals, as data-max-skew shows them. */
export function formatSkew(s: number): string {
  return (Number.isFinite(s) && s > 0 ? s : 0).toFixed(3);
}

/** Drift above which a video is sought to where it should be. */
export const SEEK_DRIFT = 0.3;
/** Drift below which a video plays at normal speed. */
export const RATE_DRIFT = 0.02;
/** Rate change per second of drift (0.1 s behind → 1.2×), at most ±MAX_RATE_CHANGE. */
export const RATE_GAIN = 2;
export const MAX_RATE_CHANGE = 0.25;

export type Correction = { kind: 'rate'; rate: number } | { kind: 'seek'; to: number };

/** How to bring a video at `actual` to `expected` (seconds of its own time). */
export function correction(actual: number, expected: number): Correction {
  const drift = actual - expected; // > 0: ahead
  if (!Number.isFinite(drift) || Math.abs(drift) > SEEK_DRIFT) return { kind: 'seek', to: expected };
  if (Math.abs(drift) < RATE_DRIFT) return { kind: 'rate', rate: 1 };
  const change = Math.max(-MAX_RATE_CHANGE, Math.min(MAX_RATE_CHANGE, -drift * RATE_GAIN));
  return { kind: 'rate', rate: Math.round((1 + change) * 1000) / 1000 };
}

export interface SyncTrack {
  media: MediaLike;
  /** Seconds from the timeline's start to the clip's start. */
  offset: number;
  /** Evidence span, for the length until the media's metadata is in. */
  start?: string | null;
  end?: string | null;
}

export interface SyncStats {
  /** Videos with readyState >= 2. */
  ready: number;
  /** Max difference between the ready, in-range videos' currentTime + offset. */
  skew: number;
}

function startPlaying(m: MediaLike): void {
  try {
    const p = m.play();
    if (p && typeof (p as Promise<void>).catch === 'function') (p as Promise<void>).catch(() => undefined);
  } catch {
    /* refused (e.g. no source yet): the next tick tries again */
  }
}

function setRate(m: MediaLike, rate: number): void {
  if (m.playbackRate !== rate) m.playbackRate = rate;
}

/**
 * One clock for several videos. Call tick() periodically (every ~200 ms)
 * while playing; play(), pause() and seek() act on all of them.
 * The clock follows a "master": the first video that is in range and
 * actually playing; with none (all buffering) it waits, and across a gap
 * where no clip has footage it runs on wall-clock time.
 */
export class SyncController {
  playing = false;
  private pos = 0;
  private anchor: number;

  constructor(
    readonly tracks: readonly SyncTrack[],
    private readonly now: () => number = () => performance.now(),
  ) {
    this.anchor = now();
  }

  duration(i: number): number {
    const tr = this.tracks[i];
    return tr ? clipDuration(tr.media.duration, tr.start, tr.end) : 0;
  }

  total(): number {
    return timelineLength(
      this.tracks.map((tr) => tr.offset),
      this.tracks.map((_, i) => this.duration(i)),
    );
  }

  private master(T: number): number {
    return this.tracks.findIndex((tr, i) => {
      const m = tr.media;
      return !m.paused && !m.ended && !m.seeking && m.readyState >= HAVE_FUTURE_DATA && inRange(T, tr.offset, this.duration(i));
    });
  }

  /** Some clip that should be playing at T can't yet (loading, seeking). */
  private waiting(T: number): boolean {
    return this.tracks.some((tr, i) => {
      const m = tr.media;
      const local = T - tr.offset;
      return local >= 0 && local < this.duration(i) && !m.ended && !m.error && (m.seeking || m.readyState < HAVE_FUTURE_DATA);
    });
  }

  /** The timeline position now (seconds). */
  position(): number {
    if (!this.playing) return this.pos;
    const i = this.master(this.pos);
    let T: number;
    if (i >= 0) {
      const tr = this.tracks[i]!;
      T = tr.media.currentTime + tr.offset;
    } else if (this.waiting(this.pos)) {
      T = this.pos;
    } else {
      T = this.pos + (this.now() - this.anchor) / 1000;
    }
    const total = this.total();
    return Math.max(0, total > 0 ? Math.min(T, total) : T);
  }

  /** Puts every video where it belongs at T; plays those with footage at T when playing. */
  private align(T: number, tolerance: number): void {
    this.tracks.forEach((tr, i) => {
      const m = tr.media;
      const d = this.duration(i);
      const local = T - tr.offset;
      const want = Math.max(0, Math.min(local, d));
      if (Math.abs(m.currentTime - want) > tolerance) m.currentTime = want;
      setRate(m, 1);
      if (this.playing && local >= 0 && local < d) startPlaying(m);
      else if (!m.paused) m.pause();
    });
  }

  play(): void {
    const total = this.total();
    if (total > 0 && this.pos >= total - RANGE_SLACK) this.pos = 0;
    this.playing = true;
    this.anchor = this.now();
    this.align(this.pos, 0.02);
  }

  pause(): void {
    this.pos = this.position();
    this.playing = false;
    this.anchor = this.now();
    this.align(this.pos, 0.001);
  }

  seek(T: number): void {
    const total = this.total();
    const to = Number.isFinite(T) ? T : 0;
    this.pos = Math.max(0, total > 0 ? Math.min(to, total) : to);
    this.anchor = this.now();
    this.align(this.pos, 0.001);
  }

  /** Drift correction; also notices the end of the timeline. */
  tick(): void {
    if (!this.playing) return;
    const T = this.position();
    this.pos = T;
    this.anchor = this.now();
    const total = this.total();
    if (total > 0 && T >= total - 0.01) {
      this.playing = false;
      this.pos = total;
      for (const tr of this.tracks) {
        if (!tr.media.paused) tr.media.pause();
        setRate(tr.media, 1);
      }
      return;
    }
    const mi = this.master(T);
    this.tracks.forEach((tr, i) => {
      const m = tr.media;
      if (m.error) return;
      const d = this.duration(i);
      const local = T - tr.offset;
      if (local < 0) {
        // Its footage starts later: hold it on its first frame.
        if (!m.paused) m.pause();
        if (m.currentTime > 0.001 && !m.seeking) m.currentTime = 0;
        setRate(m, 1);
        return;
      }
      if (local >= d) {
        if (!m.paused) m.pause();
        setRate(m, 1);
        return;
      }
      if (m.paused) {
        if (Math.abs(m.currentTime - local) > 0.05) m.currentTime = local;
        startPlaying(m);
        return;
      }
      if (i === mi) {
        setRate(m, 1);
        return;
      }
      if (m.seeking || m.readyState < HAVE_FUTURE_DATA) return; // catching up on its own
      const c = correction(m.currentTime, local);
      if (c.kind === 'seek') {
        m.currentTime = c.to;
        setRate(m, 1);
      } else setRate(m, c.rate);
    });
  }

  stats(): SyncStats {
    const T = this.position();
    let ready = 0;
    const positions: number[] = [];
    this.tracks.forEach((tr, i) => {
      const m = tr.media;
      if (m.readyState < HAVE_CURRENT_DATA) return;
      ready++;
      // Only videos with footage at T: one whose clip starts later is held on its first frame.
      const local = T - tr.offset;
      if (local >= -0.001 && local <= this.duration(i) + RANGE_SLACK) positions.push(m.currentTime + tr.offset);
    });
    return { ready, skew: maxSkew(positions) };
  }
}

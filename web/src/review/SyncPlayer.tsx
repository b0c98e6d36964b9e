import type { RefObject } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { gridShape } from '../cameras/cameraInfo';
import { evidenceContentUrl, hasRef } from '../cases';
import { t } from '../i18n';
import { formatClock, formatTimeOfDay, parseTime } from '../time';
import type { Evidence } from '../types';
import { SyncController, clipOffsets, formatSkew } from './sync';

/** How often drift is corrected and the clock, data-ready-count and data-max-skew are updated. */
const TICK_MS = 200;

/** Video events after which the numbers shown may have changed. */
const MEDIA_EVENTS = ['loadedmetadata', 'loadeddata', 'canplay', 'canplaythrough', 'playing', 'waiting', 'seeked', 'ended', 'error'];

interface View {
  pos: number;
  total: number;
  playing: boolean;
}

interface SyncPlayerProps {
  clips: Evidence[];
  label: (e: Evidence) => string;
  /** The element that carries data-ready-count and data-max-skew (#review-event). */
  host: RefObject<HTMLElement | null>;
}

function setStats(host: HTMLElement | null, ready: number, skew: number): void {
  if (!host) return;
  host.setAttribute('data-ready-count', String(ready));
  host.setAttribute('data-max-skew', formatSkew(skew));
}

/**
 * All clips of an event side by side, played by one control bar: play/pause
 * (#review-play), a seek slider over the whole timeline (#review-seek) and
 * the clock (#review-time). Each video sits at its wall-clock offset from
 * the earliest clip and is kept within 0.1 s of the others. Give it
 * key={the clips' ids}, so that another set of clips starts afresh.
 */
export function SyncPlayer({ clips, label, host }: SyncPlayerProps) {
  const key = clips.map((c) => c.id).join(',');
  const offsets = useMemo(() => clipOffsets(clips.map((c) => c.start)), [key]);
  const earliest = useMemo(() => {
    const ms = clips.map((c) => parseTime(c.start)).filter((v) => Number.isFinite(v));
    return ms.length ? Math.min(...ms) : NaN;
  }, [key]);
  const videos = useRef<(HTMLVideoElement | null)[]>([]);
  const ctlRef = useRef<SyncController | null>(null);
  const [view, setView] = useState<View>({ pos: 0, total: 0, playing: false });
  const [loaded, setLoaded] = useState<Record<string, boolean>>({});
  const [failed, setFailed] = useState<Record<string, boolean>>({});
  const [sound, setSound] = useState<string | null>(null);

  const publish = () => {
    const ctl = ctlRef.current;
    if (!ctl) return;
    const s = ctl.stats();
    setStats(host.current, s.ready, s.skew);
    const next: View = { pos: Math.round(ctl.position() * 100) / 100, total: Math.round(ctl.total() * 100) / 100, playing: ctl.playing };
    setView((cur) => (cur.pos === next.pos && cur.total === next.total && cur.playing === next.playing ? cur : next));
  };

  useEffect(() => {
    const tracks = clips
      .map((c, i) => ({ media: videos.current[i] ?? null, offset: offsets[i] ?? 0, start: c.start, end: c.end }))
      .filter((tr): tr is { media: HTMLVideoElement; offset: number; start: string; end: string } => tr.media !== null);
    const ctl = new SyncController(tracks);
    ctlRef.current = ctl;
    const onMedia = (e: Event) => {
      // A clip whose metadata came late is put in its place while paused.
      if (e.type === 'loadedmetadata' && !ctl.playing) ctl.seek(ctl.position());
      publish();
    };
    for (const tr of tracks) for (const name of MEDIA_EVENTS) tr.media.addEventListener(name, onMedia);
    const timer = window.setInterval(() => {
      ctl.tick();
      publish();
    }, TICK_MS);
    publish();
    return () => {
      window.clearInterval(timer);
      for (const tr of tracks) {
        for (const name of MEDIA_EVENTS) tr.media.removeEventListener(name, onMedia);
        tr.media.pause();
      }
      if (ctlRef.current === ctl) ctlRef.current = null;
      setStats(host.current, 0, 0);
    };
  }, [key]);

  const toggle = () => {
    const ctl = ctlRef.current;
    if (!ctl) return;
    if (ctl.playing) ctl.pause();
    else ctl.play();
    publish();
  };

  const seek = (value: string) => {
    const ctl = ctlRef.current;
    if (!ctl) return;
    ctl.seek(Number(value));
    publish();
  };

  const toggleSound = (id: string) => {
    // One channel's sound at a time: several at once is noise.
    setSound((cur) => (cur === id ? null : id));
  };

  const { cols, rows } = gridShape(clips.length);
  const wall = Number.isFinite(earliest) ? formatTimeOfDay(earliest + view.pos * 1000) : '';

  return (
    <div class="review-player" role="group" aria-label={t('review.player')}>
      <div class="review-grid" style={`--cols:${cols};--rows:${rows}`} data-cols={String(cols)} data-rows={String(rows)}>
        {clips.map((c, i) => {
          const url = evidenceContentUrl(c.id);
          const isFailed = failed[c.id] === true;
          return (
            <figure class="review-tile" key={c.id} data-evidence-id={c.id}>
              <figcaption class="review-tile-head">
                <span class="review-tile-name" title={label(c)}>
                  {label(c)}
                </span>
                <button
                  type="button"
                  class="btn btn-ghost btn-small review-mute"
                  aria-pressed={sound === c.id}
                  title={sound === c.id ? t('live.mute') : t('live.unmute')}
                  onClick={() => toggleSound(c.id)}
                >
                  {sound === c.id ? t('live.mute') : t('live.unmute')}
                </button>
              </figcaption>
              <div class="review-view">
                <video
                  ref={(el) => {
                    videos.current[i] = el;
                  }}
                  class="review-video"
                  data-evidence-id={c.id}
                  data-camera-id={hasRef(c.camera_id) ? c.camera_id : undefined}
                  src={url}
                  preload="auto"
                  muted={sound !== c.id}
                  playsInline
                  disablePictureInPicture
                  onLoadedData={() => setLoaded((cur) => (cur[c.id] ? cur : { ...cur, [c.id]: true }))}
                  onError={() => setFailed((cur) => (cur[c.id] ? cur : { ...cur, [c.id]: true }))}
                />
                {(isFailed || !loaded[c.id]) && (
                  <div class={isFailed ? 'review-overlay review-overlay-error' : 'review-overlay'}>
                    {isFailed ? t('review.videoError') : t('review.videoLoading')}
                  </div>
                )}
              </div>
            </figure>
          );
        })}
      </div>
      <div class="review-controls">
        <button type="button" id="review-play" class="btn btn-primary review-play" aria-pressed={view.playing} onClick={toggle}>
          {view.playing ? t('review.pause') : t('review.play')}
        </button>
        <input
          id="review-seek"
          type="range"
          min="0"
          max={String(view.total)}
          step="0.01"
          value={String(view.pos)}
          aria-label={t('review.seek')}
          onInput={(e) => seek(e.currentTarget.value)}
          onChange={(e) => seek(e.currentTarget.value)}
        />
        <span id="review-time" class="mono review-time">
          {formatClock(view.pos)} / {formatClock(view.total)}
        </span>
        {wall && (
          <span id="review-clock" class="muted review-clock">
            {t('review.recordedAt', { time: wall })}
          </span>
        )}
      </div>
    </div>
  );
}

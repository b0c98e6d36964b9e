import { useEffect, useRef, useState } from 'preact/hooks';
import { t, tEnum } from '../i18n';
import type { Camera } from '../types';
import { cameraActive, formatVideoFacts, mergeFacts, roleLabel } from './cameraInfo';
import { WhepClient, type VideoStats, type WhepStatus } from './whep';

/** Frames not advancing this long on a live connection: say so over the frozen picture. */
const STALL_MS = 3000;

interface TileProps {
  camera: Camera;
  enlarged: boolean;
  onToggleEnlarge: () => void;
  onSnapshot: () => void;
}

/**
 * One camera: name, role, the server's state, a live video over WHEP, and
 * buttons for sound, snapshot and enlarging. Exposes data-state (the WHEP
 * connection) and data-frames-decoded (updated every second) for tests.
 * The video keeps playing while the camera's row is refreshed: the WHEP
 * session depends only on the camera's id and whether it is enabled.
 */
export function CameraTile({ camera, enlarged, onToggleEnlarge, onSnapshot }: TileProps) {
  const active = cameraActive(camera);
  const videoRef = useRef<HTMLVideoElement>(null);
  const hasSub = useRef(!!camera.has_substream);
  hasSub.current = !!camera.has_substream;
  const [status, setStatus] = useState<WhepStatus | null>(null);
  const [stats, setStats] = useState<VideoStats | null>(null);
  const [muted, setMuted] = useState(true);
  // The current stream has shown a picture (the stats lag by up to a second).
  const [picture, setPicture] = useState(false);
  const [stalled, setStalled] = useState(false);

  useEffect(() => {
    if (!active) {
      setStatus(null);
      return undefined;
    }
    let live = true;
    const progress = { frames: -1, at: Date.now() };
    const client = new WhepClient({
      cameraId: camera.id,
      hasSubstream: () => hasSub.current,
      onStatus: (s) => {
        if (!live) return;
        if (s.state === 'connected') progress.at = Date.now();
        setStatus(s);
      },
      onStream: (stream) => {
        if (!live || !stream) return; // null: keep the last picture under "Reconnecting…"
        const v = videoRef.current;
        if (v && v.srcObject !== stream) {
          v.srcObject = stream;
          setPicture(false);
        }
        if (v) v.play().catch(() => undefined);
      },
    });
    client.start();
    const timer = window.setInterval(() => {
      void client.stats().then((s) => {
        if (!live) return;
        const now = Date.now();
        if (s.framesDecoded !== progress.frames) {
          progress.frames = s.framesDecoded;
          progress.at = now;
        }
        setStats(s);
        setStalled(client.current.state === 'connected' && now - progress.at >= STALL_MS);
      });
    }, 1000);
    // Closing the tab: end the session now rather than when the server notices.
    const onHide = () => client.stop();
    const onShow = (e: PageTransitionEvent) => {
      if (e.persisted) client.start();
    };
    window.addEventListener('pagehide', onHide);
    window.addEventListener('pageshow', onShow);
    return () => {
      live = false;
      window.clearInterval(timer);
      window.removeEventListener('pagehide', onHide);
      window.removeEventListener('pageshow', onShow);
      client.stop();
      if (videoRef.current) videoRef.current.srcObject = null;
      setPicture(false);
      setStalled(false);
    };
  }, [camera.id, active]);

  useEffect(() => {
    const v = videoRef.current;
    if (!v) return;
    v.muted = muted;
    v.defaultMuted = muted; // the muted attribute, as the markup would have it
    if (!muted) v.play().catch(() => undefined);
  }, [muted]);

  const state = camera.state;
  const failed = state === 'failed';
  const whep = active ? (status?.state ?? 'connecting') : 'idle';
  const frames = stats?.framesDecoded ?? 0;
  const onSub = active && status?.stream === 'sub';
  // The server's codec and size are the main stream's: on the sub-stream only the browser's own figures are true.
  const facts = formatVideoFacts(onSub ? mergeFacts({}, stats) : mergeFacts(camera, stats));
  const noAudio = whep === 'connected' && frames > 0 && !stats?.audio;
  const muteLabel = noAudio ? t('live.noAudio') : muted ? t('live.unmute') : t('live.mute');
  const title = `${camera.name} · ${roleLabel(camera)}`;

  let overlay: string | null = null;
  let overlayClass = 'camera-overlay';
  if (!active) overlay = t('live.disabled');
  else if (whep === 'connecting') overlay = t('live.connecting');
  else if (whep === 'reconnecting') overlay = t('live.reconnecting');
  else if (whep === 'unsupported') {
    overlay = t('live.h265Unsupported');
    overlayClass += ' camera-overlay-error';
  } else if (whep === 'failed') {
    overlay = t('live.unavailable', { error: status?.error ?? '' });
    overlayClass += ' camera-overlay-error';
  } else if (whep === 'connected' && !picture && frames === 0) overlay = t('live.waiting');
  else if (whep === 'connected' && stalled) overlay = t('live.stalled');

  const classes = ['camera-tile', `whep-${whep}`];
  if (stalled && whep === 'connected') classes.push('stalled');
  if (enlarged) classes.push('enlarged');
  if (state) classes.push(`camera-${state}`);

  return (
    <div
      class={classes.join(' ')}
      data-camera-id={camera.id}
      data-state={whep}
      data-frames-decoded={String(frames)}
      data-camera-state={state ?? ''}
      data-stream={status?.stream ?? 'main'}
      data-enlarged={enlarged ? 'true' : undefined}
    >
      <div class="camera-head">
        <span class="camera-name" title={title}>
          {camera.name}
        </span>
        <span class="camera-role">{roleLabel(camera)}</span>
        {state && (
          <span class={`badge camera-state state-${state}`} title={failed && camera.last_error ? camera.last_error : undefined}>
            {tEnum('live.state', state)}
          </span>
        )}
      </div>
      {failed && camera.last_error && (
        <div class="camera-error" title={camera.last_error}>
          {t('live.lastError', { error: camera.last_error })}
        </div>
      )}
      <div
        class="camera-view"
        onClick={onToggleEnlarge}
        title={enlarged ? t('live.shrink') : t('live.enlarge')}
      >
        <video
          ref={videoRef}
          class="camera-video"
          autoplay
          muted
          playsinline
          disablePictureInPicture
          onLoadedData={() => setPicture(true)}
          onPlaying={() => setPicture(true)}
        />
        {overlay && (
          <div class={overlayClass} role="status">
            {overlay}
          </div>
        )}
        {onSub && whep !== 'unsupported' && <div class="camera-note">{t('live.subStream')}</div>}
      </div>
      <div class="camera-foot">
        <span class="camera-facts mono">{facts || t('common.dash')}</span>
        {camera.viewers !== undefined && camera.viewers !== null && (
          <span class="camera-viewers muted">{t('live.viewers', { n: camera.viewers })}</span>
        )}
        <span class="camera-actions">
          <button
            type="button"
            class={noAudio ? 'btn btn-ghost btn-small camera-mute no-audio' : 'btn btn-ghost btn-small camera-mute'}
            aria-pressed={!muted}
            disabled={!active}
            title={muteLabel}
            aria-label={muteLabel}
            onClick={() => setMuted((m) => !m)}
          >
            <SpeakerIcon muted={muted} />
          </button>
          <button type="button" class="btn btn-ghost btn-small camera-snapshot" disabled={!active} onClick={onSnapshot} title={t('live.snapshot')}>
            {t('live.snapshot')}
          </button>
          <button
            type="button"
            class="btn btn-ghost btn-small camera-enlarge"
            onClick={onToggleEnlarge}
            title={enlarged ? t('live.shrink') : t('live.enlarge')}
            aria-label={enlarged ? t('live.shrink') : t('live.enlarge')}
          >
            {enlarged ? '⤡' : '⤢'}
          </button>
        </span>
      </div>
    </div>
  );
}

/** A speaker, crossed out when muted (drawn, so it needs no emoji font). */
function SpeakerIcon({ muted }: { muted: boolean }) {
  return (
    <svg class="icon" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">
      <path d="M2 6h3l4-3v10l-4-3H2z" fill="currentColor" />
      {muted ? (
        <path d="M11 6l4 4M15 6l-4 4" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" fill="none" />
      ) : (
        <path d="M11 5.5a3.5 3.5 0 0 1 0 5M12.5 3.5a6 6 0 0 1 0 9" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" fill="none" />
      )}
    </svg>
  );
}

import { useEffect, useRef, useState } from 'preact/hooks';
import { listAll } from '../api';
import { Modal } from '../components/Modal';
import { errorText } from '../errors';
import { t } from '../i18n';
import { navigate, useRoute } from '../router';
import { useSession } from '../session';
import type { Camera, Site } from '../types';
import { camerasPath, gridShape, siteFromPath, snapshotUrl, sortCameras } from './cameraInfo';
import { CameraTile } from './CameraTile';

/** The site last watched, reopened by #/cameras. */
const SITE_KEY = 'attendant.cameras.site';
/** How often the cameras' states are fetched again (the videos keep playing). */
const REFRESH_MS = 5000;

function storedSite(): string | null {
  try {
    return localStorage.getItem(SITE_KEY);
  } catch {
    return null;
  }
}

function storeSite(id: string): void {
  try {
    localStorage.setItem(SITE_KEY, id);
  } catch {
    /* storage disabled: the choice just isn't remembered */
  }
}

/**
 * #/cameras and #/cameras/<siteId>: a site picker (#cameras-site) and a grid
 * (#camera-grid) of that site's cameras playing live; click a tile to enlarge
 * it, Esc to go back.
 */
export function CamerasPage() {
  const { lang } = useSession();
  const siteId = siteFromPath(useRoute());
  const [sites, setSites] = useState<Site[] | null>(null);
  const [sitesError, setSitesError] = useState<unknown>(null);
  // Cameras with the site they belong to, so a new site never shows the old site's tiles.
  const [cams, setCams] = useState<{ siteId: string; items: Camera[] } | null>(null);
  const [camsError, setCamsError] = useState<unknown>(null);
  const [enlarged, setEnlarged] = useState<string | null>(null);
  const [snapshot, setSnapshot] = useState<Camera | null>(null);
  const loadRef = useRef<() => void>(() => undefined);
  const snapshotOpen = useRef(false);
  snapshotOpen.current = snapshot !== null;

  useEffect(() => {
    const ctl = new AbortController();
    listAll<Site>('sites', {}, 20, ctl.signal)
      .then((items) => setSites(items))
      .catch((err) => {
        if (!ctl.signal.aborted) setSitesError(err);
      });
    return () => ctl.abort();
  }, []);

  // #/cameras alone: reopen the site watched last, or the only one there is.
  useEffect(() => {
    if (siteId || !sites) return;
    const last = storedSite();
    const pick = sites.find((s) => s.id === last) ?? (sites.length === 1 ? sites[0] : undefined);
    if (pick) navigate(camerasPath(pick.id), true);
  }, [siteId, sites]);

  useEffect(() => {
    setEnlarged(null);
    setSnapshot(null);
    setCamsError(null);
    if (!siteId) {
      setCams(null);
      return undefined;
    }
    storeSite(siteId);
    let ctl: AbortController | null = null;
    const load = () => {
      ctl?.abort(); // a slow answer is replaced, never raced
      const my = new AbortController();
      ctl = my;
      listAll<Camera>('cameras', { site_id: siteId }, 20, my.signal)
        .then((items) => {
          if (my.signal.aborted) return;
          setCams({ siteId, items });
          setCamsError(null);
        })
        .catch((err) => {
          if (!my.signal.aborted) setCamsError(err);
        });
    };
    loadRef.current = load;
    load();
    const timer = window.setInterval(load, REFRESH_MS);
    return () => {
      window.clearInterval(timer);
      ctl?.abort();
      loadRef.current = () => undefined;
    };
  }, [siteId]);

  const items = cams && cams.siteId === siteId ? sortCameras(cams.items) : null;
  const enlargedId = enlarged && items?.some((c) => c.id === enlarged) ? enlarged : null;

  useEffect(() => {
    if (!enlargedId) return undefined;
    const onKey = (e: KeyboardEvent) => {
      // Esc in the snapshot dialog closes the dialog only.
      if (e.key === 'Escape' && !snapshotOpen.current) setEnlarged(null);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [enlargedId]);

  const sortedSites = sites ? [...sites].sort((a, b) => a.name.localeCompare(b.name, lang)) : [];
  const unknownSite = siteId && sites && !sites.some((s) => s.id === siteId);

  let body;
  if (!siteId) {
    body = (
      <div class="empty-state muted" id="cameras-hint">
        {sites === null ? (sitesError ? '' : t('status.loading')) : sites.length === 0 ? t('live.noSites') : t('live.chooseSite')}
      </div>
    );
  } else if (items === null) {
    body = camsError ? null : (
      <div class="empty-state muted" id="cameras-loading">
        {t('status.loading')}
      </div>
    );
  } else if (items.length === 0) {
    body = (
      <div class="empty-state muted" id="cameras-empty">
        {t('live.noCameras')}
      </div>
    );
  } else {
    const { cols, rows } = gridShape(items.length);
    body = (
      <div
        id="camera-grid"
        class={enlargedId ? 'camera-grid has-enlarged' : 'camera-grid'}
        style={`--cols:${cols};--rows:${rows}`}
        data-cols={String(cols)}
        data-rows={String(rows)}
      >
        {items.map((cam) => (
          <CameraTile
            key={cam.id}
            camera={cam}
            enlarged={enlargedId === cam.id}
            onToggleEnlarge={() => setEnlarged((cur) => (cur === cam.id ? null : cam.id))}
            onSnapshot={() => setSnapshot(cam)}
          />
        ))}
      </div>
    );
  }

  return (
    <div class="page cameras-page">
      <div class="page-head">
        <h1>{t('live.title')}</h1>
        <div class="page-head-actions">
          <label class="cameras-site-field">
            <span class="filter-label">{t('common.site')}</span>
            <select id="cameras-site" value={siteId ?? ''} onChange={(e) => navigate(camerasPath((e.currentTarget as HTMLSelectElement).value || null))}>
              {!siteId && <option value="">{t('form.choose')}</option>}
              {unknownSite && <option value={siteId}>{siteId}</option>}
              {sortedSites.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.code ? `${s.name} (${s.code})` : s.name}
                </option>
              ))}
            </select>
          </label>
          {items && (
            <span class="muted" id="cameras-count">
              {t('live.count', { n: items.length })}
            </span>
          )}
          <button type="button" class="btn" id="cameras-refresh" disabled={!siteId} onClick={() => loadRef.current()}>
            {t('action.refresh')}
          </button>
        </div>
      </div>
      {sitesError !== null && (
        <p class="form-error" id="cameras-sites-error" role="alert">
          {errorText(sitesError)}
        </p>
      )}
      {camsError !== null && (
        <p class="form-error" id="cameras-error" role="alert">
          {items ? t('live.refreshFailed', { error: errorText(camsError) }) : errorText(camsError)}
        </p>
      )}
      {body}
      {snapshot && <SnapshotDialog camera={snapshot} onClose={() => setSnapshot(null)} />}
    </div>
  );
}

/** The camera's current picture, fetched fresh; also openable in a new tab. */
function SnapshotDialog({ camera, onClose }: { camera: Camera; onClose: () => void }) {
  const [url] = useState(() => snapshotUrl(camera.id, Date.now()));
  const [state, setState] = useState<'loading' | 'ok' | 'error'>('loading');
  return (
    <Modal id="camera-snapshot" title={t('live.snapshotTitle', { name: camera.name })} onClose={onClose} wide>
      <div class="snapshot-body">
        {state === 'loading' && <p class="muted snapshot-status">{t('live.snapshotLoading')}</p>}
        {state === 'error' && (
          <p class="form-error" id="camera-snapshot-error">
            {t('live.snapshotFailed')}
          </p>
        )}
        <img
          id="camera-snapshot-img"
          class={state === 'ok' ? 'snapshot-img' : 'snapshot-img hidden'}
          src={url}
          alt={camera.name}
          onLoad={() => setState('ok')}
          onError={() => setState('error')}
        />
        <div class="form-actions">
          <a id="camera-snapshot-open" class="btn" href={url} target="_blank" rel="noopener">
            {t('live.openNewTab')}
          </a>
          <button type="button" class="btn btn-primary" id="camera-snapshot-close" data-autofocus onClick={onClose}>
            {t('action.close')}
          </button>
        </div>
      </div>
    </Modal>
  );
}

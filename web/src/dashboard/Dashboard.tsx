import { useEffect, useState } from 'preact/hooks';
import { listAll } from '../api';
import { errorText } from '../errors';
import { t, tEnum } from '../i18n';
import { useSession } from '../session';
import { SITE_KINDS, type Site } from '../types';
import { hasCoordinates } from './geo';
import { fullAddress, kindColor } from './siteInfo';
import { SiteMap } from './SiteMap';

export function Dashboard() {
  useSession();
  const [sites, setSites] = useState<Site[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [hovered, setHovered] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    listAll<Site>('sites', {}, 20, ctl.signal)
      .then((items) => setSites(items))
      .catch((err) => {
        if (!ctl.signal.aborted) setError(err);
      });
    return () => ctl.abort();
  }, [reload]);

  const shownId = hovered ?? selected;
  const shown = sites?.find((s) => s.id === shownId) ?? null;
  const counts = SITE_KINDS.map((k) => ({ kind: k, n: sites?.filter((s) => s.kind === k).length ?? 0 }));

  return (
    <div class="page dashboard">
      <div class="page-head">
        <h1>{t('dashboard.title')}</h1>
        <div class="page-head-actions">
          <div class="kind-counts" id="site-counts">
            {counts.map((c) => (
              <span class="kind-count" key={c.kind}>
                <span class="dot" style={{ background: kindColor(c.kind) }} />
                {tEnum('kind', c.kind)} <strong>{c.n}</strong>
              </span>
            ))}
          </div>
          <button type="button" class="btn" id="dashboard-refresh" onClick={() => setReload((n) => n + 1)}>
            {t('action.refresh')}
          </button>
        </div>
      </div>
      {error !== null && (
        <p class="form-error" id="dashboard-error" role="alert">
          {errorText(error)}
        </p>
      )}
      <div class="dashboard-grid">
        <section class="panel map-panel">
          {sites === null && error === null ? (
            <div class="map-empty">{t('status.loading')}</div>
          ) : (
            <SiteMap
              sites={sites ?? []}
              selectedId={selected}
              hoveredId={hovered}
              onHover={setHovered}
              onSelect={(id) => setSelected((cur) => (cur === id ? null : id))}
            />
          )}
        </section>
        <aside class="dashboard-side">
          <section class="panel">
            {shown ? (
              <SiteCard site={shown} onClose={selected === shown.id ? () => setSelected(null) : undefined} />
            ) : (
              <p class="muted site-card-hint" id="site-card-hint">
                {t('dashboard.pickSite')}
              </p>
            )}
          </section>
          <UnplacedList
            sites={sites ?? []}
            selectedId={selected}
            onSelect={(id) => setSelected((cur) => (cur === id ? null : id))}
            onHover={setHovered}
          />
        </aside>
      </div>
    </div>
  );
}

function UnplacedList(props: {
  sites: Site[];
  selectedId: string | null;
  onSelect: (id: string) => void;
  onHover: (id: string | null) => void;
}) {
  const unplaced = props.sites.filter((s) => !hasCoordinates(s));
  if (unplaced.length === 0) return null;
  return (
    <section class="panel">
      <h2 class="panel-title">{t('dashboard.unplaced', { n: unplaced.length })}</h2>
      <ul class="unplaced-list" id="sites-unplaced">
        {unplaced.map((s) => (
          <li key={s.id}>
            <button
              type="button"
              class={props.selectedId === s.id ? 'unplaced-item selected' : 'unplaced-item'}
              data-id={s.id}
              onClick={() => props.onSelect(s.id)}
              onMouseEnter={() => props.onHover(s.id)}
              onMouseLeave={() => props.onHover(null)}
            >
              <span class="dot" style={{ background: kindColor(s.kind) }} />
              <span class="unplaced-name">{s.name}</span>
              <span class="muted">{s.code}</span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function SiteCard({ site, onClose }: { site: Site; onClose?: (() => void) | undefined }) {
  const rows: [string, string][] = [
    [t('site.code'), site.code],
    [t('site.address'), fullAddress(site)],
    [
      t('dashboard.coordinates'),
      hasCoordinates(site) ? `${(site.latitude as number).toFixed(5)}, ${(site.longitude as number).toFixed(5)}` : '',
    ],
    [t('site.tariff'), site.tariff],
    [t('site.emergency_contact'), site.emergency_contact],
    [t('site.notes'), site.notes],
  ];
  return (
    <div class="site-card" id="site-card" data-id={site.id}>
      <div class="site-card-head">
        <span class="kind-pill" style={{ background: kindColor(site.kind) }}>
          {tEnum('kind', site.kind)}
        </span>
        <h2 class="site-card-name">{site.name}</h2>
        {onClose && (
          <button type="button" class="btn btn-ghost btn-icon" aria-label={t('action.close')} title={t('action.close')} onClick={onClose}>
            ×
          </button>
        )}
      </div>
      <dl class="site-card-fields">
        {rows.map(([label, value]) => (
          <div class="site-card-row" key={label}>
            <dt>{label}</dt>
            <dd class={value ? undefined : 'muted'}>{value || t('common.none')}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

import { t, tEnum } from '../i18n';
import { useSession } from '../session';
import { SITE_KINDS, type Site } from '../types';
import { kindColor } from './siteInfo';
import { niceStep, project, stepDecimals, ticks } from './geo';

const W = 800;
const H = 520;
const PAD = 48;

interface SiteMapProps {
  sites: Site[];
  selectedId: string | null;
  hoveredId: string | null;
  onHover: (id: string | null) => void;
  onSelect: (id: string) => void;
}

/** Sites plotted by latitude/longitude on a plain grid (no tiles, nothing fetched). */
export function SiteMap({ sites, selectedId, hoveredId, onHover, onSelect }: SiteMapProps) {
  const { user } = useSession();
  const proj = project(sites, W, H, PAD);
  const b = proj.bounds;
  const latStep = b ? niceStep(b.maxLat - b.minLat, 5) : 1;
  const lonStep = b ? niceStep(b.maxLon - b.minLon, 6) : 1;
  const latTicks = b ? ticks(b.minLat, b.maxLat, latStep) : [];
  const lonTicks = b ? ticks(b.minLon, b.maxLon, lonStep) : [];
  const midLat = b ? (b.minLat + b.maxLat) / 2 : 0;
  const midLon = b ? (b.minLon + b.maxLon) / 2 : 0;
  // Draw the selected and hovered markers last so they sit on top.
  const order = [...proj.placed].sort((p, q) => rank(p.item.id) - rank(q.item.id));
  function rank(id: string): number {
    return id === hoveredId ? 2 : id === selectedId ? 1 : 0;
  }

  return (
    <div class="site-map-wrap">
      <svg
        id="sites-map"
        class="site-map"
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="xMidYMid meet"
        role="img"
        aria-label={t('dashboard.mapLabel', { n: proj.placed.length })}
      >
        <rect x="0" y="0" width={W} height={H} class="map-bg" />
        <g class="map-grid">
          {latTicks.map((lat) => {
            const y = proj.toXY(lat, midLon).y;
            return (
              <g key={`lat${lat}`}>
                <line x1={0} x2={W} y1={y} y2={y} />
                <text x={6} y={y - 4} class="map-grid-label">
                  {formatDeg(lat, stepDecimals(latStep), 'N', 'S')}
                </text>
              </g>
            );
          })}
          {lonTicks.map((lon) => {
            const x = proj.toXY(midLat, lon).x;
            return (
              <g key={`lon${lon}`}>
                <line x1={x} x2={x} y1={0} y2={H} />
                <text x={x + 4} y={H - 6} class="map-grid-label">
                  {formatDeg(lon, stepDecimals(lonStep), 'E', 'W')}
                </text>
              </g>
            );
          })}
        </g>
        {order.map(({ item: s, x, y }) => {
          const active = s.id === selectedId || s.id === hoveredId;
          return (
            <g
              key={s.id}
              class={active ? 'map-site active' : 'map-site'}
              data-id={s.id}
              data-kind={s.kind}
              transform={`translate(${x.toFixed(1)} ${y.toFixed(1)})`}
              tabIndex={0}
              role="button"
              aria-label={`${s.name} (${tEnum('kind', s.kind)})`}
              onMouseEnter={() => onHover(s.id)}
              onMouseLeave={() => onHover(null)}
              onFocus={() => onHover(s.id)}
              onBlur={() => onHover(null)}
              onClick={() => onSelect(s.id)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  onSelect(s.id);
                }
              }}
            >
              <title>{s.name}</title>
              {s.id === selectedId && <circle r={14} class="map-site-ring" style={{ stroke: kindColor(s.kind) }} />}
              <circle r={active ? 9 : 7} fill={kindColor(s.kind)} class="map-site-dot" />
              <text x={12} y={4} class="map-site-label">
                {s.code || s.name}
              </text>
            </g>
          );
        })}
        {proj.placed.length === 0 && (
          <text x={W / 2} y={H / 2} text-anchor="middle" class="map-empty-text">
            {sites.length === 0 ? t('dashboard.noSites') : t('dashboard.noCoordinates')}
          </text>
        )}
      </svg>
      <div class="map-legend" id="map-legend">
        {SITE_KINDS.map((k) => (
          <span key={k} class="legend-item">
            <span class="dot" style={{ background: kindColor(k) }} />
            {tEnum('kind', k)}
          </span>
        ))}
        {sites.length === 0 && user?.role === 'admin' && (
          <a href="#/admin/sites" class="legend-link">
            {t('dashboard.addSites')}
          </a>
        )}
      </div>
    </div>
  );
}

function formatDeg(v: number, decimals: number, pos: string, neg: string): string {
  const hemi = v > 0 ? pos : v < 0 ? neg : '';
  return `${Math.abs(v).toFixed(decimals)}°${hemi}`;
}

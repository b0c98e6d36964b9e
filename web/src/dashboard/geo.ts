// Pure geometry for the dashboard's map-like overview: fit sites' latitude and
// longitude into an SVG box, no map tiles.

export interface Located {
  latitude: number | null;
  longitude: number | null;
}

export interface Bounds {
  minLat: number;
  maxLat: number;
  minLon: number;
  maxLon: number;
}

export interface Projected<T> {
  item: T;
  x: number;
  y: number;
}

export interface Projection<T> {
  placed: Projected<T>[];
  /** Items without (valid) coordinates, listed beside the map. */
  unplaced: T[];
  /** Bounds of the area drawn (the sites' box, padded and fitted to the panel), or null with nothing placed. */
  bounds: Bounds | null;
  /** Maps a coordinate into the panel. */
  toXY: (lat: number, lon: number) => { x: number; y: number };
}

export function hasCoordinates(s: Located): boolean {
  const { latitude: lat, longitude: lon } = s;
  return (
    typeof lat === 'number' &&
    typeof lon === 'number' &&
    Number.isFinite(lat) &&
    Number.isFinite(lon) &&
    lat >= -90 &&
    lat <= 90 &&
    lon >= -180 &&
    lon <= 180
  );
}

/** Smallest span (degrees) drawn, so one site or sites on one spot still get a sensible box (~1 km). */
export const MIN_SPAN = 0.01;

/**
 * Projects items into a width×height panel with `pad` pixels kept free on each
 * side. Equirectangular with longitude scaled by cos(mid latitude), so distances
 * look right at city scale; the aspect ratio is kept and the drawing centred.
 */
export function project<T extends Located>(items: T[], width: number, height: number, pad: number): Projection<T> {
  const withCoords = items.filter(hasCoordinates);
  const unplaced = items.filter((s) => !hasCoordinates(s));
  if (withCoords.length === 0) {
    return { placed: [], unplaced, bounds: null, toXY: () => ({ x: width / 2, y: height / 2 }) };
  }
  let minLat = Infinity;
  let maxLat = -Infinity;
  let minLon = Infinity;
  let maxLon = -Infinity;
  for (const s of withCoords) {
    const lat = s.latitude as number;
    const lon = s.longitude as number;
    minLat = Math.min(minLat, lat);
    maxLat = Math.max(maxLat, lat);
    minLon = Math.min(minLon, lon);
    maxLon = Math.max(maxLon, lon);
  }
  const midLat = (minLat + maxLat) / 2;
  const kx = Math.max(Math.cos((midLat * Math.PI) / 180), 0.05);
  // Spans in "screen degrees" (longitude shrunk by kx), never below MIN_SPAN.
  let spanX = Math.max((maxLon - minLon) * kx, MIN_SPAN);
  let spanY = Math.max(maxLat - minLat, MIN_SPAN);
  const innerW = Math.max(width - 2 * pad, 1);
  const innerH = Math.max(height - 2 * pad, 1);
  const scale = Math.min(innerW / spanX, innerH / spanY);
  // Grow the spans to fill the panel so the drawing is centred.
  spanX = innerW / scale;
  spanY = innerH / scale;
  const midLon = (minLon + maxLon) / 2;
  const x0 = midLon * kx - spanX / 2; // screen-degree x at the inner left edge
  const yTop = midLat + spanY / 2; // latitude at the inner top edge
  const toXY = (lat: number, lon: number) => ({
    x: pad + (lon * kx - x0) * scale,
    y: pad + (yTop - lat) * scale,
  });
  const placed = withCoords.map((item) => ({ item, ...toXY(item.latitude as number, item.longitude as number) }));
  const padDeg = pad / scale;
  const bounds: Bounds = {
    minLat: yTop - spanY - padDeg,
    maxLat: yTop + padDeg,
    minLon: (x0 - padDeg) / kx,
    maxLon: (x0 + spanX + padDeg) / kx,
  };
  return { placed, unplaced, bounds, toXY };
}

/** A "nice" grid step (1, 2 or 5 × 10^n) giving about `target` lines over `span`. */
export function niceStep(span: number, target = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(target, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / mag;
  const nice = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
  return nice * mag;
}

/** Grid values that are multiples of step within [min, max]. */
export function ticks(min: number, max: number, step: number): number[] {
  const out: number[] = [];
  if (!(step > 0) || !(max >= min)) return out;
  const start = Math.ceil(min / step) * step;
  for (let v = start, i = 0; v <= max + step * 1e-9 && i < 1000; v = start + ++i * step) {
    out.push(Number(v.toFixed(10)));
  }
  return out;
}

/** Decimals to show for grid labels of a given step (0.01 → 2). */
export function stepDecimals(step: number): number {
  if (!(step > 0)) return 0;
  return Math.max(0, Math.min(6, Math.ceil(-Math.log10(step) - 1e-9)));
}

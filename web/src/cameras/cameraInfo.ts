// Pure helpers of the live camera page: order, grid shape, labels.

import { API_BASE } from '../api';
import { t, tEnum } from '../i18n';
import type { Camera, CameraRole } from '../types';

/** Channel cameras first (by channel), then environment, gate, ID document. */
const ROLE_RANK: Record<CameraRole, number> = { channel: 0, environment: 1, gate: 2, id_document: 3 };

export function sortCameras<T extends Pick<Camera, 'id' | 'name' | 'role' | 'channel'>>(cams: readonly T[]): T[] {
  return [...cams].sort((a, b) => {
    const ra = ROLE_RANK[a.role] ?? 9;
    const rb = ROLE_RANK[b.role] ?? 9;
    if (ra !== rb) return ra - rb;
    if (a.role === 'channel' && a.channel !== b.channel) return (a.channel ?? 0) - (b.channel ?? 0);
    if (a.name !== b.name) return a.name < b.name ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

/**
 * Columns and rows of the grid for n tiles, so that 16:9 pictures stay large
 * on a 1366×768 screen: 2 side by side, 3–4 as 2×2, up to 9 as 3×3, then 4 wide.
 */
export function gridShape(n: number): { cols: number; rows: number } {
  const count = Math.max(1, n);
  const cols = count === 1 ? 1 : count <= 4 ? 2 : count <= 9 ? 3 : 4;
  return { cols, rows: Math.ceil(count / cols) };
}

/** "Channel 2", "Environment camera" … in the current language. */
export function roleLabel(cam: Pick<Camera, 'role' | 'channel'>): string {
  if (cam.role === 'channel') return t('camera.channelN', { n: cam.channel ?? 0 });
  return tEnum('cameraRole', cam.role);
}

/** Whether the page should play the camera at all. */
export function cameraActive(cam: Pick<Camera, 'enabled' | 'state'>): boolean {
  return cam.enabled !== false && cam.state !== 'disabled';
}

export interface VideoFacts {
  codec?: string | undefined;
  width?: number | undefined;
  height?: number | undefined;
  fps?: number | undefined;
}

/** "H264 · 1920×1080 · 25 fps", skipping what is unknown; "" when nothing is. */
export function formatVideoFacts(f: VideoFacts): string {
  const parts: string[] = [];
  if (f.codec) parts.push(f.codec.toUpperCase());
  if (f.width && f.height) parts.push(`${f.width}×${f.height}`);
  if (f.fps !== undefined && f.fps !== null && f.fps > 0) parts.push(t('live.fps', { n: Math.round(f.fps * 10) / 10 }));
  return parts.join(' · ');
}

/** The server's facts, each one filled in from the browser's own stats when the server has none. */
export function mergeFacts(server: VideoFacts, browser: VideoFacts | null): VideoFacts {
  return {
    codec: server.codec || browser?.codec,
    width: server.width || browser?.width,
    height: server.height || browser?.height,
    fps: server.fps || browser?.fps,
  };
}

export function snapshotUrl(cameraId: string, bust?: number): string {
  const u = `${API_BASE}/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg`;
  return bust === undefined ? u : `${u}?t=${bust}`;
}

/** "/cameras/abc" → "abc"; "/cameras" → null. */
export function siteFromPath(path: string): string | null {
  const m = /^\/cameras\/([^/]+)$/.exec(path);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1] as string);
  } catch {
    return m[1] as string;
  }
}

export function camerasPath(siteId: string | null): string {
  return siteId ? `/cameras/${encodeURIComponent(siteId)}` : '/cameras';
}

// Names for what a call refers to by id (site, device, access point), fetched
// once and kept for a few minutes: the queue and the banner show many calls
// of the same few robots.

import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { t, tEnum } from '../i18n';
import type { AccessPoint, Device, Site } from '../types';
import type { CallInfo } from './callState';

const KEEP_MS = 5 * 60 * 1000;
const cache = new Map<string, { at: number; p: Promise<unknown> }>();

function load<T>(resource: string, id: string): Promise<T> {
  const key = `${resource}/${id}`;
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < KEEP_MS) return hit.p as Promise<T>;
  const p = get<T>(resource, id).catch((e: unknown) => {
    cache.delete(key); // asked again next time
    throw e;
  });
  cache.set(key, { at: Date.now(), p });
  return p;
}

export interface Lookup<T> {
  data: T | null;
  error: unknown;
}

/** GET /api/v1/<resource>/<id>, cached; nothing for an empty id. */
export function useRecord<T>(resource: string, id: string | null | undefined): Lookup<T> {
  const [res, setRes] = useState<Lookup<T> & { key: string }>({ key: '', data: null, error: null });
  const key = id ? `${resource}/${id}` : '';
  useEffect(() => {
    if (!id) return undefined;
    let live = true;
    load<T>(resource, id).then(
      (data) => live && setRes({ key, data, error: null }),
      (error: unknown) => live && setRes({ key, data: null, error }),
    );
    return () => {
      live = false;
    };
  }, [key]);
  return res.key === key && key ? res : { data: null, error: null };
}

export const useSite = (id: string | null | undefined) => useRecord<Site>('sites', id);
export const useDevice = (id: string | null | undefined) => useRecord<Device>('devices', id);
export const useAccessPoint = (id: string | null | undefined) => useRecord<AccessPoint>('access-points', id);

/** "North exit (R-001)": a device's name with its code; the id while unknown. */
export function deviceLabel(d: Device | null, id: string): string {
  if (!d) return id || t('common.dash');
  const code = d.factory_code || d.sip_username;
  return code && code !== d.name ? `${d.name} (${code})` : d.name || id;
}

export function siteLabel(s: Site | null, id: string): string {
  if (!s) return id || t('common.dash');
  return s.code ? `${s.name} (${s.code})` : s.name || id;
}

/** "North exit · Exit": the access point and whether it is an entrance or an exit. */
export function laneLabel(ap: AccessPoint): string {
  return `${ap.name} · ${tEnum('apKind', ap.kind)}`;
}

export function callerLabel(from: string | null | undefined): string {
  return from && from.trim() ? from : t('calls.unknownCaller');
}

/** One line about a ringing call: caller · site · device. */
export function useCallLine(call: CallInfo | null): string {
  const site = useSite(call?.site_id);
  const device = useDevice(call?.device_id);
  if (!call) return '';
  return [callerLabel(call.from), siteLabel(site.data, call.site_id), deviceLabel(device.data, call.device_id)].join(' · ');
}

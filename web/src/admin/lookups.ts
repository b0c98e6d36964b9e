// Related lists a page needs for its selects and for showing names instead of ids.

import { listAll } from '../api';
import type { Option } from '../forms';
import { t, tEnum } from '../i18n';
import type { AccessPoint, Device, Site, User } from '../types';

export interface Lookups {
  sites: Site[];
  accessPoints: AccessPoint[];
  devices: Device[];
  users: User[];
}

export type LookupName = keyof Lookups;

export const EMPTY_LOOKUPS: Lookups = { sites: [], accessPoints: [], devices: [], users: [] };

const RESOURCE_OF: Record<LookupName, string> = {
  sites: 'sites',
  accessPoints: 'access-points',
  devices: 'devices',
  users: 'users',
};

export async function loadLookups(names: readonly LookupName[], signal?: AbortSignal): Promise<Lookups> {
  const out: Lookups = { ...EMPTY_LOOKUPS };
  await Promise.all(
    names.map(async (n) => {
      // Each list has its own item type; the record keeps them apart.
      (out as Record<LookupName, unknown[]>)[n] = await listAll(RESOURCE_OF[n], {}, 20, signal);
    }),
  );
  return out;
}

function byLabel(a: Option, b: Option): number {
  return a.label.localeCompare(b.label);
}

export function siteLabel(s: Pick<Site, 'name' | 'code'>): string {
  return s.code ? `${s.name} (${s.code})` : s.name;
}

export function siteOptions(l: Lookups): Option[] {
  return l.sites.map((s) => ({ value: s.id, label: siteLabel(s) })).sort(byLabel);
}

/** Access points of one site (all of them when no site is chosen). */
export function accessPointOptions(l: Lookups, siteId: string): Option[] {
  return l.accessPoints
    .filter((a) => !siteId || a.site_id === siteId)
    .map((a) => ({ value: a.id, label: `${a.name} · ${tEnum('apKind', a.kind)}` }))
    .sort(byLabel);
}

export function deviceOptions(l: Lookups, siteId: string): Option[] {
  return l.devices
    .filter((d) => !siteId || d.site_id === siteId)
    .map((d) => ({ value: d.id, label: `${d.name} · ${tEnum('deviceKind', d.kind)}` }))
    .sort(byLabel);
}

/** Name of a related object for a table cell; the raw id when it isn't in the lookup (or "—" for none). */
export function nameOf(list: { id: string; name?: string; username?: string }[], id: string | null | undefined): string {
  if (!id) return t('common.dash');
  const hit = list.find((x) => x.id === id);
  return hit ? (hit.name ?? hit.username ?? id) : id;
}

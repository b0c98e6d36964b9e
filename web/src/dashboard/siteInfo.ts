// Small pure helpers about sites, shared by the dashboard pieces.

import type { Site } from '../types';

export const KIND_COLORS: Record<string, string> = {
  box: '#2563eb',
  parking: '#ea7a0c',
  web: '#16a34a',
};

export function kindColor(kind: string): string {
  return KIND_COLORS[kind] ?? '#6b7280';
}

/** "所在省份 所在城市 所在区域 所在园区 详细地址" joined, skipping blanks and repeats. */
export function fullAddress(s: Pick<Site, 'province' | 'city' | 'district' | 'compound' | 'address'>): string {
  const parts: string[] = [];
  for (const p of [s.province, s.city, s.district, s.compound, s.address]) {
    const v = (p ?? '').trim();
    if (v && !parts.includes(v)) parts.push(v);
  }
  return parts.join(' ');
}

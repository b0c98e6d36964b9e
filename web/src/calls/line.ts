// The robot's line (call.quality) in words, for the active-call panel.

import { t, type Lang } from '../i18n';
import type { LineQuality } from './callState';

/** "Fair · 2.5% lost, jitter 41 ms · round trip 120 ms" (the round trip when known). */
export function lineText(q: LineQuality, lang?: Lang): string {
  const loss = Math.round(q.loss * 1000) / 10;
  const jitter = Math.round(q.jitter_ms);
  const parts = [t(`calls.line.${q.level}`, undefined, lang)];
  if (q.level !== 'silent') parts.push(t('calls.line.detail', { loss, jitter }, lang));
  if (q.rtt_ms !== undefined) parts.push(t('calls.line.rtt', { rtt: Math.round(q.rtt_ms) }, lang));
  return parts.join(' · ');
}

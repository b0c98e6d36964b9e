// Small pieces shared by the calls page, its active-call panel and the banner.

import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n';
import type { CallError } from './callState';

/** The time now, re-rendering every second while on (for waiting times and the call timer). */
export function useNow(on = true): number {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!on) return undefined;
    const h = window.setInterval(() => setTick((n) => n + 1), 1000);
    return () => window.clearInterval(h);
  }, [on]);
  return Date.now();
}

/** A server error code in words (the server's own text for codes we don't know). */
export function callErrorText(e: CallError): string {
  switch (e.code) {
    case 'taken':
      if (e.by) return t('calls.error.takenBy', { by: e.by });
      // A transfer offered here that its agent took back, or that ended.
      if (e.message.startsWith('transfer ')) return t('calls.error.transferWithdrawn', { reason: e.message.slice('transfer '.length) });
      return t('calls.error.taken');
    case 'no_such_call':
    case 'busy':
    case 'not_yours':
    case 'bad_sdp':
    case 'bridge_failed':
    case 'call_failed':
    case 'hold_unsupported':
    case 'not_answered':
    case 'no_such_agent':
    case 'transfer_pending':
    case 'no_transfer':
    case 'transfer_to_self':
      return t(`calls.error.${e.code}`);
    default:
      return e.message || e.code;
  }
}

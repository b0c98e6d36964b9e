// The call-out list (product §2 "outbound"): congested lanes, longest wait
// first, each with a Call button (call.dial), and the outbound call's
// progress until the robot answers (the active-call panel takes over) or not.

import { t, tEnum } from '../i18n';
import { canDial, formatDuration, waitingMs, type CallsState, type DialResult, type Lane } from './callState';
import { useDevice } from './lookups';
import type { CallService } from './service';

interface Props {
  svc: CallService;
  state: CallsState;
  now: number;
}

export function CalloutList({ svc, state, now }: Props) {
  const lanes = state.callout ?? [];
  return (
    <section class="panel calls-callout-panel" aria-label={t('calls.callout')}>
      <div class="panel-title">
        {t('calls.callout')} <span class="badge" id="calls-callout-count">{lanes.length}</span>
      </div>
      <DialStatus svc={svc} state={state} />
      {lanes.length === 0 ? (
        <p class="muted calls-queue-empty" id="calls-callout-empty">
          {state.callout === null ? t('status.loading') : t('calls.calloutEmpty')}
        </p>
      ) : (
        <ul class="calls-queue calls-callout" id="calls-callout">
          {lanes.map((l) => (
            <li key={l.device_id} class={l.on_call ? 'callout-lane on-call' : 'callout-lane'} data-device-id={l.device_id} data-on-call={l.on_call ? 'true' : 'false'}>
              <div class="call-item-main">
                <span class="callout-lane-name">
                  {l.lane || t('common.dash')}
                  {l.lane_kind ? ` · ${tEnum('apKind', l.lane_kind)}` : ''}
                </span>
                <span class="callout-device muted">{l.device_name || l.device_id}</span>
                <span class="callout-plate mono">{l.plate || t('calls.noPlate')}</span>
              </div>
              <div class="call-item-side">
                <span class="callout-wait mono" title={t('calls.waitingTitle')} data-since={l.waiting_since}>
                  {formatDuration(waitingMs({ since: l.waiting_since }, now))}
                </span>
                {l.on_call ? (
                  <span class="badge callout-on-call">{t('calls.laneOnCall')}</span>
                ) : (
                  <button type="button" class="btn btn-small btn-primary callout-call" data-device-id={l.device_id} disabled={!canDial(state, l)} onClick={() => svc.dial(l.device_id)}>
                    {t('calls.dial')}
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function DialStatus({ svc, state }: { svc: CallService; state: CallsState }) {
  const d = state.dial;
  const device = useDevice(d?.deviceId ?? state.dialResult?.deviceId ?? null);
  const name = device.data?.name || laneName(state.callout, d?.deviceId ?? state.dialResult?.deviceId ?? '');
  if (d) {
    return (
      <div class="calls-dial warning" id="calls-dial" data-state={d.state} data-device-id={d.deviceId} role="status">
        <span>{t(`calls.dialState.${d.state}`, { robot: name })}</span>
        <button type="button" class="btn btn-small" id="calls-dial-cancel" disabled={state.conn !== 'connected'} onClick={() => svc.cancelDial()}>
          {t('action.cancel')}
        </button>
      </div>
    );
  }
  const r = state.dialResult;
  if (!r) return null;
  return (
    <div class="calls-dial form-error" id="calls-dial-result" data-reason={r.reason} data-device-id={r.deviceId} role="alert">
      <span>{t('calls.dialEnded', { robot: name, reason: dialReason(r) })}</span>
      <button type="button" class="btn btn-ghost btn-small" id="calls-dial-dismiss" onClick={() => svc.socket.dispatch({ type: 'dial.result.clear' })}>
        {t('action.close')}
      </button>
    </div>
  );
}

function laneName(lanes: Lane[] | null, deviceId: string): string {
  const l = lanes?.find((x) => x.device_id === deviceId);
  return l?.device_name || deviceId;
}

/** Why an outbound call did not connect, in words. */
export function dialReason(r: DialResult): string {
  const m = /^refused (\d{3})$/.exec(r.reason);
  if (m) return t('calls.dialReason.refused', { status: m[1] ?? '' });
  switch (r.reason) {
    case 'no answer':
      return t('calls.dialReason.noAnswer');
    case 'cancelled':
      return t('calls.dialReason.cancelled');
    case 'failed':
      return t('calls.dialReason.failed');
    case 'busy':
      return t('calls.error.busy');
    case 'no_such_device':
      return t('calls.dialReason.noDevice');
    default:
      return r.message || r.reason;
  }
}

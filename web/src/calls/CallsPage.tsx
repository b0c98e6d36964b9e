import { t, tEnum } from '../i18n';
import { useSession } from '../session';
import { ActiveCallPanel } from './ActiveCall';
import { CalloutList } from './Callout';
import { formatDuration, isLive, isPresence, isTransferOffer, PRESENCES, waitingMs, type CallInfo } from './callState';
import { callErrorText, useNow } from './callUi';
import { RingBlocked, useCallService, useCallsView } from './CallsHost';
import { callerLabel, deviceLabel, laneLabel, siteLabel, useAccessPoint, useDevice, useSite } from './lookups';
import type { CallService } from './service';

/**
 * #/calls (agents, supervisors, admins): the calls ringing for the agent on
 * the left (#calls-queue), the call in progress on the right (#call-active),
 * or #calls-idle; the agent's presence in the head (#presence-select).
 */
export function CallsPage() {
  useSession(); // re-render on a language change
  const svc = useCallService();
  const view = useCallsView(svc);
  const now = useNow(!!view && (view.state.ringing.length > 0 || (view.state.callout?.length ?? 0) > 0));
  if (!svc || !view) {
    return (
      <div class="page calls-page">
        <div class="empty-state" id="calls-unavailable">
          <p>{t('calls.unavailable')}</p>
        </div>
      </div>
    );
  }
  const { state } = view;
  const connected = state.conn === 'connected';
  const busy = isLive(state.active);
  const showError = state.error && !(state.active && state.error.callId === state.active.call.id);

  return (
    <div class="page calls-page">
      <div class="page-head">
        <h1>{t('calls.title')}</h1>
        <div class="page-head-actions">
          <span class={`badge calls-conn conn-${state.conn}`} id="calls-connection" data-state={state.conn} role="status">
            {t(`calls.conn.${state.conn}`)}
          </span>
          <label class="calls-presence">
            <span>{t('presence.label')}</span>
            <select
              id="presence-select"
              value={state.presence}
              disabled={!connected}
              onChange={(e) => {
                const v = (e.target as HTMLSelectElement).value;
                if (isPresence(v)) svc.setPresence(v);
              }}
            >
              {PRESENCES.map((p) => (
                <option key={p} value={p}>
                  {tEnum('presence', p)}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            class="btn btn-ghost btn-small"
            id="ring-sound"
            aria-pressed={view.ringSound}
            title={t('calls.ringSoundTitle')}
            onClick={() => svc.setRingSound(!view.ringSound)}
          >
            {view.ringSound ? t('calls.ringSoundOn') : t('calls.ringSoundOff')}
          </button>
          <RingBlocked svc={svc} view={view} />
        </div>
      </div>

      {showError && state.error && (
        <div class="form-error calls-error" id="calls-error" role="alert">
          <span>{callErrorText(state.error)}</span>{' '}
          <button type="button" class="btn btn-ghost btn-small" id="calls-error-dismiss" onClick={() => svc.clearError()}>
            {t('action.close')}
          </button>
        </div>
      )}
      {state.presence !== 'online' && connected && (
        <p class="warning" id="calls-presence-note">
          {t('calls.notOnline', { presence: tEnum('presence', state.presence) })}
        </p>
      )}

      <div class="calls-layout">
        <aside class="calls-side">
        <section class="panel calls-queue-panel" aria-label={t('calls.queue')}>
          <div class="panel-title">
            {t('calls.queue')} <span class="badge" id="calls-queue-count">{state.ringing.length}</span>
          </div>
          {state.ringing.length === 0 ? (
            <p class="muted calls-queue-empty" id="calls-queue-empty">
              {t('calls.queueEmpty')}
            </p>
          ) : (
            <ul id="calls-queue" class="calls-queue">
              {state.ringing.map((c) => (
                <QueueItem key={c.id} call={c} now={now} svc={svc} disabled={!connected || busy || !!state.dial} connected={connected} />
              ))}
            </ul>
          )}
        </section>
        <CalloutList svc={svc} state={state} now={now} />
        </aside>
        <section class="calls-main">
          {state.active ? (
            <ActiveCallPanel key={state.active.call.id} svc={svc} view={view} />
          ) : (
            <div class="panel empty-state calls-idle" id="calls-idle">
              {state.handedOff && (
                <p class="calls-handed" id="calls-handed" data-by={state.handedOff.by} data-call-id={state.handedOff.callId} role="status">
                  <span>{state.handedOff.by ? t('calls.handedTo', { to: state.handedOff.by }) : t('calls.handedAny')}</span>{' '}
                  <button type="button" class="btn btn-ghost btn-small" id="calls-handed-dismiss" onClick={() => svc.socket.dispatch({ type: 'handed.clear' })}>
                    {t('action.close')}
                  </button>
                </p>
              )}
              <p>{t('calls.idle')}</p>
            </div>
          )}
        </section>
      </div>
    </div>
  );
}

function QueueItem({ call, now, svc, disabled, connected }: { call: CallInfo; now: number; svc: CallService; disabled: boolean; connected: boolean }) {
  const transfer = isTransferOffer(call);
  const site = useSite(call.site_id);
  const device = useDevice(call.device_id);
  const ap = useAccessPoint(device.data?.access_point_id || null);
  return (
    <li class={transfer ? 'call-item call-item-transfer' : 'call-item'} data-call-id={call.id} data-transfer={transfer ? 'true' : 'false'}>
      <div class="call-item-main">
        {transfer && <span class="call-transfer-from badge">{t('calls.transferFrom', { from: call.transfer_from || t('calls.anotherAgent') })}</span>}
        <span class="call-from">{callerLabel(call.from)}</span>
        <span class="call-site">{siteLabel(site.data, call.site_id)}</span>
        <span class="call-device muted">{deviceLabel(device.data, call.device_id)}</span>
        {ap.data && <span class="call-lane muted">{laneLabel(ap.data)}</span>}
      </div>
      <div class="call-item-side">
        <span class="call-wait mono" title={t('calls.waitingTitle')}>
          {formatDuration(waitingMs(call, now))}
        </span>
        <button type="button" class="btn btn-primary btn-small call-accept" data-call-id={call.id} disabled={disabled} onClick={() => svc.accept(call.id)}>
          {t('calls.accept')}
        </button>
        {transfer && (
          <button type="button" class="btn btn-ghost btn-small call-decline" data-call-id={call.id} disabled={!connected} onClick={() => svc.decline(call.id)}>
            {t('calls.decline')}
          </button>
        )}
      </div>
    </li>
  );
}

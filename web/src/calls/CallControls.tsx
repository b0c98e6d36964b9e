// Hold / resume and transfer for the agent's call (in the active-call panel's head),
// the transfer picker (agents.list), and the transfer's progress.

import { useEffect, useState } from 'preact/hooks';
import { Modal } from '../components/Modal';
import { t, tEnum } from '../i18n';
import { isLive, transferTargets, type ActiveCall } from './callState';
import type { CallService, CallsView } from './service';

interface Props {
  svc: CallService;
  view: CallsView;
  a: ActiveCall;
}

/** #call-hold-toggle: holds the robot (and mutes the microphone here) or resumes it. */
export function HoldButton({ svc, view, a }: Props) {
  const live = isLive(a);
  const pending = a.holdPending;
  const label = pending === 'hold' ? t('calls.holding') : pending === 'resume' ? t('calls.resuming') : a.heldByAgent ? t('calls.resume') : t('calls.holdAction');
  return (
    <button
      type="button"
      class={a.heldByAgent ? 'btn btn-primary' : 'btn'}
      id="call-hold-toggle"
      aria-pressed={a.heldByAgent ? 'true' : 'false'}
      data-pending={pending ?? ''}
      disabled={!live || a.state !== 'answered' || pending !== null || view.state.conn !== 'connected' || !!a.transfer}
      onClick={() => svc.setHold(!a.heldByAgent)}
    >
      {label}
    </button>
  );
}

/** #call-transfer: opens the picker; while a transfer rings, its state and a cancel. */
export function TransferButton({ svc, view, a }: Props) {
  const [open, setOpen] = useState(false);
  const live = isLive(a);
  return (
    <>
      <button
        type="button"
        class="btn"
        id="call-transfer"
        disabled={!live || a.state !== 'answered' || !!a.transfer || view.state.conn !== 'connected'}
        onClick={() => {
          svc.listAgents();
          setOpen(true);
        }}
      >
        {t('calls.transfer')}
      </button>
      {open && live && !a.transfer && <TransferPicker svc={svc} view={view} onClose={() => setOpen(false)} />}
    </>
  );
}

function TransferPicker({ svc, view, onClose }: { svc: CallService; view: CallsView; onClose: () => void }) {
  const agents = view.state.agents;
  const me = view.state.agent?.id;
  // The list is asked for on opening; asked again every few seconds while open, so presence stays current.
  useEffect(() => {
    const h = window.setInterval(() => svc.listAgents(), 5000);
    return () => window.clearInterval(h);
  }, [svc]);
  const targets = transferTargets(agents, me);
  const pick = (to: string, name: string) => {
    if (svc.transfer(to, name)) onClose();
  };
  return (
    <Modal id="call-transfer-dialog" title={t('calls.transferTitle')} onClose={onClose}>
      <p class="muted">{t('calls.transferHint')}</p>
      {agents === null ? (
        <p class="muted">{t('status.loading')}</p>
      ) : targets.length === 0 ? (
        <p class="muted" id="transfer-no-agents">
          {t('calls.transferNoAgents')}
        </p>
      ) : (
        <ul class="transfer-agents" id="transfer-agents">
          {targets.map((ag) => {
            const online = ag.presence === 'online';
            return (
              <li key={ag.id} class="transfer-agent" data-agent-id={ag.id} data-presence={ag.presence}>
                <span class="transfer-agent-name">{ag.username}</span>
                <span class="muted transfer-agent-seat">{ag.seat ? t('calls.seat', { seat: ag.seat }) : t('common.dash')}</span>
                <span class={`badge presence-${ag.presence}`}>{tEnum('presence', ag.presence)}</span>
                <button type="button" class="btn btn-small btn-primary transfer-pick" data-agent-id={ag.id} disabled={!online} onClick={() => pick(ag.id, ag.username)}>
                  {t('calls.transferTo')}
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <div class="form-actions">
        <button type="button" class="btn" id="transfer-refresh" onClick={() => svc.listAgents()}>
          {t('action.refresh')}
        </button>
        <button type="button" class="btn btn-primary" id="transfer-any" onClick={() => pick('', '')}>
          {t('calls.transferAny')}
        </button>
        <button type="button" class="btn btn-ghost" id="transfer-close" onClick={onClose}>
          {t('action.cancel')}
        </button>
      </div>
    </Modal>
  );
}

/** "Transferring to bob…" with cancel, or why the last transfer failed. */
export function TransferStatus({ svc, a }: { svc: CallService; a: ActiveCall }) {
  if (a.transfer) {
    const who = a.transfer.toName || t('calls.anyAgent');
    return (
      <p class="warning call-transfer-status" id="call-transfer-status" data-state={a.transfer.state} data-to={a.transfer.to} role="status">
        <span>{t('calls.transferring', { to: who })}</span>{' '}
        <button type="button" class="btn btn-small" id="call-transfer-cancel" onClick={() => svc.cancelTransfer()}>
          {t('calls.transferCancel')}
        </button>
      </p>
    );
  }
  if (a.transferFailed) {
    return (
      <p class="form-error call-transfer-failed" id="call-transfer-failed" data-reason={a.transferFailed} role="alert">
        <span>{t('calls.transferFailed', { reason: transferReason(a.transferFailed) })}</span>{' '}
        <button type="button" class="btn btn-ghost btn-small" id="call-transfer-failed-dismiss" onClick={() => svc.socket.dispatch({ type: 'transfer.failed.clear' })}>
          {t('action.close')}
        </button>
      </p>
    );
  }
  return null;
}

/** The server's reason (declined by bob, no answer, cancelled) or error code, in words. */
export function transferReason(reason: string): string {
  if (reason.startsWith('declined by ')) return t('calls.transferReason.declinedBy', { by: reason.slice('declined by '.length) });
  switch (reason) {
    case 'no answer':
      return t('calls.transferReason.noAnswer');
    case 'cancelled':
      return t('calls.transferReason.cancelled');
    case 'no_such_agent':
      return t('calls.transferReason.noAgent');
    case 'transfer_pending':
      return t('calls.transferReason.pending');
    case 'not_answered':
      return t('calls.transferReason.notAnswered');
    default:
      return reason;
  }
}

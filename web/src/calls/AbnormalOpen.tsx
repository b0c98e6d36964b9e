// Abnormal open (product §2): a reason, a remark, and at an exit lane 1–4
// ID-document and 1–4 scene snapshots as evidence on the case, then
// robot.command open_gate {abnormal: true}. The rules are in abnormal.ts.

import { useState } from 'preact/hooks';
import { evidenceContentUrl, type SnapshotRole } from '../cases';
import { t, tEnum } from '../i18n';
import type { Camera, Evidence } from '../types';
import { abnormalIdCamera, abnormalProblems, abnormalSceneCamera, canTakeSnap, countSnaps, snapCountText, snapshotRoleOf, type RobotLane } from './abnormal';
import type { ActiveCall } from './callState';
import { commandErrorText, commandResultText } from './RobotPanel';
import { ABNORMAL_REASONS, abnormalOpen, isAbnormalReason, REASON_MAX_BYTES } from './robot';
import type { CallService } from './service';

interface Props {
  svc: CallService;
  a: ActiveCall;
  enabled: boolean;
  /** The robot stands at an exit lane (null while the lane is not known yet). */
  exit: boolean | null;
  cams: Camera[] | null;
  lane: RobotLane;
  snaps: Evidence[];
  snapping: SnapshotRole | null;
  snap: (role: SnapshotRole, cam: Camera | null) => void;
}

export function AbnormalOpen({ svc, a, enabled, exit, cams, lane, snaps, snapping, snap }: Props) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [remark, setRemark] = useState('');
  const [ref, setRef] = useState<string | null>(null);

  const counts = countSnaps(snaps);
  const atExit = exit === true;
  const problems = abnormalProblems({ reason, remark }, atExit, counts);
  const idCam = cams ? abnormalIdCamera(cams, lane) : null;
  const sceneCam = cams ? abnormalSceneCamera(cams, lane) : null;
  const cmd = ref ? a.commands.find((c) => c.ref === ref) : undefined;
  const sending = cmd?.state === 'sent';

  if (!open) {
    return (
      <div class="call-abnormal">
        <button type="button" class="btn btn-danger-ghost" id="abnormal-toggle" aria-expanded="false" disabled={!enabled} onClick={() => setOpen(true)}>
          {t('calls.abnormalOpen')}…
        </button>
      </div>
    );
  }

  const submit = () => {
    if (!enabled || problems.length > 0 || sending || !isAbnormalReason(reason) || exit === null) return;
    const r = svc.command(abnormalOpen(reason), remark.trim());
    if (r) setRef(r);
  };

  const evidence = (role: SnapshotRole, cam: Camera | null) => {
    const n = counts[role];
    const idBase = role === 'id_document' ? 'abnormal-id' : 'abnormal-scene';
    return (
      <div class="abnormal-evidence-row" data-role={role}>
        <button
          type="button"
          class="btn"
          id={role === 'id_document' ? 'abnormal-snap-id' : 'abnormal-snap-scene'}
          disabled={!cam || snapping !== null || !canTakeSnap(counts, role)}
          title={cam ? cam.name : role === 'id_document' ? t('calls.noIdCamera') : t('calls.noSceneCamera')}
          onClick={() => snap(role, cam)}
        >
          {snapping === role ? t('calls.snapping') : role === 'id_document' ? t('calls.snapId') : t('calls.snapScene')}
        </button>
        <span class={n >= 1 ? 'abnormal-count ok' : 'abnormal-count'} id={`${idBase}-count`} data-count={String(n)}>
          {snapCountText(n)}
        </span>
        {!cam && cams && <span class="muted">{role === 'id_document' ? t('calls.noIdCamera') : t('calls.noSceneCamera')}</span>}
      </div>
    );
  };

  return (
    <form
      class="call-abnormal abnormal-form"
      id="abnormal-form"
      data-exit={exit === null ? '' : String(exit)}
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <div class="abnormal-head">
        <h2 class="call-section-title">{t('calls.abnormalOpen')}</h2>
        <button type="button" class="btn btn-ghost btn-small" id="abnormal-close" onClick={() => setOpen(false)}>
          {t('action.close')}
        </button>
      </div>
      <div class="form-grid">
        <label class="field">
          <span class="field-label">{t('calls.abnormalReasonLabel')}</span>
          <select id="abnormal-reason" value={reason} onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
            <option value="">{t('calls.abnormalReasonPick')}</option>
            {ABNORMAL_REASONS.map((r) => (
              <option key={r} value={r}>
                {tEnum('calls.abnormalReason', r)}
              </option>
            ))}
          </select>
        </label>
        <label class="field field-wide">
          <span class="field-label">{t('calls.abnormalRemark')}</span>
          <textarea id="abnormal-remark" rows={2} maxLength={REASON_MAX_BYTES} required value={remark} onInput={(e) => setRemark((e.target as HTMLTextAreaElement).value)} />
        </label>
      </div>
      {atExit && (
        <div class="abnormal-evidence">
          <p class="muted" id="abnormal-exit-note">
            {t('calls.abnormalExitNote')}
          </p>
          {evidence('id_document', idCam)}
          {evidence('scene', sceneCam)}
          {snaps.length > 0 && (
            <span class="call-snaps" id="abnormal-thumbs">
              {snaps.map((ev) => {
                const role = snapshotRoleOf(ev);
                return role ? (
                  <a key={ev.id} href={evidenceContentUrl(ev.id)} target="_blank" rel="noopener noreferrer">
                    <img class="call-snap-thumb abnormal-thumb" data-evidence-id={ev.id} data-role={role} src={evidenceContentUrl(ev.id)} alt={tEnum('evidenceKind', ev.kind)} />
                  </a>
                ) : null;
              })}
            </span>
          )}
        </div>
      )}
      {problems.length > 0 && (
        <p class="muted abnormal-missing" id="abnormal-missing" data-missing={problems.join(' ')}>
          {t('calls.abnormalMissing', { what: problems.map((p) => t(`calls.abnormalNeeds.${p}`)).join(t('calls.listSep')) })}
        </p>
      )}
      <div class="form-actions">
        <button type="submit" class="btn btn-danger" id="abnormal-submit" disabled={!enabled || problems.length > 0 || sending || exit === null}>
          {sending ? t('calls.abnormalSending') : t('calls.abnormalSubmit')}
        </button>
      </div>
      {cmd && cmd.state === 'failed' && (
        <p class="form-error" id="abnormal-error" data-code={cmd.code ?? ''} role="alert">
          {cmd.code === 'evidence_required' ? t('calls.abnormalEvidenceRequired', { error: cmd.message ?? '' }) : commandErrorText(cmd.code ?? '', cmd.message ?? '') || commandResultText(cmd)}
        </p>
      )}
      {cmd && cmd.state !== 'failed' && (
        <p class={cmd.state === 'ok' ? 'abnormal-result ok' : 'abnormal-result muted'} id="abnormal-result" data-state={cmd.state} data-status={cmd.status === null ? '' : String(cmd.status)} role="status">
          {cmd.state === 'ok' ? t('calls.abnormalDone') : commandResultText(cmd)}
        </p>
      )}
    </form>
  );
}

import { useEffect, useState } from 'preact/hooks';
import { listAll, ApiError } from '../api';
import { CameraTile } from '../cameras/CameraTile';
import { evidenceContentUrl, takeSnapshot, type SnapshotRole } from '../cases';
import { errorText } from '../errors';
import { t, tEnum } from '../i18n';
import type { Camera, Evidence } from '../types';
import { AbnormalOpen } from './AbnormalOpen';
import { canTakeSnap, countSnaps, type RobotLane } from './abnormal';
import { HoldButton, TransferButton, TransferStatus } from './CallControls';
import { callElapsedMs, formatDuration, isLive, pickIdCamera, pickLiveCamera, pickSceneCamera, type AudioStats } from './callState';
import { callErrorText, useNow } from './callUi';
import { DisplayMirror } from './DisplayMirror';
import { lineText } from './line';
import { callerLabel, deviceLabel, laneLabel, siteLabel, useAccessPoint, useDevice, useSite } from './lookups';
import { PlateLookup } from './PlateLookup';
import { readRobotState } from './robot';
import { RobotPanel } from './RobotPanel';
import type { CallService, CallsView } from './service';

/** How often the site's cameras are fetched again (states, viewers). */
const CAMERAS_REFRESH_MS = 5000;

/** The server keeps remarks up to this length. */
const REMARK_MAX = 2000;

const END_REASONS = ['missed', 'cancelled', 'remote-bye', 'local-bye', 'rtp-timeout', 'lost'];

function endReason(reason: string | null): string {
  if (!reason) return t('calls.state.ended');
  return END_REASONS.includes(reason) ? tEnum('calls.reason', reason) : t('calls.reason.other', { reason });
}

/** The level as an attribute: up to 4 decimals, "" when unknown. */
function levelAttr(v: number | null): string {
  return v === null ? '' : String(Math.round(v * 10000) / 10000);
}

interface PanelProps {
  svc: CallService;
  view: CallsView;
}

/**
 * The agent's call (#call-active): overview (caller, device, site, lane), the
 * site's environment camera live, keys and hold from the robot, timer, hang
 * up, scene and ID snapshots as evidence, remark and close ticket.
 */
export function ActiveCallPanel({ svc, view }: PanelProps) {
  const a = view.state.active;
  const phone = view.phone;
  const call = a?.call;
  const live = isLive(a);
  const now = useNow(live);
  const site = useSite(call?.site_id);
  const device = useDevice(call?.device_id);
  const ap = useAccessPoint(device.data?.access_point_id || null);

  const [cams, setCams] = useState<Camera[] | null>(null);
  const [camsError, setCamsError] = useState<unknown>(null);
  const [enlarged, setEnlarged] = useState(false);
  const [stats, setStats] = useState<AudioStats>({ packetsReceived: 0, packetsSent: 0, audioLevel: null });
  const [snaps, setSnaps] = useState<Evidence[]>([]);
  const [snapping, setSnapping] = useState<SnapshotRole | null>(null);
  const [snapError, setSnapError] = useState<unknown>(null);
  const [remark, setRemark] = useState('');
  const [closing, setClosing] = useState(false);
  const [closeError, setCloseError] = useState<string | null>(null);
  const [plate, setPlate] = useState('');

  const siteId = call?.site_id ?? '';
  useEffect(() => {
    setCams(null);
    setCamsError(null);
    if (!siteId) return undefined;
    // Fetched again every few seconds for the cameras' states; the video keeps playing through it.
    let ctl: AbortController | null = null;
    const load = () => {
      ctl?.abort();
      const c = new AbortController();
      ctl = c;
      listAll<Camera>('cameras', { site_id: siteId }, 20, c.signal)
        .then((items) => {
          setCams(items);
          setCamsError(null);
        })
        .catch((err: unknown) => {
          if (!c.signal.aborted) setCamsError(err);
        });
    };
    load();
    const h = window.setInterval(load, CAMERAS_REFRESH_MS);
    return () => {
      window.clearInterval(h);
      ctl?.abort();
    };
  }, [siteId]);

  // Audio packets in and out, and the caller's level, every second (for the tests and the level meter).
  const owned = phone.callId !== null && phone.callId === call?.id;
  useEffect(() => {
    if (!owned) return undefined;
    let on = true;
    const h = window.setInterval(() => {
      void svc.phone.stats().then((s) => on && setStats(s));
    }, 1000);
    return () => {
      on = false;
      window.clearInterval(h);
    };
  }, [owned]);

  if (!a || !call) return null;

  const liveCam = cams ? pickLiveCamera(cams) : null;
  const sceneCam = cams ? pickSceneCamera(cams) : null;
  const idCam = cams ? pickIdCamera(cams) : null;
  const connected = view.state.conn === 'connected';
  const panelError = view.state.error && view.state.error.callId === call.id ? view.state.error : null;

  const counts = countSnaps(snaps);
  const snap = async (role: SnapshotRole, cam: Camera | null) => {
    if (!cam || snapping || !canTakeSnap(counts, role)) return;
    setSnapping(role);
    setSnapError(null);
    try {
      const ev = await takeSnapshot(call.case_id, cam.id, role);
      setSnaps((cur) => [...cur, ev]);
    } catch (err) {
      setSnapError(err);
    } finally {
      setSnapping(null);
    }
  };
  const robotLane: RobotLane = { deviceId: call.device_id, accessPointId: device.data?.access_point_id ?? '' };
  // An exit lane needs evidence for an abnormal open; while the lane is unknown the form waits, and
  // when it can't be looked up the evidence is asked for (the server checks it anyway).
  const exit: boolean | null =
    device.error !== null || ap.error !== null
      ? true
      : device.data
        ? device.data.access_point_id
          ? ap.data
            ? ap.data.kind === 'exit'
            : null
          : false
        : null;
  const robot = readRobotState(a.robotState);
  const commandsOk = live && connected && a.state === 'answered';

  const close = async () => {
    if (closing) return;
    setClosing(true);
    setCloseError(null);
    try {
      await svc.closeTicket(remark.trim());
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
        setCloseError(t('calls.closeUnavailable', { error: errorText(err) }));
      } else {
        setCloseError(errorText(err));
      }
      setClosing(false);
    }
  };

  const lane = ap.data ? laneLabel(ap.data) : '';
  const stateText = a.state === 'ended' ? endReason(a.reason) : t(`calls.state.${a.state}`);
  const elsewhere = live && !owned && a.offered;

  return (
    <section
      class={`panel call-active call-${a.state}`}
      id="call-active"
      data-call-id={call.id}
      data-case-id={call.case_id}
      data-state={a.state}
      data-packets-received={String(stats.packetsReceived)}
      data-packets-sent={String(stats.packetsSent)}
      data-audio-level={levelAttr(stats.audioLevel)}
      data-mic-muted={owned && phone.muted ? 'true' : 'false'}
      data-outbound={a.outbound ? 'true' : 'false'}
      aria-label={t('calls.overview')}
    >
      <div class="call-head">
        <span class={`badge call-state state-${a.state}`} id="call-state">
          {stateText}
        </span>
        <span class="call-timer mono" id="call-timer" title={t('calls.timer')}>
          {formatDuration(callElapsedMs(a, now))}
        </span>
        <span
          class={a.hold ? 'badge call-hold on-hold' : 'call-hold'}
          id="call-hold"
          data-hold={a.hold ? 'true' : 'false'}
          data-held-by={[a.heldByAgent ? 'agent' : '', a.heldByRobot ? 'robot' : ''].filter(Boolean).join(' ')}
        >
          {a.heldByAgent && a.heldByRobot ? t('calls.holdBoth') : a.heldByAgent ? t('calls.holdByAgent') : a.heldByRobot ? t('calls.holdByRobot') : ''}
        </span>
        {a.outbound && (
          <span class="badge call-outbound" id="call-outbound">
            {t('calls.outbound')}
          </span>
        )}
        {live && owned && (
          <span class="call-level" title={t('calls.level')} aria-hidden="true">
            <span class="call-level-bar" style={{ width: `${Math.round(Math.min(1, (stats.audioLevel ?? 0) * 3) * 100)}%` }} />
          </span>
        )}
        <span class="call-head-spacer" />
        <HoldButton svc={svc} view={view} a={a} />
        <TransferButton svc={svc} view={view} a={a} />
        <button type="button" class="btn btn-danger" id="call-hangup" disabled={!live || !connected} onClick={() => svc.hangup()}>
          {t('calls.hangup')}
        </button>
      </div>

      {owned && phone.mic === 'failed' && (
        <p class="warning" id="call-mic-warning" role="alert">
          {t('calls.micFailed', { error: phone.micError ?? '' })}
        </p>
      )}
      {owned && view.audioBlocked && (
        <p class="warning">
          <button type="button" class="btn btn-small" id="call-audio-blocked" onClick={() => svc.unblockAudio()}>
            {t('calls.audioBlocked')}
          </button>
        </p>
      )}
      {elsewhere && (
        <p class="warning" id="call-elsewhere">
          {t('calls.elsewhere')}{' '}
          <button type="button" class="btn btn-small" id="call-take-here" disabled={!connected} onClick={() => svc.takeHere(call.id)}>
            {t('calls.takeHere')}
          </button>
        </p>
      )}
      {owned && phone.error && (
        <p class="form-error" id="call-phone-error" role="alert">
          {t('calls.answerFailed', { error: phone.error })}
        </p>
      )}
      {panelError && (
        <p class="form-error" id="call-error" data-code={panelError.code} role="alert">
          {callErrorText(panelError)}
        </p>
      )}
      {owned && phone.muted && (
        <p class="warning" id="call-mic-muted">
          {t('calls.micMuted')}
        </p>
      )}
      <TransferStatus svc={svc} a={a} />

      <div class="call-body">
        <div class="call-overview">
          <h2 class="call-section-title">{t('calls.overview')}</h2>
          <dl class="call-facts">
            <dt>{t('calls.from')}</dt>
            <dd id="call-from">{callerLabel(call.from)}</dd>
            <dt>{t('calls.device')}</dt>
            <dd id="call-device">{deviceLabel(device.data, call.device_id)}</dd>
            <dt>{t('common.site')}</dt>
            <dd id="call-site">{siteLabel(site.data, call.site_id)}</dd>
            <dt>{t('calls.lane')}</dt>
            <dd id="call-lane">{lane || t('common.dash')}</dd>
            {call.transfer_from && (
              <>
                <dt>{t('calls.transferredFrom')}</dt>
                <dd id="call-transfer-from">{call.transfer_from}</dd>
              </>
            )}
            <dt>{t('calls.codec')}</dt>
            <dd id="call-codec" class="mono">
              {call.codec ? call.codec.toUpperCase() : t('common.dash')}
            </dd>
            <dt>{t('calls.dtmf')}</dt>
            <dd id="call-dtmf" class="mono" data-digits={a.dtmf}>
              {a.dtmf || t('common.dash')}
            </dd>
            <dt>{t('calls.line')}</dt>
            <dd id="call-line" class={a.line ? `call-line line-${a.line.level}` : 'call-line'} data-level={a.line?.level ?? ''}>
              {a.line && a.state !== 'ended' ? lineText(a.line) : t('common.dash')}
            </dd>
          </dl>
          {site.data?.emergency_contact && (
            <p class="muted call-contact">{t('calls.emergencyContact', { contact: site.data.emergency_contact })}</p>
          )}
        </div>

        <div class="call-scene" id="call-camera">
          <h2 class="call-section-title">{t('calls.scene')}</h2>
          {camsError !== null && (
            <p class="form-error" id="call-camera-error">
              {errorText(camsError)}
            </p>
          )}
          {cams === null && camsError === null && <p class="muted">{t('status.loading')}</p>}
          {cams && !liveCam && (
            <p class="muted" id="call-no-camera">
              {t('calls.noCamera')}
            </p>
          )}
          {liveCam && (
            <div class={enlarged ? 'call-camera-tile enlarged' : 'call-camera-tile'}>
              <CameraTile
                camera={liveCam}
                enlarged={enlarged}
                onToggleEnlarge={() => setEnlarged((e) => !e)}
                onSnapshot={() => void snap(liveCam.role === 'id_document' ? 'id_document' : 'scene', liveCam)}
              />
            </div>
          )}
        </div>
      </div>

      <div class="call-work">
        <DisplayMirror state={a.robotState} />
        <PlateLookup caseId={call.case_id} robotPlate={robot.plate} plate={plate} onPlate={setPlate} />
      </div>
      <div class="call-work call-work-even">
        <RobotPanel svc={svc} a={a} enabled={commandsOk} plate={plate} />
        <AbnormalOpen
          svc={svc}
          a={a}
          enabled={commandsOk}
          exit={exit}
          cams={cams}
          lane={robotLane}
          snaps={snaps}
          snapping={snapping}
          snap={(role, cam) => void snap(role, cam)}
        />
      </div>

      <div class="call-evidence">
        <button type="button" class="btn" id="call-snap-scene" disabled={!sceneCam || snapping !== null || !canTakeSnap(counts, 'scene')} title={sceneCam?.name} onClick={() => void snap('scene', sceneCam)}>
          {snapping === 'scene' ? t('calls.snapping') : t('calls.snapScene')}
        </button>
        <button type="button" class="btn" id="call-snap-id" disabled={!idCam || snapping !== null || !canTakeSnap(counts, 'id_document')} title={idCam ? idCam.name : t('calls.noIdCamera')} onClick={() => void snap('id_document', idCam)}>
          {snapping === 'id_document' ? t('calls.snapping') : t('calls.snapId')}
        </button>
        <span class="muted" id="call-snap-count" data-count={String(snaps.length)}>
          {t('calls.snapCount', { n: snaps.length })}
        </span>
        {snaps.length > 0 && (
          <span class="call-snaps" id="call-snaps">
            {snaps.map((ev) => (
              <a key={ev.id} href={evidenceContentUrl(ev.id)} target="_blank" rel="noopener noreferrer" title={tEnum('evidenceKind', ev.kind)}>
                <img class="call-snap-thumb" data-evidence-id={ev.id} data-kind={ev.kind} src={evidenceContentUrl(ev.id)} alt={tEnum('evidenceKind', ev.kind)} />
              </a>
            ))}
          </span>
        )}
      </div>
      {snapError !== null && (
        <p class="form-error" id="call-snap-error" data-status={snapError instanceof ApiError ? String(snapError.status) : ''} role="alert">
          {snapError instanceof ApiError && snapError.status === 409 ? t('calls.snapLimit', { error: errorText(snapError) }) : errorText(snapError)}
        </p>
      )}

      <div class="call-close-row">
        <label class="field call-remark-field">
          <span class="field-label">{t('calls.remark')}</span>
          <textarea id="call-remark" rows={2} maxLength={REMARK_MAX} value={remark} onInput={(e) => setRemark((e.target as HTMLTextAreaElement).value)} />
        </label>
        <button type="button" class="btn btn-primary" id="call-close" disabled={closing} onClick={() => void close()}>
          {closing ? t('calls.closing') : live ? t('calls.hangupAndClose') : t('calls.close')}
        </button>
      </div>
      {closeError && (
        <p class="form-error" id="call-close-error" role="alert">
          {closeError}
        </p>
      )}
    </section>
  );
}

import { useEffect, useState } from 'preact/hooks';
import { listAll } from '../api';
import { caseExportUrl, evidenceContentUrl, evidenceLink, getCase, hasRef, setHold, verifyCase } from '../cases';
import { errorText } from '../errors';
import { t, tEnum } from '../i18n';
import { navigate } from '../router';
import { useSession } from '../session';
import { formatDateTimeSec, formatSpan } from '../time';
import type { Camera, Case, CaseWithEvidence, Evidence, EvidenceLink, VerifyReport } from '../types';
import { cameraLabel, reviewPath } from '../review/reviewInfo';
import { absoluteUrl, canHold, evidencePath, formatBytes, formatProblem, playerKind, safeHref, shortHash } from './evidenceInfo';
import { historyAction, historyDetail, type HistoryEntry } from './history';

interface CaseDetailProps {
  caseId: string;
  siteName: (id: string) => string;
  handlerName: (id: string | null | undefined) => string;
  onChanged: (c: Case) => void;
}

/**
 * One case for compliance (#evidence-case-detail): what it is, its evidence
 * with players, downloads and share links, and the case actions verify
 * (#evidence-verify), export (#evidence-export) and legal hold (#evidence-hold).
 */
export function CaseDetail({ caseId, siteName, handlerName, onChanged }: CaseDetailProps) {
  const { user, lang } = useSession();
  const [item, setItem] = useState<CaseWithEvidence | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [cameras, setCameras] = useState<Camera[]>([]);
  const [verifying, setVerifying] = useState(false);
  const [report, setReport] = useState<VerifyReport | null>(null);
  const [holdReason, setHoldReason] = useState('');
  const [holding, setHolding] = useState(false);
  const [historyTick, setHistoryTick] = useState(0); // the page's own actions are audited: show them

  useEffect(() => {
    const ctl = new AbortController();
    getCase(caseId, ctl.signal)
      .then((c) => {
        if (!ctl.signal.aborted) setItem({ ...c, evidence: c.evidence ?? [] });
      })
      .catch((err) => {
        if (!ctl.signal.aborted) setLoadError(err);
      });
    return () => ctl.abort();
  }, [caseId]);

  const siteId = item?.site_id ?? '';
  useEffect(() => {
    if (!siteId) return undefined;
    const ctl = new AbortController();
    listAll<Camera>('cameras', { site_id: siteId }, 20, ctl.signal)
      .then(setCameras)
      .catch(() => undefined); // camera ids are shown instead
    return () => ctl.abort();
  }, [siteId]);

  const verify = async () => {
    setVerifying(true);
    setActionError(null);
    setReport(null);
    try {
      setReport(await verifyCase(caseId));
    } catch (err) {
      setActionError(err);
    } finally {
      setVerifying(false);
      setHistoryTick((n) => n + 1);
    }
  };

  const toggleHold = async () => {
    if (!item) return;
    const hold = !item.legal_hold;
    setHolding(true);
    setActionError(null);
    try {
      const res = await setHold(caseId, hold, holdReason.trim());
      const updated: Case = res ?? { ...item, legal_hold: hold };
      setItem((cur) => (cur ? { ...cur, ...updated, evidence: cur.evidence } : cur));
      setHoldReason('');
      onChanged(updated);
    } catch (err) {
      setActionError(err);
    } finally {
      setHolding(false);
      setHistoryTick((n) => n + 1);
    }
  };

  const evidence = item?.evidence ?? [];

  return (
    <section id="evidence-case-detail" class="panel evidence-detail" data-case-id={caseId} aria-busy={item === null && !loadError}>
      <div class="evidence-detail-head">
        <h2>{t('evidence.caseTitle', { id: caseId })}</h2>
        {item && (
          <>
            <span class="badge">{item.kind === 'event' && item.event_kind ? tEnum('eventKind', item.event_kind) : tEnum('caseKind', item.kind)}</span>
            <span class="badge">{tEnum('caseStatus', item.status)}</span>
            <span class={`badge disp disp-${item.disposition || 'none'}`}>{tEnum('disposition', item.disposition || 'none')}</span>
            <span class={item.legal_hold ? 'badge badge-hold' : 'badge badge-off'} id="evidence-hold-state" data-hold={String(item.legal_hold)}>
              {item.legal_hold ? t('evidence.held') : t('evidence.notHeld')}
            </span>
          </>
        )}
        <span class="evidence-detail-spacer" />
        <button type="button" class="btn btn-ghost btn-icon" id="evidence-close" aria-label={t('action.close')} title={t('action.close')} onClick={() => navigate(evidencePath(null))}>
          ×
        </button>
      </div>

      {loadError !== null && (
        <p class="form-error" id="evidence-detail-error" role="alert">
          {errorText(loadError)}
        </p>
      )}
      {item === null && loadError === null && <p class="muted">{t('evidence.caseLoading')}</p>}

      {item && (
        <>
          <dl class="evidence-facts">
            <Fact label={t('common.site')} value={siteName(item.site_id)} />
            <Fact label={t('evidence.col.started')} value={formatDateTimeSec(item.started_at, lang)} />
            {item.ended_at && <Fact label={t('evidence.ended')} value={formatDateTimeSec(item.ended_at, lang)} />}
            {item.attribute && <Fact label={t('evidence.attribute')} value={item.attribute} />}
            {hasRef(item.device_id) && <Fact label={t('common.device')} value={item.device_id} mono />}
            {hasRef(item.handler_id) && (
              <Fact label={t('evidence.col.handler')} value={`${handlerName(item.handler_id)} · ${formatDateTimeSec(item.disposed_at, lang)}`} />
            )}
            {item.disposition === 'abnormal' && item.abnormal_type && <Fact label={t('review.abnormalType')} value={tEnum('abnormalType', item.abnormal_type)} />}
            {item.remark && <Fact label={t('evidence.remark')} value={item.remark} />}
            <Fact label={t('evidence.count')} value={String(item.evidence_count ?? evidence.length)} />
            {item.evidence_head && <Fact label={t('evidence.chainHead')} value={shortHash(item.evidence_head, 16)} title={item.evidence_head} mono />}
          </dl>

          <div class="evidence-actions">
            <button type="button" class="btn" id="evidence-verify" disabled={verifying} onClick={() => void verify()}>
              {verifying ? t('evidence.verifying') : t('evidence.verify')}
            </button>
            <a class="btn" id="evidence-export" href={caseExportUrl(caseId)} download>
              {t('evidence.export')}
            </a>
            {item.kind === 'event' && (
              <a class="btn" id="evidence-open-review" href={`#${reviewPath(item.site_id, item.id)}`}>
                {t('evidence.openInReview')}
              </a>
            )}
            {canHold(user?.role) && (
              <span class="evidence-hold-row">
                <input
                  id="evidence-hold-reason"
                  type="text"
                  value={holdReason}
                  placeholder={t('evidence.holdReason')}
                  aria-label={t('evidence.holdReason')}
                  onInput={(e) => setHoldReason(e.currentTarget.value)}
                />
                <button
                  type="button"
                  class={item.legal_hold ? 'btn' : 'btn btn-primary'}
                  id="evidence-hold"
                  aria-pressed={item.legal_hold}
                  disabled={holding}
                  onClick={() => void toggleHold()}
                >
                  {item.legal_hold ? t('evidence.release') : t('evidence.hold')}
                </button>
              </span>
            )}
          </div>

          {actionError !== null && (
            <p class="form-error" id="evidence-action-error" role="alert">
              {errorText(actionError)}
            </p>
          )}
          {report && <VerifyResult report={report} />}

          <h3 class="review-section-title">{t('evidence.items', { n: evidence.length })}</h3>
          {evidence.length === 0 ? (
            <p class="muted" id="evidence-no-items">
              {t('evidence.noItems')}
            </p>
          ) : (
            <ul class="evidence-items">
              {evidence.map((e) => (
                <EvidenceItem key={e.id} e={e} cameras={cameras} />
              ))}
            </ul>
          )}

          <CaseHistory caseId={caseId} refresh={historyTick} />
        </>
      )}
    </section>
  );
}

/**
 * #evidence-history: what was done on the case and who saw its evidence,
 * oldest first. Reloaded after this page's own actions (refresh).
 */
function CaseHistory({ caseId, refresh }: { caseId: string; refresh: number }) {
  const { lang } = useSession();
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const ctl = new AbortController();
    listAll<HistoryEntry>(`cases/${encodeURIComponent(caseId)}/history`, {}, 20, ctl.signal)
      .then((items) => {
        if (!ctl.signal.aborted) {
          setEntries(items);
          setError(null);
        }
      })
      .catch((err) => {
        if (!ctl.signal.aborted) setError(err);
      });
    return () => ctl.abort();
  }, [caseId, refresh]);

  return (
    <div id="evidence-history" class="evidence-history" aria-busy={entries === null && error === null}>
      <h3 class="review-section-title">{t('evidence.history')}</h3>
      {error !== null && (
        <p class="form-error" id="evidence-history-error" role="alert">
          {errorText(error)}
        </p>
      )}
      {entries === null && error === null && <p class="muted">{t('evidence.historyLoading')}</p>}
      {entries !== null && entries.length === 0 && <p class="muted">{t('evidence.historyEmpty')}</p>}
      {entries !== null && entries.length > 0 && (
        <div class="table-wrap compact">
          <table class="data-table history-table">
            <thead>
              <tr>
                <th>{t('evidence.historyCol.time')}</th>
                <th>{t('evidence.historyCol.actor')}</th>
                <th>{t('evidence.historyCol.action')}</th>
                <th>{t('evidence.historyCol.detail')}</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.seq} class="history-entry" data-action={e.action} data-seq={String(e.seq)} title={e.hash}>
                  <td class="history-time">{formatDateTimeSec(e.at, lang)}</td>
                  <td>{e.actor_id ? e.actor_name : t('evidence.historySystem', { name: e.actor_name || '?' })}</td>
                  <td>{historyAction(e.action)}</td>
                  <td class="mono history-detail">{historyDetail(e.detail)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Fact({ label, value, title, mono }: { label: string; value: string; title?: string; mono?: boolean }) {
  return (
    <div class="evidence-fact">
      <dt>{label}</dt>
      <dd class={mono ? 'mono' : undefined} title={title}>
        {value || t('common.dash')}
      </dd>
    </div>
  );
}

/** #evidence-verify-result: OK, or each problem the server found. */
function VerifyResult({ report }: { report: VerifyReport }) {
  const problems = report.problems ?? [];
  return (
    <div id="evidence-verify-result" class={report.ok ? 'verify-result verify-ok' : 'verify-result verify-bad'} data-ok={String(report.ok)} role="status">
      {report.ok ? (
        <p>{t('evidence.verifyOk', { checked: report.checked ?? 0, bytes: formatBytes(report.bytes ?? 0) })}</p>
      ) : (
        <>
          <p>{t('evidence.verifyFailed', { n: problems.length })}</p>
          <ul>
            {problems.map((p, i) => (
              <li key={i} class="evidence-problem" data-evidence-id={p.evidence_id || undefined} data-seq={p.seq ? String(p.seq) : undefined}>
                {formatProblem(p)}
              </li>
            ))}
          </ul>
        </>
      )}
      {report.purged > 0 && <p class="muted">{t('evidence.verifyPurged', { n: report.purged })}</p>}
    </div>
  );
}

/** One evidence object: facts, an inline player, download and share link. */
function EvidenceItem({ e, cameras }: { e: Evidence; cameras: Camera[] }) {
  const { lang } = useSession();
  const [link, setLink] = useState<EvidenceLink | null>(null);
  const [linking, setLinking] = useState(false);
  const [linkError, setLinkError] = useState<unknown>(null);
  const url = evidenceContentUrl(e.id);
  const kind = playerKind(e.media_type);
  const purged = !!e.purged_at;

  const share = async () => {
    setLinking(true);
    setLinkError(null);
    try {
      setLink(await evidenceLink(e.id));
    } catch (err) {
      setLinkError(err);
    } finally {
      setLinking(false);
    }
  };

  let player = null;
  if (purged) {
    player = <div class="evidence-purged">{t('evidence.purged', { time: formatDateTimeSec(e.purged_at, lang) })}</div>;
  } else if (kind === 'video') {
    // preload="none": nothing is fetched (and audited as played) until someone presses play.
    player = <video class="evidence-player" src={url} controls preload="none" playsInline />;
  } else if (kind === 'audio') {
    player = <audio class="evidence-player" src={url} controls preload="none" />;
  } else if (kind === 'image') {
    player = (
      <a href={url} target="_blank" rel="noopener">
        <img class="evidence-player" src={url} alt={tEnum('evidenceKind', e.kind)} loading="lazy" />
      </a>
    );
  } else {
    player = <div class="evidence-no-preview muted">{t('evidence.noPreview', { type: e.media_type || t('common.dash') })}</div>;
  }

  const shareUrl = link ? absoluteUrl(link.url, window.location.origin) : '';
  const href = safeHref(shareUrl);

  return (
    <li class="evidence-item" data-evidence-id={e.id} data-kind={e.kind} data-media-type={e.media_type} data-purged={purged ? 'true' : undefined}>
      <div class="evidence-item-player">{player}</div>
      <div class="evidence-item-info">
        <div class="evidence-item-head">
          <span class="badge">#{e.seq}</span>
          <strong class="evidence-kind">{tEnum('evidenceKind', e.kind)}</strong>
          {hasRef(e.camera_id) && <span class="muted evidence-camera">{cameraLabel(cameras, e.camera_id)}</span>}
        </div>
        <dl class="evidence-item-facts">
          <div>
            <dt>{t('evidence.span')}</dt>
            <dd class="evidence-span">{formatSpan(e.start, e.end, lang)}</dd>
          </div>
          <div>
            <dt>{t('evidence.size')}</dt>
            <dd class="evidence-size" title={`${e.size}`}>
              {formatBytes(e.size)}
            </dd>
          </div>
          <div>
            <dt>{t('evidence.sha256')}</dt>
            <dd class="evidence-sha256 mono" title={e.sha256}>
              {shortHash(e.sha256)}
            </dd>
          </div>
        </dl>
        {!purged && (
          <div class="evidence-item-actions">
            <a class="btn btn-small evidence-download" href={evidenceContentUrl(e.id, true)} download>
              {t('evidence.download')}
            </a>
            <button type="button" class="btn btn-small evidence-link" disabled={linking} onClick={() => void share()}>
              {linking ? t('evidence.linkCreating') : t('evidence.link')}
            </button>
          </div>
        )}
        {link && (
          <div class="evidence-link-url" data-expires-at={link.expires_at}>
            {href ? (
              <a href={href} target="_blank" rel="noopener noreferrer" class="mono">
                {shareUrl}
              </a>
            ) : (
              <span class="mono">{shareUrl}</span>
            )}
            <span class="muted"> {t('evidence.linkExpires', { time: formatDateTimeSec(link.expires_at, lang) })}</span>
          </div>
        )}
        {linkError !== null && (
          <p class="form-error evidence-link-error" role="alert">
            {errorText(linkError)}
          </p>
        )}
      </div>
    </li>
  );
}

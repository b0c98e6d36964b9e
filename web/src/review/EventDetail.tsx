import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { evidenceContentUrl, getCase, setDisposition } from '../cases';
import { errorText } from '../errors';
import { t, tEnum } from '../i18n';
import { useSession } from '../session';
import { formatDateTimeSec } from '../time';
import type { Camera, Case, CaseWithEvidence, Evidence } from '../types';
import { REMARK_MAX, cameraLabel, dispositionBody, dispositionProblem, formFor, groupEvidence, type DispositionForm } from './reviewInfo';
import { SyncPlayer } from './SyncPlayer';

/** What the page shows in #review-disposed after a disposition was saved. */
export interface DisposedNote {
  /** The case now open when the note was made (the next pending one, or the disposed one itself). */
  shownFor: string;
  /** The disposed case as the server answered. */
  disposed: Case;
  /** The page moved on to the next pending event ("moved") or found none ("last"). */
  then: 'moved' | 'last' | 'stay';
}

interface EventDetailProps {
  caseId: string;
  cameras: Camera[];
  abnormalTypes: string[];
  handlerName: (id: string | null | undefined) => string;
  note: DisposedNote | null;
  /** Reviewers, supervisors and admins may open the case in the compliance page. */
  canOpenEvidence: boolean;
  onDisposed: (c: Case) => void;
}

/** Order of clips in the grid: the camera order of the live page (channels by number), then chain order. */
function sortClips(clips: Evidence[], cameras: Camera[]): Evidence[] {
  const rank = (e: Evidence) => {
    const cam = cameras.find((c) => c.id === e.camera_id);
    if (!cam) return 1e6;
    return cam.role === 'channel' ? cam.channel : 1000 + cameras.indexOf(cam);
  };
  return [...clips].sort((a, b) => rank(a) - rank(b) || a.seq - b.seq);
}

/**
 * One event (#review-event): its clips in the synchronised player, its
 * snapshots, and the disposition form. The element carries data-case-id,
 * data-ready-count and data-max-skew.
 */
export function EventDetail({ caseId, cameras, abnormalTypes, handlerName, note, canOpenEvidence, onDisposed }: EventDetailProps) {
  const { lang } = useSession();
  const host = useRef<HTMLElement>(null);
  const [item, setItem] = useState<CaseWithEvidence | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [version, setVersion] = useState(0);

  useLayoutEffect(() => {
    const el = host.current;
    if (!el) return;
    el.setAttribute('data-ready-count', '0');
    el.setAttribute('data-max-skew', '0.000');
    // Opened below the fold (a long list above it): bring the player into view.
    const top = el.getBoundingClientRect().top;
    if (top > window.innerHeight * 0.5 && typeof el.scrollIntoView === 'function') el.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }, []);

  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    getCase(caseId, ctl.signal)
      .then((c) => {
        if (!ctl.signal.aborted) setItem({ ...c, evidence: c.evidence ?? [] });
      })
      .catch((err) => {
        if (!ctl.signal.aborted) setError(err);
      });
    return () => ctl.abort();
  }, [caseId, version]);

  const groups = groupEvidence(item?.evidence ?? []);
  const clips = sortClips(groups.videos, cameras);
  const shown = note && note.shownFor === caseId ? note.disposed : item && item.disposition ? item : null;

  return (
    <section id="review-event" class="review-detail panel" data-case-id={caseId} ref={host} aria-busy={item === null && !error}>
      <div class="review-detail-head">
        <h2>{item ? tEnum('eventKind', item.event_kind) || tEnum('caseKind', item.kind) : t('review.eventLoading')}</h2>
        {item && <span class="muted">{formatDateTimeSec(item.started_at, lang)}</span>}
        {item?.attribute && <span class="badge">{item.attribute}</span>}
        {item && (
          <span class={`badge disp disp-${item.disposition || 'none'}`} id="review-event-disposition">
            {tEnum('disposition', item.disposition || 'none')}
          </span>
        )}
        <span class="review-detail-actions">
          {canOpenEvidence && (
            <a class="btn btn-small" id="review-open-evidence" href={`#/evidence/${encodeURIComponent(caseId)}`}>
              {t('review.openInEvidence')}
            </a>
          )}
          <button type="button" class="btn btn-small" id="review-event-refresh" onClick={() => setVersion((v) => v + 1)}>
            {t('action.refresh')}
          </button>
        </span>
      </div>

      {error !== null && (
        <p class="form-error" id="review-event-error" role="alert">
          {errorText(error)}
        </p>
      )}

      {item && (
        <>
          <h3 class="review-section-title">{t('review.videos', { n: clips.length })}</h3>
          {clips.length > 0 ? (
            <SyncPlayer key={clips.map((c) => c.id).join(',')} clips={clips} label={(e) => cameraLabel(cameras, e.camera_id)} host={host} />
          ) : (
            <p class="muted review-no-videos" id="review-no-videos">
              {t('review.noVideos')}
            </p>
          )}
          {groups.purged.length > 0 && (
            <p class="muted review-purged" id="review-purged">
              {t('review.purged', { n: groups.purged.length })}
            </p>
          )}

          {groups.images.length > 0 && (
            <>
              <h3 class="review-section-title">{t('review.snapshots', { n: groups.images.length })}</h3>
              <div class="review-snapshots" id="review-snapshots">
                {groups.images.map((e) => {
                  const url = evidenceContentUrl(e.id);
                  const name = cameraLabel(cameras, e.camera_id);
                  return (
                    <a class="review-snapshot" key={e.id} data-evidence-id={e.id} href={url} target="_blank" rel="noopener" title={name}>
                      <img src={url} alt={name} loading="lazy" />
                      <span class="review-snapshot-caption">
                        {tEnum('evidenceKind', e.kind)} · {formatDateTimeSec(e.start, lang)}
                      </span>
                    </a>
                  );
                })}
              </div>
            </>
          )}

          {shown && <Disposed c={shown} handlerName={handlerName} then={note && note.shownFor === caseId ? note.then : 'stay'} />}

          <DispositionPanel
            key={item.id}
            item={item}
            types={abnormalTypes}
            changing={!!item.disposition}
            onDone={(c) => {
              setItem((cur) => (cur && cur.id === c.id ? { ...cur, ...c, evidence: cur.evidence } : cur));
              onDisposed(c);
            }}
          />
        </>
      )}
    </section>
  );
}

/** #review-disposed: who marked the event how, and when. */
function Disposed({ c, handlerName, then }: { c: Case; handlerName: (id: string | null | undefined) => string; then: DisposedNote['then'] }) {
  const { lang } = useSession();
  return (
    <div
      id="review-disposed"
      class={`review-disposed disp-${c.disposition || 'none'}`}
      role="status"
      data-case-id={c.id}
      data-disposition={c.disposition || ''}
      data-handler-id={c.handler_id || ''}
    >
      <p>
        {t('review.disposed', {
          disposition: tEnum('disposition', c.disposition || 'none'),
          handler: handlerName(c.handler_id) || t('common.dash'),
          time: formatDateTimeSec(c.disposed_at, lang) || t('common.dash'),
        })}
      </p>
      {c.disposition === 'abnormal' && c.abnormal_type && <p>{t('review.disposedType', { type: tEnum('abnormalType', c.abnormal_type) })}</p>}
      {c.remark && <p class="review-disposed-remark">{t('review.disposedRemark', { remark: c.remark })}</p>}
      {then === 'moved' && <p class="muted">{t('review.movedOn')}</p>}
      {then === 'last' && <p class="muted">{t('review.noMorePending')}</p>}
    </div>
  );
}

interface DispositionPanelProps {
  item: Case;
  types: string[];
  changing: boolean;
  onDone: (c: Case) => void;
}

const REMARK_PRESETS = ['review.remark.restocking', 'review.remark.testPayment'] as const;

/** Normal / abnormal (with a type), a remark, submit. */
function DispositionPanel({ item, types, changing, onDone }: DispositionPanelProps) {
  const { user } = useSession();
  const [form, setForm] = useState<DispositionForm>(() => formFor(item));
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const set = (patch: Partial<DispositionForm>) => {
    setForm((cur) => ({ ...cur, ...patch }));
    setError(null);
  };

  const submit = async () => {
    if (saving) return;
    const problem = dispositionProblem(form, types);
    if (problem) {
      setError(t(problem, { max: REMARK_MAX }));
      return;
    }
    const body = dispositionBody(form);
    setSaving(true);
    setError(null);
    try {
      const res = await setDisposition(item.id, body);
      // The answer should be the updated case; if the server sent none, the form knows what was set.
      const updated: Case = res ?? {
        ...item,
        ...body,
        status: 'closed',
        handler_id: user?.id ?? null,
        disposed_at: new Date().toISOString(),
      };
      setSaving(false);
      onDone(updated);
    } catch (err) {
      setSaving(false);
      setError(errorText(err));
    }
  };

  const knownType = !form.abnormalType || types.includes(form.abnormalType);

  return (
    <form
      id="review-disposition"
      class="review-disposition"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h3 class="review-section-title">{changing ? t('review.changeDisposition') : t('review.disposition')}</h3>
      <div class="review-choice" role="group" aria-label={t('review.disposition')}>
        <button
          type="button"
          id="review-normal"
          class={form.disposition === 'normal' ? 'btn review-choice-normal selected' : 'btn review-choice-normal'}
          aria-pressed={form.disposition === 'normal'}
          onClick={() => set({ disposition: 'normal' })}
        >
          {t('review.normal')}
        </button>
        <button
          type="button"
          id="review-abnormal"
          class={form.disposition === 'abnormal' ? 'btn review-choice-abnormal selected' : 'btn review-choice-abnormal'}
          aria-pressed={form.disposition === 'abnormal'}
          onClick={() => set({ disposition: 'abnormal' })}
        >
          {t('review.abnormal')}
        </button>
      </div>
      {form.disposition === 'abnormal' && (
        <div class="field">
          <label class="field-label" for="review-abnormal-type">
            {t('review.abnormalType')}
            <span class="required" aria-hidden="true">
              {' '}
              *
            </span>
          </label>
          <select id="review-abnormal-type" value={form.abnormalType} onChange={(e) => set({ abnormalType: e.currentTarget.value })}>
            <option value="">{t('form.choose')}</option>
            {!knownType && <option value={form.abnormalType}>{tEnum('abnormalType', form.abnormalType)}</option>}
            {types.map((v) => (
              <option key={v} value={v}>
                {tEnum('abnormalType', v)}
              </option>
            ))}
          </select>
        </div>
      )}
      <div class="field">
        <label class="field-label" for="review-remark">
          {t('review.remark')}
        </label>
        <textarea id="review-remark" rows={2} value={form.remark} onInput={(e) => set({ remark: e.currentTarget.value })} />
      </div>
      {form.disposition === 'normal' && (
        <div class="review-presets" role="group" aria-label={t('review.remarkPresets')}>
          <span class="filter-label">{t('review.remarkPresets')}</span>
          {REMARK_PRESETS.map((k) => (
            <button type="button" key={k} class="btn btn-small review-remark-preset" onClick={() => set({ remark: t(k) })}>
              {t(k)}
            </button>
          ))}
        </div>
      )}
      {error && (
        <p class="form-error" id="review-error" role="alert">
          {error}
        </p>
      )}
      <div class="form-actions">
        <button type="submit" id="review-submit" class="btn btn-primary" disabled={saving}>
          {saving ? t('review.submitting') : t('review.submit')}
        </button>
      </div>
    </form>
  );
}

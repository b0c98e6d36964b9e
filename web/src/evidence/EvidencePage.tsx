import { useEffect, useRef, useState } from 'preact/hooks';
import { listAll } from '../api';
import { hasRef, listCases } from '../cases';
import { errorText } from '../errors';
import { t, tEnum } from '../i18n';
import { navigate, useRoute } from '../router';
import { useSession } from '../session';
import { formatDateTimeSec } from '../time';
import { CASE_KINDS, DISPOSITION_FILTERS, type Case, type Site } from '../types';
import { useUserNames } from '../userNames';
import { CaseDetail } from './CaseDetail';
import { EMPTY_SEARCH, caseFromPath, caseSearchParams, evidencePath, searchProblem, type CaseSearch } from './evidenceInfo';

/**
 * #/evidence and #/evidence/<caseId>: find cases by site, kind, disposition,
 * camera, device, handler and time (#evidence-search → GET /api/v1/cases),
 * open one (#evidence-case-detail) to play, download, share, verify, export
 * or hold its evidence.
 */
export function EvidencePage() {
  const { lang } = useSession();
  const caseId = caseFromPath(useRoute());
  const handlerName = useUserNames();
  const [sites, setSites] = useState<Site[]>([]);
  const [form, setForm] = useState<CaseSearch>(EMPTY_SEARCH);
  const [applied, setApplied] = useState<CaseSearch>(EMPTY_SEARCH);
  const [formError, setFormError] = useState<string | null>(null);
  const [items, setItems] = useState<Case[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [listError, setListError] = useState<unknown>(null);
  const seq = useRef(0);

  useEffect(() => {
    const ctl = new AbortController();
    listAll<Site>('sites', {}, 20, ctl.signal)
      .then((s) => setSites([...s].sort((a, b) => a.name.localeCompare(b.name, lang))))
      .catch(() => undefined); // site ids are shown instead
    return () => ctl.abort();
  }, []);

  const search = async (s: CaseSearch, cursor: string | null) => {
    const my = ++seq.current;
    setLoading(true);
    setListError(null);
    try {
      const page = await listCases(caseSearchParams(s, cursor));
      if (my !== seq.current) return;
      const got = page.items ?? [];
      setItems((cur) => (cursor ? [...cur, ...got.filter((g) => !cur.some((c) => c.id === g.id))] : got));
      setNext(page.next ?? null);
    } catch (err) {
      if (my === seq.current) setListError(err);
    } finally {
      if (my === seq.current) setLoading(false);
    }
  };

  // The newest cases to start with.
  useEffect(() => {
    void search(EMPTY_SEARCH, null);
  }, []);

  const submit = () => {
    const problem = searchProblem(form);
    if (problem) {
      setFormError(t(problem));
      return;
    }
    setFormError(null);
    setApplied(form);
    setItems([]);
    setNext(null);
    void search(form, null);
  };

  const set = (patch: Partial<CaseSearch>) => {
    setForm((cur) => ({ ...cur, ...patch }));
    setFormError(null);
  };

  const siteName = (id: string) => {
    const s = sites.find((x) => x.id === id);
    return s ? (s.code ? `${s.name} (${s.code})` : s.name) : id;
  };

  const kindLabel = (c: Case) => (c.kind === 'event' && c.event_kind ? `${tEnum('caseKind', c.kind)} · ${tEnum('eventKind', c.event_kind)}` : tEnum('caseKind', c.kind));

  const text = (id: string, label: string, field: 'camera' | 'device' | 'handler') => (
    <label class="filter filter-narrow" for={id}>
      <span class="filter-label">{label}</span>
      <input id={id} type="search" value={form[field]} autocomplete="off" spellcheck={false} onInput={(e) => set({ [field]: e.currentTarget.value })} />
    </label>
  );

  return (
    <div class="page evidence-page">
      <div class="page-head">
        <h1>{t('evidence.title')}</h1>
      </div>

      <form
        class="filter-bar evidence-filters"
        role="search"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <label class="filter" for="evidence-site">
          <span class="filter-label">{t('common.site')}</span>
          <select id="evidence-site" value={form.site} onChange={(e) => set({ site: e.currentTarget.value })}>
            <option value="">{t('filter.all')}</option>
            {form.site && !sites.some((s) => s.id === form.site) && <option value={form.site}>{form.site}</option>}
            {sites.map((s) => (
              <option key={s.id} value={s.id}>
                {s.code ? `${s.name} (${s.code})` : s.name}
              </option>
            ))}
          </select>
        </label>
        <label class="filter filter-narrow" for="evidence-kind">
          <span class="filter-label">{t('evidence.kind')}</span>
          <select id="evidence-kind" value={form.kind} onChange={(e) => set({ kind: e.currentTarget.value })}>
            <option value="">{t('filter.all')}</option>
            {CASE_KINDS.map((k) => (
              <option key={k} value={k}>
                {tEnum('caseKind', k)}
              </option>
            ))}
          </select>
        </label>
        <label class="filter filter-narrow" for="evidence-disposition">
          <span class="filter-label">{t('evidence.disposition')}</span>
          <select id="evidence-disposition" value={form.disposition} onChange={(e) => set({ disposition: e.currentTarget.value })}>
            <option value="">{t('filter.all')}</option>
            {DISPOSITION_FILTERS.map((d) => (
              <option key={d} value={d}>
                {tEnum('disposition', d)}
              </option>
            ))}
          </select>
        </label>
        {text('evidence-camera', t('evidence.camera'), 'camera')}
        {text('evidence-device', t('evidence.device'), 'device')}
        {text('evidence-handler', t('evidence.handler'), 'handler')}
        <label class="filter filter-time" for="evidence-from">
          <span class="filter-label">{t('time.from')}</span>
          <input id="evidence-from" type="datetime-local" step="1" value={form.from} onInput={(e) => set({ from: e.currentTarget.value })} />
        </label>
        <label class="filter filter-time" for="evidence-to">
          <span class="filter-label">{t('time.to')}</span>
          <input id="evidence-to" type="datetime-local" step="1" value={form.to} onInput={(e) => set({ to: e.currentTarget.value })} />
        </label>
        <button type="submit" class="btn btn-primary" id="evidence-search" disabled={loading}>
          {t('filter.search')}
        </button>
      </form>

      {formError && (
        <p class="form-error" id="evidence-filter-error" role="alert">
          {formError}
        </p>
      )}
      {listError !== null && (
        <p class="form-error" id="evidence-error" role="alert">
          {errorText(listError)}
        </p>
      )}

      <div class={caseId ? 'table-wrap evidence-cases-wrap compact' : 'table-wrap evidence-cases-wrap'}>
        <table class="data-table" id="evidence-cases" aria-busy={loading}>
          <thead>
            <tr>
              <th>{t('evidence.col.started')}</th>
              <th>{t('common.site')}</th>
              <th>{t('evidence.kind')}</th>
              <th>{t('common.status')}</th>
              <th>{t('evidence.disposition')}</th>
              <th>{t('evidence.col.handler')}</th>
              <th>{t('evidence.col.evidence')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr
                key={c.id}
                class={c.id === caseId ? 'evidence-case selected' : 'evidence-case'}
                data-case-id={c.id}
                aria-selected={c.id === caseId}
                onClick={() => navigate(evidencePath(c.id))}
              >
                <td>
                  <a href={`#${evidencePath(c.id)}`}>{formatDateTimeSec(c.started_at, lang)}</a>
                </td>
                <td>{siteName(c.site_id)}</td>
                <td>{kindLabel(c)}</td>
                <td>
                  {tEnum('caseStatus', c.status)}
                  {c.legal_hold && (
                    <span class="badge badge-hold evidence-case-hold" title={t('evidence.held')}>
                      {t('evidence.held')}
                    </span>
                  )}
                </td>
                <td>
                  <span class={`badge disp disp-${c.disposition || 'none'}`}>{tEnum('disposition', c.disposition || 'none')}</span>
                  {c.disposition === 'abnormal' && c.abnormal_type && <span> {tEnum('abnormalType', c.abnormal_type)}</span>}
                </td>
                <td>{hasRef(c.handler_id) ? handlerName(c.handler_id) : t('common.dash')}</td>
                <td>{c.evidence_count ?? 0}</td>
              </tr>
            ))}
            {items.length === 0 && !loading && (
              <tr class="empty-row">
                <td colSpan={7}>{listError ? t('list.failed') : t('evidence.noCases')}</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div class="table-foot">
        <span class="muted" id="evidence-count">
          {loading ? t('status.loading') : t('list.shown', { n: items.length })}
        </span>
        {next && (
          <button type="button" class="btn" id="evidence-more" disabled={loading} onClick={() => void search(applied, next)}>
            {t('list.more')}
          </button>
        )}
      </div>

      {caseId ? (
        <CaseDetail
          key={caseId}
          caseId={caseId}
          siteName={siteName}
          handlerName={handlerName}
          onChanged={(c) => setItems((cur) => cur.map((x) => (x.id === c.id ? { ...x, ...c } : x)))}
        />
      ) : (
        items.length > 0 && (
          <p class="muted evidence-hint" id="evidence-hint">
            {t('evidence.pickCase')}
          </p>
        )
      )}
    </div>
  );
}

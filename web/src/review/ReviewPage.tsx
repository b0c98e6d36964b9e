import { useEffect, useRef, useState } from 'preact/hooks';
import { listAll } from '../api';
import { abnormalTypes as fetchAbnormalTypes, hasRef, listCases, reviewSites } from '../cases';
import { errorText } from '../errors';
import { t, tEnum } from '../i18n';
import { navigate, useRoute } from '../router';
import { useSession } from '../session';
import { formatDateTimeSec } from '../time';
import { EVENT_KINDS, type Camera, type Case, type EventCreated, type ReviewSite } from '../types';
import { useUserNames } from '../userNames';
import { AppendEventDialog } from './AppendEvent';
import { EventDetail, type DisposedNote } from './EventDetail';
import {
  EMPTY_REVIEW_FILTERS,
  REVIEW_TABS,
  cameraLabel,
  canAppendEvents,
  caseTab,
  nextPending,
  parseReviewPath,
  reviewCaseParams,
  reviewFiltersProblem,
  reviewPath,
  type ReviewFilters,
  type ReviewTab,
} from './reviewInfo';

/** Typing in the handler field applies after this pause. */
const TYPING_MS = 400;

interface EventList {
  siteId: string;
  items: Case[];
  next: string | null;
}

function boxLabel(s: Pick<ReviewSite, 'name' | 'code'> | undefined, fallback: string): string {
  if (!s) return fallback;
  return s.code ? `${s.name} (${s.code})` : s.name || fallback;
}

/**
 * #/review, #/review/<siteId>, #/review/<siteId>/<caseId>: boxes with their
 * pending and abnormal counts (#review-sites); a box's events by review result
 * (tabs, filters, paged list); one event played and disposed (#review-event).
 */
export function ReviewPage() {
  const { user, lang } = useSession();
  const { siteId, caseId } = parseReviewPath(useRoute());
  const handlerName = useUserNames();

  const [sites, setSites] = useState<ReviewSite[] | null>(null);
  const [sitesError, setSitesError] = useState<unknown>(null);
  const [types, setTypes] = useState<string[]>([]);
  const [cameras, setCameras] = useState<{ siteId: string; items: Camera[] } | null>(null);

  const [tab, setTab] = useState<ReviewTab>('pending');
  const [filterInput, setFilterInput] = useState<ReviewFilters>(EMPTY_REVIEW_FILTERS);
  const [filters, setFilters] = useState<ReviewFilters>(EMPTY_REVIEW_FILTERS);
  const [events, setEvents] = useState<EventList | null>(null);
  const [loading, setLoading] = useState(false);
  const [listError, setListError] = useState<unknown>(null);
  const seq = useRef(0);

  const [note, setNote] = useState<DisposedNote | null>(null);
  const [appendOpen, setAppendOpen] = useState(false);
  const [appended, setAppended] = useState<EventCreated | null>(null);

  const loadSites = () => {
    reviewSites()
      .then((items) => {
        setSites(items);
        setSitesError(null);
      })
      .catch((err) => setSitesError(err));
  };

  useEffect(() => {
    loadSites();
    const ctl = new AbortController();
    fetchAbnormalTypes(ctl.signal)
      .then(setTypes)
      .catch(() => undefined); // the form then takes any type the server accepts
    return () => ctl.abort();
  }, []);

  // The box's cameras, to name the video channels.
  useEffect(() => {
    if (!siteId) return undefined;
    const ctl = new AbortController();
    listAll<Camera>('cameras', { site_id: siteId }, 20, ctl.signal)
      .then((items) => setCameras({ siteId, items }))
      .catch(() => undefined); // ids are shown instead
    return () => ctl.abort();
  }, [siteId]);

  // The handler field applies after a pause in typing; the other filters at once.
  useEffect(() => {
    if (filterInput.handler === filters.handler) return undefined;
    const h = window.setTimeout(() => applyFilters(filterInput), TYPING_MS);
    return () => window.clearTimeout(h);
  }, [filterInput.handler]);

  const filterProblem = reviewFiltersProblem(filterInput);

  const applyFilters = (f: ReviewFilters) => {
    if (reviewFiltersProblem(f)) return;
    setFilters((cur) => (JSON.stringify(cur) === JSON.stringify(f) ? cur : f));
  };

  const setFilter = (patch: Partial<ReviewFilters>, immediate: boolean) => {
    const next = { ...filterInput, ...patch };
    setFilterInput(next);
    if (immediate) applyFilters(next);
  };

  const load = async (cursor: string | null) => {
    if (!siteId) return;
    const my = ++seq.current;
    setLoading(true);
    setListError(null);
    try {
      const page = await listCases(reviewCaseParams(siteId, tab, filters, cursor));
      if (my !== seq.current) return;
      const got = page.items ?? [];
      setEvents((cur) => ({
        siteId,
        items: cursor && cur && cur.siteId === siteId ? [...cur.items, ...got.filter((g) => !cur.items.some((c) => c.id === g.id))] : got,
        next: page.next ?? null,
      }));
    } catch (err) {
      if (my === seq.current) setListError(err);
    } finally {
      if (my === seq.current) setLoading(false);
    }
  };

  useEffect(() => {
    setEvents(null);
    if (siteId) void load(null);
    else seq.current++;
  }, [siteId, tab, filters]);

  // A note about the last disposition belongs to the event it was shown with.
  useEffect(() => {
    setNote((cur) => (cur && cur.shownFor !== caseId ? null : cur));
  }, [caseId]);

  useEffect(() => {
    setAppended(null);
  }, [siteId]);

  const items = events && events.siteId === siteId ? events.items : [];
  const site = sites?.find((s) => s.site_id === siteId);
  const camList = cameras && cameras.siteId === siteId ? cameras.items : [];
  const role = user?.role;

  const onDisposed = async (c: Case) => {
    if (!siteId) return;
    loadSites();
    const list = items;
    // The event leaves the tab it no longer belongs to.
    setEvents((cur) =>
      cur && cur.siteId === siteId
        ? { ...cur, items: caseTab(c) === tab ? cur.items.map((x) => (x.id === c.id ? c : x)) : cur.items.filter((x) => x.id !== c.id) }
        : cur,
    );
    if (tab !== 'pending') {
      setNote({ shownFor: c.id, disposed: c, then: 'stay' });
      return;
    }
    let target = nextPending(
      list.map((x) => (x.id === c.id ? c : x)),
      c.id,
    );
    if (!target) {
      // Nothing pending left in what is loaded: ask the server for the next page's first.
      try {
        const page = await listCases(reviewCaseParams(siteId, 'pending', filters, null, 5));
        target = (page.items ?? []).find((x) => x.id !== c.id && !x.disposition)?.id ?? null;
        if (target) void load(null);
      } catch {
        target = null;
      }
    }
    if (target) {
      setNote({ shownFor: target, disposed: c, then: 'moved' });
      navigate(reviewPath(siteId, target));
    } else {
      setNote({ shownFor: c.id, disposed: c, then: 'last' });
    }
  };

  const onAppended = (res: EventCreated) => {
    setAppendOpen(false);
    setAppended(res);
    loadSites();
    if (tab === 'pending') void load(null);
    else setTab('pending');
    if (siteId && res.case_id) navigate(reviewPath(siteId, res.case_id));
  };

  const tabCount = (tb: ReviewTab): number | null => {
    if (!site) return null;
    return tb === 'pending' ? site.pending : tb === 'normal' ? site.normal : site.abnormal;
  };

  return (
    <div class="page review-page">
      <div class="page-head">
        <h1>{t('review.title')}</h1>
        <div class="page-head-actions">
          {siteId && canAppendEvents(role) && (
            <button type="button" class="btn" id="review-append" onClick={() => setAppendOpen(true)}>
              + {t('review.append')}
            </button>
          )}
          <button
            type="button"
            class="btn"
            id="review-refresh"
            onClick={() => {
              loadSites();
              if (siteId) void load(null);
            }}
          >
            {t('action.refresh')}
          </button>
        </div>
      </div>

      {sitesError !== null && (
        <p class="form-error" id="review-sites-error" role="alert">
          {errorText(sitesError)}
        </p>
      )}

      <div class="review-layout">
        <aside class="panel review-sites" id="review-sites" aria-label={t('review.boxes')} aria-busy={sites === null}>
          <div class="review-sites-head">
            <span>{t('review.boxes')}</span>
            <span class="review-sites-cols">
              <span title={t('review.pendingCount')}>{t('disposition.none')}</span>
              <span title={t('review.abnormalCount')}>{t('disposition.abnormal')}</span>
            </span>
          </div>
          {sites === null && !sitesError && <p class="muted review-sites-empty">{t('status.loading')}</p>}
          {sites && sites.length === 0 && (
            <p class="muted review-sites-empty" id="review-sites-empty">
              {t('review.noBoxes')}
            </p>
          )}
          <ul>
            {(sites ?? []).map((s) => (
              <li key={s.site_id} class={s.site_id === siteId ? 'review-site active' : 'review-site'} data-site-id={s.site_id}>
                <a href={`#${reviewPath(s.site_id)}`} aria-current={s.site_id === siteId ? 'page' : undefined}>
                  <span class="review-site-name">
                    <span class="review-site-title">{s.name || s.site_id}</span>
                    {s.code && <span class="review-site-code muted">{s.code}</span>}
                  </span>
                  <span class={s.pending > 0 ? 'review-pending count has' : 'review-pending count'} title={t('review.pendingCount')}>
                    {s.pending}
                  </span>
                  <span class={s.abnormal > 0 ? 'review-abnormal count has' : 'review-abnormal count'} title={t('review.abnormalCount')}>
                    {s.abnormal}
                  </span>
                </a>
              </li>
            ))}
          </ul>
        </aside>

        <div class="review-main">
          {!siteId ? (
            <div class="empty-state muted" id="review-hint">
              {t('review.chooseBox')}
            </div>
          ) : (
            <>
              <div class="review-box-head">
                <h2 id="review-box">{boxLabel(site, siteId)}</h2>
              </div>

              {appended && appended.case_id && (
                <div class="review-append-result" id="review-append-result" role="status" data-case-id={appended.case_id}>
                  <p>{(appended.clips ?? []).length > 0 ? t('review.appended') : t('review.noClips')}</p>
                  {(appended.clips ?? []).length > 0 && (
                    <ul>
                      {(appended.clips ?? []).map((c) => (
                        <li key={c.camera_id} class="review-append-clip" data-camera-id={c.camera_id} data-status={c.status}>
                          {t('review.clipLine', { camera: cameraLabel(camList, c.camera_id), status: tEnum('clipStatus', c.status) })}
                        </li>
                      ))}
                    </ul>
                  )}
                  <button type="button" class="btn btn-ghost btn-icon review-append-dismiss" aria-label={t('action.close')} title={t('action.close')} onClick={() => setAppended(null)}>
                    ×
                  </button>
                </div>
              )}

              <div class="tabs" role="tablist" aria-label={t('review.tabs')}>
                {REVIEW_TABS.map((tb) => {
                  const n = tabCount(tb);
                  return (
                    <button
                      type="button"
                      role="tab"
                      key={tb}
                      id={`review-tab-${tb}`}
                      class={tab === tb ? 'tab active' : 'tab'}
                      aria-selected={tab === tb}
                      onClick={() => setTab(tb)}
                    >
                      {t(`review.tab.${tb}`)}
                      {n !== null && <span class="tab-count">{n}</span>}
                    </button>
                  );
                })}
              </div>

              <div class="filter-bar review-filters" role="search">
                <label class="filter filter-time" for="review-from">
                  <span class="filter-label">{t('time.from')}</span>
                  <input
                    id="review-from"
                    type="datetime-local"
                    step="1"
                    value={filterInput.from}
                    onInput={(e) => setFilter({ from: e.currentTarget.value }, false)}
                    onChange={(e) => setFilter({ from: e.currentTarget.value }, true)}
                  />
                </label>
                <label class="filter filter-time" for="review-to">
                  <span class="filter-label">{t('time.to')}</span>
                  <input
                    id="review-to"
                    type="datetime-local"
                    step="1"
                    value={filterInput.to}
                    onInput={(e) => setFilter({ to: e.currentTarget.value }, false)}
                    onChange={(e) => setFilter({ to: e.currentTarget.value }, true)}
                  />
                </label>
                <label class="filter" for="review-kind">
                  <span class="filter-label">{t('review.col.kind')}</span>
                  <select id="review-kind" value={filterInput.kind} onChange={(e) => setFilter({ kind: e.currentTarget.value }, true)}>
                    <option value="">{t('filter.all')}</option>
                    {EVENT_KINDS.map((k) => (
                      <option key={k} value={k}>
                        {tEnum('eventKind', k)}
                      </option>
                    ))}
                  </select>
                </label>
                <label class="filter" for="review-handler">
                  <span class="filter-label">{t('review.handlerFilter')}</span>
                  <input
                    id="review-handler"
                    type="search"
                    value={filterInput.handler}
                    autocomplete="off"
                    spellcheck={false}
                    onInput={(e) => setFilter({ handler: e.currentTarget.value }, false)}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') applyFilters({ ...filterInput, handler: e.currentTarget.value });
                    }}
                  />
                </label>
                <label class="filter" for="review-type">
                  <span class="filter-label">{t('review.abnormalType')}</span>
                  <select id="review-type" value={filterInput.type} onChange={(e) => setFilter({ type: e.currentTarget.value }, true)}>
                    <option value="">{t('filter.all')}</option>
                    {filterInput.type && !types.includes(filterInput.type) && <option value={filterInput.type}>{tEnum('abnormalType', filterInput.type)}</option>}
                    {types.map((v) => (
                      <option key={v} value={v}>
                        {tEnum('abnormalType', v)}
                      </option>
                    ))}
                  </select>
                </label>
              </div>
              {filterProblem && (
                <p class="form-error" id="review-filter-error" role="alert">
                  {t(filterProblem)}
                </p>
              )}
              {listError !== null && (
                <p class="form-error" id="review-list-error" role="alert">
                  {errorText(listError)}
                </p>
              )}

              <div class={caseId ? 'table-wrap review-events-wrap compact' : 'table-wrap review-events-wrap'}>
                <table class="data-table" id="review-events" aria-busy={loading}>
                  <thead>
                    <tr>
                      <th>{t('review.col.time')}</th>
                      <th>{t('review.col.kind')}</th>
                      <th>{t('review.col.attribute')}</th>
                      <th>{t('review.col.disposition')}</th>
                      <th>{t('review.col.handler')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((c) => (
                      <tr
                        key={c.id}
                        class={c.id === caseId ? 'review-event selected' : 'review-event'}
                        data-case-id={c.id}
                        data-disposition={c.disposition || 'none'}
                        aria-selected={c.id === caseId}
                        onClick={() => navigate(reviewPath(siteId, c.id))}
                      >
                        <td class="review-event-time">
                          <a href={`#${reviewPath(siteId, c.id)}`} title={t('review.details')}>
                            {formatDateTimeSec(c.started_at, lang)}
                          </a>
                        </td>
                        <td class="review-event-kind">{tEnum('eventKind', c.event_kind) || t('common.dash')}</td>
                        <td class="review-event-attribute">{c.attribute || t('common.dash')}</td>
                        <td class="review-event-disposition">
                          <span class={`badge disp disp-${c.disposition || 'none'}`}>{tEnum('disposition', c.disposition || 'none')}</span>
                          {c.disposition === 'abnormal' && c.abnormal_type && <span class="review-event-type"> {tEnum('abnormalType', c.abnormal_type)}</span>}
                        </td>
                        <td class="review-event-handler">{hasRef(c.handler_id) ? handlerName(c.handler_id) : t('common.dash')}</td>
                      </tr>
                    ))}
                    {items.length === 0 && !loading && (
                      <tr class="empty-row">
                        <td colSpan={5}>{listError ? t('list.failed') : t('review.noEvents')}</td>
                      </tr>
                    )}
                  </tbody>
                </table>
              </div>
              <div class="table-foot">
                <span class="muted" id="review-count">
                  {loading ? t('status.loading') : t('list.shown', { n: items.length })}
                </span>
                {events && events.siteId === siteId && events.next && (
                  <button type="button" class="btn" id="review-more" disabled={loading} onClick={() => void load(events.next)}>
                    {t('list.more')}
                  </button>
                )}
              </div>

              {caseId && (
                <EventDetail
                  key={caseId}
                  caseId={caseId}
                  cameras={camList}
                  abnormalTypes={types}
                  handlerName={handlerName}
                  note={note}
                  canOpenEvidence={role === 'reviewer' || role === 'supervisor' || role === 'admin'}
                  onDisposed={(c) => void onDisposed(c)}
                />
              )}
            </>
          )}
        </div>
      </div>

      {appendOpen && siteId && (
        <AppendEventDialog siteId={siteId} boxLabel={boxLabel(site, siteId)} onClose={() => setAppendOpen(false)} onCreated={onAppended} />
      )}
    </div>
  );
}

import { useState } from 'preact/hooks';
import { createEvent } from '../cases';
import { Modal } from '../components/Modal';
import { errorText } from '../errors';
import { t, tEnum } from '../i18n';
import { toInputValue } from '../time';
import { EVENT_KINDS, type EventCreated } from '../types';
import { appendBody, appendProblem, type AppendForm } from './reviewInfo';

interface AppendEventProps {
  siteId: string;
  boxLabel: string;
  onClose: () => void;
  onCreated: (res: EventCreated) => void;
}

/** Default span: the last five minutes. */
function initialForm(now = Date.now()): AppendForm {
  return { kind: 'manual', from: toInputValue(now - 5 * 60_000), to: toInputValue(now) };
}

/**
 * "Append event" (#review-append-dialog): an event of a kind for a time span
 * on the box → POST /api/v1/events; the box's recording cameras keep clips of it.
 */
export function AppendEventDialog({ siteId, boxLabel, onClose, onCreated }: AppendEventProps) {
  const [form, setForm] = useState<AppendForm>(() => initialForm());
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const set = (patch: Partial<AppendForm>) => {
    setForm((cur) => ({ ...cur, ...patch }));
    setError(null);
  };

  const submit = async () => {
    if (saving) return;
    const problem = appendProblem(form);
    if (problem) {
      setError(t(problem));
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const res = await createEvent(appendBody(siteId, form));
      setSaving(false);
      onCreated(res);
    } catch (err) {
      setSaving(false);
      setError(errorText(err));
    }
  };

  return (
    <Modal id="review-append-dialog" title={t('review.appendTitle', { box: boxLabel })} onClose={onClose}>
      <form
        class="resource-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <div class="form-grid cols-1">
          <div class="field">
            <label class="field-label" for="review-append-kind">
              {t('review.col.kind')}
            </label>
            <select id="review-append-kind" value={form.kind} onChange={(e) => set({ kind: e.currentTarget.value })}>
              {EVENT_KINDS.map((k) => (
                <option key={k} value={k}>
                  {tEnum('eventKind', k)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label class="field-label" for="review-append-from">
              {t('review.appendFrom')}
              <span class="required" aria-hidden="true">
                {' '}
                *
              </span>
            </label>
            <input id="review-append-from" type="datetime-local" step="1" value={form.from} onInput={(e) => set({ from: e.currentTarget.value })} />
          </div>
          <div class="field">
            <label class="field-label" for="review-append-to">
              {t('review.appendTo')}
            </label>
            <input id="review-append-to" type="datetime-local" step="1" value={form.to} onInput={(e) => set({ to: e.currentTarget.value })} />
            <span class="field-hint">{t('review.appendHint')}</span>
          </div>
        </div>
        <div class="form-foot">
          {error && (
            <p class="form-error" id="review-append-error" role="alert">
              {error}
            </p>
          )}
          <div class="form-actions">
            <button type="button" class="btn" id="review-append-cancel" onClick={onClose}>
              {t('action.cancel')}
            </button>
            <button type="submit" class="btn btn-primary" id="review-append-submit" disabled={saving}>
              {saving ? t('status.saving') : t('review.appendSubmit')}
            </button>
          </div>
        </div>
      </form>
    </Modal>
  );
}

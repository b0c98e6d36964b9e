import { useEffect, useRef, useState } from 'preact/hooks';
import { create, list, remove, update } from '../api';
import { ConfirmDialog, Modal } from '../components/Modal';
import { errorText } from '../errors';
import {
  applyChange,
  buildCreateBody,
  buildPatch,
  isShown,
  toFormValues,
  validate,
  type FieldDef,
  type FormMode,
  type FormValue,
  type FormValues,
} from '../forms';
import { t } from '../i18n';
import { useSession } from '../session';
import type { AnyResourceConfig } from './config';
import { EMPTY_LOOKUPS, loadLookups, type Lookups } from './lookups';

type Item = { id: string } & Record<string, unknown>;

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).filter((k) => a[k] !== '');
  const kb = Object.keys(b).filter((k) => b[k] !== '');
  return ka.length === kb.length && ka.every((k) => a[k] === b[k]);
}

interface Editing {
  mode: FormMode;
  original: Item | null;
  values: FormValues;
  error: string | null;
  saving: boolean;
}

/**
 * One admin page: filter bar, paged table (#<resource>-table, "More" button
 * #<resource>-more), a New button (#<singular>-new) opening the form, edit and
 * delete per row (#<singular>-edit-<id>, #<singular>-delete-<id>).
 */
export function ResourcePage({ config }: { config: AnyResourceConfig }) {
  useSession();
  const { resource, singular } = config;
  const [items, setItems] = useState<Item[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [listError, setListError] = useState<unknown>(null);
  const [lookups, setLookups] = useState<Lookups>(EMPTY_LOOKUPS);
  const [lookupsVersion, setLookupsVersion] = useState(0);
  const [filterInput, setFilterInput] = useState<Record<string, string>>({});
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [editing, setEditing] = useState<Editing | null>(null);
  const [created, setCreated] = useState<Item | null>(null);
  const [confirming, setConfirming] = useState<Item | null>(null);
  const [deleting, setDeleting] = useState(false);
  const seq = useRef(0);

  // Related lists for selects and names.
  useEffect(() => {
    if (config.lookups.length === 0) return undefined;
    const ctl = new AbortController();
    loadLookups(config.lookups, ctl.signal)
      .then(setLookups)
      .catch((err) => {
        if (!ctl.signal.aborted) setListError(err);
      });
    return () => ctl.abort();
  }, [config, lookupsVersion]);

  // Text filters apply after a short pause in typing; selects at once.
  useEffect(() => {
    const h = setTimeout(() => setFilters((cur) => (sameRecord(cur, filterInput) ? cur : filterInput)), 300);
    return () => clearTimeout(h);
  }, [filterInput]);

  const load = async (cursor: string | null) => {
    const my = ++seq.current;
    setLoading(true);
    setListError(null);
    try {
      const page = await list<Item>(resource, { ...filters, cursor });
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

  useEffect(() => {
    setItems([]);
    setNext(null);
    void load(null);
  }, [config, filters]);

  const setFilter = (name: string, value: string, immediate: boolean) => {
    const nextInput = { ...filterInput, [name]: value };
    setFilterInput(nextInput);
    if (immediate) setFilters((cur) => (sameRecord(cur, nextInput) ? cur : nextInput));
  };

  const openCreate = () => {
    // Start from the list's filters: with "site: North gate" chosen, a new device is for that site.
    const values = toFormValues(config.fields, null);
    for (const f of config.fields) {
      const fv = filterInput[f.name];
      if (fv && f.type === 'select' && (f.options?.(lookups, values) ?? []).some((o) => o.value === fv)) values[f.name] = fv;
    }
    setEditing({ mode: 'create', original: null, values, error: null, saving: false });
  };
  const openEdit = (item: Item) => {
    setEditing({ mode: 'edit', original: item, values: toFormValues(config.fields, item), error: null, saving: false });
  };

  const save = async () => {
    if (!editing || editing.saving) return;
    const problem = validate(config.fields, editing.values, editing.mode);
    if (problem) {
      const f = config.fields.find((x) => x.name === problem.field);
      setEditing({ ...editing, error: t('form.fieldError', { field: f ? t(f.label) : problem.field, error: t(problem.message, problem.params) }) });
      document.getElementById(`${singular}-${problem.field}`)?.focus();
      return;
    }
    setEditing({ ...editing, saving: true, error: null });
    try {
      if (editing.mode === 'create') {
        const obj = await create<Item>(resource, buildCreateBody(config.fields, editing.values));
        if (obj && obj.id) setItems((cur) => [obj, ...cur.filter((c) => c.id !== obj.id)]);
        setEditing(null);
        if (config.renderCreated && obj) setCreated(obj);
      } else if (editing.original) {
        const patch = buildPatch(config.fields, editing.original, editing.values);
        if (Object.keys(patch).length > 0) {
          const obj = await update<Item>(resource, editing.original.id, patch);
          const id = editing.original.id;
          if (obj && obj.id) setItems((cur) => cur.map((c) => (c.id === id ? obj : c)));
        }
        setEditing(null);
      }
      if (resource === 'sites' || resource === 'access-points' || resource === 'devices' || resource === 'users') {
        // Names shown in other columns may have changed.
        setLookupsVersion((v) => v + 1);
      }
    } catch (err) {
      setEditing((cur) => (cur ? { ...cur, saving: false, error: errorText(err) } : cur));
    }
  };

  const confirmDelete = async () => {
    if (!confirming) return;
    const id = confirming.id;
    setDeleting(true);
    try {
      await remove(resource, id);
      setItems((cur) => cur.filter((c) => c.id !== id));
      setListError(null);
    } catch (err) {
      setListError(err);
    } finally {
      setDeleting(false);
      setConfirming(null);
    }
  };

  const editable = config.editable !== false;
  const deleteLabel = t(config.deleteLabel ?? 'action.delete');

  return (
    <div class="page admin-page" id={`${resource}-page`}>
      <div class="page-head">
        <h1>{t(config.title)}</h1>
        <div class="page-head-actions">
          <button type="button" class="btn" id={`${resource}-refresh`} onClick={() => void load(null)}>
            {t('action.refresh')}
          </button>
          <button type="button" class="btn btn-primary" id={`${singular}-new`} onClick={openCreate}>
            + {t(config.newLabel)}
          </button>
        </div>
      </div>

      {config.filters.length > 0 && (
        <div class="filter-bar" role="search">
          {config.filters.map((f) => {
            const id = `${resource}-filter-${f.name}`;
            return (
              <label class="filter" key={f.name} for={id}>
                <span class="filter-label">{t(f.label)}</span>
                {f.type === 'select' ? (
                  <select id={id} value={filterInput[f.name] ?? ''} onChange={(e) => setFilter(f.name, e.currentTarget.value, true)}>
                    <option value="">{t('filter.all')}</option>
                    {(f.options?.(lookups) ?? []).map((o) => (
                      <option key={o.value} value={o.value}>
                        {o.label}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    id={id}
                    type="search"
                    value={filterInput[f.name] ?? ''}
                    placeholder={f.placeholder ? t(f.placeholder) : ''}
                    onInput={(e) => setFilter(f.name, e.currentTarget.value, false)}
                  />
                )}
              </label>
            );
          })}
        </div>
      )}

      {listError !== null && (
        <p class="form-error" id={`${resource}-list-error`} role="alert">
          {errorText(listError)}
        </p>
      )}

      <div class="table-wrap">
        <table class="data-table" id={`${resource}-table`} aria-busy={loading}>
          <thead>
            <tr>
              {config.columns.map((c) => (
                <th key={c.key}>{t(c.label)}</th>
              ))}
              <th class="col-actions">
                <span class="sr-only">{t('common.actions')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.id} data-id={item.id}>
                {config.columns.map((c) => (
                  <td key={c.key} class={c.className}>
                    {c.render ? c.render(item, lookups) : String(item[c.key] ?? '')}
                  </td>
                ))}
                <td class="col-actions">
                  {editable && (
                    <button type="button" class="btn btn-small" id={`${singular}-edit-${item.id}`} onClick={() => openEdit(item)}>
                      {t('action.edit')}
                    </button>
                  )}
                  <button
                    type="button"
                    class="btn btn-small btn-danger-ghost"
                    id={`${singular}-delete-${item.id}`}
                    onClick={() => setConfirming(item)}
                  >
                    {deleteLabel}
                  </button>
                </td>
              </tr>
            ))}
            {items.length === 0 && !loading && (
              <tr class="empty-row">
                <td colSpan={config.columns.length + 1}>{listError ? t('list.failed') : t('list.empty')}</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div class="table-foot">
        <span class="muted" id={`${resource}-count`}>
          {loading ? t('status.loading') : t('list.shown', { n: items.length })}
        </span>
        {next && (
          <button type="button" class="btn" id={`${resource}-more`} disabled={loading} onClick={() => void load(next)}>
            {t('list.more')}
          </button>
        )}
      </div>

      {editing && (
        <Modal
          id={`${singular}-form`}
          title={t(editing.mode === 'create' ? config.createTitle : config.editTitle)}
          onClose={() => setEditing(null)}
          wide={(config.formColumns ?? 2) > 1}
        >
          <ResourceForm
            singular={singular}
            columns={config.formColumns ?? 2}
            fields={config.fields}
            editing={editing}
            lookups={lookups}
            onChange={(name, value) => setEditing((cur) => (cur ? { ...cur, values: applyChange(config.fields, cur.values, name, value) } : cur))}
            onSave={() => void save()}
            onCancel={() => setEditing(null)}
          />
        </Modal>
      )}

      {created && config.renderCreated && (
        <Modal id={`${singular}-created-dialog`} title={t(config.createTitle)} onClose={() => setCreated(null)}>
          {config.renderCreated(created, () => setCreated(null))}
        </Modal>
      )}

      {confirming && (
        <ConfirmDialog
          title={deleteLabel}
          message={t(config.deleteConfirm, { name: config.describe(confirming) })}
          confirmLabel={deleteLabel}
          busy={deleting}
          onConfirm={() => void confirmDelete()}
          onCancel={() => setConfirming(null)}
        />
      )}
    </div>
  );
}

interface FormProps {
  singular: string;
  columns: number;
  fields: FieldDef<Lookups>[];
  editing: Editing;
  lookups: Lookups;
  onChange: (name: string, value: FormValue) => void;
  onSave: () => void;
  onCancel: () => void;
}

function ResourceForm({ singular, columns, fields, editing, lookups, onChange, onSave, onCancel }: FormProps) {
  const { values, mode, original } = editing;
  return (
    <form
      class="resource-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        onSave();
      }}
    >
      <div class={`form-grid cols-${columns}`}>
        {fields
          .filter((f) => isShown(f, values, mode))
          .map((f) => (
            <FieldInput key={f.name} singular={singular} field={f} values={values} mode={mode} original={original} lookups={lookups} onChange={onChange} />
          ))}
      </div>
      <div class="form-foot">
        {editing.error && (
          <p class="form-error" id={`${singular}-error`} role="alert">
            {editing.error}
          </p>
        )}
        <div class="form-actions">
          <button type="button" class="btn" id={`${singular}-cancel`} onClick={onCancel}>
            {t('action.cancel')}
          </button>
          <button type="submit" class="btn btn-primary" id={`${singular}-save`} disabled={editing.saving}>
            {editing.saving ? t('status.saving') : t('action.save')}
          </button>
        </div>
      </div>
    </form>
  );
}

interface FieldProps {
  singular: string;
  field: FieldDef<Lookups>;
  values: FormValues;
  mode: FormMode;
  original: Item | null;
  lookups: Lookups;
  onChange: (name: string, value: FormValue) => void;
}

function FieldInput({ singular, field: f, values, mode, original, lookups, onChange }: FieldProps) {
  const id = `${singular}-${f.name}`;
  const v = values[f.name];
  const str = typeof v === 'string' ? v : '';
  const required = f.required === true || (f.required === 'create' && mode === 'create');
  const cls = `field${f.wide || f.type === 'multiselect' ? ' field-wide' : f.span && f.span > 1 ? ` span-${f.span}` : ''}${f.type === 'checkbox' ? ' field-check' : ''}`;

  let hint: string | null = f.hint ? t(f.hint) : null;
  if (f.secret && mode === 'edit') {
    const isSet = f.secretSetFlag && original ? Boolean(original[f.secretSetFlag]) : null;
    hint = `${isSet === null ? '' : `${isSet ? t('secret.isSet') : t('secret.isNotSet')} `}${t('secret.keepHint')}`;
  }

  if (f.type === 'checkbox') {
    return (
      <div class={cls}>
        <label class="check" for={id}>
          <input id={id} type="checkbox" checked={Boolean(v)} onChange={(e) => onChange(f.name, e.currentTarget.checked)} />
          <span>{t(f.label)}</span>
        </label>
        {hint && <span class="field-hint">{hint}</span>}
      </div>
    );
  }

  let control;
  switch (f.type) {
    case 'select': {
      const opts = f.options?.(lookups, values) ?? [];
      const known = str === '' || opts.some((o) => o.value === str);
      control = (
        <select id={id} value={str} required={required} onChange={(e) => onChange(f.name, e.currentTarget.value)}>
          {f.emptyOption ? <option value="">{t(f.emptyOption)}</option> : str === '' && <option value="">{t('form.choose')}</option>}
          {/* Keep a value the lookup doesn't know (e.g. one page too far) selectable. */}
          {!known && <option value={str}>{str}</option>}
          {opts.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      );
      break;
    }
    case 'multiselect': {
      const chosen = Array.isArray(v) ? v : [];
      const opts = f.options?.(lookups, values) ?? [];
      const unknown = chosen.filter((c) => !opts.some((o) => o.value === c)).map((c) => ({ value: c, label: c }));
      control = (
        <select
          id={id}
          multiple
          size={Math.min(6, Math.max(3, opts.length + unknown.length))}
          onChange={(e) => onChange(f.name, Array.from(e.currentTarget.selectedOptions, (o) => o.value))}
        >
          {[...opts, ...unknown].map((o) => (
            <option key={o.value} value={o.value} selected={chosen.includes(o.value)}>
              {o.label}
            </option>
          ))}
        </select>
      );
      break;
    }
    case 'textarea':
      control = <textarea id={id} rows={2} value={str} required={required} onInput={(e) => onChange(f.name, e.currentTarget.value)} />;
      break;
    default: {
      const secret = f.type === 'password' || f.secret === true;
      const onInput = (e: { currentTarget: HTMLInputElement }) => onChange(f.name, e.currentTarget.value);
      if (secret) {
        control = <input id={id} type="password" value={str} required={required} autocomplete="new-password" onInput={onInput} />;
      } else {
        const type = f.type === 'number' || f.type === 'int' ? 'number' : f.type === 'list' ? 'text' : f.type;
        control = (
          <input
            id={id}
            // A single literal keeps the typings' per-type attribute checks quiet; the value is one of text/number/email/tel/url.
            type={type as 'text'}
            value={str}
            required={required}
            min={f.min}
            max={f.max}
            step={f.type === 'int' ? '1' : f.step}
            placeholder={f.placeholder ?? ''}
            autocomplete="off"
            spellcheck={false}
            onInput={onInput}
          />
        );
      }
    }
  }
  return (
    <div class={cls}>
      <label class="field-label" for={id}>
        {t(f.label)}
        {required && (
          <span class="required" aria-hidden="true">
            {' '}
            *
          </span>
        )}
      </label>
      {control}
      {hint && <span class="field-hint">{hint}</span>}
    </div>
  );
}

// Pure form logic shared by the admin pages: field definitions, converting
// between API objects and form state, building create bodies and PATCHes that
// carry only the changed fields, and client-side validation.

import type { MessageKey } from './strings';

export type FieldType =
  | 'text'
  | 'textarea'
  | 'email'
  | 'tel'
  | 'url'
  | 'number'
  | 'int'
  | 'select'
  | 'checkbox'
  | 'password'
  | 'list'
  | 'multiselect';

export type FormValue = string | boolean | string[];
export type FormValues = Record<string, FormValue>;

export interface Option {
  value: string;
  label: string;
}

export interface FieldDef<L = unknown> {
  /** JSON field name; the input's id is "<singular>-<name>". */
  name: string;
  label: MessageKey;
  type: FieldType;
  /** true: always; "create": only when creating (e.g. passwords). */
  required?: boolean | 'create';
  /** Write-only secret: never shown, blank on edit means unchanged. */
  secret?: boolean;
  /** Read-only boolean on the object telling whether the secret is set (e.g. "has_password"). */
  secretSetFlag?: string;
  default?: FormValue;
  /** Choices of a select/multiselect, possibly depending on other lookups and values. */
  options?: (lookups: L, values: FormValues) => Option[];
  /** For a select: allow "" with this label (e.g. "none"). */
  emptyOption?: MessageKey;
  /** Field shown (and sent) only when this returns true. */
  visible?: (values: FormValues) => boolean;
  /** Other fields cleared when this one changes (e.g. site_id clears access_point_id). */
  resets?: string[];
  min?: number;
  max?: number;
  step?: string;
  placeholder?: string;
  hint?: MessageKey;
  /** Takes a whole row of the form grid. */
  wide?: boolean;
  /** Takes this many columns of the form grid (when not wide). */
  span?: number;
  /** Shown only on create (e.g. a token's lifetime). */
  createOnly?: boolean;
}

export type FormMode = 'create' | 'edit';

export function isShown<L>(f: FieldDef<L>, values: FormValues, mode: FormMode): boolean {
  if (f.createOnly && mode !== 'create') return false;
  return f.visible ? f.visible(values) : true;
}

function isSecret<L>(f: FieldDef<L>): boolean {
  return f.secret === true || f.type === 'password';
}

/** Form state for an object (null: a new one, from the defaults). Secrets always start blank. */
export function toFormValues<L>(fields: FieldDef<L>[], obj: Record<string, unknown> | null): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const raw = obj ? obj[f.name] : undefined;
    const v = raw === undefined && !obj ? f.default : raw;
    if (isSecret(f)) {
      out[f.name] = '';
      continue;
    }
    switch (f.type) {
      case 'checkbox':
        out[f.name] = typeof v === 'boolean' ? v : Boolean(v ?? f.default ?? false);
        break;
      case 'list':
        out[f.name] = Array.isArray(v) ? v.map(String).join(', ') : typeof v === 'string' ? v : '';
        break;
      case 'multiselect':
        out[f.name] = Array.isArray(v) ? v.map(String) : [];
        break;
      default:
        out[f.name] = v === null || v === undefined ? '' : String(v);
    }
  }
  return out;
}

/** "a, b，c\n a" → ["a","b","c"] (commas of either width or new lines; trimmed, de-duplicated). */
export function splitList(s: string): string[] {
  const seen = new Set<string>();
  for (const part of s.split(/[,，\n]/)) {
    const p = part.trim();
    if (p) seen.add(p);
  }
  return [...seen];
}

function fieldPayload<L>(f: FieldDef<L>, v: FormValue | undefined): unknown {
  switch (f.type) {
    case 'checkbox':
      return Boolean(v);
    case 'number': {
      const s = String(v ?? '').trim();
      return s === '' ? null : Number(s);
    }
    case 'int': {
      const s = String(v ?? '').trim();
      return s === '' ? null : Math.trunc(Number(s));
    }
    case 'list':
      return splitList(String(v ?? ''));
    case 'multiselect':
      return Array.isArray(v) ? [...v] : [];
    case 'password':
      return String(v ?? '');
    default:
      return isSecret(f) ? String(v ?? '') : String(v ?? '').trim();
  }
}

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/** Body of a POST: every shown field; blank secrets and blank optional numbers are left out. */
export function buildCreateBody<L>(fields: FieldDef<L>[], values: FormValues): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const f of fields) {
    if (!isShown(f, values, 'create')) continue;
    const p = fieldPayload(f, values[f.name]);
    if (isSecret(f) && p === '') continue;
    if ((f.type === 'int' || f.type === 'number') && p === null && !f.required) continue;
    body[f.name] = p;
  }
  return body;
}

/** Body of a PATCH: only the fields that differ from the original; a secret only when typed. */
export function buildPatch<L>(
  fields: FieldDef<L>[],
  original: Record<string, unknown>,
  values: FormValues,
): Record<string, unknown> {
  const before = toFormValues(fields, original);
  const patch: Record<string, unknown> = {};
  for (const f of fields) {
    if (!isShown(f, values, 'edit')) continue;
    const p = fieldPayload(f, values[f.name]);
    if (isSecret(f)) {
      if (p !== '') patch[f.name] = p;
      continue;
    }
    if (!same(p, fieldPayload(f, before[f.name]))) patch[f.name] = p;
  }
  return patch;
}

export interface FieldError {
  field: string;
  message: MessageKey;
  params?: Record<string, string | number>;
}

/** The first problem with the form, or null. */
export function validate<L>(fields: FieldDef<L>[], values: FormValues, mode: FormMode): FieldError | null {
  for (const f of fields) {
    if (!isShown(f, values, mode)) continue;
    const v = values[f.name];
    const required = f.required === true || (f.required === 'create' && mode === 'create');
    const empty = Array.isArray(v) ? v.length === 0 : typeof v === 'string' ? v.trim() === '' : false;
    if (required && empty) return { field: f.name, message: 'form.required' };
    if (empty || typeof v !== 'string') continue;
    if (f.type === 'number' || f.type === 'int') {
      const n = Number(v.trim());
      if (!Number.isFinite(n)) return { field: f.name, message: 'form.notNumber' };
      if (f.type === 'int' && !Number.isInteger(n)) return { field: f.name, message: 'form.notInteger' };
      if (f.min !== undefined && n < f.min) return { field: f.name, message: 'form.min', params: { min: f.min } };
      if (f.max !== undefined && n > f.max) return { field: f.name, message: 'form.max', params: { max: f.max } };
    }
    if (f.type === 'email' && !/^[^\s@]+@[^\s@]+$/.test(v.trim())) return { field: f.name, message: 'form.notEmail' };
  }
  return null;
}

/** Values after one field changed, clearing the fields that depend on it. */
export function applyChange<L>(fields: FieldDef<L>[], values: FormValues, name: string, value: FormValue): FormValues {
  const next: FormValues = { ...values, [name]: value };
  const f = fields.find((x) => x.name === name);
  if (f?.resets && values[name] !== value) {
    for (const r of f.resets) {
      const rf = fields.find((x) => x.name === r);
      next[r] = rf?.type === 'multiselect' ? [] : rf?.type === 'checkbox' ? false : '';
    }
  }
  return next;
}

// What a generic admin page needs to know about one API resource.

import type { ComponentChildren } from 'preact';
import type { FieldDef, Option } from '../forms';
import type { MessageKey } from '../strings';
import type { LookupName, Lookups } from './lookups';

export interface Column<T> {
  key: string;
  label: MessageKey;
  render?: (item: T, lookups: Lookups) => ComponentChildren;
  className?: string;
}

export interface FilterDef {
  /** Query parameter; the control's id is "<resource>-filter-<name>". */
  name: string;
  label: MessageKey;
  type: 'select' | 'text';
  options?: (lookups: Lookups) => Option[];
  placeholder?: MessageKey;
}

export interface ResourceConfig<T extends { id: string }> {
  /** Path under /api/v1 and prefix of the list's ids: "sites" → #sites-table, #sites-more. */
  resource: string;
  /** Prefix of the form's ids: "site" → #site-new, #site-name, #site-save, #site-error. */
  singular: string;
  title: MessageKey;
  newLabel: MessageKey;
  createTitle: MessageKey;
  editTitle: MessageKey;
  /** Related lists to load for selects and names. */
  lookups: readonly LookupName[];
  columns: Column<T>[];
  filters: FilterDef[];
  fields: FieldDef<Lookups>[];
  /** Columns of the form grid (default 2; 1 for short forms). */
  formColumns?: 1 | 2 | 3;
  /** False: rows can only be deleted (tokens). */
  editable?: boolean;
  deleteLabel?: MessageKey;
  deleteConfirm: MessageKey;
  /** How a row is named in the delete confirmation. */
  describe: (item: T) => string;
  /** Shown instead of closing the form after a create (tokens show their secret once). */
  renderCreated?: (created: T, done: () => void) => ComponentChildren;
}

// Generic configs are stored in a list of mixed item types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyResourceConfig = ResourceConfig<any>;

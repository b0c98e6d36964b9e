// Thin JSON client for /api/v1. The session lives in an HttpOnly cookie set
// by POST /login, so nothing secret is kept in JavaScript.

import type { LoginResponse, Page, User } from './types';

export const API_BASE = '/api/v1';

export class ApiError extends Error {
  /** HTTP status, or 0 when the server could not be reached. */
  readonly status: number;
  /** The server's error code ("not_found", "conflict", …), or "network"/"http_<status>". */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let unauthorizedHandler: (() => void) | null = null;

/** Called on any 401 except the login request itself (the caller sends the user to #/login). */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  unauthorizedHandler = fn;
}

/** Tells the app the session is over, for requests made without request() (e.g. WHEP). */
export function notifyUnauthorized(): void {
  unauthorizedHandler?.();
}

export type QueryValue = string | number | boolean | null | undefined;

/** "?a=1&b=x" from the non-empty params, in the order given; "" if none. */
export function buildQuery(params: Record<string, QueryValue> | undefined): string {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * The ApiError for a failed response: the server's {"error":{"code","message"}}
 * when the body has it, else a generic one built from the status.
 */
export function errorFromBody(status: number, statusText: string, body: string): ApiError {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && 'error' in parsed) {
      const err = (parsed as { error: unknown }).error;
      if (err && typeof err === 'object') {
        const e = err as { code?: unknown; message?: unknown };
        const code = typeof e.code === 'string' && e.code ? e.code : `http_${status}`;
        const message = typeof e.message === 'string' && e.message ? e.message : statusText || `HTTP ${status}`;
        return new ApiError(status, code, message);
      }
      if (typeof err === 'string' && err) return new ApiError(status, `http_${status}`, err);
    }
  } catch {
    /* not JSON: fall through */
  }
  const text = body.trim();
  const message = text && text.length <= 200 && !text.startsWith('<') ? text : statusText || `HTTP ${status}`;
  return new ApiError(status, `http_${status}`, message);
}

export interface RequestOptions {
  /** Don't treat a 401 as "session over" (used by login, where 401 means wrong password). */
  skipAuthRedirect?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const init: RequestInit = { method, headers, credentials: 'same-origin', signal: opts.signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(API_BASE + path, init);
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  if (res.status === 401 && !opts.skipAuthRedirect && unauthorizedHandler) unauthorizedHandler();
  if (!res.ok) throw errorFromBody(res.status, res.statusText, await res.text().catch(() => ''));
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'bad_json', `HTTP ${res.status}: response is not JSON`);
  }
}

function idPath(resource: string, id: string): string {
  return `/${resource}/${encodeURIComponent(id)}`;
}

export const DEFAULT_LIMIT = 50;

export function login(username: string, password: string): Promise<LoginResponse> {
  return request<LoginResponse>('POST', '/login', { username, password }, { skipAuthRedirect: true });
}

export function logout(): Promise<void> {
  return request<void>('POST', '/logout', undefined, { skipAuthRedirect: true });
}

export function me(): Promise<User> {
  return request<User>('GET', '/me');
}

export function list<T>(resource: string, params: Record<string, QueryValue> = {}, signal?: AbortSignal): Promise<Page<T>> {
  return request<Page<T>>('GET', `/${resource}${buildQuery({ limit: DEFAULT_LIMIT, ...params })}`, undefined, { signal });
}

/** Every item of a list, following "next" up to maxPages pages (for selects and the map). */
export async function listAll<T>(
  resource: string,
  params: Record<string, QueryValue> = {},
  maxPages = 20,
  signal?: AbortSignal,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const page: Page<T> = await list<T>(resource, { limit: 100, ...params, cursor }, signal);
    items.push(...(page.items ?? []));
    cursor = page.next ?? null;
    if (!cursor) break;
  }
  return items;
}

export function get<T>(resource: string, id: string): Promise<T> {
  return request<T>('GET', idPath(resource, id));
}

export function create<T>(resource: string, body: unknown): Promise<T> {
  return request<T>('POST', `/${resource}`, body);
}

export function update<T>(resource: string, id: string, patch: unknown): Promise<T> {
  return request<T>('PATCH', idPath(resource, id), patch);
}

export function remove(resource: string, id: string): Promise<void> {
  return request<void>('DELETE', idPath(resource, id));
}

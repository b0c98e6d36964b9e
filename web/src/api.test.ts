/// <reference types="node" />
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ApiError, buildQuery, errorFromBody, list, listAll, login, remove, request, setUnauthorizedHandler, update } from './api';

describe('buildQuery', () => {
  it('skips empty values and encodes', () => {
    assert.equal(buildQuery({}), '');
    assert.equal(buildQuery(undefined), '');
    assert.equal(buildQuery({ limit: 50, cursor: null, q: '', kind: undefined }), '?limit=50');
    assert.equal(buildQuery({ q: 'A1004 北门', site_id: 'a&b' }), '?q=A1004+%E5%8C%97%E9%97%A8&site_id=a%26b');
    assert.equal(buildQuery({ enabled: false }), '?enabled=false');
  });
});

describe('errorFromBody', () => {
  it('reads the server error envelope', () => {
    const e = errorFromBody(409, 'Conflict', '{"error":{"code":"conflict","message":"site still has 2 devices"}}');
    assert.equal(e.status, 409);
    assert.equal(e.code, 'conflict');
    assert.equal(e.message, 'site still has 2 devices');
  });
  it('copes with other bodies', () => {
    assert.equal(errorFromBody(500, 'Internal Server Error', '').message, 'Internal Server Error');
    assert.equal(errorFromBody(500, '', '<html>oops</html>').message, 'HTTP 500');
    assert.equal(errorFromBody(400, 'Bad Request', 'bad limit\n').message, 'bad limit');
    assert.equal(errorFromBody(400, 'Bad Request', '{"error":"plain"}').message, 'plain');
    assert.equal(errorFromBody(418, 'Teapot', '{"error":{}}').code, 'http_418');
  });
});

type Call = { url: string; init: RequestInit };
const realFetch = globalThis.fetch;

function stubFetch(responses: (Response | Error)[]): Call[] {
  const calls: Call[] = [];
  globalThis.fetch = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const r = responses.shift();
    if (!r) throw new Error('unexpected fetch ' + url);
    if (r instanceof Error) throw r;
    return r;
  }) as typeof fetch;
  return calls;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('request', () => {
  afterEach(() => {
    globalThis.fetch = realFetch;
    setUnauthorizedHandler(null);
  });

  it('sends JSON with the session cookie', async () => {
    const calls = stubFetch([json(200, { id: 's1', name: 'x' })]);
    const got = await update<{ id: string }>('sites', 's1', { name: 'x' });
    assert.equal(got.id, 's1');
    assert.equal(calls[0].url, '/api/v1/sites/s1');
    assert.equal(calls[0].init.method, 'PATCH');
    assert.equal(calls[0].init.credentials, 'same-origin');
    assert.equal(calls[0].init.body, '{"name":"x"}');
    assert.equal((calls[0].init.headers as Record<string, string>)['Content-Type'], 'application/json');
  });

  it('lists with limit and cursor', async () => {
    const calls = stubFetch([json(200, { items: [{ id: 'a' }], next: 'c2' })]);
    const page = await list<{ id: string }>('access-points', { site_id: 's1', cursor: 'c1' });
    assert.equal(calls[0].url, '/api/v1/access-points?limit=50&site_id=s1&cursor=c1');
    assert.equal(page.next, 'c2');
  });

  it('follows next in listAll', async () => {
    const calls = stubFetch([json(200, { items: [{ id: 'a' }], next: 'n1' }), json(200, { items: [{ id: 'b' }], next: null })]);
    const all = await listAll<{ id: string }>('sites');
    assert.deepEqual(
      all.map((x) => x.id),
      ['a', 'b'],
    );
    assert.match(calls[0].url, /limit=100/);
    assert.match(calls[1].url, /cursor=n1/);
  });

  it('treats 204 as no content', async () => {
    stubFetch([new Response(null, { status: 204 })]);
    assert.equal(await remove('devices', 'd 1'), undefined);
  });

  it('raises the server error and calls the 401 handler', async () => {
    let unauthorized = 0;
    setUnauthorizedHandler(() => unauthorized++);
    stubFetch([json(401, { error: { code: 'unauthenticated', message: 'no session' } })]);
    await assert.rejects(request('GET', '/me'), (e: unknown) => e instanceof ApiError && e.status === 401 && e.message === 'no session');
    assert.equal(unauthorized, 1);
  });

  it('does not treat a failed login as a lost session', async () => {
    let unauthorized = 0;
    setUnauthorizedHandler(() => unauthorized++);
    stubFetch([json(401, { error: { code: 'bad_credentials', message: 'wrong' } }), json(429, { error: { code: 'rate_limited', message: 'slow down' } })]);
    await assert.rejects(login('u', 'p'), (e: unknown) => e instanceof ApiError && e.status === 401);
    await assert.rejects(login('u', 'p'), (e: unknown) => e instanceof ApiError && e.status === 429);
    assert.equal(unauthorized, 0);
  });

  it('reports an unreachable server as status 0', async () => {
    stubFetch([new TypeError('Failed to fetch')]);
    await assert.rejects(request('GET', '/me'), (e: unknown) => e instanceof ApiError && e.status === 0 && e.code === 'network');
  });
});

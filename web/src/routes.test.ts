/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHash } from './router';
import { canSee, matches, resolve, routes, visibleRoutes } from './routes';

describe('parseHash', () => {
  it('normalises hashes to paths', () => {
    assert.equal(parseHash(''), '/');
    assert.equal(parseHash('#'), '/');
    assert.equal(parseHash('#/login'), '/login');
    assert.equal(parseHash('#/admin/sites/'), '/admin/sites');
    assert.equal(parseHash('#admin/sites?x=1'), '/admin/sites');
  });
});

describe('routes', () => {
  it('has the pages of the first version', () => {
    const paths = routes.map((r) => r.path);
    for (const p of ['/dashboard', '/calls', '/cameras', '/review', '/evidence', '/admin/sites', '/admin/access-points', '/admin/devices', '/admin/cameras', '/admin/users', '/admin/tokens']) {
      assert.ok(paths.includes(p), p);
    }
  });
  it('shows admin pages to admins only', () => {
    assert.deepEqual(
      visibleRoutes('agent').map((r) => r.path),
      ['/dashboard', '/calls', '/cameras', '/review'],
    );
    assert.deepEqual(
      visibleRoutes('reviewer').map((r) => r.path),
      ['/dashboard', '/cameras', '/review', '/evidence'],
    );
    assert.equal(visibleRoutes('admin').length, routes.length);
    assert.equal(canSee({ roles: ['admin'] }, 'supervisor'), false);
    assert.equal(canSee({}, undefined), false);
  });
  it('resolves, refuses and misses', () => {
    assert.equal(resolve('/admin/users', 'admin').kind, 'page');
    assert.equal(resolve('/admin/users', 'reviewer').kind, 'forbidden');
    assert.equal(resolve('/nope', 'admin').kind, 'notFound');
  });
});

describe('prefix routes', () => {
  it('serve the paths below them', () => {
    const r = resolve('/cameras/site-1', 'agent');
    assert.equal(r.kind, 'page');
    assert.equal(r.kind === 'page' && r.route.path, '/cameras');
    assert.equal(resolve('/cameras', 'reviewer').kind, 'page');
    assert.equal(resolve('/camerasx', 'agent').kind, 'notFound');
    assert.equal(resolve('/dashboard/x', 'agent').kind, 'notFound');
  });
  it('serve the calls page to the roles that take calls', () => {
    for (const role of ['agent', 'supervisor', 'admin'] as const) assert.equal(resolve('/calls', role).kind, 'page', role);
    assert.equal(resolve('/calls', 'reviewer').kind, 'forbidden');
  });
  it('serve the review and compliance pages to their roles', () => {
    for (const role of ['agent', 'supervisor', 'reviewer', 'admin'] as const) {
      const r = resolve('/review/site-1/case-2', role);
      assert.equal(r.kind === 'page' && r.route.path, '/review', role);
    }
    assert.equal(resolve('/evidence', 'agent').kind, 'forbidden');
    assert.equal(resolve('/evidence/case-2', 'agent').kind, 'forbidden');
    for (const role of ['supervisor', 'reviewer', 'admin'] as const) assert.equal(resolve('/evidence/case-2', role).kind, 'page', role);
  });
  it('mark the nav link active', () => {
    assert.equal(matches({ path: '/cameras', prefix: true }, '/cameras/a'), true);
    assert.equal(matches({ path: '/cameras', prefix: true }, '/cameras'), true);
    assert.equal(matches({ path: '/dashboard' }, '/dashboard/a'), false);
  });
});

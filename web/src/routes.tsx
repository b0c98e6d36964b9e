// The page registry: the router, the left nav and the role checks all read it.

import type { ComponentType } from 'preact';
import { ResourcePage } from './admin/ResourcePage';
import {
  accessPointsConfig,
  camerasConfig,
  devicesConfig,
  sitesConfig,
  tokensConfig,
  usersConfig,
} from './admin/resources';
import { CallsPage } from './calls/CallsPage';
import { CamerasPage } from './cameras/CamerasPage';
import { Dashboard } from './dashboard/Dashboard';
import { EvidencePage } from './evidence/EvidencePage';
import { ReviewPage } from './review/ReviewPage';
import type { MessageKey } from './strings';
import type { Role } from './types';

export type NavSection = 'console' | 'admin';

export interface RouteDef {
  path: string;
  label: MessageKey;
  section: NavSection;
  /** Roles allowed; undefined: every signed-in user. */
  roles?: readonly Role[];
  component: ComponentType;
  /** Short glyph shown in the nav. */
  icon: string;
  /** Also the page for path + "/…" (e.g. /cameras/<siteId>); the page reads the rest itself. */
  prefix?: boolean;
}

const ADMIN: readonly Role[] = ['admin'];
const REVIEW: readonly Role[] = ['agent', 'supervisor', 'reviewer', 'admin'];
const COMPLIANCE: readonly Role[] = ['reviewer', 'supervisor', 'admin'];
/** Roles that take robot calls (reviewers get 403 on the call WebSocket). */
const CALLS: readonly Role[] = ['agent', 'supervisor', 'admin'];

export const routes: RouteDef[] = [
  // ── Console: what agents, supervisors and reviewers work in ──────────────
  { path: '/dashboard', label: 'nav.dashboard', section: 'console', component: Dashboard, icon: '◎' },
  // Gate calls: the queue of ringing robot calls and the call in progress.
  { path: '/calls', label: 'nav.calls', section: 'console', roles: CALLS, component: CallsPage, icon: '☎' },
  { path: '/cameras', label: 'nav.live', section: 'console', component: CamerasPage, icon: '◫', prefix: true },
  // Box events: #/review/<siteId>/<caseId>; every role (agents see their own sites).
  { path: '/review', label: 'nav.review', section: 'console', roles: REVIEW, component: ReviewPage, icon: '▶', prefix: true },
  // Compliance search over all cases and their evidence: #/evidence/<caseId>.
  { path: '/evidence', label: 'nav.evidence', section: 'console', roles: COMPLIANCE, component: EvidencePage, icon: '⚖', prefix: true },
  // Later console pages plug in here, each one line, e.g.
  //   { path: '/events',  label: 'nav.events',  section: 'console', component: EventsPage,  icon: '⚑' },
  //   { path: '/chat',    label: 'nav.chat',    section: 'console', component: ChatPage,    icon: '✉' },
  // (their nav.* labels are already in strings.ts).

  // ── Administration: admins only ──────────────────────────────────────────
  { path: '/admin/sites', label: 'nav.sites', section: 'admin', roles: ADMIN, component: () => <ResourcePage config={sitesConfig} />, icon: '▦' },
  {
    path: '/admin/access-points',
    label: 'nav.accessPoints',
    section: 'admin',
    roles: ADMIN,
    component: () => <ResourcePage config={accessPointsConfig} />,
    icon: '⇥',
  },
  { path: '/admin/devices', label: 'nav.devices', section: 'admin', roles: ADMIN, component: () => <ResourcePage config={devicesConfig} />, icon: '⌂' },
  { path: '/admin/cameras', label: 'nav.cameras', section: 'admin', roles: ADMIN, component: () => <ResourcePage config={camerasConfig} />, icon: '◉' },
  { path: '/admin/users', label: 'nav.users', section: 'admin', roles: ADMIN, component: () => <ResourcePage config={usersConfig} />, icon: '☺' },
  { path: '/admin/tokens', label: 'nav.tokens', section: 'admin', roles: ADMIN, component: () => <ResourcePage config={tokensConfig} />, icon: '◇' },
];

export const SECTIONS: { id: NavSection; label: MessageKey }[] = [
  { id: 'console', label: 'nav.section.console' },
  { id: 'admin', label: 'nav.section.admin' },
];

export function canSee(route: Pick<RouteDef, 'roles'>, role: Role | undefined): boolean {
  if (!role) return false;
  return !route.roles || route.roles.includes(role);
}

export function visibleRoutes(role: Role | undefined, all: RouteDef[] = routes): RouteDef[] {
  return all.filter((r) => canSee(r, role));
}

/** Whether the route is the page for path: the same path, or below it for a prefix route. */
export function matches(route: Pick<RouteDef, 'path' | 'prefix'>, path: string): boolean {
  return route.path === path || (!!route.prefix && path.startsWith(route.path + '/'));
}

export type Resolved = { kind: 'page'; route: RouteDef } | { kind: 'forbidden' } | { kind: 'notFound' };

export function resolve(path: string, role: Role | undefined, all: RouteDef[] = routes): Resolved {
  const route = all.find((r) => r.path === path) ?? all.find((r) => matches(r, path));
  if (!route) return { kind: 'notFound' };
  if (!canSee(route, role)) return { kind: 'forbidden' };
  return { kind: 'page', route };
}

/** Where a user lands after login. */
export function homePath(): string {
  return '/dashboard';
}

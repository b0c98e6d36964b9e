import { CallsHost } from './calls/CallsHost';
import { LangSwitch } from './components/LangSwitch';
import { t, tEnum } from './i18n';
import { SECTIONS, matches, resolve, visibleRoutes } from './routes';
import { useSession } from './session';

interface ShellProps {
  path: string;
  onLogout: () => void;
}

/** Top bar, left nav and the current page. */
export function Shell({ path, onLogout }: ShellProps) {
  const { user } = useSession();
  const role = user?.role;
  const mine = visibleRoutes(role);
  const resolved = resolve(path, role);
  let page;
  if (resolved.kind === 'page') {
    const Page = resolved.route.component;
    page = <Page key={resolved.route.path} />;
  } else {
    page = (
      <div class="page">
        <div class="empty-state" id={resolved.kind === 'forbidden' ? 'page-forbidden' : 'page-not-found'}>
          <h1>{resolved.kind === 'forbidden' ? t('page.forbidden') : t('page.notFound')}</h1>
          <p>
            <a href="#/dashboard">{t('page.backHome')}</a>
          </p>
        </div>
      </div>
    );
  }
  return (
    <CallsHost path={path}>
      <div class="shell">
        <header class="topbar">
          <a class="brand" href="#/dashboard">
            <span class="brand-mark" aria-hidden="true">
              A
            </span>
            <span class="brand-name">{t('app.name')}</span>
            <span class="brand-tagline">{t('app.tagline')}</span>
          </a>
          <div class="topbar-spacer" />
          <div class="topbar-user">
            <span id="current-user" class="user-name" title={user?.username}>
              {user?.display_name || user?.username}
            </span>
            <span id="current-role" class={`badge role-${role ?? ''}`}>
              {tEnum('role', role)}
            </span>
          </div>
          <LangSwitch />
          <button type="button" id="logout" class="btn btn-ghost" onClick={onLogout}>
            {t('action.logout')}
          </button>
        </header>
        <div class="shell-body">
          <nav class="sidenav" aria-label={t('nav.label')}>
            {SECTIONS.map((sec) => {
              const items = mine.filter((r) => r.section === sec.id);
              if (items.length === 0) return null;
              return (
                <div class="nav-section" key={sec.id} id={`nav-${sec.id}`}>
                  <div class="nav-section-title">{t(sec.label)}</div>
                  <ul>
                    {items.map((r) => (
                      <li key={r.path}>
                        <a href={`#${r.path}`} class={matches(r, path) ? 'active' : undefined} aria-current={matches(r, path) ? 'page' : undefined}>
                          <span class="nav-icon" aria-hidden="true">
                            {r.icon}
                          </span>
                          {t(r.label)}
                        </a>
                      </li>
                    ))}
                  </ul>
                </div>
              );
            })}
          </nav>
          <main class="content">{page}</main>
        </div>
      </div>
    </CallsHost>
  );
}

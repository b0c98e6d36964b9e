import { useEffect, useRef, useState } from 'preact/hooks';
import { logout, me, setUnauthorizedHandler } from './api';
import { getLang, onLangChange, t } from './i18n';
import { LoginPage } from './Login';
import { navigate, useRoute } from './router';
import { homePath, resolve } from './routes';
import { SessionContext } from './session';
import { Shell } from './Shell';
import type { User } from './types';

export function App() {
  const [lang, setLang] = useState(getLang());
  // undefined: still asking the server who we are.
  const [user, setUser] = useState<User | null | undefined>(undefined);
  // The page asked for before the login page, reopened after it (not after a sign-out).
  const [returnTo, setReturnTo] = useState<string | null>(null);
  const signedOut = useRef(false);
  const path = useRoute();

  useEffect(() => onLangChange(setLang), []);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setUser(null);
      navigate('/login');
    });
    me()
      .then((u) => setUser(u))
      .catch(() => setUser(null));
    return () => setUnauthorizedHandler(null);
  }, []);

  useEffect(() => {
    if (user === undefined) return;
    if (user === null && path !== '/login') {
      if (path !== '/' && !signedOut.current) setReturnTo(path);
      navigate('/login', true);
    } else if (user && (path === '/login' || path === '/')) {
      navigate(homePath(), true);
    }
  }, [user, path]);

  const onLogin = (u: User) => {
    signedOut.current = false;
    setUser(u);
    const back = returnTo && resolve(returnTo, u.role).kind === 'page' ? returnTo : homePath();
    navigate(back, true);
    setReturnTo(null);
  };

  const onLogout = async () => {
    signedOut.current = true;
    setReturnTo(null);
    try {
      await logout();
    } catch {
      /* the session is dropped here either way */
    }
    setUser(null);
    navigate('/login');
  };

  let body;
  if (user === undefined) {
    body = (
      <div class="boot" id="boot">
        {t('status.loading')}
      </div>
    );
  } else if (user === null || path === '/login') {
    body = <LoginPage onLogin={onLogin} />;
  } else {
    body = <Shell path={path} onLogout={onLogout} />;
  }
  return <SessionContext.Provider value={{ user: user ?? null, lang }}>{body}</SessionContext.Provider>;
}

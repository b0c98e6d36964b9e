import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, login } from './api';
import { LangSwitch } from './components/LangSwitch';
import { errorText } from './errors';
import { t } from './i18n';
import { useSession } from './session';
import type { User } from './types';

/** What the login page shows for a failed attempt. */
export function loginErrorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return t('login.wrong');
    if (err.status === 429) return t('login.rateLimited');
  }
  return errorText(err);
}

export function LoginPage({ onLogin }: { onLogin: (u: User) => void }) {
  useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const userInput = useRef<HTMLInputElement>(null);
  useEffect(() => userInput.current?.focus(), []);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    if (!username.trim() || !password) {
      setError(new Error(t('login.missing')));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const res = await login(username.trim(), password);
      setPassword('');
      onLogin(res.user);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <div class="login-page">
      <div class="login-lang">
        <LangSwitch />
      </div>
      <form class="login-card" onSubmit={submit} noValidate>
        <div class="login-brand">
          <span class="brand-mark" aria-hidden="true">
            A
          </span>
          <div>
            <h1>{t('app.name')}</h1>
            <p class="muted">{t('app.tagline')}</p>
          </div>
        </div>
        <label class="field">
          <span class="field-label">{t('login.username')}</span>
          <input
            id="login-username"
            ref={userInput}
            name="username"
            type="text"
            autocomplete="username"
            autocapitalize="off"
            spellcheck={false}
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span class="field-label">{t('login.password')}</span>
          <input
            id="login-password"
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error !== null && (
          <p id="login-error" class="form-error" role="alert">
            {loginErrorText(error)}
          </p>
        )}
        <button id="login-submit" type="submit" class="btn btn-primary btn-block" disabled={busy}>
          {busy ? t('login.signingIn') : t('login.submit')}
        </button>
      </form>
    </div>
  );
}

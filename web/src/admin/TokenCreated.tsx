import { useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import type { CreatedToken } from '../types';

/** The new token's secret, shown exactly once, with a copy button. */
export function TokenCreated({ token, onDone }: { token: CreatedToken; onDone: () => void }) {
  const [copied, setCopied] = useState<'ok' | 'fail' | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(token.token);
      setCopied('ok');
    } catch {
      // No clipboard API (plain http, old browser): select the text so Ctrl+C works.
      input.current?.select();
      let ok = false;
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
      setCopied(ok ? 'ok' : 'fail');
    }
  };

  return (
    <div class="token-created" id="token-created">
      <p class="warning" id="token-warning" role="alert">
        {t('token.onceWarning')}
      </p>
      <label class="field">
        <span class="field-label">{t('token.secret', { name: token.name })}</span>
        <div class="copy-row">
          <input
            id="token-secret"
            class="mono"
            type="text"
            readOnly
            value={token.token}
            ref={input}
            onFocus={(e) => e.currentTarget.select()}
          />
          <button type="button" id="token-copy" class="btn" onClick={copy}>
            {t('action.copy')}
          </button>
        </div>
      </label>
      {copied && (
        <p class={copied === 'ok' ? 'muted' : 'form-error'} id="token-copy-status" role="status">
          {copied === 'ok' ? t('token.copied') : t('token.copyFailed')}
        </p>
      )}
      <div class="form-actions">
        <button type="button" id="token-done" class="btn btn-primary" data-autofocus onClick={onDone}>
          {t('token.done')}
        </button>
      </div>
    </div>
  );
}

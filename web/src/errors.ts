// Turning failures into text for the user.

import { ApiError } from './api';
import { t } from './i18n';

/**
 * What to show for a failed request: the server's own message when it sent
 * one, a translated text for the cases the browser sees on its own.
 */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return t('error.network');
    if (err.code.startsWith('http_') || err.code === 'bad_json') {
      // No {"error":{…}} body: name the status in the user's language.
      if (err.status === 401) return t('error.unauthorized');
      if (err.status === 403) return t('error.forbidden');
      if (err.status === 404) return t('error.notFound');
      if (err.status === 429) return t('error.rateLimited');
      if (err.status >= 500) return t('error.server', { status: err.status });
    }
    return err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

// App-wide state handed down by context: the signed-in user and the language.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Lang } from './i18n';
import type { User } from './types';

export interface Session {
  user: User | null;
  lang: Lang;
}

export const SessionContext = createContext<Session>({ user: null, lang: 'en' });

export function useSession(): Session {
  return useContext(SessionContext);
}

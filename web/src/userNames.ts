// Names for user ids (handlers of cases). Only supervisors and admins may
// list users; everyone else sees ids, except their own name.

import { useEffect, useState } from 'preact/hooks';
import { listAll } from './api';
import { hasRef } from './cases';
import { t } from './i18n';
import { useSession } from './session';
import type { User } from './types';

let cache: Promise<Map<string, User>> | null = null;

function loadUsers(): Promise<Map<string, User>> {
  if (!cache) {
    cache = listAll<User>('users', {}, 20)
      .then((items) => new Map(items.map((u) => [u.id, u])))
      .catch(() => {
        cache = null; // try again next time a page asks
        return new Map<string, User>();
      });
  }
  return cache;
}

/** A function naming a user id: "Alice (you)", "Bob", or the id itself; "" for none. */
export function useUserNames(): (id: string | null | undefined) => string {
  const { user } = useSession();
  const [users, setUsers] = useState<Map<string, User>>(() => new Map());
  const canList = user?.role === 'supervisor' || user?.role === 'admin';
  useEffect(() => {
    if (!canList) return undefined;
    let live = true;
    void loadUsers().then((m) => {
      if (live) setUsers(m);
    });
    return () => {
      live = false;
    };
  }, [canList]);
  return (id) => {
    if (!hasRef(id)) return '';
    if (user && id === user.id) return t('review.you', { name: user.display_name || user.username });
    const u = users.get(id);
    return u ? u.display_name || u.username : id;
  };
}

// Mounted by the shell for the roles that take calls: starts this tab's call
// service, plays the caller (<audio id="call-audio">) whatever page is open,
// and shows the incoming-call banner outside #/calls.

import { createContext, type ComponentChildren } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { navigate } from '../router';
import { useSession } from '../session';
import { isLive, isTransferOffer, takesCalls } from './callState';
import { useCallLine } from './lookups';
import { CallService, type CallsView } from './service';

const CallsContext = createContext<CallService | null>(null);

/** This tab's call service; null for reviewers and before sign-in. */
export function useCallService(): CallService | null {
  return useContext(CallsContext);
}

/** The service's state, re-rendering on every change. */
export function useCallsView(svc: CallService | null): CallsView | null {
  const [view, setView] = useState<CallsView | null>(svc ? svc.view : null);
  useEffect(() => {
    setView(svc ? svc.view : null);
    return svc ? svc.subscribe(setView) : undefined;
  }, [svc]);
  return view;
}

interface HostProps {
  /** The page open now: the banner stays away from #/calls, which lists the calls itself. */
  path: string;
  children: ComponentChildren;
}

export function CallsHost({ path, children }: HostProps) {
  const { user } = useSession();
  const eligible = takesCalls(user?.role);
  const userId = user?.id ?? '';
  const [svc, setSvc] = useState<CallService | null>(null);
  const audioRef = useRef<HTMLAudioElement>(null);

  useEffect(() => {
    if (!eligible || !userId) {
      setSvc(null);
      return undefined;
    }
    const s = new CallService();
    s.setAudioElement(audioRef.current);
    s.start();
    setSvc(s);
    return () => {
      s.setAudioElement(null);
      s.stop();
    };
  }, [eligible, userId]);

  useEffect(() => {
    if (!svc) return undefined;
    // browsers let the ring play once the agent has touched the page
    const unblock = () => svc.unblockRing();
    document.addEventListener('pointerdown', unblock, true);
    document.addEventListener('keydown', unblock, true);
    return () => {
      document.removeEventListener('pointerdown', unblock, true);
      document.removeEventListener('keydown', unblock, true);
    };
  }, [svc]);

  return (
    <CallsContext.Provider value={svc}>
      {children}
      {eligible && <audio id="call-audio" ref={audioRef} autoplay hidden />}
      {svc && <RingState svc={svc} />}
      {svc && path !== '/calls' && <IncomingCall svc={svc} />}
    </CallsContext.Provider>
  );
}

/** #call-ringer: whether the console rings now and whether its sound plays (for tests and assistive tech). */
function RingState({ svc }: { svc: CallService }) {
  const view = useCallsView(svc);
  return <span id="call-ringer" hidden data-ringing={view?.ringing ? 'true' : 'false'} data-ring={view?.ring ?? 'off'} data-sound={view?.ringSound ? 'on' : 'off'} />;
}

/** Asks for the click the browser wants before the ring can sound. */
export function RingBlocked({ svc, view }: { svc: CallService; view: CallsView }) {
  if (view.ring !== 'blocked') return null;
  return (
    <button type="button" class="btn btn-ghost btn-small ring-blocked" id="ring-blocked" onClick={() => svc.unblockRing()}>
      {t('calls.ringBlocked')}
    </button>
  );
}

/** The banner over any page: the oldest call ringing for this agent, with accept. */
function IncomingCall({ svc }: { svc: CallService }) {
  useSession(); // re-render on a language change
  const view = useCallsView(svc);
  const state = view?.state;
  const call = state && state.presence === 'online' && !isLive(state.active) ? state.ringing[0] : undefined;
  const line = useCallLine(call ?? null);
  if (!state || !call) return null;
  const more = state.ringing.length - 1;
  const transfer = isTransferOffer(call);
  return (
    <div class="incoming-call" id="incoming-call" role="alert" data-call-id={call.id} data-transfer={transfer ? 'true' : 'false'}>
      <span class="incoming-call-icon" aria-hidden="true">
        ☎
      </span>
      <div class="incoming-call-text">
        <strong>{t('calls.incoming')}</strong>
        {transfer && (
          <span class="incoming-transfer-from" id="incoming-transfer-from">
            {t('calls.transferFrom', { from: call.transfer_from || t('calls.anotherAgent') })}
          </span>
        )}
        <span class="incoming-call-line">{line}</span>
        {more > 0 && <span class="muted">{t('calls.incomingMore', { n: more })}</span>}
      </div>
      {view && <RingBlocked svc={svc} view={view} />}
      <button
        type="button"
        class="btn btn-primary"
        id="incoming-accept"
        disabled={state.conn !== 'connected'}
        onClick={() => {
          svc.accept(call.id);
          navigate('/calls');
        }}
      >
        {t('calls.accept')}
      </button>
      {transfer && (
        <button type="button" class="btn btn-ghost" id="incoming-decline" disabled={state.conn !== 'connected'} onClick={() => svc.decline(call.id)}>
          {t('calls.decline')}
        </button>
      )}
    </div>
  );
}

// The robot's actions during a call (robot.command): open the gate, send a
// text or a QR code to its display (or its face), speak a prompt, set the
// LED, push a pay code from the parking system; each command's result inline.

import { useState } from 'preact/hooks';
import { requestPayCode, type PayCode } from '../cases';
import { formatDateTime, getLang, t, tEnum } from '../i18n';
import type { ActiveCall, CommandEntry } from './callState';
import { QrCode } from './DisplayMirror';
import { cleanPlate, formatMoney, payCodeUsable } from './parking';
import { parkingErrorText } from './PlateLookup';
import { displayFace, displayQr, displayText, isLedColor, LED_COLORS, openGate, robotTextProblem, voice, type LedColor, type RobotCommand } from './robot';
import type { CallService } from './service';

interface Props {
  svc: CallService;
  a: ActiveCall;
  /** The robot can take commands now (the call is on, the socket connected). */
  enabled: boolean;
  plate: string;
}

const VOICE_PRESETS = ['calls.voicePreset.welcome', 'calls.voicePreset.scanToPay', 'calls.voicePreset.showId', 'calls.voicePreset.noTemporary', 'calls.voicePreset.wait'] as const;

/** A command's outcome in words: sent, the robot's status, or the error. */
export function commandResultText(c: CommandEntry): string {
  if (c.state === 'sent') return t('calls.cmd.sent');
  if (c.state === 'ok') return t('calls.cmd.ok', { status: c.status ?? 200 });
  if (c.code) return t('calls.cmd.error', { error: commandErrorText(c.code, c.message ?? '') });
  return t('calls.cmd.robotStatus', { status: c.status ?? 0 });
}

export function commandErrorText(code: string, message: string): string {
  switch (code) {
    case 'robot_unreachable':
    case 'bad_command':
    case 'evidence_required':
    case 'no_such_call':
    case 'not_yours':
      return message ? `${t(`calls.cmdError.${code}`)} (${message})` : t(`calls.cmdError.${code}`);
    default:
      return message || code;
  }
}

export function RobotPanel({ svc, a, enabled, plate }: Props) {
  const [text, setText] = useState('');
  const [qr, setQr] = useState('');
  const [prompt, setPrompt] = useState('');
  const [color, setColor] = useState<LedColor>('green');
  const [pay, setPay] = useState<{ busy: boolean; code: PayCode | null; error: unknown; ref: string | null }>({ busy: false, code: null, error: null, ref: null });

  const send = (c: RobotCommand) => svc.command(c);
  const textProblem = robotTextProblem(text);
  const qrProblem = robotTextProblem(qr);
  const promptProblem = robotTextProblem(prompt);
  const lang = getLang();

  const pushPayCode = async () => {
    if (pay.busy) return;
    setPay({ busy: true, code: null, error: null, ref: null });
    try {
      const code = await requestPayCode(a.call.case_id, cleanPlate(plate));
      let ref: string | null = null;
      if (payCodeUsable(code, Date.now())) ref = send(displayQr(code.payload));
      setPay({ busy: false, code, error: null, ref });
    } catch (err) {
      setPay({ busy: false, code: null, error: err, ref: null });
    }
  };
  const payCmd = pay.ref ? a.commands.find((c) => c.ref === pay.ref) : undefined;

  return (
    <div class="call-robot" id="call-robot">
      <h2 class="call-section-title">{t('calls.robotActions')}</h2>
      <div class="robot-actions">
        <button type="button" class="btn btn-primary" id="robot-open-gate" disabled={!enabled} onClick={() => send(openGate())}>
          {t('calls.openGate')}
        </button>
        <button type="button" class="btn" id="robot-paycode" disabled={!enabled || pay.busy} onClick={() => void pushPayCode()}>
          {pay.busy ? t('calls.payCodeBusy') : t('calls.payCode')}
        </button>
        <button type="button" class="btn" id="robot-face-send" disabled={!enabled} onClick={() => send(displayFace())}>
          {t('calls.displayFaceSend')}
        </button>
      </div>

      <form
        class="robot-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (enabled && !textProblem) send(displayText(text.trim()));
        }}
      >
        <input id="robot-display-text" type="text" value={text} placeholder={t('calls.displayTextPlaceholder')} aria-label={t('calls.displayText')} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <button type="submit" class="btn" id="robot-display-text-send" disabled={!enabled || !!textProblem}>
          {t('calls.sendToDisplay')}
        </button>
      </form>
      {textProblem === 'too_long' && <p class="form-error">{t('calls.robotTextTooLong')}</p>}

      <form
        class="robot-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (enabled && !qrProblem) send(displayQr(qr.trim()));
        }}
      >
        <input id="robot-qr-payload" type="text" value={qr} placeholder={t('calls.qrPlaceholder')} aria-label={t('calls.qrPayload')} onInput={(e) => setQr((e.target as HTMLInputElement).value)} />
        <button type="submit" class="btn" id="robot-qr-send" disabled={!enabled || !!qrProblem}>
          {t('calls.sendQr')}
        </button>
      </form>
      {qrProblem === 'too_long' && <p class="form-error">{t('calls.robotTextTooLong')}</p>}

      <form
        class="robot-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (enabled && !promptProblem) send(voice(prompt.trim()));
        }}
      >
        <input
          id="robot-voice-prompt"
          type="text"
          list="robot-voice-presets"
          value={prompt}
          placeholder={t('calls.voicePlaceholder')}
          aria-label={t('calls.voicePrompt')}
          onInput={(e) => setPrompt((e.target as HTMLInputElement).value)}
        />
        <datalist id="robot-voice-presets">
          {VOICE_PRESETS.map((k) => (
            <option key={k} value={t(k)} />
          ))}
        </datalist>
        <button type="submit" class="btn" id="robot-voice-send" disabled={!enabled || !!promptProblem}>
          {t('calls.speak')}
        </button>
      </form>
      {promptProblem === 'too_long' && <p class="form-error">{t('calls.robotTextTooLong')}</p>}

      <div class="robot-row">
        <select
          id="robot-led-color"
          value={color}
          aria-label={t('calls.led')}
          onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            if (isLedColor(v)) setColor(v);
          }}
        >
          {LED_COLORS.map((c) => (
            <option key={c} value={c}>
              {tEnum('calls.ledColor', c)}
            </option>
          ))}
        </select>
        <button type="button" class="btn" id="robot-led-send" disabled={!enabled} onClick={() => send({ action: 'led', color })}>
          {t('calls.setLed')}
        </button>
      </div>

      {pay.error !== null && (
        <p class="form-error" id="robot-paycode-error" role="alert">
          {parkingErrorText(pay.error)}
        </p>
      )}
      {pay.code && (
        <div class="robot-paycode-result" id="robot-paycode-result" data-issued={pay.code.issued ? 'true' : 'false'} data-state={payCmd?.state ?? ''}>
          {pay.code.issued ? (
            <>
              <QrCode payload={pay.code.payload} label={t('calls.payCode')} />
              <div>
                {pay.code.amount > 0 && <div class="paycode-amount">{formatMoney(pay.code.amount, pay.code.currency, lang)}</div>}
                {pay.code.expires_at && <div class="muted paycode-expires">{t('calls.payCodeExpires', { at: formatDateTime(pay.code.expires_at) })}</div>}
                {!payCodeUsable(pay.code, Date.now()) && <div class="form-error">{t('calls.payCodeExpired')}</div>}
                {payCmd && <div class={`robot-result-text state-${payCmd.state}`}>{commandResultText(payCmd)}</div>}
              </div>
            </>
          ) : (
            <p class="warning">{t('calls.payCodeNotIssued')}</p>
          )}
          {pay.code.message && <p class="paycode-message">{pay.code.message}</p>}
        </div>
      )}

      {a.commands.length > 0 && (
        <ol class="robot-results" id="robot-results" aria-live="polite">
          {a.commands
            .slice()
            .reverse()
            .map((c) => (
              <li key={c.ref} class={`robot-result state-${c.state}`} data-ref={c.ref} data-action={c.action} data-state={c.state} data-status={c.status === null ? '' : String(c.status)} data-code={c.code ?? ''}>
                <span class="robot-result-action">{c.abnormal ? t('calls.abnormalOpen') : tEnum('calls.action', c.action)}</span>
                {c.detail && <span class="muted robot-result-detail">{c.abnormal ? tEnum('calls.abnormalReason', c.detail) : c.detail}</span>}
                <span class="robot-result-text">{commandResultText(c)}</span>
              </li>
            ))}
        </ol>
      )}
    </div>
  );
}

// What the robot's screen shows now (its reported state), drawn as text: a
// text, a QR code of the payload, or the face/idle glyph; with the gate and
// the plate when the robot says them. Everything the robot sent is text only.

import { t, tEnum } from '../i18n';
import { qrPath } from './qr';
import { readRobotState } from './robot';

export function QrCode({ payload, id, label }: { payload: string; id?: string; label: string }) {
  const p = qrPath(payload);
  if (!p) {
    return (
      <span class="muted qr-unencodable" id={id}>
        {t('calls.qrTooLong')}
      </span>
    );
  }
  return (
    <svg class="qr-code" id={id} viewBox={`0 0 ${p.size} ${p.size}`} role="img" aria-label={label} data-payload={payload} shape-rendering="crispEdges">
      <title>{payload}</title>
      <rect width={p.size} height={p.size} fill="#fff" />
      <path d={p.d} fill="#000" />
    </svg>
  );
}

/** #call-display: the robot display's mirror. */
export function DisplayMirror({ state }: { state: unknown }) {
  const v = readRobotState(state);
  return (
    <div class="call-display-wrap">
      <h2 class="call-section-title">{t('calls.display')}</h2>
      <div class={`call-display mode-${v.mode || 'none'}`} id="call-display" data-mode={v.mode} aria-live="polite">
        {v.mode === 'text' && (
          <p class="call-display-text" id="call-display-text">
            {v.payload || t('common.dash')}
          </p>
        )}
        {v.mode === 'qr' && <QrCode payload={v.payload} id="call-display-qr" label={t('calls.displayQr')} />}
        {v.mode === 'face' && (
          <span class="call-display-face" id="call-display-face" role="img" aria-label={t('calls.displayFace')}>
            ☺
          </span>
        )}
        {v.mode === '' && (
          <p class="muted call-display-empty" id="call-display-empty">
            {t('calls.displayUnknown')}
          </p>
        )}
      </div>
      {(v.gate || v.plate || v.led) && (
        <dl class="call-facts call-robot-facts">
          {v.gate && (
            <>
              <dt>{t('calls.gate')}</dt>
              <dd id="call-robot-gate" data-gate={v.gate}>
                {tEnum('calls.gateState', v.gate)}
              </dd>
            </>
          )}
          {v.plate && (
            <>
              <dt>{t('calls.plate')}</dt>
              <dd id="call-robot-plate" class="mono">
                {v.plate}
              </dd>
            </>
          )}
          {v.led && (
            <>
              <dt>{t('calls.led')}</dt>
              <dd id="call-robot-led" data-led={v.led}>
                {tEnum('calls.ledColor', v.led)}
              </dd>
            </>
          )}
        </dl>
      )}
    </div>
  );
}

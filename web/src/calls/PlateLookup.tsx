// Plate entry or correction and its look-up in the parking system
// (POST /cases/{id}/plate): found or not, entry time, fee, paid, permit,
// vehicle class, the parking system's message, and the vehicle's
// entry/exit photos (kept as evidence of the case by the server).

import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { lookupPlate, type PlateLookup as Lookup } from '../cases';
import { errorText } from '../errors';
import { formatDateTime, getLang, t } from '../i18n';
import { cleanPlate, feeText, parkingFailure, permitFacts, photosDropped, platePhotos, PLATE_MAX } from './parking';

interface Props {
  caseId: string;
  /** The robot's plate (its state), filled in while the agent has typed nothing. */
  robotPlate: string;
  plate: string;
  onPlate: (p: string) => void;
}

export function parkingErrorText(err: unknown): string {
  if (err instanceof ApiError && err.status > 0) {
    const f = parkingFailure(err.status, err.code);
    if (f !== 'other') return t(`calls.parking.${f}`, { error: errorText(err) });
  }
  return errorText(err);
}

export function PlateLookup({ caseId, robotPlate, plate, onPlate }: Props) {
  const [typed, setTyped] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Lookup | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (!typed && robotPlate && robotPlate !== plate) onPlate(robotPlate);
  }, [robotPlate, typed]);

  const clean = cleanPlate(plate);
  const look = async () => {
    if (!clean || busy) return;
    setBusy(true);
    setError(null);
    try {
      setResult(await lookupPlate(caseId, clean));
    } catch (err) {
      setResult(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="call-plate">
      <h2 class="call-section-title">{t('calls.plateTitle')}</h2>
      <form
        class="call-plate-row"
        onSubmit={(e) => {
          e.preventDefault();
          void look();
        }}
      >
        <input
          id="call-plate-input"
          class="mono"
          type="text"
          value={plate}
          maxLength={PLATE_MAX + 4}
          autocomplete="off"
          spellcheck={false}
          placeholder={t('calls.platePlaceholder')}
          aria-label={t('calls.plate')}
          onInput={(e) => {
            setTyped(true);
            onPlate((e.target as HTMLInputElement).value);
          }}
        />
        <button type="submit" class="btn" id="call-plate-lookup" disabled={!clean || busy}>
          {busy ? t('calls.plateLooking') : t('calls.plateLookup')}
        </button>
      </form>
      {error !== null && (
        <p class="form-error" id="call-plate-error" data-status={error instanceof ApiError ? String(error.status) : ''} role="alert">
          {parkingErrorText(error)}
        </p>
      )}
      {result && <LookupResult l={result} />}
    </div>
  );
}

function LookupResult({ l }: { l: Lookup }) {
  const lang = getLang();
  if (!l.found) {
    return (
      <div class="call-plate-result" id="call-plate-result" data-found="false">
        <p class="warning">{t('calls.plateNotFound')}</p>
        {l.message && <p class="plate-message">{l.message}</p>}
      </div>
    );
  }
  const permit = permitFacts(l);
  const fee = feeText(l, lang);
  return (
    <div class="call-plate-result" id="call-plate-result" data-found="true" data-paid={l.paid ? 'true' : 'false'}>
      <dl class="call-facts">
        <dt>{t('calls.plate')}</dt>
        <dd class="mono plate-found">{l.plate}</dd>
        <dt>{t('calls.plateEntry')}</dt>
        <dd class="plate-entry-time">{l.entry_time ? formatDateTime(l.entry_time) : t('common.dash')}</dd>
        {l.exit_time && (
          <>
            <dt>{t('calls.plateExit')}</dt>
            <dd class="plate-exit-time">{formatDateTime(l.exit_time)}</dd>
          </>
        )}
        <dt>{t('calls.plateFee')}</dt>
        <dd class="plate-fee" data-minor={String(l.fee_due)} data-currency={l.currency}>
          {fee || t('calls.plateNoFee')}
        </dd>
        <dt>{t('calls.platePaid')}</dt>
        <dd class="plate-paid">{l.paid ? t('calls.yes') : t('calls.no')}</dd>
        <dt>{t('calls.platePermit')}</dt>
        <dd class="plate-permit" data-expired={permit?.expired ? 'true' : 'false'}>
          {!permit
            ? t('calls.plateNoPermit')
            : permit.expired
              ? t('calls.permitExpired', { kind: permit.kind || t('common.dash'), days: permit.expiredDays })
              : permit.validUntil
                ? t('calls.permitValid', { kind: permit.kind || t('common.dash'), until: formatDateTime(permit.validUntil) })
                : permit.kind}
        </dd>
        <dt>{t('calls.plateClass')}</dt>
        <dd class="plate-class">
          {l.vehicle_class || t('common.dash')}
          {l.whitelisted ? ` · ${t('calls.whitelisted')}` : ''}
        </dd>
      </dl>
      {l.message && <p class="plate-message">{l.message}</p>}
      <VehiclePhotos l={l} />
      {l.case_plate && (
        <p class="muted plate-stored" data-plate={l.case_plate}>
          {t('calls.plateStored', { plate: l.case_plate })}
        </p>
      )}
    </div>
  );
}

/** The vehicle's photos as thumbnails, each opening large in a new tab like the call's snapshots. */
function VehiclePhotos({ l }: { l: Lookup }) {
  const photos = platePhotos(l);
  const dropped = photosDropped(l);
  const failed = l.photos_error;
  if (photos.length === 0 && dropped === 0 && !failed) return null;
  return (
    <div class="plate-photos" id="call-plate-photos" data-count={String(photos.length)}>
      {photos.length > 0 && <h3 class="plate-photos-title">{t('calls.platePhotos')}</h3>}
      {photos.length > 0 && (
        <div class="plate-photo-list">
          {photos.map((p) => {
            const time = formatDateTime(p.takenAt);
            return (
              <figure key={p.evidenceId} class="plate-photo-item">
                <a href={p.src} target="_blank" rel="noopener noreferrer" title={t('calls.platePhotoOpen')}>
                  <img class="plate-photo" data-kind={p.kind} data-evidence-id={p.evidenceId} src={p.src} alt={t(`calls.platePhotoAlt.${p.kind}`, { plate: l.plate, time })} />
                </a>
                <figcaption class="muted plate-photo-caption">
                  {t(`calls.platePhoto.${p.kind}`)} · <time dateTime={p.takenAt}>{time}</time>
                </figcaption>
              </figure>
            );
          })}
        </div>
      )}
      {failed && (
        <p class="warning plate-photos-error" id="call-plate-photos-error" data-code={failed.code}>
          {t('calls.platePhotosNotSaved', { error: failed.message })}
        </p>
      )}
      {dropped > 0 && (
        <p class="muted plate-photos-dropped" data-dropped={String(dropped)}>
          {t('calls.platePhotosDropped', { n: dropped })}
        </p>
      )}
    </div>
  );
}

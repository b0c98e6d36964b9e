import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { t } from '../i18n';

interface ModalProps {
  id: string;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
}

/** A dialog over the page; Escape or the × closes it, the first field gets the focus. */
export function Modal({ id, title, onClose, children, wide }: ModalProps) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    const first =
      el?.querySelector<HTMLElement>('[data-autofocus]') ??
      el?.querySelector<HTMLElement>('input:not([type=hidden]):not([readonly]), select, textarea');
    first?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class="modal-backdrop">
      <div class={wide ? 'modal modal-wide' : 'modal'} id={id} role="dialog" aria-modal="true" aria-labelledby={`${id}-title`} ref={ref}>
        <div class="modal-head">
          <h2 id={`${id}-title`}>{title}</h2>
          <button type="button" class="btn btn-ghost btn-icon" aria-label={t('action.close')} title={t('action.close')} onClick={onClose}>
            ×
          </button>
        </div>
        <div class="modal-body">{children}</div>
      </div>
    </div>
  );
}

interface ConfirmProps {
  title: string;
  message: string;
  confirmLabel: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

/** Asks before something that can't be undone; buttons #confirm-ok and #confirm-cancel. */
export function ConfirmDialog({ title, message, confirmLabel, busy, onConfirm, onCancel }: ConfirmProps) {
  return (
    <Modal id="confirm-dialog" title={title} onClose={onCancel}>
      <p class="confirm-message">{message}</p>
      <div class="form-actions">
        <button type="button" id="confirm-cancel" class="btn" data-autofocus onClick={onCancel}>
          {t('action.cancel')}
        </button>
        <button type="button" id="confirm-ok" class="btn btn-danger" disabled={busy} onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </Modal>
  );
}

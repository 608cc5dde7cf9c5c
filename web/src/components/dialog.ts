// Modal dialogs on <dialog> (focus kept inside, Escape closes, focus goes
// back to what opened it).
import { h, type Child } from '../dom';
import { t } from '../i18n';

export interface ConfirmOptions {
  title: string;
  body: string;
  confirmLabel: string;
  danger?: boolean;
  testid?: string;
}

// Resolves true when the user confirms, false when they cancel or press Escape.
export function confirmDialog(opts: ConfirmOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = 'dlg-title-' + Math.random().toString(36).slice(2);
    const dialog = h('dialog', {
      class: 'dialog',
      'aria-labelledby': titleId,
      'data-testid': opts.testid ?? 'confirm-dialog',
    });
    const done = (ok: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    dialog.append(
      h('h2', { id: titleId }, opts.title),
      h('p', {}, opts.body),
      h(
        'div',
        { class: 'dialog-buttons' },
        h('button', { type: 'button', onclick: () => done(false), 'data-testid': 'confirm-cancel' }, t('action.cancel')),
        h(
          'button',
          {
            type: 'button',
            class: opts.danger ? 'danger' : 'primary',
            onclick: () => done(true),
            'data-testid': 'confirm-ok',
          },
          opts.confirmLabel,
        ),
      ),
    );
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A modal with arbitrary content; returns a function that closes it.
export function openDialog(title: string, content: Child[], testid: string, onClose?: () => void): () => void {
  const titleId = 'dlg-title-' + Math.random().toString(36).slice(2);
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId, 'data-testid': testid });
  const close = () => {
    if (!dialog.isConnected) return;
    dialog.close();
    dialog.remove();
    onClose?.();
  };
  dialog.append(h('h2', { id: titleId }, title), ...content.filter((c): c is Node | string => !!c && typeof c !== 'number'));
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    close();
  });
  document.body.append(dialog);
  dialog.showModal();
  return close;
}

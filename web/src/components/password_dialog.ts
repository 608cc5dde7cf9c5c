// Set a user's password in a running guest (POST /v1/servers/NAME/password,
// through the guest agent): user (root by default), the password twice.
// kumod's error (a silent agent: use rescue) is shown in the dialog.
import type { PanelContext } from '../context';
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import { openDialog } from './dialog';
import { errorContent } from './error_content';

export function openPasswordDialog(ctx: PanelContext, name: string): void {
  const id = 'pw-' + Math.random().toString(36).slice(2);
  const user = h('input', {
    id: id + '-user',
    name: 'user',
    value: 'root',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    'data-testid': 'password-user',
  });
  const password = h('input', {
    id: id + '-pw',
    type: 'password',
    required: true,
    autocomplete: 'new-password',
    'data-testid': 'password-input',
  });
  const mismatchId = id + '-mismatch';
  const confirm = h('input', {
    id: id + '-confirm',
    type: 'password',
    required: true,
    autocomplete: 'new-password',
    'aria-describedby': mismatchId,
    'data-testid': 'password-confirm',
  });
  const mismatch = h('p', { id: mismatchId, class: 'field-error' });
  const error = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'password-error' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'password-submit' }, t('password.submit'));
  const cancel = h('button', { type: 'button', 'data-testid': 'password-cancel' }, t('action.cancel'));
  const form = h(
    'form',
    { class: 'dialog-form' },
    h('p', { class: 'help' }, t('password.help')),
    h('label', { for: user.id }, t('password.user')),
    user,
    h('label', { for: password.id }, t('password.password')),
    password,
    h('label', { for: confirm.id }, t('password.confirm')),
    confirm,
    mismatch,
    error,
    h('div', { class: 'dialog-buttons' }, cancel, submit),
  );
  const close = openDialog(t('password.title', { name }), [form], 'password-dialog');
  cancel.addEventListener('click', close);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    mismatch.textContent = '';
    confirm.removeAttribute('aria-invalid');
    if (password.value !== confirm.value) {
      mismatch.textContent = t('password.mismatch');
      confirm.setAttribute('aria-invalid', 'true');
      confirm.focus();
      return;
    }
    if (submit.getAttribute('aria-busy') === 'true') return;
    submit.setAttribute('aria-busy', 'true');
    submit.disabled = true;
    try {
      const answer = await ctx.api.setPassword(name, password.value, user.value.trim());
      password.value = '';
      confirm.value = '';
      const done = h('button', { type: 'button', class: 'primary', 'data-testid': 'password-done', onclick: close }, t('action.close'));
      replaceChildren(
        form,
        h('p', { role: 'status', 'data-testid': 'password-ok' }, t('password.done', { user: user.value.trim() })),
        answer?.set_in ? h('p', { class: 'reason', 'data-testid': 'password-set-in' }, answer.set_in) : null,
        h('div', { class: 'dialog-buttons' }, done),
      );
      done.focus();
    } catch (err) {
      replaceChildren(error, ...errorContent(err));
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });
  password.focus();
}

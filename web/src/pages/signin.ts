// Sign-in: the API token is exchanged for a session cookie (POST
// /v1/session) and forgotten; it is never put in a URL or in storage.
import { ApiError, type Api } from '../api';
import { h } from '../dom';
import { languageSwitch } from '../components/language_switch';
import { t } from '../i18n';

export function mountSignIn(el: HTMLElement, api: Api, onSignedIn: () => void): () => void {
  const input = h('input', {
    id: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'token-help',
    'data-testid': 'signin-token',
  });
  const error = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'signin-error' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'signin-submit' }, t('signin.submit'));
  const form = h(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, t('signin.title')),
    h('label', { for: 'token' }, t('signin.token')),
    input,
    h('p', { id: 'token-help', class: 'help' }, t('signin.token_help')),
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    submit.textContent = t('signin.working');
    try {
      await api.signIn(input.value.trim());
      input.value = '';
      onSignedIn();
    } catch (err) {
      const message = err instanceof ApiError ? err.message : String(err);
      error.textContent = t('signin.failed', { message });
      input.setAttribute('aria-invalid', 'true');
      submit.disabled = false;
      submit.textContent = t('signin.submit');
      input.focus();
    }
  });
  el.replaceChildren(
    h('main', { id: 'main', class: 'signin-page' }, form, h('div', { class: 'signin-lang' }, ...languageSwitch('signin-lang'))),
  );
  input.focus();
  return () => {};
}

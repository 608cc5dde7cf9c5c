// The "New server" dialog: name, image, vCPUs, memory, disk, SSH key and
// user data (with a sample init script to start from) → POST /v1/servers.
// kumod is the authority on what is valid: its message (and hint) is shown
// at the field it names, else at the top of the form. After 201 the dialog
// follows the new server through its boot from the watch stream (status,
// task, reason, the latest event) and offers its page; it may be closed at
// any time (the list's row keeps the spinner).
import { ApiError, type Server, type ServerEvent } from '../api';
import type { PanelContext } from '../context';
import { buildCreateRequest, createStep, errorField, kCreateFields, kSampleUserData, type CreateField, type CreateValues } from '../create_spec';
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import { routeHash } from '../router';
import { openDialog } from './dialog';
import { errorContent } from './error_content';
import { statusBadge } from './status_badge';

const kSteps = ['creating', 'starting', 'running'] as const;

type Input = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

const kTestIds: Record<CreateField, string> = {
  name: 'create-name',
  image: 'create-image',
  vcpus: 'create-vcpus',
  memory_mib: 'create-memory',
  disk_gib: 'create-disk',
  ssh_key: 'create-ssh-key',
  user_data: 'create-user-data',
};

export function openCreateDialog(ctx: PanelContext): void {
  const id = 'create-' + Math.random().toString(36).slice(2);
  const fid = (f: string) => `${id}-${f}`;
  const num = (f: CreateField, value: number, min: number, max: number) =>
    h('input', { id: fid(f), type: 'number', inputmode: 'numeric', value, min, max, step: 1, required: true });

  const image = h('select', { id: fid('image'), required: true }, h('option', { value: '' }, t('create.images_loading')));
  const inputs: Record<CreateField, Input> = {
    name: h('input', { id: fid('name'), required: true, autocomplete: 'off', spellcheck: 'false' }),
    image,
    vcpus: num('vcpus', 1, 1, 64),
    memory_mib: num('memory_mib', 256, 64, 1048576),
    // Empty: kumod makes the disk the image's size (a smaller one is refused).
    disk_gib: h('input', { id: fid('disk_gib'), type: 'number', inputmode: 'numeric', min: 1, max: 4096, step: 1 }),
    ssh_key: h('textarea', { id: fid('ssh_key'), rows: 3, spellcheck: 'false', placeholder: 'ssh-ed25519 AAAA… user@host' }),
    user_data: h('textarea', { id: fid('user_data'), rows: 7, spellcheck: 'false' }),
  };
  const errors = {} as Record<CreateField, HTMLElement>;
  const help: Partial<Record<CreateField, string>> = {
    name: 'create.name_help',
    disk_gib: 'create.disk_help',
    ssh_key: 'create.ssh_key_help',
    user_data: 'create.user_data_help',
  };

  const field = (f: CreateField, extra?: Node) => {
    const input = inputs[f];
    input.setAttribute('data-testid', kTestIds[f]);
    input.setAttribute('name', f);
    errors[f] = h('p', { id: fid(f) + '-error', class: 'field-error', 'data-testid': `error-${f}` });
    const helpKey = help[f];
    const helpEl = helpKey ? h('p', { id: fid(f) + '-help', class: 'help' }, t(helpKey)) : null;
    input.setAttribute('aria-describedby', [helpEl ? helpEl.id : '', errors[f].id].filter(Boolean).join(' '));
    return h('div', { class: `field field-${f}` }, h('label', { for: input.id }, t(`create.${f}`)), input, helpEl, extra ?? null, errors[f]);
  };

  const sample = h('button', { type: 'button', class: 'small', 'data-testid': 'create-sample' }, t('create.sample'));
  sample.addEventListener('click', () => {
    inputs.user_data.value = kSampleUserData;
    inputs.user_data.focus();
  });

  const formError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'create-error' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'create-submit' }, t('create.submit'));
  const closeButton = h('button', { type: 'button', 'data-testid': 'create-close' }, t('action.close'));
  const form = h(
    'form',
    { class: 'dialog-form create-form' },
    formError,
    field('name'),
    field('image'),
    h('div', { class: 'field-row' }, field('vcpus'), field('memory_mib'), field('disk_gib')),
    field('ssh_key'),
    field('user_data', sample),
  );
  const progress = h('div', { class: 'create-progress', 'data-testid': 'create-progress', 'aria-live': 'polite', hidden: true });
  const buttons = h('div', { class: 'dialog-buttons' }, closeButton, submit);
  form.append(buttons);
  const body = h('div', {}, form, progress);

  // The watch, from before the POST: messages about the new server can
  // come before its 201.
  let creating = '';
  let record: Server | null = null;
  let lastEvent: ServerEvent | null = null;
  let warnings: string[] = []; // the create answer's: what the image will not do with the user data
  let created = false;
  const unsubscribe = ctx.watch.subscribe({
    message: (m) => {
      if (!creating || m.server !== creating) return;
      if (m.record) record = m.record;
      if (m.event) lastEvent = m.event;
      if (created) paintProgress();
    },
  });
  const close = openDialog(t('create.title'), [body], 'create-dialog', unsubscribe);
  closeButton.addEventListener('click', close);

  void ctx.api.listImages().then(
    ({ images }) => {
      replaceChildren(image, ...images.map((im) => h('option', { value: im.name }, im.name)));
      const preferred = images.find((im) => im.name === 'kumo-guest') ?? images[0];
      if (preferred) image.value = preferred.name;
    },
    (e) => {
      replaceChildren(image, h('option', { value: '' }, t('create.images_failed')));
      showError(errors.image, e);
    },
  );

  const clearErrors = () => {
    formError.textContent = '';
    for (const f of kCreateFields) {
      errors[f].textContent = '';
      inputs[f].removeAttribute('aria-invalid');
    }
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.getAttribute('aria-busy') === 'true') return;
    clearErrors();
    const values = Object.fromEntries(kCreateFields.map((f) => [f, inputs[f].value])) as unknown as CreateValues;
    const spec = buildCreateRequest(values);
    creating = spec.name;
    record = null;
    lastEvent = null;
    submit.setAttribute('aria-busy', 'true');
    submit.disabled = true;
    submit.textContent = t('create.working');
    try {
      const server = await ctx.api.createServer(spec);
      warnings = server.warnings ?? [];
      record ??= server;
      created = true;
      form.hidden = true;
      progress.hidden = false;
      submit.remove();
      body.append(buttons);
      paintProgress();
      closeButton.focus();
    } catch (err) {
      creating = '';
      const f = err instanceof ApiError ? errorField(err.field) : null;
      if (f) {
        showError(errors[f], err);
        inputs[f].setAttribute('aria-invalid', 'true');
        inputs[f].focus();
      } else {
        showError(formError, err);
        formError.scrollIntoView?.({ block: 'nearest' });
      }
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
      submit.textContent = t('create.submit');
    }
  });

  const paintProgress = () => {
    const s = record;
    if (!s) return;
    const step = createStep(s);
    progress.setAttribute('data-status', s.status);
    const open = h(
      'a',
      { class: step === 'running' ? 'button primary' : 'button', href: routeHash({ page: 'server', name: s.name }), 'data-testid': 'create-open-server' },
      t('create.open_server'),
    );
    open.addEventListener('click', close);
    const reached = kSteps.indexOf(step as (typeof kSteps)[number]);
    const steps = h(
      'ol',
      { class: 'create-steps' },
      ...kSteps.map((k, i) => {
        const state = reached < 0 ? 'todo' : i < reached || step === 'running' ? 'done' : i === reached ? 'now' : 'todo';
        return h(
          'li',
          { class: `step-${state}`, 'aria-current': state === 'now' ? 'step' : null },
          h('span', { class: 'step-mark', 'aria-hidden': 'true' }, state === 'done' ? '✓' : state === 'now' ? '…' : '○'),
          ' ',
          t(`create.steps.${k}`),
          state === 'done' ? h('span', { class: 'visually-hidden' }, ' ', t('create.steps.done')) : null,
        );
      }),
    );
    replaceChildren(
      progress,
      steps,
      h('p', { class: 'create-step' }, statusBadge(s.status), ' ', t(`create.step.${step}`, { name: s.name })),
      s.status_reason ? h('p', { class: 'reason', 'data-testid': 'create-reason' }, s.status_reason) : null,
      lastEvent && lastEvent.message !== s.status_reason ? h('p', { class: 'create-event', 'data-testid': 'create-event' }, lastEvent.message) : null,
      warnings.length
        ? h(
            'div',
            { class: 'notice create-warnings', 'data-testid': 'create-warnings' },
            h('p', {}, t('create.warnings')),
            h('ul', {}, ...warnings.map((w) => h('li', {}, w))),
          )
        : null,
      h('p', {}, open),
    );
  };

  inputs.name.focus();
}

function showError(el: HTMLElement, err: unknown): void {
  replaceChildren(el, ...errorContent(err));
}

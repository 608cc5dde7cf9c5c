// A server's actions as buttons: start, stop, force stop, reboot, force
// reboot, rescue, leave rescue, set password, delete. A disabled button says
// why beside the bar (one line); force stop is pushed forward while the
// agent does not answer. The ones that lose data ask first. A request in
// flight marks its button busy (a second click does nothing); an error is
// shown, with its hint, under the bar until the next action. Used in the
// list (compact: the power actions) and on the server page (all).
//
// Callers build a new bar on each change of the server; what is in flight,
// the last error and the focused button carry over to the new bar.
import type { Server } from '../api';
import type { PanelContext } from '../context';
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import { actionStates, barActions, barReason, deleteIsForced, type ActionKey } from '../status';
import { errorContent } from './error_content';
import { callAction, confirmAction } from './server_action';
import { openPasswordDialog } from './password_dialog';

export interface ActionsBarOptions {
  compact?: boolean;
}

interface Bar {
  el: HTMLElement;
  compact: boolean;
  paint(): void;
}

// Per server: the action in flight, the last error, the live bars.
const inFlight = new Map<string, ActionKey>();
const lastError = new Map<string, unknown>();
const bars = new Map<string, Set<Bar>>();

function repaint(name: string): void {
  const set = bars.get(name);
  if (!set) return;
  for (const bar of set) {
    if (bar.el.isConnected) bar.paint();
    else set.delete(bar);
  }
  if (set.size === 0) bars.delete(name);
}

// The button (data-action) focused in a live bar of this server ('' for
// the bar itself), so that a rebuilt bar can take the focus over.
function focusedAction(name: string, compact: boolean): string | null {
  const active = document.activeElement;
  for (const bar of bars.get(name) ?? []) {
    if (bar.compact === compact && active instanceof HTMLElement && bar.el.contains(active)) {
      return active.dataset.action ?? '';
    }
  }
  return null;
}

let nextId = 0;

export function actionsBar(ctx: PanelContext, server: Server, opts: ActionsBarOptions = {}): HTMLElement {
  const compact = opts.compact ?? false;
  const name = server.name;
  const states = actionStates(server);
  const keys = barActions(compact);
  const reasonKey = barReason(states, keys, compact);
  const reasonId = `action-reason-${++nextId}`;

  const buttons = new Map<ActionKey, HTMLButtonElement>();
  for (const key of keys) {
    const st = states[key];
    const describe = !st.enabled && st.reasonKey === reasonKey ? reasonId : null;
    const button = h(
      'button',
      {
        type: 'button',
        class: ['action', st.recommended && st.enabled ? 'recommended' : '', key === 'delete' ? 'danger-outline' : '']
          .filter(Boolean)
          .join(' '),
        disabled: !st.enabled,
        title: !st.enabled && st.reasonKey ? t(st.reasonKey) : null,
        'aria-describedby': describe,
        'data-action': key,
        'data-testid': `action-${key}`,
        onclick: () => void run(ctx, server, key, compact),
      },
      h('span', { class: 'btn-spinner', 'aria-hidden': 'true' }),
      t('action.' + key),
    );
    buttons.set(key, button);
  }
  const group = h(
    'div',
    { class: 'action-buttons', role: 'group', tabindex: '-1', 'aria-label': t('actions.label', { name }) },
    ...buttons.values(),
  );
  const reason = h(
    'p',
    { id: reasonId, class: 'action-reason', 'data-testid': 'action-reason' },
    reasonKey ? t(reasonKey) : '',
  );
  const error = h('div', { class: 'action-error', role: 'alert', 'data-testid': 'action-error' });
  const el = h(
    'div',
    { class: compact ? 'actions compact' : 'actions', 'data-testid': 'actions', 'data-server': name },
    group,
    reason,
    error,
  );

  const bar: Bar = {
    el,
    compact,
    paint() {
      const busyKey = inFlight.get(name);
      for (const [key, button] of buttons) {
        const busy = key === busyKey;
        button.classList.toggle('busy', busy);
        if (busy) {
          button.setAttribute('aria-busy', 'true');
          button.setAttribute('aria-disabled', 'true');
        } else {
          button.removeAttribute('aria-busy');
          button.removeAttribute('aria-disabled');
        }
      }
      if (lastError.has(name)) replaceChildren(error, ...errorContent(lastError.get(name)));
      else error.textContent = '';
    },
  };

  const focused = focusedAction(name, compact);
  let set = bars.get(name);
  if (!set) bars.set(name, (set = new Set()));
  for (const old of set) if (!old.el.isConnected) set.delete(old);
  set.add(bar);
  bar.paint();
  // The focused button, or the bar when that button is now disabled (a
  // keyboard user stays where they were).
  if (focused !== null) {
    queueMicrotask(() => {
      const active = document.activeElement;
      if (!el.isConnected || (active && active !== document.body && active.isConnected)) return;
      const target = focused ? el.querySelector<HTMLButtonElement>(`[data-action="${focused}"]`) : null;
      (target && !target.disabled ? target : group).focus();
    });
  }
  return el;
}

async function run(ctx: PanelContext, server: Server, key: ActionKey, compact: boolean): Promise<void> {
  const name = server.name;
  if (inFlight.get(name) === key) return;
  lastError.delete(name);
  repaint(name);

  if (key === 'set_password') {
    openPasswordDialog(ctx, name);
    return;
  }
  const forcedDelete = key === 'delete' && deleteIsForced(server);
  if (!(await confirmAction(name, key, forcedDelete))) return;

  inFlight.set(name, key);
  repaint(name);
  try {
    await callAction(ctx.api, name, key, forcedDelete);
    if (key === 'delete' && !compact) ctx.navigate({ page: 'list' });
  } catch (e) {
    lastError.set(name, e);
  } finally {
    if (inFlight.get(name) === key) inFlight.delete(name);
    repaint(name);
  }
}

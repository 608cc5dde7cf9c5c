// Pure decisions about what the panel shows for a server: the status's icon
// and label, and which actions are offered (and why one is not). Kept apart
// from the DOM so that test/status.test.ts checks them as a table.
import type { Server, Status } from './api';

export type StatusIcon = 'spinner' | 'bang' | 'dot' | 'square' | 'cross';

// Icon plus text for every status, never colour alone.
export function statusIcon(status: Status): StatusIcon {
  switch (status) {
    case 'pending':
      return 'spinner';
    case 'warning':
      return 'bang';
    case 'running':
      return 'dot';
    case 'stopped':
      return 'square';
    case 'error':
      return 'cross';
  }
}

export function statusLabelKey(status: Status): string {
  return 'status.' + status;
}

export type ActionKey =
  | 'start'
  | 'stop'
  | 'power_button'
  | 'force_stop'
  | 'reboot'
  | 'force_reboot'
  | 'rescue'
  | 'unrescue'
  | 'set_password'
  | 'delete';

export interface ActionState {
  enabled: boolean;
  // Why it is disabled (a translation key), shown beside the button.
  reasonKey?: string;
  // Offered in place of a disabled one: force stop while the agent is down.
  recommended?: boolean;
}

// The same rules as the core's (src/core/server_core.cc): a graceful stop or
// reboot needs the agent; force stop always works; start needs the power
// off; one task at a time, except force stop and force delete.
export function actionStates(s: Server): Record<ActionKey, ActionState> {
  const busy = s.task !== 'none';
  const on = s.power === 'running' || s.power === 'paused' || s.power === 'crashed';
  const agentDown = s.agent !== 'ok';
  const busyReason = busy ? 'reason.busy' : undefined;
  const needsIdle = (ok: boolean, reasonKey: string): ActionState =>
    busy ? { enabled: false, reasonKey: busyReason } : ok ? { enabled: true } : { enabled: false, reasonKey };

  const graceful = (): ActionState => {
    if (busy) return { enabled: false, reasonKey: busyReason };
    if (!on) return { enabled: false, reasonKey: 'reason.not_running' };
    if (s.power === 'crashed') return { enabled: false, reasonKey: 'reason.crashed' };
    if (agentDown) return { enabled: false, reasonKey: 'reason.agent_down' };
    return { enabled: true };
  };
  const stop = graceful();
  const reboot = graceful();
  // Force stop is pushed forward when it is the way out: the guest cannot
  // be asked (agent down, crashed), or the server is in trouble (warning:
  // a task overran; error). Not during every boot, when stop waits only
  // because a task is under way.
  const troubled = s.status === 'warning' || s.status === 'error';
  const forceNeeded = on && s.task !== 'deleting' && ((!busy && !stop.enabled) || troubled);
  return {
    start: needsIdle(!on, s.power === 'crashed' ? 'reason.crashed' : 'reason.already_running'),
    stop,
    force_stop: on || busy
      ? { enabled: s.task !== 'deleting', reasonKey: s.task === 'deleting' ? busyReason : undefined, recommended: forceNeeded }
      : { enabled: false, reasonKey: 'reason.not_running' },
    // The ACPI power button: the middle way while the agent does not answer
    // (the guest's OS shuts down by itself, if it still can); it needs a
    // running, not crashed or paused, machine and no other task.
    power_button: busy
      ? { enabled: false, reasonKey: busyReason }
      : s.power === 'running'
        ? { enabled: true }
        : { enabled: false, reasonKey: s.power === 'crashed' ? 'reason.crashed' : 'reason.not_running' },
    reboot,
    force_reboot: busy
      ? { enabled: false, reasonKey: busyReason }
      : on
        ? { enabled: true, recommended: !reboot.enabled }
        : { enabled: false, reasonKey: 'reason.not_running' },
    rescue: needsIdle(s.boot_mode !== 'rescue' || !on, 'reason.in_rescue'),
    unrescue: needsIdle(s.boot_mode === 'rescue', 'reason.not_in_rescue'),
    set_password: busy
      ? { enabled: false, reasonKey: busyReason }
      : !on
        ? { enabled: false, reasonKey: 'reason.not_running' }
        : agentDown
          ? { enabled: false, reasonKey: 'reason.agent_down' }
          : { enabled: true },
    delete: s.task === 'deleting' ? { enabled: false, reasonKey: busyReason } : { enabled: true },
  };
}

// The buttons a bar shows, in order: the power button and force stop sit
// right after stop, so that while the agent is down the ways out are where
// the user looks first (the compact bar of a list row: force stop).
export const kAllActions: readonly ActionKey[] = [
  'start', 'stop', 'power_button', 'force_stop', 'reboot', 'force_reboot', 'rescue', 'unrescue', 'set_password', 'delete',
];
export const kCompactActions: readonly ActionKey[] = ['start', 'stop', 'force_stop'];

export function barActions(compact: boolean): readonly ActionKey[] {
  return compact ? kCompactActions : kAllActions;
}

// Reasons that only repeat what the status already says; in a compact bar
// (one per list row, beside the status) "busy" too: the spinner says it.
const kPlainReasons = new Set(['reason.not_running', 'reason.already_running', 'reason.in_rescue', 'reason.not_in_rescue']);
const kCompactPlainReasons = new Set([...kPlainReasons, 'reason.busy']);

// The one line of reason beside a bar: a disabled stop's reason first (the
// seed incident: "the agent does not answer, force stop works"), else the
// first reason among the shown buttons that says more than the status does.
// In a compact bar (one per list row) a stop that is off only because the
// server is off says nothing.
export function barReason(states: Record<ActionKey, ActionState>, keys: readonly ActionKey[], compact: boolean): string | undefined {
  const stop = states.stop;
  const plain = compact ? kCompactPlainReasons : kPlainReasons;
  if (keys.includes('stop') && !stop.enabled && stop.reasonKey && !(compact && plain.has(stop.reasonKey))) {
    return stop.reasonKey;
  }
  for (const key of keys) {
    const st = states[key];
    if (!st.enabled && st.reasonKey && !plain.has(st.reasonKey)) return st.reasonKey;
  }
  return undefined;
}

// Actions that ask first (texts confirm.* in common.json): the ones that
// lose unsaved data or the server itself.
export function needsConfirm(key: ActionKey): boolean {
  return key === 'force_stop' || key === 'force_reboot' || key === 'delete' || key === 'rescue';
}

// Deleting a server that is on must be forced (kumod powers it off first);
// the confirmation says so.
export function deleteIsForced(s: Server): boolean {
  return s.power !== 'off' || s.task !== 'none';
}

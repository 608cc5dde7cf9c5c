// A diagnosis finding's one-click way out: the same API call and the same
// confirmation as the actions bar (force stop, force reboot and rescue ask
// first, with the confirm.* texts). Resolves with the API's error message,
// or null when it went through or the user cancelled.
import { ApiError, type ActionName } from '../api';
import type { PanelContext } from '../context';
import { t } from '../i18n';
import { confirmDialog } from './dialog';

interface Call {
  action: ActionName;
  force: boolean;
  confirm?: 'force_stop' | 'force_reboot' | 'rescue';
}

const kCalls: Record<string, Call> = {
  start: { action: 'start', force: false },
  stop: { action: 'stop', force: false },
  force_stop: { action: 'stop', force: true, confirm: 'force_stop' },
  reboot: { action: 'reboot', force: false },
  force_reboot: { action: 'reboot', force: true, confirm: 'force_reboot' },
  rescue: { action: 'rescue', force: false, confirm: 'rescue' },
};

// Whether the finding's action is a server action this module runs.
export function isServerAction(action: string): boolean {
  return action in kCalls;
}

export async function runServerAction(ctx: PanelContext, name: string, action: string): Promise<string | null> {
  const call = kCalls[action];
  if (!call) return null;
  if (call.confirm) {
    const ok = await confirmDialog({
      title: t(`confirm.${call.confirm}.title`, { name }),
      body: t(`confirm.${call.confirm}.body`),
      confirmLabel: t('action.' + action),
      danger: call.confirm !== 'rescue',
      testid: 'confirm-dialog',
    });
    if (!ok) return null;
  }
  try {
    await ctx.api.action(name, call.action, call.force);
    return null;
  } catch (e) {
    if (e instanceof ApiError) return e.hint ? `${e.message} ${t('error.hint', { hint: e.hint })}` : e.message;
    return String(e);
  }
}

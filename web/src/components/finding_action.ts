// A diagnosis finding's one-click way out: the same confirmation and API
// call as the actions bar (server_action.ts). Resolves with the error, or
// null when it went through or the user cancelled.
import type { PanelContext } from '../context';
import { callAction, confirmAction, type CallableAction } from './server_action';

// The finding actions that are server actions (the rest: console, exec).
const kServerActions: readonly string[] = ['start', 'stop', 'force_stop', 'reboot', 'force_reboot', 'rescue'];

export function isServerAction(action: string): boolean {
  return kServerActions.includes(action);
}

export async function runServerAction(ctx: PanelContext, name: string, action: string): Promise<unknown> {
  if (!isServerAction(action)) return null;
  const key = action as CallableAction;
  if (!(await confirmAction(name, key))) return null;
  try {
    await callAction(ctx.api, name, key);
    return null;
  } catch (e) {
    return e;
  }
}

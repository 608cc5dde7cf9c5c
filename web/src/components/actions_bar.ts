// A server's actions as buttons: start, stop, force stop, reboot, force
// reboot, rescue, leave rescue, set password, delete. A disabled button says
// why beside it; force stop is pushed forward while the agent does not
// answer. Used in the list (compact: the power actions) and on the server
// page (all). (Filled in by the list/actions work.)
import type { Server } from '../api';
import type { PanelContext } from '../context';
import { h } from '../dom';

export interface ActionsBarOptions {
  compact?: boolean;
}

export function actionsBar(_ctx: PanelContext, server: Server, _opts: ActionsBarOptions = {}): HTMLElement {
  return h('div', { class: 'actions', 'data-testid': 'actions', 'data-server': server.name });
}

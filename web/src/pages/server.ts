// A server's page: header with status and actions, the diagnosis, the
// console, charts and the timeline. (Filled in by the server-page work.)
import type { Cleanup, PanelContext } from '../context';
import { h } from '../dom';

export function mountServerPage(el: HTMLElement, _ctx: PanelContext, name: string): Cleanup {
  el.replaceChildren(h('h1', {}, name));
  return () => {};
}

// A server's console, full size. (Filled in by the server-page work.)
import type { Cleanup, PanelContext } from '../context';
import { h } from '../dom';

export function mountConsolePage(el: HTMLElement, _ctx: PanelContext, name: string): Cleanup {
  el.replaceChildren(h('h1', {}, name));
  return () => {};
}

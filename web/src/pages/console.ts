// A server's console, full size (#/servers/NAME/console): survives a page
// reload (it simply opens again with the scrollback) and follows the server
// through reboots and stop/start (components/console_view.ts).
import { ApiError } from '../api';
import { consoleView, type ConsoleView } from '../components/console_view';
import type { Cleanup, PanelContext } from '../context';
import { h } from '../dom';
import { t } from '../i18n';
import { routeHash } from '../router';
import { notFound } from './server_parts';

export function mountConsolePage(el: HTMLElement, ctx: PanelContext, name: string): Cleanup {
  let view: ConsoleView | null = null;
  let gone = false;
  const root = h(
    'div',
    { class: 'console-page', 'data-testid': 'console-page' },
    h(
      'div',
      { class: 'console-page-head' },
      h('h1', {}, t('console.title', { name })),
      h('a', { href: routeHash({ page: 'server', name }), 'data-testid': 'back-to-server' }, t('console.back')),
    ),
  );
  el.replaceChildren(root);
  ctx.api.getServer(name).then(
    (s) => {
      if (gone) return;
      view = consoleView(ctx, name, { full: true, power: s.power });
      root.append(view.el);
      view.focus();
    },
    (e) => {
      if (gone) return;
      if (e instanceof ApiError && e.status === 404) {
        root.replaceChildren(notFound(name));
      } else {
        view = consoleView(ctx, name, { full: true });
        root.append(view.el);
      }
    },
  );
  return () => {
    gone = true;
    view?.dispose();
  };
}

// The server list, live from the watch stream: one row per server, updated
// in place from each message (no polling, no reload).
import type { Server } from '../api';
import { statusBadge } from '../components/status_badge';
import type { Cleanup, PanelContext } from '../context';
import { h } from '../dom';
import { t } from '../i18n';
import { routeHash } from '../router';

export function mountListPage(el: HTMLElement, ctx: PanelContext): Cleanup {
  const rows = new Map<string, HTMLTableRowElement>();
  const body = h('tbody');
  const table = h(
    'table',
    { class: 'servers', 'data-testid': 'server-list' },
    h('caption', { class: 'visually-hidden' }, t('app.servers')),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, t('list.name')), h('th', { scope: 'col' }, t('list.status')), h('th', { scope: 'col' }, t('list.reason'))),
    ),
    body,
  );
  el.replaceChildren(h('h1', {}, t('app.servers')), table);

  const renderRow = (s: Server): HTMLTableRowElement => {
    const row = h(
      'tr',
      { 'data-testid': 'server-row', 'data-server': s.name, 'data-status': s.status },
      h('th', { scope: 'row' }, h('a', { href: routeHash({ page: 'server', name: s.name }) }, s.name)),
      h('td', {}, statusBadge(s.status)),
      h('td', { class: 'reason', 'data-testid': 'status-reason' }, s.status_reason),
    );
    const old = rows.get(s.name);
    if (old) old.replaceWith(row);
    else body.append(row);
    rows.set(s.name, row);
    return row;
  };

  const load = async () => {
    const { servers } = await ctx.api.listServers();
    body.replaceChildren();
    rows.clear();
    servers.forEach(renderRow);
  };
  const unsubscribe = ctx.watch.subscribe({
    message: (m) => {
      if (m.deleted) {
        rows.get(m.server)?.remove();
        rows.delete(m.server);
      } else if (m.record) {
        renderRow(m.record);
      }
    },
    resync: () => void load(),
  });
  void load();
  return unsubscribe;
}

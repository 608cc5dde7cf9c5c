// The server list, live from the watch stream (no polling, no reload): one
// row per server, updated in place from each message, touching that row
// only. A row in warning or error shows the top diagnosis finding (fetched
// when it turns so or its reason changes; see findings.ts). Each row has
// the power actions; "New server" opens the create dialog.
import type { Diagnosis, Server } from '../api';
import { actionsBar } from '../components/actions_bar';
import { openCreateDialog } from '../components/create_dialog';
import { findingInline } from '../components/finding_inline';
import { statusBadge } from '../components/status_badge';
import type { Cleanup, PanelContext } from '../context';
import { h } from '../dom';
import { FetchScheduler, findingStep, rowFinding } from '../findings';
import { t } from '../i18n';
import { routeHash } from '../router';
import { kListRendered, markMoment } from '../timing';

interface Row {
  server: Server;
  tr: HTMLTableRowElement;
  status: HTMLElement;
  reason: HTMLElement;
  finding: HTMLElement;
  actions: HTMLElement;
}

// Fields whose change can change what the actions bar offers.
const kBarFacts: (keyof Server)[] = ['status', 'power', 'agent', 'task', 'boot_mode'];

export function mountListPage(el: HTMLElement, ctx: PanelContext): Cleanup {
  const rows = new Map<string, Row>();
  const body = h('tbody');
  const table = h(
    'table',
    { class: 'servers', 'data-testid': 'server-list', 'aria-busy': 'true' },
    h('caption', { class: 'visually-hidden' }, t('app.servers')),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, t('list.name')),
        h('th', { scope: 'col' }, t('list.status')),
        h('th', { scope: 'col' }, t('list.reason')),
        h('th', { scope: 'col' }, t('list.actions')),
      ),
    ),
    body,
  );
  const create = () => openCreateDialog(ctx);
  const empty = h(
    'div',
    { class: 'empty-state', 'data-testid': 'list-empty', hidden: true },
    h('p', {}, t('list.empty')),
    h('button', { type: 'button', class: 'primary', 'data-testid': 'create-open-empty', onclick: create }, t('list.create_first')),
  );
  const loadError = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'list-error' });
  el.replaceChildren(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, t('app.servers')),
      h('button', { type: 'button', class: 'primary', 'data-testid': 'create-open', onclick: create }, t('list.create')),
    ),
    loadError,
    table,
    empty,
  );

  const scheduler = new FetchScheduler<Diagnosis>({
    fetch: (name) => ctx.api.diagnosis(name),
    done: (name, d) => {
      const row = rows.get(name);
      if (!row) return;
      const top = d ? rowFinding(row.server.status, d.findings) : undefined;
      row.finding.replaceChildren(...(top ? [findingInline(top)] : []));
    },
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  });

  const showEmpty = () => {
    empty.hidden = rows.size > 0;
  };

  const insertSorted = (tr: HTMLTableRowElement, name: string) => {
    for (const other of body.children) {
      if ((other as HTMLElement).dataset.server! > name) {
        body.insertBefore(tr, other);
        return;
      }
    }
    body.append(tr);
  };

  const update = (s: Server, append = false, eventKind = '') => {
    const row = rows.get(s.name);
    if (!row) {
      const status = h('td', {}, statusBadge(s.status));
      const reason = h('span', { class: 'reason', 'data-testid': 'status-reason' }, s.status_reason);
      const finding = h('div', { class: 'finding-slot' });
      const actions = h('td', { class: 'actions-cell' }, actionsBar(ctx, s, { compact: true }));
      const tr = h(
        'tr',
        { 'data-testid': 'server-row', 'data-server': s.name, 'data-status': s.status },
        h('th', { scope: 'row' }, h('a', { href: routeHash({ page: 'server', name: s.name }) }, s.name)),
        status,
        h('td', { class: 'reason-cell' }, reason, finding),
        actions,
      );
      rows.set(s.name, { server: s, tr, status, reason, finding, actions });
      if (append) body.append(tr);
      else insertSorted(tr, s.name);
      // The list's answer carries each row's top finding: no request per row.
      const known = s.top_finding ? rowFinding(s.status, [s.top_finding]) : undefined;
      if (known) finding.replaceChildren(findingInline(known));
      else if (findingStep(undefined, s) === 'fetch') scheduler.ask(s.name);
      return;
    }
    const prev = row.server;
    row.server = s;
    if (prev.status !== s.status) {
      row.tr.setAttribute('data-status', s.status);
      row.status.replaceChildren(statusBadge(s.status));
    }
    if (prev.status_reason !== s.status_reason) row.reason.textContent = s.status_reason;
    if (kBarFacts.some((k) => prev[k] !== s[k])) row.actions.replaceChildren(actionsBar(ctx, s, { compact: true }));
    const step = findingStep(prev, s, eventKind);
    if (step === 'fetch') scheduler.ask(s.name);
    else if (step === 'clear') {
      scheduler.cancel(s.name);
      row.finding.replaceChildren();
    }
  };

  const remove = (name: string) => {
    const row = rows.get(name);
    if (!row) return;
    scheduler.cancel(name);
    row.tr.remove();
    rows.delete(name);
  };

  let closed = false;
  const load = async () => {
    try {
      const { servers } = await ctx.api.listServers();
      if (closed) return;
      loadError.textContent = '';
      const seen = new Set(servers.map((s) => s.name));
      for (const name of [...rows.keys()]) if (!seen.has(name)) remove(name);
      const fresh = rows.size === 0;
      for (const s of [...servers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const row = rows.get(s.name);
        // A watch message may have brought a newer record while the list
        // was on its way.
        if (row && row.server.updated > s.updated) continue;
        update(s, fresh);
      }
      markMoment(kListRendered, rows.size);
    } catch (e) {
      if (!closed) loadError.textContent = t('app.error', { message: e instanceof Error ? e.message : String(e) });
    } finally {
      table.removeAttribute('aria-busy');
      showEmpty();
    }
  };

  const unsubscribe = ctx.watch.subscribe({
    message: (m) => {
      if (m.deleted) remove(m.server);
      else if (m.record) update(m.record, false, m.event?.kind ?? '');
      showEmpty();
    },
    resync: () => void load(),
  });
  void load();
  return () => {
    closed = true;
    unsubscribe();
    scheduler.stop();
  };
}

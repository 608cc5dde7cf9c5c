// The server list, live from the watch stream (no polling, no reload): one
// row per server, updated in place from each message, touching that row
// only. A row in warning or error shows the top diagnosis finding (fetched
// when it turns so or its reason changes; see findings.ts). Each row has
// the power actions; "New server" opens the create dialog. With many
// servers, the rows that fill the screen are built at once and the rest a
// few at a time while the browser is idle (row_backlog.ts, idle.ts), so
// that the first rows show soon and input is never held up for long.
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
import { runWhenIdle } from '../idle';
import { RowBacklog } from '../row_backlog';
import { kListComplete, kListRendered, markMoment } from '../timing';

// A row's parts that change.
interface Row {
  tr: HTMLTableRowElement;
  status: HTMLElement;
  reason: HTMLElement;
  finding: HTMLElement;
  actions: HTMLElement;
}

// A server of the list: its latest record and top finding, and its row once
// built (rows past the first screenful are built when the browser is idle;
// see row_backlog.ts). Watch messages keep a server up to date whether or not
// its row is built yet.
interface Entry {
  server: Server;
  finding: TopFinding | undefined;
  row: Row | null;
}

type TopFinding = NonNullable<Server['top_finding']>;

// Fields whose change can change what the actions bar offers.
const kBarFacts: (keyof Server)[] = ['status', 'power', 'agent', 'task', 'boot_mode'];

// Rows built at a time until they reach below the screen's bottom edge.
const kScreenBatch = 10;

const byName = (a: Server, b: Server) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function mountListPage(el: HTMLElement, ctx: PanelContext): Cleanup {
  const entries = new Map<string, Entry>();
  const backlog = new RowBacklog();
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

  const showFinding = (entry: Entry, top: TopFinding | undefined) => {
    entry.finding = top;
    entry.row?.finding.replaceChildren(...(top ? [findingInline(top)] : []));
  };

  const scheduler = new FetchScheduler<Diagnosis>({
    fetch: (name) => ctx.api.diagnosis(name),
    done: (name, d) => {
      const entry = entries.get(name);
      if (entry) showFinding(entry, d ? rowFinding(entry.server.status, d.findings) : undefined);
    },
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  });

  const showEmpty = () => {
    empty.hidden = entries.size > 0;
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

  // The row of `entry`, from its latest record and finding; the caller puts
  // it in the table.
  const buildRow = (entry: Entry): HTMLTableRowElement => {
    const s = entry.server;
    const status = h('td', {}, statusBadge(s.status));
    const reason = h('span', { class: 'reason', 'data-testid': 'status-reason' }, s.status_reason);
    const finding = h('div', { class: 'finding-slot' }, entry.finding ? findingInline(entry.finding) : null);
    const actions = h('td', { class: 'actions-cell' }, actionsBar(ctx, s, { compact: true }));
    const tr = h(
      'tr',
      { 'data-testid': 'server-row', 'data-server': s.name, 'data-status': s.status },
      h('th', { scope: 'row' }, h('a', { href: routeHash({ page: 'server', name: s.name }) }, s.name)),
      status,
      h('td', { class: 'reason-cell' }, reason, finding),
      actions,
    );
    entry.row = { tr, status, reason, finding, actions };
    return tr;
  };

  // Builds rows from the backlog's front, appended (they sort after every
  // built row); returns the last one built.
  const buildNext = (count: number): HTMLTableRowElement | null => {
    let last: HTMLTableRowElement | null = null;
    for (const name of backlog.take(count)) {
      const entry = entries.get(name);
      if (entry) body.append((last = buildRow(entry)));
    }
    return last;
  };

  let stopIdle: (() => void) | null = null;
  const finishIfBuilt = () => {
    if (backlog.size > 0) return false;
    stopIdle = null;
    table.removeAttribute('aria-busy');
    markMoment(kListComplete, entries.size);
    return true;
  };
  // The rest of the backlog, a row at a time in idle slices.
  const buildRest = () => {
    if (stopIdle || finishIfBuilt()) return;
    stopIdle = runWhenIdle(() => {
      buildNext(1);
      return !finishIfBuilt();
    });
  };

  // The rows that fill the screen, at once (a layout per batch tells when
  // they reach below its bottom edge); the rest follow when idle.
  const buildScreenful = () => {
    const bottom = document.documentElement.clientHeight;
    for (;;) {
      const last = buildNext(kScreenBatch);
      if (!last || last.getBoundingClientRect().top >= bottom) break;
    }
    markRendered();
    buildRest();
  };

  // A server new to the page, its row not built. The list's answer carries
  // each row's top finding: no request per row.
  const newEntry = (s: Server): Entry => {
    const known = s.top_finding ? rowFinding(s.status, [s.top_finding]) : undefined;
    const entry: Entry = { server: s, finding: known, row: null };
    entries.set(s.name, entry);
    if (!known && findingStep(undefined, s) === 'fetch') scheduler.ask(s.name);
    return entry;
  };

  const add = (s: Server) => {
    const entry = newEntry(s);
    if (!backlog.wants(s.name)) return insertSorted(buildRow(entry), s.name);
    backlog.add(s.name);
    buildRest();
  };

  const paintRow = (row: Row, prev: Server, s: Server) => {
    if (prev.status !== s.status) {
      row.tr.setAttribute('data-status', s.status);
      row.status.replaceChildren(statusBadge(s.status));
    }
    if (prev.status_reason !== s.status_reason) row.reason.textContent = s.status_reason;
    if (kBarFacts.some((k) => prev[k] !== s[k])) row.actions.replaceChildren(actionsBar(ctx, s, { compact: true }));
  };

  const update = (s: Server, eventKind = '') => {
    const entry = entries.get(s.name);
    if (!entry) return add(s);
    const prev = entry.server;
    entry.server = s;
    if (entry.row) paintRow(entry.row, prev, s);
    const step = findingStep(prev, s, eventKind);
    if (step === 'fetch') scheduler.ask(s.name);
    else if (step === 'clear') {
      scheduler.cancel(s.name);
      showFinding(entry, undefined);
    }
  };

  const remove = (name: string) => {
    const entry = entries.get(name);
    if (!entry) return;
    scheduler.cancel(name);
    entry.row?.tr.remove();
    backlog.delete(name);
    entries.delete(name);
  };

  const markRendered = () =>
    markMoment(kListRendered, { rows: entries.size - backlog.size, servers: entries.size });

  // The first answer: every server waits in the backlog, then the screenful.
  const fill = (sorted: Server[]) => {
    sorted.forEach(newEntry);
    backlog.fill(sorted.map((s) => s.name));
    buildScreenful();
  };

  let closed = false;
  let loaded = false;
  const load = async () => {
    try {
      const { servers } = await ctx.api.listServers();
      if (closed) return;
      loadError.textContent = '';
      const seen = new Set(servers.map((s) => s.name));
      for (const name of [...entries.keys()]) if (!seen.has(name)) remove(name);
      // A watch message may have brought a newer record while the list was
      // on its way.
      const newer = (s: Server) => {
        const record = entries.get(s.name)?.server;
        return record && record.updated > s.updated ? record : null;
      };
      const sorted = [...servers].sort(byName);
      if (!loaded) {
        // Rows that watch messages built before the first answer go back
        // to the backlog with the rest.
        loaded = true;
        const newest = sorted.map((s) => newer(s) ?? s);
        for (const name of [...entries.keys()]) remove(name);
        return fill(newest);
      }
      for (const s of sorted) if (!newer(s)) update(s);
      markRendered();
    } catch (e) {
      if (!closed) loadError.textContent = t('app.error', { message: e instanceof Error ? e.message : String(e) });
    } finally {
      if (!closed && backlog.size === 0) table.removeAttribute('aria-busy');
      showEmpty();
    }
  };

  const unsubscribe = ctx.watch.subscribe({
    message: (m) => {
      if (m.deleted) remove(m.server);
      else if (m.record) update(m.record, m.event?.kind ?? '');
      showEmpty();
    },
    resync: () => void load(),
  });
  void load();
  return () => {
    closed = true;
    unsubscribe();
    stopIdle?.();
    scheduler.stop();
  };
}

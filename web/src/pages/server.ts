// A server's page (#/servers/NAME): header with name, status (icon + text),
// reason, facts and the actions bar; the diagnosis; the console; charts; the
// event timeline. Everything follows the shared watch stream (no polling
// but the charts' metrics); on `resync` it is read again. A server that does
// not exist says so with a way back; one deleted while open says so too.
import { ApiError, type Server, type ServerEvent } from '../api';
import { actionsBar } from '../components/actions_bar';
import { chartsView, type ChartsView } from '../components/charts';
import { consoleView, type ConsoleView } from '../components/console_view';
import { diagnosisView, type DiagnosisView } from '../components/diagnosis_view';
import { statusBadge } from '../components/status_badge';
import { timelineView, type TimelineView } from '../components/timeline';
import type { Cleanup, PanelContext } from '../context';
import { h, replaceChildren } from '../dom';
import { t } from '../i18n';
import { routeHash } from '../router';
import { facts, notFound } from './server_parts';

const kChartEvents = 1000;

export function mountServerPage(el: HTMLElement, ctx: PanelContext, name: string): Cleanup {
  const root = h('div', { class: 'server-page', 'data-testid': 'server-page' });
  const head = h('div', { class: 'server-head' });
  const notice = h('div', { class: 'server-notice', role: 'status' });
  root.append(
    h('div', { class: 'server-title' }, h('h1', { 'data-testid': 'server-name' }, name)),
    notice,
    head,
    h('p', { class: 'help' }, t('server.loading')),
  );
  el.replaceChildren(root);

  let gone = false;
  let built = false;
  let diagnosis: DiagnosisView | null = null;
  let consoleV: ConsoleView | null = null;
  let charts: ChartsView | null = null;
  let timeline: TimelineView | null = null;

  const renderHead = (s: Server) => {
    replaceChildren(
      head,
      h(
        'div',
        { class: 'server-status' },
        statusBadge(s.status),
        h('span', { class: 'reason', 'data-testid': 'status-reason' }, s.status_reason),
      ),
      facts(s),
      actionsBar(ctx, s, {}),
    );
  };

  const loadChartEvents = () => {
    ctx.api.listEvents(name, kChartEvents).then(
      (r) => charts?.setEvents(r.events),
      () => {},
    );
  };

  const build = (s: Server) => {
    built = true;
    diagnosis = diagnosisView(ctx, name, () => consoleV?.focus());
    consoleV = consoleView(ctx, name, { power: s.power });
    charts = chartsView(ctx, name);
    timeline = timelineView(ctx, name);
    loadChartEvents();
    const consoleSection = h(
      'section',
      { class: 'server-console', 'aria-labelledby': 'console-title' },
      h(
        'div',
        { class: 'section-head' },
        h('h2', { id: 'console-title' }, t('console.heading')),
        h('a', { href: routeHash({ page: 'console', name }), 'data-testid': 'open-console' }, t('console.open_full')),
      ),
      consoleV.el,
    );
    root.replaceChildren(root.firstChild as Node, notice, head, diagnosis.el, consoleSection, charts.el, timeline.el);
  };

  // Only GET /v1/servers/NAME says how to log in; the watch stream's
  // records keep what it said.
  let login: Pick<Server, 'login_user' | 'ssh_command'> = {};
  const show = (s: Server) => {
    if (s.login_user !== undefined) login = { login_user: s.login_user, ssh_command: s.ssh_command };
    renderHead({ ...s, ...login });
    if (!built) build(s);
  };

  const load = () => {
    ctx.api.getServer(name).then(
      (s) => {
        if (gone) return;
        show(s);
        if (built) {
          diagnosis?.refresh();
          timeline?.reload();
          loadChartEvents();
        }
      },
      (e) => {
        if (gone) return;
        if (e instanceof ApiError && e.status === 404) {
          if (built) deleted();
          else root.replaceChildren(notFound(name));
        } else {
          notice.replaceChildren(h('p', { class: 'field-error', role: 'alert' }, t('app.error', { message: (e as Error).message })));
        }
      },
    );
  };

  // The console closes itself on the same message (and says so).
  const deleted = () => {
    charts?.dispose();
    notice.replaceChildren(
      h(
        'div',
        { class: 'notice notice-error', role: 'alert', 'data-testid': 'server-deleted' },
        h('p', {}, t('server.deleted', { name })),
        h('a', { href: routeHash({ page: 'list' }) }, t('server.back_to_list')),
      ),
    );
    head.querySelectorAll('button').forEach((b) => ((b as HTMLButtonElement).disabled = true));
  };

  const onEvent = (e: ServerEvent) => {
    timeline?.add(e);
    charts?.addEvent(e);
  };

  const unsubscribe = ctx.watch.subscribe({
    message: (m) => {
      if (m.server !== name || gone) return;
      if (m.deleted) {
        if (m.event) onEvent(m.event);
        return deleted();
      }
      if (m.record) show(m.record);
      if (m.event) onEvent(m.event);
      diagnosis?.refresh();
    },
    resync: load,
  });
  load();

  return () => {
    gone = true;
    unsubscribe();
    diagnosis?.dispose();
    consoleV?.dispose();
    charts?.dispose();
    timeline?.dispose();
  };
}

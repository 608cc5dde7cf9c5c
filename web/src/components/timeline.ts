// A server's event timeline, newest first: the last 100 events
// (GET /v1/servers/NAME/events), then each new one from the watch stream put
// on top; "Load older" pages back with `before`. Messages come from kumod
// and the guest: set as text only.
import type { ServerEvent } from '../api';
import { serverPath } from '../api';
import type { PanelContext } from '../context';
import { h } from '../dom';
import { formatTime, t } from '../i18n';
import { statusBadge } from './status_badge';

export interface TimelineView {
  el: HTMLElement;
  add(e: ServerEvent): void;
  reload(): void;
  dispose(): void;
}

const kPage = 100;

export function timelineView(ctx: PanelContext, name: string): TimelineView {
  const list = h('ol', { class: 'timeline-list', 'aria-labelledby': 'timeline-title' });
  const more = h('button', { type: 'button', 'data-testid': 'timeline-older', hidden: true }, t('timeline.older'));
  const note = h('p', { class: 'help', role: 'status' });
  const el = h(
    'section',
    { class: 'timeline', 'data-testid': 'timeline' },
    h('h2', { id: 'timeline-title' }, t('timeline.title')),
    note,
    list,
    more,
  );
  const seen = new Set<number>();
  let oldest: number | null = null;
  let disposed = false;

  const item = (e: ServerEvent): HTMLElement => {
    const badge = statusBadge(e.status);
    badge.dataset.testid = 'event-status'; // the page's own "status" is the header's
    return h(
      'li',
      { class: 'timeline-event', 'data-testid': 'timeline-event', 'data-kind': e.kind, 'data-id': e.id },
      h('time', { datetime: e.time }, formatTime(e.time)),
      h('span', { class: 'event-kind' }, e.kind),
      badge,
      h('span', { class: 'event-message' }, e.message),
    );
  };

  // Events in increasing id order (as the API sends them), put at the end.
  const appendOlder = (events: ServerEvent[]) => {
    for (const e of [...events].reverse()) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      list.append(item(e));
      if (oldest === null || e.id < oldest) oldest = e.id;
    }
  };

  const page = async (before: number | null) => {
    const query = before === null ? `?limit=${kPage}` : `?limit=${kPage}&before=${before}`;
    return ctx.api.request<{ events: ServerEvent[]; more: boolean }>('GET', `${serverPath(name)}/events${query}`);
  };

  const reload = () => {
    page(null).then(
      (r) => {
        if (disposed) return;
        list.replaceChildren();
        seen.clear();
        oldest = null;
        appendOlder(r.events);
        more.hidden = !r.more;
        note.textContent = r.events.length ? '' : t('timeline.empty');
      },
      (e: Error) => {
        if (!disposed) note.textContent = t('timeline.failed', { message: e.message });
      },
    );
  };

  more.addEventListener('click', () => {
    if (oldest === null) return;
    more.disabled = true;
    page(oldest).then(
      (r) => {
        more.disabled = false;
        appendOlder(r.events);
        more.hidden = !r.more;
      },
      (e: Error) => {
        more.disabled = false;
        note.textContent = t('timeline.failed', { message: e.message });
      },
    );
  });

  reload();
  return {
    el,
    add(e) {
      if (seen.has(e.id)) return;
      seen.add(e.id);
      note.textContent = '';
      list.prepend(item(e));
    },
    reload,
    dispose: () => {
      disposed = true;
    },
  };
}

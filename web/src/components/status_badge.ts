// A status as icon plus text (never colour alone): a spinner for pending,
// "!" for warning, and so on.
import type { Status } from '../api';
import { h } from '../dom';
import { t } from '../i18n';
import { statusIcon, statusLabelKey } from '../status';

const kGlyph: Record<string, string> = { bang: '!', dot: '●', square: '■', cross: '✕', spinner: '' };

export function statusBadge(status: Status): HTMLElement {
  const icon = statusIcon(status);
  return h(
    'span',
    { class: `status status-${status}`, 'data-testid': 'status', 'data-status': status },
    h('span', { class: `status-icon icon-${icon}`, 'aria-hidden': 'true' }, kGlyph[icon]),
    h('span', { class: 'status-label' }, t(statusLabelKey(status))),
  );
}

// A diagnosis finding in one line (for a list row): its summary as kumod
// wrote it (text only, never parsed) and its code, e.g. "Out of memory:
// killed dropbear … (oom_kill)". Severity is said in words, not colour.
import type { Finding } from '../api';
import { h } from '../dom';
import { t } from '../i18n';

export function findingInline(f: Pick<Finding, 'code' | 'severity' | 'summary'>): HTMLElement {
  return h(
    'span',
    { class: `top-finding severity-${f.severity}`, 'data-testid': 'top-finding', 'data-code': f.code },
    h('span', { class: 'visually-hidden' }, t('list.finding', { severity: t('severity.' + f.severity) }), ' '),
    h('span', { class: 'finding-summary' }, f.summary),
    ' ',
    h('code', { class: 'finding-code' }, f.code),
  );
}

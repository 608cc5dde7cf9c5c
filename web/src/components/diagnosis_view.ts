// The diagnosis (GET /v1/servers/NAME/diagnosis): findings in the order kumod
// sends them (critical and causes first), each with its severity as icon +
// text, summary, since, evidence (source, time, text — guest text, set as
// text only) and one-click actions; "No problems found" with the checks
// folded away otherwise. `refresh` may be called on every watch message: it
// reads at most once per 2 s.
import type { Check, Diagnosis, Finding } from '../api';
import type { PanelContext } from '../context';
import { h, replaceChildren } from '../dom';
import { formatTime, t } from '../i18n';
import { throttle } from '../throttle';
import { errorContent } from './error_content';
import { isServerAction, runServerAction } from './finding_action';

export interface DiagnosisView {
  el: HTMLElement;
  refresh(): void;
  dispose(): void;
}

const kSeverityGlyph: Record<Finding['severity'], string> = { critical: '✕', warning: '!', info: 'i' };

export function diagnosisView(ctx: PanelContext, name: string, onConsole: () => void): DiagnosisView {
  const body = h('div', { class: 'diagnosis-body' }, h('p', { class: 'help' }, t('server.loading')));
  const checked = h('p', { class: 'help diagnosis-checked' });
  const el = h(
    'section',
    { class: 'diagnosis', 'data-testid': 'diagnosis', 'aria-labelledby': 'diagnosis-title' },
    h('h2', { id: 'diagnosis-title' }, t('diagnosis.title')),
    checked,
    body,
  );
  let disposed = false;
  let checksOpen = false; // kept across re-reads

  const severity = (s: Finding['severity']) =>
    h(
      'span',
      { class: `severity severity-${s}`, 'data-testid': 'finding-severity' },
      h('span', { class: 'severity-icon', 'aria-hidden': 'true' }, kSeverityGlyph[s]),
      h('span', {}, t('diagnosis.severity.' + s)),
    );

  const finding = (f: Finding): HTMLElement => {
    const error = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'finding-action-error' });
    const actions = h('div', { class: 'finding-actions' });
    for (const a of f.actions) {
      if (a.action === 'console' || isServerAction(a.action)) {
        const button = h(
          'button',
          { type: 'button', 'data-testid': `finding-action-${a.action}`, title: a.why, class: a.action.startsWith('force') ? 'recommended' : null },
          t('action.' + a.action),
        );
        button.addEventListener('click', async () => {
          if (a.action === 'console') return onConsole();
          error.textContent = '';
          button.disabled = true;
          const failed = await runServerAction(ctx, name, a.action);
          button.disabled = false;
          if (failed) replaceChildren(error, ...errorContent(failed));
        });
        actions.append(h('div', { class: 'finding-action' }, button, h('span', { class: 'help' }, a.why)));
      } else {
        // exec and anything newer: said, not offered as a button.
        actions.append(h('p', { class: 'help finding-action-text', 'data-testid': 'finding-action-text' }, `${a.action}: ${a.why}`));
      }
    }
    const evidence = h('ul', { class: 'evidence-list', 'aria-label': t('diagnosis.evidence') });
    for (const e of f.evidence) {
      evidence.append(
        h(
          'li',
          { class: 'evidence', 'data-testid': 'evidence', 'data-source': e.source },
          h('span', { class: 'evidence-source' }, t('diagnosis.source.' + e.source)),
          e.time === null ? null : h('time', { datetime: new Date(e.time).toISOString() }, formatTime(e.time)),
          h('span', { class: 'evidence-text' }, e.text),
        ),
      );
    }
    return h(
      'article',
      { class: `finding finding-${f.severity}`, 'data-testid': 'finding', 'data-code': f.code, 'data-severity': f.severity },
      h('h3', {}, severity(f.severity), h('span', { class: 'finding-summary', 'data-testid': 'finding-summary' }, f.summary)),
      h(
        'p',
        { class: 'help' },
        h('code', {}, f.code),
        f.since === null ? null : ' · ' + t('diagnosis.since', { time: formatTime(f.since) }),
      ),
      f.evidence.length ? evidence : null,
      actions,
      error,
    );
  };

  const checks = (list: Check[]): HTMLElement => {
    const details = h(
      'details',
      { class: 'checks', 'data-testid': 'diagnosis-checks', open: checksOpen },
      h('summary', {}, t('diagnosis.checks', { n: list.length })),
      h(
        'ul',
        {},
        ...list.map((c) =>
          h(
            'li',
            { 'data-code': c.code, 'data-state': c.state },
            h('code', {}, c.code),
            ' — ',
            t('diagnosis.check.' + c.state),
            c.detail ? ': ' : '',
            c.detail,
          ),
        ),
      ),
    );
    details.addEventListener('toggle', () => (checksOpen = details.open));
    return details;
  };

  let shown = '';
  const render = (d: Diagnosis) => {
    checked.textContent = t('diagnosis.checked_at', { time: formatTime(d.checked_at) });
    // Unchanged findings are left alone (focus and reading place stay).
    const key = JSON.stringify([d.findings, d.checks]);
    if (key === shown) return;
    shown = key;
    if (d.findings.length === 0) {
      replaceChildren(
        body,
        h(
          'p',
          { class: 'diagnosis-clear', 'data-testid': 'diagnosis-clear' },
          h('span', { class: 'severity-icon ok', 'aria-hidden': 'true' }, '✓'),
          t('diagnosis.clear'),
        ),
        checks(d.checks),
      );
    } else {
      replaceChildren(body, ...d.findings.map(finding), checks(d.checks));
    }
  };

  const load = () => {
    ctx.api.diagnosis(name).then(
      (d) => {
        if (!disposed) render(d);
      },
      (e: Error) => {
        if (disposed) return;
        shown = '';
        replaceChildren(body, h('p', { class: 'field-error', role: 'alert' }, t('diagnosis.failed', { message: e.message })));
      },
    );
  };
  const throttled = throttle(load, 2000);
  throttled.request();
  return {
    el,
    refresh: () => throttled.request(),
    dispose: () => {
      disposed = true;
      throttled.cancel();
    },
  };
}

// Small pieces the server and console pages share: the "no such server"
// message with its way back, and the server's facts as a description list.
import type { Server } from '../api';
import { h } from '../dom';
import { t } from '../i18n';
import { routeHash } from '../router';

export function notFound(name: string): HTMLElement {
  return h(
    'div',
    { class: 'notice notice-error', role: 'alert', 'data-testid': 'server-not-found' },
    h('p', {}, t('server.not_found', { name })),
    h('a', { href: routeHash({ page: 'list' }) }, t('server.back_to_list')),
  );
}

export function facts(s: Server): HTMLElement {
  const row = (key: string, value: string, testid: string) =>
    [h('dt', {}, t(key)), h('dd', { 'data-testid': testid }, value)];
  const unknown = t('server.fact.none');
  return h(
    'dl',
    { class: 'facts', 'data-testid': 'server-facts' },
    ...row('server.fact.power', t('server.power.' + s.power), 'fact-power'),
    ...row('server.fact.agent', t('server.agent.' + s.agent), 'fact-agent'),
    ...row('server.fact.task', t('server.task.' + s.task), 'fact-task'),
    ...row('server.fact.size', t('server.size', { vcpus: s.vcpus, memory: s.memory_mib, disk: s.disk_gib }), 'fact-size'),
    ...row('server.fact.ssh_port', s.ssh_port === null ? unknown : String(s.ssh_port), 'fact-ssh-port'),
    ...(s.login_user ? row('server.fact.login_user', s.login_user, 'fact-login-user') : []),
    ...(s.ssh_command ? row('server.fact.ssh_command', s.ssh_command, 'fact-ssh-command') : []),
    ...row('server.fact.boot_mode', t('server.boot_mode.' + s.boot_mode), 'fact-boot-mode'),
    ...row('server.fact.image', s.image, 'fact-image'),
  );
}

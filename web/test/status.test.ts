import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Server } from '../src/api';
import { actionStates, barActions, barReason, deleteIsForced, needsConfirm, statusIcon } from '../src/status';

function server(over: Partial<Server>): Server {
  return {
    name: 'web', status: 'running', status_reason: '', power: 'running', agent: 'ok', task: 'none',
    image: 'kumo-guest', vcpus: 1, memory_mib: 256, disk_gib: 1, has_ssh_key: false, user_data_bytes: 0,
    created: '', updated: '', agent_last_seen: null, task_started: null, task_deadline: null,
    qemu_pid: 1, boot_mode: 'normal', ssh_port: 2222, ...over,
  };
}

test('every status has its own icon', () => {
  const icons = (['pending', 'running', 'warning', 'stopped', 'error'] as const).map(statusIcon);
  assert.deepEqual(icons, ['spinner', 'dot', 'bang', 'square', 'cross']);
});

test('agent down: stop disabled with the reason, force stop offered in its place', () => {
  const a = actionStates(server({ status: 'warning', agent: 'unresponsive' }));
  assert.deepEqual(a.stop, { enabled: false, reasonKey: 'reason.agent_down' });
  assert.equal(a.force_stop.enabled, true);
  assert.equal(a.force_stop.recommended, true);
  assert.equal(a.reboot.enabled, false);
  assert.equal(a.force_reboot.enabled, true);
  assert.equal(a.set_password.enabled, false);
  // The middle way: the power button works without the agent.
  assert.equal(a.power_button.enabled, true);
});

test('the power button needs a running machine and no other task', () => {
  assert.equal(actionStates(server({ status: 'stopped', power: 'off', agent: 'unknown' })).power_button.reasonKey, 'reason.not_running');
  assert.equal(actionStates(server({ status: 'error', power: 'crashed' })).power_button.reasonKey, 'reason.crashed');
  assert.equal(actionStates(server({ status: 'pending', task: 'rebooting' })).power_button.reasonKey, 'reason.busy');
});

test('healthy running server: graceful actions, force not pushed', () => {
  const a = actionStates(server({}));
  assert.equal(a.stop.enabled, true);
  assert.equal(a.force_stop.enabled, true);
  assert.equal(a.force_stop.recommended, false);
  assert.equal(a.start.enabled, false);
  assert.equal(a.set_password.enabled, true);
});

test('stopped server: only start, rescue and delete', () => {
  const a = actionStates(server({ status: 'stopped', power: 'off', agent: 'unknown', qemu_pid: null }));
  const enabled = Object.entries(a).filter(([, s]) => s.enabled).map(([k]) => k).sort();
  assert.deepEqual(enabled, ['delete', 'rescue', 'start']);
});

test('a task under way: force stop still works (a hung stop), the rest wait', () => {
  const a = actionStates(server({ status: 'pending', task: 'stopping' }));
  assert.equal(a.force_stop.enabled, true);
  assert.equal(a.stop.reasonKey, 'reason.busy');
  assert.equal(a.start.enabled, false);
});

test('a crashed (panicked) server: start says it crashed, force stop is the way out', () => {
  const a = actionStates(server({ status: 'error', power: 'crashed', agent: 'unresponsive' }));
  assert.deepEqual(a.start, { enabled: false, reasonKey: 'reason.crashed' });
  assert.equal(a.stop.reasonKey, 'reason.crashed');
  assert.equal(a.force_stop.recommended, true);
});

test('bars: compact shows the power actions; the full bar goes stop, power button, force stop', () => {
  assert.deepEqual(barActions(true), ['start', 'stop', 'force_stop']);
  const all = barActions(false);
  assert.deepEqual(all.slice(all.indexOf('stop'), all.indexOf('stop') + 3), ['stop', 'power_button', 'force_stop']);
  assert.equal(all.length, 10);
});

test('the reason line beside a bar, as a table', () => {
  const cases: { name: string; over: Partial<Server>; compact: boolean; want: string | undefined }[] = [
    { name: 'healthy, full', over: {}, compact: false, want: undefined },
    { name: 'healthy, compact', over: {}, compact: true, want: undefined },
    { name: 'agent down, compact', over: { status: 'warning', agent: 'unresponsive' }, compact: true, want: 'reason.agent_down' },
    { name: 'agent down, full', over: { status: 'warning', agent: 'unresponsive' }, compact: false, want: 'reason.agent_down' },
    { name: 'stopped, full', over: { status: 'stopped', power: 'off', agent: 'unknown' }, compact: false, want: 'reason.not_running' },
    { name: 'stopped, compact', over: { status: 'stopped', power: 'off', agent: 'unknown' }, compact: true, want: undefined },
    { name: 'busy, compact (the spinner says it)', over: { status: 'pending', task: 'starting', agent: 'unknown' }, compact: true, want: undefined },
    { name: 'busy, full', over: { status: 'pending', task: 'starting', agent: 'unknown' }, compact: false, want: 'reason.busy' },
    { name: 'crashed', over: { status: 'error', power: 'crashed' }, compact: true, want: 'reason.crashed' },
  ];
  for (const c of cases) {
    const st = actionStates(server(c.over));
    assert.equal(barReason(st, barActions(c.compact), c.compact), c.want, c.name);
  }
});

test('confirmation for the actions that lose data; delete forced while on', () => {
  const confirmed = barActions(false).filter(needsConfirm);
  assert.deepEqual(confirmed, ['force_stop', 'force_reboot', 'rescue', 'delete']);
  assert.equal(deleteIsForced(server({})), true);
  assert.equal(deleteIsForced(server({ status: 'stopped', power: 'off' })), false);
  assert.equal(deleteIsForced(server({ status: 'pending', power: 'off', task: 'starting' })), true);
});

test('force stop is pushed forward only when it is the way out', () => {
  const cases: { name: string; over: Partial<Server>; want: boolean }[] = [
    { name: 'healthy', over: {}, want: false },
    { name: 'booting', over: { status: 'pending', task: 'starting', agent: 'unknown' }, want: false },
    { name: 'stopping', over: { status: 'pending', task: 'stopping' }, want: false },
    { name: 'agent down', over: { status: 'warning', agent: 'unresponsive' }, want: true },
    { name: 'stop overran its deadline', over: { status: 'warning', task: 'stopping' }, want: true },
    { name: 'boot stuck, agent never answered', over: { status: 'warning', task: 'starting', agent: 'unknown' }, want: true },
    { name: 'panicked', over: { status: 'error', power: 'crashed', agent: 'unresponsive' }, want: true },
    { name: 'stopped', over: { status: 'stopped', power: 'off', agent: 'unknown' }, want: false },
    { name: 'deleting', over: { status: 'pending', task: 'deleting' }, want: false },
  ];
  for (const c of cases) assert.equal(actionStates(server(c.over)).force_stop.recommended ?? false, c.want, c.name);
});

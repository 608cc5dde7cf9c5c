import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Server } from '../src/api';
import { actionStates, statusIcon } from '../src/status';

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

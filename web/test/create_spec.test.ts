import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCreateRequest, createStep, errorField, kSampleUserData } from '../src/create_spec';

const base = { name: 'web', image: 'kumo-guest', vcpus: '1', memory_mib: '256', disk_gib: '1', ssh_key: '', user_data: '' };

test('the request: numbers as numbers, empty optional fields left out', () => {
  assert.deepEqual(buildCreateRequest(base), { name: 'web', image: 'kumo-guest', vcpus: 1, memory_mib: 256, disk_gib: 1 });
  assert.deepEqual(
    buildCreateRequest({ ...base, name: ' db ', image: '', vcpus: '', ssh_key: 'ssh-ed25519 AAAA x\n', user_data: '#!/bin/sh\n' }),
    { name: 'db', memory_mib: 256, disk_gib: 1, ssh_key: 'ssh-ed25519 AAAA x', user_data: '#!/bin/sh\n' },
  );
  // Blank user data is left out; kumod judges the rest, even nonsense.
  assert.equal(buildCreateRequest({ ...base, user_data: '  \n' }).user_data, undefined);
  assert.ok(Number.isNaN(buildCreateRequest({ ...base, vcpus: 'x' }).vcpus));
});

test("an API error's field: known fields at the field, else the top of the form", () => {
  const cases: [string, string | null][] = [
    ['name', 'name'], ['memory_mib', 'memory_mib'], ['user_data', 'user_data'], ['', null], ['token', null],
  ];
  for (const [field, want] of cases) assert.equal(errorField(field), want, field);
});

test('the sample init script is a shell script that greets', () => {
  assert.ok(kSampleUserData.startsWith('#!/bin/sh\n'));
  assert.match(kSampleUserData, /echo "hello from \$\(hostname\)"/);
});

test('the boot steps shown after create', () => {
  const cases = [
    [{ status: 'pending', task: 'creating', power: 'off' }, 'creating'],
    [{ status: 'pending', task: 'creating', power: 'running' }, 'starting'],
    [{ status: 'pending', task: 'starting', power: 'running' }, 'starting'],
    [{ status: 'running', task: 'none', power: 'running' }, 'running'],
    [{ status: 'warning', task: 'creating', power: 'running' }, 'warning'],
    [{ status: 'error', task: 'none', power: 'off' }, 'failed'],
    [{ status: 'stopped', task: 'none', power: 'off' }, 'stopped'],
  ] as const;
  for (const [s, want] of cases) assert.equal(createStep(s), want, JSON.stringify(s));
});

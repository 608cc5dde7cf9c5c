import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterClose, consoleUrl, onPower, retryDelay } from '../src/console_state';

test('retry delays: 0.5 s doubling, at most 5 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 20].map(retryDelay), [500, 1000, 2000, 4000, 5000, 5000, 5000]);
});

test('after a close: wait for a stopped server, retry a running one', () => {
  const table: [Parameters<typeof afterClose>, ReturnType<typeof afterClose>][] = [
    [['off', 0, false], { state: 'waiting', retryMs: null }],
    [['off', 3, true], { state: 'waiting', retryMs: null }],
    [['running', 0, false], { state: 'connecting', retryMs: 500 }],
    [['running', 2, false], { state: 'connecting', retryMs: 2000 }],
    [['running', 9, false], { state: 'connecting', retryMs: 5000 }],
    [['running', 0, true], { state: 'waiting', retryMs: 5000 }],
    [['paused', 1, false], { state: 'connecting', retryMs: 1000 }],
    [[null, 0, false], { state: 'connecting', retryMs: 500 }],
  ];
  for (const [args, want] of table) assert.deepEqual(afterClose(...args), want, JSON.stringify(args));
});

test('a watch message about the power', () => {
  const table: [Parameters<typeof onPower>, ReturnType<typeof onPower>][] = [
    [['waiting', 'running'], 'connect'],
    [['waiting', 'off'], 'stay'],
    [['connecting', 'off'], 'wait'],
    [['connecting', 'running'], 'stay'],
    [['live', 'off'], 'stay'],
    [['closed', 'running'], 'stay'],
  ];
  for (const [args, want] of table) assert.equal(onPower(...args), want, JSON.stringify(args));
});

test('the socket is on the panel origin, name escaped', () => {
  assert.equal(consoleUrl({ protocol: 'http:', host: 'h:1' }, 'web', 500), 'ws://h:1/v1/servers/web/console?tail=500');
  assert.equal(consoleUrl({ protocol: 'https:', host: 'h' }, 'a b', 1), 'wss://h/v1/servers/a%20b/console?tail=1');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRoute, routeHash } from '../src/router';

test('hash routes parse to pages and back', () => {
  const cases: [string, ReturnType<typeof parseRoute>][] = [
    ['', { page: 'list' }],
    ['#/', { page: 'list' }],
    ['#/servers/web', { page: 'server', name: 'web' }],
    ['#/servers/web/console', { page: 'console', name: 'web' }],
    ['#/servers/web/nonsense', { page: 'list' }],
    ['#/unknown', { page: 'list' }],
  ];
  for (const [hash, want] of cases) {
    assert.deepEqual(parseRoute(hash), want, hash);
    if (hash.startsWith('#/servers/web') && want.page !== 'list') assert.equal(routeHash(want), hash);
  }
});

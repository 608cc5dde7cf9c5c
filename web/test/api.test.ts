import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api } from '../src/api';

// A stand-in for the browser's fetch: answers from `answers` in order and
// records what was asked.
function stubFetch(answers: { status: number; body: unknown }[]): string[] {
  const asked: string[] = [];
  globalThis.fetch = (async (path: string, init: RequestInit) => {
    asked.push(`${init.method} ${path}`);
    const answer = answers.shift();
    if (!answer) throw new Error('no answer left');
    return new Response(JSON.stringify(answer.body), { status: answer.status });
  }) as typeof fetch;
  return asked;
}

const list = { servers: [{ name: 'web1' }] };

test('a prefetched list is asked for once and answers the next listServers', async () => {
  const asked = stubFetch([{ status: 200, body: list }, { status: 200, body: { servers: [] } }]);
  const api = new Api();
  api.prefetchServers();
  assert.deepEqual(await api.listServers(), list);
  assert.deepEqual(asked, ['GET /v1/servers']);
  assert.deepEqual(await api.listServers(), { servers: [] }, 'later calls ask again');
  assert.equal(asked.length, 2);
});

test('a prefetch refused before sign-in is dropped, and the list is asked for again', async () => {
  const unauthorized = { error: { code: 'Unauthorized', message: 'sign in' } };
  const asked = stubFetch([{ status: 401, body: unauthorized }, { status: 200, body: list }]);
  const api = new Api();
  let signedOut = 0;
  api.onSignedOut = () => signedOut++;
  api.prefetchServers();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(await api.listServers(), list);
  assert.deepEqual(asked, ['GET /v1/servers', 'GET /v1/servers']);
  assert.equal(signedOut, 1, 'the refusal is reported as today; the app ignores it while signed out');
});

test('a prefetch taken before it failed is asked again', async () => {
  const asked = stubFetch([{ status: 503, body: {} }, { status: 200, body: list }]);
  const api = new Api();
  api.prefetchServers();
  assert.deepEqual(await api.listServers(), list);
  assert.equal(asked.length, 2);
});

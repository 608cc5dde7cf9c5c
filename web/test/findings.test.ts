import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FetchScheduler, findingStep } from '../src/findings';

test('when a row fetches, keeps or clears its top finding', () => {
  const cases = [
    { prev: undefined, next: { status: 'running', status_reason: '' }, want: 'clear' },
    { prev: undefined, next: { status: 'warning', status_reason: 'agent silent' }, want: 'fetch' },
    { prev: { status: 'running', status_reason: '' }, next: { status: 'warning', status_reason: 'agent silent' }, want: 'fetch' },
    { prev: { status: 'warning', status_reason: 'a' }, next: { status: 'warning', status_reason: 'a' }, want: 'keep' },
    { prev: { status: 'warning', status_reason: 'a' }, next: { status: 'warning', status_reason: 'b' }, want: 'fetch' },
    { prev: { status: 'warning', status_reason: 'a' }, next: { status: 'error', status_reason: 'a' }, want: 'fetch' },
    { prev: { status: 'warning', status_reason: 'a' }, next: { status: 'running', status_reason: '' }, want: 'clear' },
    { prev: { status: 'error', status_reason: 'a' }, next: { status: 'pending', status_reason: 'stopping' }, want: 'clear' },
    { prev: { status: 'error', status_reason: 'a' }, next: { status: 'stopped', status_reason: '' }, want: 'clear' },
  ] as const;
  for (const c of cases) assert.equal(findingStep(c.prev, c.next), c.want, JSON.stringify(c));
});

// A fake clock and hand-resolved fetches.
function harness(maxInFlight = 4) {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  const calls: string[] = [];
  const results: [string, string | null][] = [];
  const pending: { name: string; resolve: (v: string) => void; reject: (e: unknown) => void }[] = [];
  const s = new FetchScheduler<string>({
    fetch: (name) => {
      calls.push(name);
      return new Promise((resolve, reject) => pending.push({ name, resolve, reject }));
    },
    done: (name, r) => results.push([name, r]),
    setTimer: (fn, ms) => {
      const id = ++nextId;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimer: (id) => {
      timers = timers.filter((x) => x.id !== id);
    },
    debounceMs: 100,
    maxInFlight,
  });
  const advance = (ms: number) => {
    now += ms;
    const due = timers.filter((x) => x.at <= now);
    timers = timers.filter((x) => x.at > now);
    due.forEach((x) => x.fn());
  };
  const flush = () => new Promise((r) => setImmediate(r));
  return { s, calls, results, pending, advance, flush };
}

test('debounced: a burst of asks is one fetch', async () => {
  const k = harness();
  k.s.ask('web');
  k.advance(50);
  k.s.ask('web');
  k.advance(50);
  k.s.ask('web');
  assert.deepEqual(k.calls, []);
  k.advance(100);
  assert.deepEqual(k.calls, ['web']);
  k.pending[0].resolve('oom_kill');
  await k.flush();
  assert.deepEqual(k.results, [['web', 'oom_kill']]);
});

test('one in flight per server; an ask during the flight fetches once more after it', async () => {
  const k = harness();
  k.s.ask('web');
  k.advance(100);
  k.s.ask('web');
  k.advance(100);
  k.s.ask('web');
  k.advance(100);
  assert.deepEqual(k.calls, ['web']);
  k.pending[0].resolve('first');
  await k.flush();
  assert.deepEqual(k.calls, ['web', 'web']);
  k.pending[1].reject(new Error('gone'));
  await k.flush();
  assert.deepEqual(k.results, [['web', 'first'], ['web', null]]);
  assert.equal(k.calls.length, 2);
});

test('at most maxInFlight in all; the rest wait their turn', async () => {
  const k = harness(2);
  for (const n of ['a', 'b', 'c']) k.s.ask(n);
  k.advance(100);
  assert.deepEqual(k.calls, ['a', 'b']);
  k.pending[0].resolve('x');
  await k.flush();
  assert.deepEqual(k.calls, ['a', 'b', 'c']);
});

test('a cancelled server is not fetched, and its answer in flight is dropped', async () => {
  const k = harness();
  k.s.ask('a');
  k.s.cancel('a');
  k.advance(100);
  assert.deepEqual(k.calls, []);
  k.s.ask('b');
  k.advance(100);
  k.s.cancel('b');
  k.pending[0].resolve('late');
  await k.flush();
  assert.deepEqual(k.results, []);
});

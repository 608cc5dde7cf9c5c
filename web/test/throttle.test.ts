import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDelay } from '../src/throttle';

test('run delay: at once the first time and after the gap, else the rest of the gap', () => {
  const table: [number, number | null, number][] = [
    [1000, null, 0],
    [5000, 1000, 0],
    [3000, 1000, 0],
    [1500, 1000, 1500],
    [1000, 1000, 2000],
  ];
  for (const [now, last, want] of table) assert.equal(runDelay(now, last, 2000), want, `${now} ${last}`);
});

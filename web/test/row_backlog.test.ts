import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RowBacklog } from '../src/row_backlog';

test('row backlog: taken from the front, in name order', () => {
  const b = new RowBacklog();
  b.fill(['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(b.take(2), ['a', 'b']);
  assert.equal(b.size, 3);
  assert.deepEqual(b.take(10), ['c', 'd', 'e']);
  assert.deepEqual(b.take(1), []);
  assert.equal(b.size, 0);
});

test('row backlog: a name joins it only when it sorts after its first name', () => {
  const b = new RowBacklog();
  const table: [string[], string, boolean][] = [
    [[], 'a', false], // nothing waits: the row is built at once
    [['m', 'x'], 'a', false], // before the first waiting: among the built rows
    [['m', 'x'], 'n', true],
    [['m', 'x'], 'z', true],
    [['s00010', 's00011'], 's00009', false],
    [['s00010', 's00011'], 's00010a', true],
  ];
  for (const [names, name, want] of table) {
    b.fill(names);
    assert.equal(b.wants(name), want, `${names.join(',')} ${name}`);
  }
});

test('row backlog: add keeps name order, delete removes wherever it is', () => {
  const b = new RowBacklog();
  b.fill(['b', 'd', 'f']);
  b.add('e');
  b.add('g');
  b.add('c');
  b.delete('d');
  b.delete('nothing');
  assert.deepEqual(b.take(10), ['b', 'c', 'e', 'f', 'g']);
});

test('row backlog: fill copies the names it is given', () => {
  const names = ['a', 'b'];
  const b = new RowBacklog();
  b.fill(names);
  b.take(1);
  assert.deepEqual(names, ['a', 'b']);
});

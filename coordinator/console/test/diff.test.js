import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffLines, diffStats, withContext } from '../src/diff.js';

test('identical texts are all same', () => {
  const d = diffLines('a\nb\n', 'a\nb\n');
  assert.deepEqual(d.map((x) => x.op), ['same', 'same']);
});

test('a changed line is one delete and one add, in place', () => {
  const d = diffLines('a\nb\nc', 'a\nB\nc');
  assert.deepEqual(
    d.map((x) => `${x.op}:${x.text}`),
    ['same:a', 'del:b', 'add:B', 'same:c'],
  );
  assert.deepEqual(diffStats(d), { added: 1, removed: 1 });
});

test('line numbers follow each side', () => {
  const d = diffLines('x\ny', 'w\nx\ny\nz');
  assert.deepEqual(
    d.map((x) => [x.op, x.a ?? null, x.b ?? null]),
    [
      ['add', null, 1],
      ['same', 1, 2],
      ['same', 2, 3],
      ['add', null, 4],
    ],
  );
});

test('empty sides', () => {
  assert.deepEqual(diffLines('', 'a').map((x) => x.op), ['add']);
  assert.deepEqual(diffLines('a\r\nb', '').map((x) => x.op), ['del', 'del']);
});

test('long unchanged runs fold into gaps', () => {
  const a = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n');
  const b = a.replace('l10', 'L10');
  const h = withContext(diffLines(a, b), 2);
  assert.deepEqual(h[0], { op: 'gap', count: 8 });
  assert.equal(h.filter((x) => x.op !== 'gap').length, 6);
  assert.deepEqual(h[h.length - 1], { op: 'gap', count: 7 });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagramRows, matrixCell, normalizeOutline, stageColumns, stageOperations, taskBytes } from '../src/stages.js';

const outline = normalizeOutline({
  name: 't',
  description: '',
  source_kinds: ['distribution'],
  target_kinds: ['distribution'],
  stages: [
    { name: 'list', function: 'oci-pull-prepare@0.4.0', scope: 'execution', concurrency: 1, when: 'on-success', operation: 'copy' },
    { name: 'pull', function: 'oci-pull@0.4.0', scope: 'artifact', concurrency: 8, when: 'on-success', operation: 'copy' },
    { name: 'gate', function: 'gate@1', scope: 'execution', concurrency: 1, when: 'on-success', operation: 'copy' },
    { name: 'push', function: 'oci-push@0.4.0', scope: 'artifact', concurrency: 8, when: 'on-success', operation: 'copy' },
    { name: 'delete', function: 'oci-delete@0.4.0', scope: 'artifact', concurrency: 4, when: 'on-success', operation: 'delete' },
    { name: 'report', function: 'report@1', scope: 'execution', concurrency: 1, when: 'always', operation: 'copy' },
  ],
});

test('outline reads both spellings of kinds and functions', () => {
  assert.deepEqual(outline.sourceKinds, ['distribution']);
  assert.equal(outline.stages[1].functionName, 'oci-pull');
  assert.equal(outline.stages[1].functionVersion, '0.4.0');
  const other = normalizeOutline({ name: 'x', kinds: { source: ['a'], target: ['b'] }, stages: [{ name: 's', function: 'f@1', function_name: 'f', function_version: '1', scope: 'artifact' }] });
  assert.deepEqual([other.sourceKinds, other.targetKinds, other.stages[0].functionName], [['a'], ['b'], 'f']);
});

test('execution stages between artifact stages are barriers', () => {
  const rows = diagramRows(outline.stages);
  assert.deepEqual(
    rows.map((r) => (r.kind === 'execution' ? `${r.stage.name}${r.barrier ? '!' : ''}` : r.stages.map((s) => s.name).join('+'))),
    ['list', 'pull', 'gate!', 'push+delete', 'report'],
  );
});

const rec = (stage, outcome, bytes = 0) => ({ stage, function: 'f', outcome, counts: {}, bytes, messages: [], error: null, attempts: 1, duration_ms: 1, logs: [] });

test('columns follow the records when there is no outline', () => {
  const tasks = [
    { id: 1, operation: 'copy', status: 'succeeded', stages: [rec('pull', 'succeeded'), rec('verify', 'succeeded')] },
    { id: 2, operation: 'copy', status: 'succeeded', stages: [rec('pull', 'succeeded'), rec('push', 'succeeded'), rec('verify', 'skipped')] },
    { id: 3, operation: 'delete', status: 'succeeded', stages: [rec('delete', 'succeeded')] },
  ];
  assert.deepEqual(stageColumns(tasks, null), ['pull', 'push', 'verify', 'delete']);
  const later = [{ id: 1, stages: [rec('push', 'succeeded')] }, { id: 2, stages: [rec('pull', 'succeeded'), rec('push', 'succeeded')] }];
  assert.deepEqual(stageColumns(later, null), ['pull', 'push']);
});

test('outline order comes first, with artifact stages only', () => {
  const tasks = [{ id: 1, operation: 'copy', status: 'succeeded', stages: [rec('push', 'succeeded'), rec('extra', 'succeeded')] }];
  assert.deepEqual(stageColumns(tasks, outline), ['pull', 'push', 'extra', 'delete']);
});

test('cells: outcomes, running, pending, n/a', () => {
  const copy = { id: 1, operation: 'copy', status: 'failed', stages: [rec('pull', 'succeeded', 10), rec('push', 'failed', 5)] };
  const running = { id: 2, operation: 'copy', status: 'running', stages: [] };
  const del = { id: 3, operation: 'delete', status: 'succeeded', stages: [rec('delete', 'succeeded')] };
  const tasks = [copy, running, del];
  const cols = stageColumns(tasks, outline);
  const ops = stageOperations(tasks, outline);
  const cell = (t, name) => matrixCell(t, cols, cols.indexOf(name), ops).status;
  assert.equal(cell(copy, 'pull'), 'succeeded');
  assert.equal(cell(copy, 'push'), 'failed');
  assert.equal(cell(copy, 'delete'), 'n/a');
  assert.equal(cell(running, 'pull'), 'running');
  assert.equal(cell(running, 'push'), 'pending');
  assert.equal(cell(del, 'pull'), 'n/a');
  assert.equal(cell(del, 'delete'), 'succeeded');
  assert.equal(taskBytes(copy), 15);
});

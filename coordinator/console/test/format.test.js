import assert from 'node:assert/strict';
import { test } from 'node:test';
import { artifactName, formatBytes, formatDuration, shortDigest } from '../src/format.js';
import { eventEndpoint, notificationsSnippet } from '../src/snippet.js';
import { throughputData } from '../src/throughput.js';
import { formToInput, policyToForm } from '../src/policy.js';

test('bytes read in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(200 * 1024 * 1024), '200 MiB');
});

test('durations and digests', () => {
  assert.equal(formatDuration(450), '450 ms');
  assert.equal(formatDuration(61_000), '1 min 1 s');
  assert.equal(shortDigest('sha256:0123456789abcdef0123'), 'sha256:0123456789ab');
  assert.equal(artifactName({ repository: 'a/b', tag: 'v1' }), 'a/b:v1');
});

test('the notifications snippet names the endpoint', () => {
  const s = notificationsSnippet('https://ferry.example', 7);
  assert.ok(s.includes(`url: ${eventEndpoint('https://ferry.example', 7)}`));
  assert.ok(s.includes('Authorization: ["Bearer <your event secret>"]'));
  assert.ok(s.includes('actions: [pull]'));
});

test('throughput is cumulative and never decreases', () => {
  const exec = { start_time: 10_000, end_time: null, bytes: 0 };
  const tasks = [
    { end_time: 14_000, stages: [{ bytes: 100 }] },
    { end_time: 12_000, stages: [{ bytes: 50 }, { bytes: 25 }] },
    { end_time: null, stages: [] },
  ];
  const [xs, ys] = throughputData(exec, tasks, [{ t: 13_000, bytes: 60 }]);
  assert.deepEqual(xs, [0, 2, 3, 4]);
  assert.deepEqual(ys, [0, 75, 75, 175]);
});

test('a stored policy round-trips to PolicyInput', () => {
  const p = {
    id: 3, name: 'p', description: '', src_registry: { id: 1 }, dest_registry: { id: 2 }, dest_namespace: 'ns', dest_namespace_replace_count: 1,
    filters: [{ type: 'repository', value: 'lib/**', decoration: null }], trigger: { type: 'scheduled', trigger_settings: { cron: '0 * * * *' } },
    replicate_deletion: true, override: false, enabled: true, speed: -1, copy_by_chunk: false, chunk_size: 1024, single_active_replication: false,
    template: 'oci-to-oci@2', creation_time: 1, update_time: 1, next_fire_time: 5,
  };
  const input = formToInput(policyToForm(p));
  assert.deepEqual(input, {
    name: 'p', description: '', src_registry: { id: 1 }, dest_registry: { id: 2 }, dest_namespace: 'ns', dest_namespace_replace_count: 1,
    filters: [{ type: 'name', value: 'lib/**', decoration: 'matches' }], trigger: { type: 'scheduled', trigger_settings: { cron: '0 * * * *' } },
    replicate_deletion: true, override: false, enabled: true, speed: -1, copy_by_chunk: false, chunk_size: 1024, single_active_replication: false,
    template: 'oci-to-oci@2',
  });
  assert.throws(() => formToInput({ ...policyToForm(p), speed: 'fast' }), /Speed/);
});

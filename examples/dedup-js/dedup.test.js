// Unit tests of the deduplicator, under Node: `node --test` in this folder.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OperatorInfo } from '../../guest-sdk/js/src/index.js';
import { Harness, describeState, pairs } from '../../guest-sdk/js/src/testing.js';
import { Dedup } from './dedup.js';

const info = (ttl) => new OperatorInfo('dedup', { config: { ttl_ms: String(ttl) } });

test('drops a value repeated within the TTL, per key', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  const out = h.processAll([
    ['u1', 'click', 3, 10_000],
    ['u1', 'click', 3, 10_500], // duplicate
    ['u2', 'click', 4, 10_600], // another key
    ['u1', 'view', 3, 10_700],
    ['u1', 'click', 3, 11_000], // exactly the TTL later: new
    ['u1', 'click', 3, 11_999], // within the TTL of the previous one
  ]);
  assert.deepEqual(pairs(out), [
    ['u1', 'click'],
    ['u2', 'click'],
    ['u1', 'view'],
    ['u1', 'click'],
  ]);
  assert.deepEqual(
    out.map((o) => o.timestamp),
    [10_000, 10_600, 10_700, 11_000],
  );
});

test('the TTL survives a checkpoint and a restore', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  h.processAt('u1', 'click', 3, 10_000);
  const restored = Harness.restore(Dedup, h.snapshot(), { info: info(1000) });
  assert.deepEqual(restored.processAt('u1', 'click', 3, 10_999), []);
  assert.deepEqual(pairs(restored.processAt('u1', 'click', 3, 11_000)), [['u1', 'click']]);
});

test('expired entries are swept when their key comes back', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  for (let i = 0; i < 10; i++) h.processAt('u1', `v${i}`, 3, 1_000 + i * 10);
  assert.equal(describeState(h.snapshot()).filter((line) => line.startsWith('seen')).length, 10);
  // Less than 1.25 TTL after the oldest: no sweep yet.
  h.processAt('u1', 'late', 3, 2_200);
  assert.equal(describeState(h.snapshot()).filter((line) => line.startsWith('seen')).length, 11);
  // Past it: everything older than the TTL goes.
  h.processAt('u1', 'later', 3, 2_300);
  const seen = describeState(h.snapshot()).filter((line) => line.startsWith('seen'));
  assert.equal(seen.length, 2);
});

test('events without a timestamp pass through', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  assert.deepEqual(pairs(h.processAll([['u1', 'x', 3], ['u1', 'x', 3]])), [['u1', 'x'], ['u1', 'x']]);
  assert.deepEqual(h.snapshot(), []);
});

test('a bad TTL fails at init', () => {
  assert.throws(() => new Harness(Dedup, { info: info('soon') }), /config `ttl_ms` = "soon" is not valid/);
  assert.throws(() => new Harness(Dedup, { info: info(-5) }), /config `ttl_ms` = -5 is not valid/);
});

test('duplicates are counted per subtask, across restores', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  h.processAll([['a', 'x', 1, 5], ['a', 'x', 1, 6], ['b', 'y', 2, 7], ['b', 'y', 2, 8]]);
  const r = Harness.restore(Dedup, h.snapshot(), { info: info(1000) });
  r.processAt('a', 'x', 1, 9);
  assert.equal(r.operator.dropped.store.value, 3);
});

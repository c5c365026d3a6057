// Unit tests of the deduplicator, under Node: `node --test` in this folder.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OperatorInfo, setLogSink } from '../../guest-sdk/js/src/index.js';
import { Harness, describeState, pairs } from '../../guest-sdk/js/src/testing.js';
import { Dedup } from './dedup.js';

const info = (ttl) => new OperatorInfo('dedup', { config: ttl === undefined ? {} : { ttl_ms: String(ttl) } });
const seenKeys = (h) => describeState(h.snapshot()).filter((line) => line.startsWith('seen'));

test('drops the repeats of a key while its entry lives', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  const out = h.processAll([
    ['u1', 'click', 3, 10_000], // forwarded: the entry lives until 11 000
    ['u1', 'click', 3, 10_500], // duplicate
    ['u2', 'click', 4, 10_600], // another key
    ['u1', 'view', 3, 10_700], // same key: duplicate, whatever the value
    ['u1', 'late copy', 3, 9_200], // late, the entry still lives: duplicate
    ['u1', 'click', 3, 11_000], // operator time 11 000: expired, forwarded
    ['u1', 'click', 3, 11_999], // the new entry lives until 12 000
  ]);
  assert.deepEqual(pairs(out), [
    ['u1', 'click'],
    ['u2', 'click'],
    ['u1', 'click'],
  ]);
  assert.deepEqual(
    out.map((o) => o.timestamp),
    [10_000, 10_600, 11_000],
  );
});

test('the default TTL is 60 s', () => {
  const h = new Harness(Dedup, { info: info() });
  h.processAt('k', '', 0, 0);
  assert.deepEqual(h.processAt('k', '', 0, 59_999), []);
  assert.deepEqual(pairs(h.processAt('k', 'x', 0, 60_000)), [['k', 'x']]);
});

test('the watermark expires entries too', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  h.processAt('k', 'first', 4, 5_000);
  assert.deepEqual(h.processAt('k', 'late copy', 4, 5_500), []);
  h.advance(6_000);
  assert.deepEqual(pairs(h.processAt('k', 'very late copy', 4, 5_600)), [['k', 'very late copy']]);
});

test('the entry survives a checkpoint and a restore', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  h.processAt('u1', 'click', 3, 10_000);
  const restored = Harness.restore(Dedup, h.snapshot(), { info: info(1000) });
  assert.deepEqual(restored.processAt('u1', 'click', 3, 10_999), []);
  assert.deepEqual(pairs(restored.processAt('u1', 'click', 3, 11_000)), [['u1', 'click']]);
});

test('its state: the expiry, then the timestamp', () => {
  const h = new Harness(Dedup, { info: info(1000) });
  h.processAt('k', '', 4, 5_000);
  // expiry 6000 as i64 LE (70 17 00 ...), then 5000 as an i64 (zig-zag varint 90 4e).
  assert.deepEqual(seenKeys(h), ['seen[4] 6b = 7017000000000000904e']);
});

test('keys that never come back are dropped once the watermark passes their expiry', () => {
  const h = new Harness(Dedup, { info: info(100) });
  for (let i = 0; i < 50; i++) h.processAt(`once-${i}`, '', i % 8, i);
  assert.equal(seenKeys(h).length, 50);
  h.advance(120); // entries written at 0..20 expire at 100..120
  assert.equal(seenKeys(h).length, 29);
  h.advance(1_000);
  assert.deepEqual(seenKeys(h), []);
  assert.deepEqual(pairs(h.processAt('once-1', 'back', 1, 1_001)), [['once-1', 'back']]);
});

test('events without a timestamp pass through', () => {
  setLogSink(() => {});
  try {
    const h = new Harness(Dedup, { info: info(1000) });
    assert.deepEqual(pairs(h.processAll([['u1', 'x', 3], ['u1', 'x', 3]])), [['u1', 'x'], ['u1', 'x']]);
    assert.deepEqual(h.snapshot(), []);
  } finally {
    setLogSink(null);
  }
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
  assert.equal(r.operator.dropped.get(), 3);
});

// Unit tests of the counter, under Node: `node --test` in this folder.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Harness, pairs } from '../../guest-sdk/js/src/testing.js';
import { Counter } from './counter.js';

test('counts per key across a restore', () => {
  const h = new Harness(Counter);
  assert.deepEqual(pairs(h.processAll([['a', '1', 5], ['b', '1', 9], ['a', '1', 5]])), [['a', '1'], ['b', '1'], ['a', '2']]);
  const restored = Harness.restore(Counter, h.snapshot());
  assert.deepEqual(pairs(restored.process('a', '1', 5)), [['a', '3']]);
  assert.deepEqual(pairs(restored.process('c', '1', 5)), [['c', '1']]);
});

test('its state is the Rust counter state, byte for byte', () => {
  const h = new Harness(Counter);
  for (let i = 0; i < 300; i++) h.process('apple', '', 3);
  // keyed-value chunk, version 1: key "apple", value u64 300 (varint ac 02).
  assert.deepEqual(h.snapshot(), [
    {
      handle: 'count',
      kind: 'keyed-value',
      keyGroup: 3,
      data: Uint8Array.from([1, 5, 0, 0, 0, 0x61, 0x70, 0x70, 0x6c, 0x65, 2, 0, 0, 0, 0xac, 0x02]),
    },
  ]);
});

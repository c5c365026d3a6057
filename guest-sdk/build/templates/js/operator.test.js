// Unit tests of the operator, under Node: `weir test` (or `node --test`).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Harness, pairs } from '@weir/operator/testing';
import { Totals } from './operator.js';

test('totals per key continue across a restore', () => {
  const h = new Harness(Totals);
  assert.deepEqual(pairs(h.processAll([['a', 'xy', 5], ['b', 'xyz', 9], ['a', 'x', 5]])), [
    ['a', '1 2'],
    ['b', '1 3'],
    ['a', '2 3'],
  ]);
  const restored = Harness.restore(Totals, h.snapshot());
  assert.deepEqual(pairs(restored.process('a', 'xyzw', 5)), [['a', '3 7']]);
});

test('an event without a value is an error', () => {
  assert.throws(() => new Harness(Totals).process('a', '', 5), /without a value/);
});

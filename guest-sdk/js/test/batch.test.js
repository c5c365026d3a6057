// Batch framing (wit/FRAMING.md): the spec's example byte for byte, round
// trips, and the refusals the Rust reader (weir_wire::batch) makes.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchWriter, NO_KEY_GROUP, readBatch } from '../src/index.js';

const hex = (text) => Uint8Array.from(text.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const utf8 = (text) => new TextEncoder().encode(text);

// FRAMING.md, "Example": key "a", value "1", key group 7, no timestamp.
const SPEC_EXAMPLE = hex(`
  57 42 01 00  01 00 00 00
  07 00
  00 00 00 00 00 00 00 80
  01 00 00 00  01 00 00 00
  61 31`);

test('the FRAMING.md example, written and read', () => {
  const writer = new BatchWriter();
  writer.push(7, null, utf8('a'), utf8('1'));
  assert.deepEqual(writer.bytes(), SPEC_EXAMPLE);

  const [event, ...rest] = readBatch(SPEC_EXAMPLE);
  assert.equal(rest.length, 0);
  assert.equal(event.keyStr(), 'a');
  assert.equal(event.valueStr(), '1');
  assert.equal(event.keyGroup, 7);
  assert.equal(event.timestamp, null);
});

test('timestamps and key groups round-trip', () => {
  const writer = new BatchWriter(8); // grows
  const timestamps = [0, 1, -1, 1_700_000_000_123, -1_700_000_000_123, 2 ** 32, -(2 ** 32), Number.MAX_SAFE_INTEGER, null];
  timestamps.forEach((ts, i) => writer.push(i === 0 ? NO_KEY_GROUP : i, ts, utf8(`k${i}`), new Uint8Array(i * 100)));
  const events = readBatch(writer.bytes());
  assert.deepEqual(
    events.map((e) => e.timestamp),
    timestamps,
  );
  assert.deepEqual(
    events.map((e) => e.keyGroup),
    timestamps.map((_, i) => (i === 0 ? null : i)),
  );
  assert.deepEqual(
    events.map((e) => e.value.length),
    timestamps.map((_, i) => i * 100),
  );
  // A BigInt timestamp is written as the i64 it is.
  const w = new BatchWriter();
  w.push(1, 1_700_000_000_123n, utf8(''), utf8(''));
  assert.equal(readBatch(w.bytes())[0].timestamp, 1_700_000_000_123);
  // 1_700_000_000_123 = 0x18BCFE5687B little-endian in the i64 field.
  assert.deepEqual(w.bytes().subarray(10, 18), hex('7b 68 e5 cf 8b 01 00 00'));
});

test('empty batches', () => {
  assert.deepEqual(readBatch(new Uint8Array(0)), []);
  assert.deepEqual(readBatch(hex('57 42 01 00 00 00 00 00')), []);
  assert.deepEqual(new BatchWriter().bytes(), hex('57 42 01 00 00 00 00 00'));
});

test('damaged batches are refused', () => {
  const refused = (bytes, message) => assert.throws(() => readBatch(bytes), { message });
  refused(hex('58 42 01 00 00 00 00 00'), 'bad magic (not a Weir batch)');
  refused(hex('57 42 02 00 00 00 00 00'), 'unknown format version 2');
  refused(hex('57 42 01 01 00 00 00 00'), 'unknown flags 0x01');
  refused(hex('57 42 01'), 'truncated while reading batch header');
  refused(hex('57 42 01 00 02 00 00 00'), 'truncated while reading event count');
  for (let cut = 8; cut < SPEC_EXAMPLE.length; cut++) {
    assert.throws(() => readBatch(SPEC_EXAMPLE.subarray(0, cut)), /truncated while reading/, `cut at ${cut}`);
  }
  const long = new Uint8Array(SPEC_EXAMPLE.length + 1);
  long.set(SPEC_EXAMPLE);
  refused(long, '1 bytes left after the last entry');
  // A key length far past the end.
  const bad = SPEC_EXAMPLE.slice();
  bad.set([0xff, 0xff, 0xff, 0xff], 18);
  refused(bad, 'truncated while reading event key');
});

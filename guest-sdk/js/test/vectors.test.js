// The shared test vectors in wit/vectors: this SDK writes every file byte for
// byte and reads back its meaning (the Rust reference checks the same files in
// guest-sdk/tests/vectors.rs, Python in guest-sdk/python/tests).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { BatchWriter, NO_KEY_GROUP, codecs, encode, readBatch } from '../src/index.js';
import { ChunkWriter, DeltaWriter, mergeChain, readChunk, readDelta } from '../src/chunk.js';

const dir = new URL('../../../wit/vectors/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('vectors.json', dir), 'utf8'));
const file = (name) => new Uint8Array(readFileSync(new URL(name, dir)));
const utf8 = (text) => new TextEncoder().encode(text);
const hex = (text) => Uint8Array.from(text.match(/../g) ?? [], (b) => parseInt(b, 16));

const CODECS = { u64: codecs.u64, i64: codecs.i64, str: codecs.string, bytes: codecs.bytes, bool: codecs.bool, f64: codecs.f64 };

function typed(value) {
  const [[name, v]] = Object.entries(value);
  return encode(CODECS[name], name === 'bytes' ? hex(v) : v);
}

/** A manifest entry as the entry objects readChunk returns. */
function entryOf(kind, e) {
  switch (kind) {
    case 'keyed-value':
      return { key: utf8(e.key), value: typed(e.value) };
    case 'keyed-map':
      return { key: utf8(e.key), mapKey: typed(e.map_key), value: typed(e.value) };
    case 'keyed-list':
      return { key: utf8(e.key), values: e.values.map(typed) };
    default:
      return { value: typed(e.value) };
  }
}

function write(writer, kind, entry) {
  switch (kind) {
    case 'keyed-value':
      return writer.keyedValue(entry.key, entry.value);
    case 'keyed-map':
      return writer.keyedMap(entry.key, entry.mapKey, entry.value);
    case 'keyed-list':
      return writer.keyedList(entry.key, entry.values);
    case 'operator-value':
      return writer.operatorValue(entry.value);
    default:
      return writer.operatorList(entry.value);
  }
}

// Entries within a chunk are in no particular order: compare as sorted text.
const comparable = (entries) =>
  entries.map((e) => JSON.stringify(Object.entries(e).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => [...x]) : [...v]]))).sort();

test('every state vector, written and read', () => {
  assert.ok(manifest.state.length >= 6);
  for (const c of manifest.state) {
    const entries = c.entries.map((e) => entryOf(c.kind, e));
    const stored = file(c.file);
    if (c.version === 1) {
      const writer = new ChunkWriter(c.kind);
      for (const entry of entries) write(writer, c.kind, entry);
      assert.deepEqual(writer.finish(), stored, c.file);
      assert.deepEqual(comparable(readChunk(c.kind, stored)), comparable(entries), c.file);
    } else {
      const writer = new DeltaWriter(c.kind);
      for (const key of c.removed) writer.remove(utf8(key));
      for (const entry of entries) write(writer, c.kind, entry);
      assert.deepEqual(writer.finish(), stored, c.file);
      const delta = readDelta(c.kind, stored);
      assert.deepEqual(delta.removed.map((k) => [...k]), c.removed.map((k) => [...utf8(k)]), c.file);
      assert.deepEqual(comparable(delta.entries), comparable(entries), c.file);
      const merged = mergeChain(c.kind, [file(c.merged_onto), stored]);
      const expected = c.merged.map((e) => entryOf(c.kind, e));
      assert.deepEqual(comparable(readChunk(c.kind, merged)), comparable(expected), c.file);
    }
  }
});

test('every batch vector, written and read', () => {
  for (const c of manifest.batches) {
    const writer = new BatchWriter();
    for (const e of c.events) writer.push(e.key_group ?? NO_KEY_GROUP, e.timestamp, utf8(e.key), utf8(e.value));
    const stored = file(c.file);
    assert.deepEqual(writer.bytes(), stored, c.file);
    const events = readBatch(stored);
    assert.equal(events.length, c.events.length);
    events.forEach((event, i) => {
      const want = c.events[i];
      assert.equal(event.keyStr(), want.key);
      assert.equal(event.valueStr(), want.value);
      assert.equal(event.keyGroup, want.key_group);
      assert.equal(event.timestamp === null ? null : Number(event.timestamp), want.timestamp);
    });
  }
});

// One known event-time state, byte for byte as every SDK writes it (the Rust
// and Python SDKs assert the same bytes; examples/window-count-py and
// examples/window-count check it against the shared vector): key "a" (key
// group 3) with a tumbling 60 s count window [0, 60000) of 2 events, key "b"
// (key group 7) with [60000, 120000) of 1, and their event-time timers.
test('the event-time vector: timers and a window map', async () => {
  const { WindowedOperator, aggregates } = await import('../src/index.js');
  const { Harness, pairs } = await import('../src/testing.js');
  class Count extends WindowedOperator {
    constructor(ctx) {
      super();
      this.windows = ctx.tumblingWindows('counts', 60_000, aggregates.count());
    }

    onWindow(ctx, key, window, count) {
      ctx.emit(key, `${window.start}\t${count}`);
    }
  }
  const h = new Harness(Count);
  h.processAll([['a', 'x', 3, 1000], ['a', 'y', 3, 2000], ['b', 'z', 7, 61000]]);
  const chunks = h.snapshot().sort((x, y) => (x.handle < y.handle ? -1 : x.handle > y.handle ? 1 : x.keyGroup - y.keyGroup));
  const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  assert.deepEqual(chunks.map((c) => `${c.handle} ${c.kind} ${c.keyGroup} ${toHex(c.data)}`), [
    'counts keyed-map 3 01010000006101000000000100000002',
    'counts keyed-map 7 01010000006203000000c0a9070100000001',
    'weir.timers keyed-map 3 010100000061090000000060ea00000000000000000000',
    'weir.timers keyed-map 7 0101000000620900000000c0d401000000000000000000',
  ]);
  const restored = Harness.restore(Count, chunks);
  assert.deepEqual(pairs(restored.advance(60_000)), [['a', '0\t2']]);
  assert.deepEqual(pairs(restored.advance(120_000)), [['b', '60000\t1']]);
});

// Timers of both domains, a TTL value and a session window (the Rust SDK's
// guest-sdk/tests/event_time_vectors.rs asserts the same lines): `seen`, a
// keyed u64 value with a TTL of 1000 ms set at 1000 for key "p" (key group
// 1) with a processing-time timer at 5000; `sums`, session windows with a
// 50 ms gap summing values, given ("s", "5") at 100 (key group 2).
test('the event-time vector: timers of both domains, a TTL value, a session', async () => {
  const { aggregates } = await import('../src/index.js');
  const { Harness, pairs } = await import('../src/testing.js');
  class Mixed {
    constructor(ctx) {
      this.seen = ctx.keyedValue('seen', codecs.u64, { ttlMs: 1000 });
      this.sums = ctx.sessionWindows('sums', 50, aggregates.sum());
    }

    process(ctx, event) {
      if (event.keyStr() === 'p') {
        this.seen.set(1);
        ctx.registerProcessingTimer(5000);
      } else {
        this.sums.add(event);
      }
    }

    onTimer(ctx, timer) {
      const fired = this.sums.onTimer(timer, (c, key, w, total) => c.emit(key, `${w.start} ${w.end} ${total}`));
      if (fired === 0) ctx.emit(timer.key, `tick ${this.seen.get()}`);
    }
  }
  const h = new Harness(Mixed);
  h.processAt('p', 'x', 1, 1000);
  h.processAt('s', '5', 2, 100);
  const chunks = h.snapshot().sort((x, y) => (x.handle < y.handle ? -1 : x.handle > y.handle ? 1 : x.keyGroup - y.keyGroup));
  const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  assert.deepEqual(chunks.map((c) => `${c.handle} ${c.kind} ${c.keyGroup} ${toHex(c.data)}`), [
    'seen keyed-value 1 01010000007009000000d00700000000000001',
    'sums keyed-map 2 01010000007302000000c80103000000ac020a',
    'weir.timers keyed-map 1 0101000000700900000001881300000000000000000000',
    'weir.timers keyed-map 2 0101000000730900000000960000000000000000000000',
  ]);
  const restored = Harness.restore(Mixed, chunks);
  assert.equal(restored.wakeAt, 5000);
  assert.deepEqual(pairs(restored.advance(1999, 5000)), [['s', '100 150 5'], ['p', 'tick 1']]);
  assert.equal(restored.wakeAt, null);
  restored.advance(2000);
  assert.deepEqual(restored.snapshot(), []);
});

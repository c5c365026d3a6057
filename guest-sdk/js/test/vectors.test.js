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

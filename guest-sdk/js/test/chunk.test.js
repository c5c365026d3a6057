// State chunks (wit/STATE.md): byte-exact chunks of every kind, deltas
// (version 2), the merge of a chain, and the refusals.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ChunkWriter, DeltaWriter, codecs, encode, mergeChain, readChunk, readDelta } from '../src/index.js';

const hex = (text) => Uint8Array.from(text.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const utf8 = (text) => new TextEncoder().encode(text);

test('a keyed-value chunk: key "apple", u64 count 300', () => {
  const writer = new ChunkWriter('keyed-value');
  writer.keyedValue(utf8('apple'), encode(codecs.u64, 300));
  const data = writer.finish();
  assert.deepEqual(
    data,
    hex(`01
         05 00 00 00  61 70 70 6c 65
         02 00 00 00  ac 02`),
  );
  assert.deepEqual(readChunk('keyed-value', data), [{ key: utf8('apple'), value: hex('ac 02') }]);
});

test('every kind, byte for byte', () => {
  const map = new ChunkWriter('keyed-map');
  map.keyedMap(utf8('k'), encode(codecs.string, 'w'), encode(codecs.u32, 2));
  assert.deepEqual(map.finish(), hex('01  01 00 00 00 6b  02 00 00 00 01 77  01 00 00 00 02'));

  const list = new ChunkWriter('keyed-list');
  list.keyedList(utf8('k'), [hex('01'), hex('')]);
  list.keyedList(utf8('e'), []);
  assert.deepEqual(list.finish(), hex('01  01 00 00 00 6b  02 00 00 00  01 00 00 00 01  00 00 00 00  01 00 00 00 65  00 00 00 00'));
  assert.deepEqual(readChunk('keyed-list', list.finish()), [
    { key: utf8('k'), values: [hex('01'), hex('')] },
    { key: utf8('e'), values: [] },
  ]);

  const value = new ChunkWriter('operator-value');
  value.operatorValue(hex('07'));
  assert.deepEqual(value.finish(), hex('01 01 00 00 00 07'));

  const ops = new ChunkWriter('operator-list');
  ops.operatorList(hex('07'));
  ops.operatorList(hex('08 09'));
  assert.deepEqual(ops.finish(), hex('01  01 00 00 00 07  02 00 00 00 08 09'));
  assert.deepEqual(readChunk('operator-list', ops.finish()), [{ value: hex('07') }, { value: hex('08 09') }]);

  assert.throws(() => value.keyedValue(hex(''), hex('')), /a keyed-value entry in a operator-value chunk/);
});

test('a delta chunk: removed keys first, then entries', () => {
  const delta = new DeltaWriter('keyed-value');
  delta.keyedValue(utf8('apple'), hex('04'));
  delta.remove(utf8('pear'));
  const data = delta.finish();
  assert.deepEqual(
    data,
    hex(`02  01 00 00 00
         04 00 00 00 70 65 61 72
         05 00 00 00 61 70 70 6c 65  01 00 00 00 04`),
  );
  assert.deepEqual(readDelta('keyed-value', data), {
    removed: [utf8('pear')],
    entries: [{ key: utf8('apple'), value: hex('04') }],
  });
  assert.deepEqual(new DeltaWriter('keyed-map').finish(), hex('02 00 00 00 00'));
  assert.throws(() => new DeltaWriter('operator-list'), /keyed kind/);
});

test('merging a chain applies deltas as STATE.md says', () => {
  const full = new ChunkWriter('keyed-map');
  full.keyedMap(utf8('a'), hex('01'), hex('10'));
  full.keyedMap(utf8('a'), hex('02'), hex('20'));
  full.keyedMap(utf8('b'), hex('01'), hex('30'));
  full.keyedMap(utf8('c'), hex('01'), hex('40'));
  const d1 = new DeltaWriter('keyed-map');
  d1.keyedMap(utf8('a'), hex('03'), hex('50')); // replaces all of a's entries
  d1.remove(utf8('b'));
  const d2 = new DeltaWriter('keyed-map');
  d2.remove(utf8('c'));
  d2.keyedMap(utf8('c'), hex('09'), hex('90')); // removed, then set again
  d2.keyedMap(utf8('d'), hex('01'), hex('60'));
  const merged = readChunk('keyed-map', mergeChain('keyed-map', [full.finish(), d1.finish(), d2.finish()]));
  const lines = merged.map((e) => `${new TextDecoder().decode(e.key)} ${e.mapKey[0]} ${e.value[0]}`).sort();
  assert.deepEqual(lines, ['a 3 80', 'c 9 144', 'd 1 96']);
});

test('damaged chunks are refused', () => {
  const writer = new ChunkWriter('keyed-list');
  writer.keyedList(utf8('key'), [utf8('one'), utf8('two')]);
  const good = writer.finish();
  assert.deepEqual(readChunk('keyed-list', good.subarray(0, 1)), []);
  for (let cut = 0; cut < good.length; cut++) {
    if (cut === 1) continue;
    assert.throws(() => readChunk('keyed-list', good.subarray(0, cut)), /truncated/, `cut at ${cut}`);
  }
  const v2 = good.slice();
  v2[0] = 2;
  assert.throws(() => readChunk('keyed-list', v2), /unknown format version 2/);
  const longList = good.slice();
  longList.set([0xff, 0xff, 0xff, 0xff], 8);
  assert.throws(() => readChunk('keyed-list', longList), /truncated/);
  assert.throws(() => readChunk('keyed-thing', good), /unknown state kind/);
});

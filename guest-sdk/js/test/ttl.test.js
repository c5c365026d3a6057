// State with a time to live ({ ttlMs }): visibility, layout, snapshots.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { codecs, readChunk, readDelta } from '../src/index.js';
import { Harness, mergeSnapshot } from '../src/testing.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const texts = (outputs) => outputs.map((o) => o.valueStr());
const le = (n) => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n), true);
  return hex(out);
};
const I64_MAX = 2n ** 63n - 1n;

// `set X` / `get`, `put K V` / `map`, `push X` / `list`; `tick T` registers
// a timer whose callback sets the value.
class Remember {
  constructor(ctx) {
    this.value = ctx.keyedValue('value', codecs.string, { ttlMs: 100 });
    this.map = ctx.keyedMap('map', codecs.string, codecs.u64, { ttlMs: 100 });
    this.list = ctx.keyedList('list', codecs.u64, { ttlMs: 100 });
  }

  process(ctx, event) {
    const [op, a, b] = event.valueStr().split(' ');
    if (op === 'set') this.value.set(a);
    else if (op === 'get') ctx.emit(event.key, JSON.stringify(this.value.get() ?? null));
    else if (op === 'put') this.map.set(a, Number(b));
    else if (op === 'map') ctx.emit(event.key, JSON.stringify([this.map.entries().sort(), this.map.size(), this.map.has('x')]));
    else if (op === 'push') this.list.push(Number(a));
    else if (op === 'list') ctx.emit(event.key, JSON.stringify(this.list.get()));
    else if (op === 'tick') ctx.registerEventTimer(Number(a));
  }

  onTimer() {
    this.value.set('from a timer');
  }
}

test('a value lives ttlMs of event time', () => {
  const h = new Harness(Remember);
  h.processAt('k', 'set a', 1, 1000);
  assert.deepEqual(texts(h.processAt('k', 'get', 1, 1099)), ['"a"']);
  // An older event sees it too: the operator's time is the newest of the
  // event's timestamp and the watermark.
  assert.deepEqual(texts(h.processAt('k', 'get', 1, 1050)), ['"a"']);
  assert.deepEqual(texts(h.processAt('k', 'get', 1, 1100)), ['null']);
  // Once an event of its key saw it expire, it is gone for good.
  assert.deepEqual(texts(h.processAt('k', 'get', 1, 1050)), ['null']);
  assert.deepEqual(h.snapshot(), []);
  // The watermark expires it as well, whatever the event's timestamp.
  h.processAt('j', 'set b', 2, 1000);
  h.advance(1100);
  assert.deepEqual(texts(h.processAt('j', 'get', 2, 1050)), ['null']);
  assert.deepEqual(texts(h.process('j', 'get', 2)), ['null']);
});

test('the write time without a timestamp: the watermark, or never expiring', () => {
  const h = new Harness(Remember);
  h.process('forever', 'set a', 1);
  h.advance(500);
  h.process('wm', 'set b', 2);
  assert.deepEqual(texts(h.processAt('wm', 'get', 2, 599)), ['"b"']);
  const entries = h
    .snapshot()
    .filter((c) => c.handle === 'value')
    .flatMap((c) => readChunk(c.kind, c.data).map((e) => [hex(e.key), hex(e.value)]));
  assert.deepEqual(entries, [
    [hex(Buffer.from('forever')), le(I64_MAX) + '0161'],
    [hex(Buffer.from('wm')), le(600) + '0162'],
  ]);
  assert.deepEqual(texts(h.processAt('wm', 'get', 2, 600)), ['null']);
  assert.deepEqual(texts(h.processAt('forever', 'get', 1, 1e15)), ['"a"']);
  h.advance(I64_MAX, 0n); // the end of the input expires everything
  assert.deepEqual(h.snapshot(), []);
});

test('writes in a timer use the watermark', () => {
  const h = new Harness(Remember);
  h.processAt('k', 'tick 10', 1, 5);
  h.advance(40);
  assert.deepEqual(texts(h.processAt('k', 'get', 1, 139)), ['"from a timer"']);
  assert.deepEqual(texts(h.processAt('k', 'get', 1, 140)), ['null']);
});

test('map values and list elements expire one by one', () => {
  const h = new Harness(Remember);
  h.processAt('k', 'put x 1', 1, 0);
  h.processAt('k', 'put y 2', 1, 50);
  h.processAt('k', 'push 1', 1, 0);
  h.processAt('k', 'push 2', 1, 50);
  assert.deepEqual(texts(h.processAt('k', 'map', 1, 99)), ['[[["x",1],["y",2]],2,true]']);
  assert.deepEqual(texts(h.processAt('k', 'map', 1, 100)), ['[[["y",2]],1,false]']);
  assert.deepEqual(texts(h.processAt('k', 'list', 1, 100)), ['[2]']);
  // The expired ones are gone from the state.
  const map = h.snapshot().find((c) => c.handle === 'map');
  assert.deepEqual(readChunk('keyed-map', map.data).map((e) => [hex(e.mapKey), hex(e.value)]), [['0179', le(150) + '02']]);
  h.processAt('k', 'put x 3', 1, 120);
  assert.deepEqual(texts(h.processAt('k', 'map', 1, 160)), ['[[["x",3]],1,true]']);
});

test('the layout: the expiry in front of the value; and back', () => {
  const h = new Harness(Remember);
  h.processAt('k', 'set a', 7, 1000);
  h.processAt('k', 'put x 5', 7, 1000);
  h.processAt('k', 'push 6', 7, 1050);
  const chunks = h.snapshot();
  const by = Object.fromEntries(chunks.map((c) => [c.handle, c]));
  assert.equal(hex(by.value.data), '01' + '010000006b' + '0a000000' + le(1100) + '0161');
  assert.deepEqual(readChunk('keyed-map', by.map.data).map((e) => [hex(e.mapKey), hex(e.value)]), [['0178', le(1100) + '05']]);
  assert.deepEqual(readChunk('keyed-list', by.list.data).map((e) => e.values.map(hex)), [[le(1150) + '06']]);
  const r = Harness.restore(Remember, chunks);
  assert.deepEqual(texts(r.processAt('k', 'get', 7, 1099)), ['"a"']);
  assert.deepEqual(texts(r.processAt('k', 'map', 7, 1099)), ['[[["x",5]],1,true]']);
  assert.deepEqual(texts(r.processAt('k', 'list', 7, 1149)), ['[6]']);
  assert.deepEqual(texts(r.processAt('k', 'list', 7, 1150)), ['[]']);
});

test('full snapshots leave entries the watermark expired out', () => {
  const h = new Harness(Remember);
  for (let i = 0; i < 10; i++) h.processAt(`k${i}`, 'set v', i, i * 100);
  h.advance(500);
  assert.deepEqual(h.snapshot().map((c) => c.keyGroup), [5, 6, 7, 8, 9]);
});

test('incremental snapshots report the keys whose entries expired', () => {
  const h = new Harness(Remember);
  h.processAt('a', 'set v', 1, 0);
  h.processAt('b', 'set v', 2, 50);
  h.processAt('b', 'put x 1', 2, 50);
  h.processAt('b', 'put y 2', 2, 90);
  let state = h.snapshot();
  h.advance(150);
  const delta = h.snapshotIncremental();
  assert.equal(delta.incremental, true);
  const described = delta.chunks.map((c) => {
    const { removed, entries } = readDelta(c.kind, c.data);
    return [c.handle, c.keyGroup, removed.map(hex), entries.map((e) => [hex(e.mapKey), hex(e.value)])];
  });
  assert.deepEqual(described, [
    ['value', 1, ['61'], []],
    ['value', 2, ['62'], []],
    ['map', 2, [], [['0179', le(190) + '02']]],
  ]);
  state = mergeSnapshot(state, delta);
  h.advance(200);
  state = mergeSnapshot(state, h.snapshotIncremental());
  assert.deepEqual(state, []);
});

test('a checkpoint without TTL does not restore into a TTL handle; ttlMs must be positive', () => {
  const data = new Uint8Array(Buffer.from('01' + '010000006b' + '02000000' + '0161', 'hex'));
  assert.throws(() => Harness.restore(Remember, [{ handle: 'value', kind: 'keyed-value', keyGroup: 1, data }]), /no expiry in front/);
  assert.throws(() => new Harness((ctx) => (ctx.keyedValue('v', codecs.u64, { ttlMs: 0 }), { process() {} })), /state `v`: ttlMs must be a positive/);
});

test('update and clear on a TTL value', () => {
  const h = new Harness((ctx) => {
    const n = ctx.keyedValue('n', codecs.u64, { ttlMs: 10 });
    return {
      process(c, e) {
        if (e.valueStr() === 'clear') n.clear();
        else c.emit(e.key, `${n.update((x) => (x ?? 0) + 1)} until ${n.expiresAt()}`);
      },
    };
  });
  assert.deepEqual(texts(h.processAt('k', '', 0, 0)), ['1 until 10']);
  assert.deepEqual(texts(h.processAt('k', '', 0, 5)), ['2 until 15']);
  assert.deepEqual(texts(h.processAt('k', '', 0, 15)), ['1 until 25']); // expired: starts over
  h.processAt('k', 'clear', 0, 16);
  assert.deepEqual(h.snapshot(), []);
});

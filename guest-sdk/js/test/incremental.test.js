// Incremental snapshots (wit/STATE.md, "Incremental snapshots"): deltas of
// keyed state per key group, operator state whole, and a randomized check
// that the host's merge of every answer equals the complete state.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { codecs, readChunk, readDelta } from '../src/index.js';
import { Harness, describeState, mergeSnapshot } from '../src/testing.js';

const utf8 = (text) => new TextEncoder().encode(text);
const text = (bytes) => new TextDecoder().decode(bytes);

class Counter {
  constructor(ctx) {
    this.count = ctx.keyedValue('count', codecs.u64);
    this.total = ctx.operatorValue('total', codecs.u64);
  }

  process(ctx, event) {
    if (event.valueStr() === 'forget') {
      this.count.clear();
      return;
    }
    ctx.emit(event.key, String(this.count.update((n) => (n ?? 0) + 1)));
    this.total.update((n) => (n ?? 0) + 1);
  }
}

test('the first snapshot of an instance is complete even when asked for incremental', () => {
  const h = new Harness(Counter);
  h.process('a', '', 1);
  const answer = h.snapshotIncremental();
  assert.equal(answer.incremental, false);
  assert.deepEqual(answer.chunks.map((c) => [c.handle, c.keyGroup, c.data[0]]), [
    ['count', 1, 1],
    ['total', undefined, 1],
  ]);
});

test('deltas hold the changed and removed keys of the key groups that changed', () => {
  const h = new Harness(Counter);
  h.processAll([
    ['a', '', 1],
    ['b', '', 1],
    ['c', '', 2],
    ['d', '', 3],
  ]);
  h.snapshot();
  h.processAll([
    ['a', '', 1],
    ['b', 'forget', 1],
    ['e', '', 2],
  ]);
  const answer = h.snapshotIncremental();
  assert.equal(answer.incremental, true);
  assert.deepEqual(answer.chunks.map((c) => `${c.handle} ${c.kind} ${c.keyGroup} v${c.data[0]}`), [
    'count keyed-value 1 v2',
    'count keyed-value 2 v2',
    'total operator-value undefined v1',
  ]);
  const group1 = readDelta('keyed-value', answer.chunks[0].data);
  assert.deepEqual(group1.removed.map(text), ['b']);
  assert.deepEqual(group1.entries.map((e) => [text(e.key), e.value[0]]), [['a', 2]]);
  const group2 = readDelta('keyed-value', answer.chunks[1].data);
  assert.deepEqual(group2.removed, []);
  assert.deepEqual(group2.entries.map((e) => [text(e.key), e.value[0]]), [['e', 1]]);
  assert.deepEqual(readChunk('operator-value', answer.chunks[2].data), [{ value: new Uint8Array([6]) }]);

  // Nothing changed: only the operator state, whole.
  const quiet = h.snapshotIncremental();
  assert.equal(quiet.incremental, true);
  assert.deepEqual(quiet.chunks.map((c) => c.handle), ['total']);
  // A full snapshot when asked for one.
  assert.equal(h.snapshotAnswer('full').incremental, false);
});

test('emptied operator state is an empty version 1 chunk in an incremental answer', () => {
  class Op {
    constructor(ctx) {
      this.l = ctx.operatorList('l', codecs.u8);
    }

    process(ctx, event) {
      if (event.valueStr() === 'clear') this.l.clear();
      else this.l.push(1);
    }
  }
  const h = new Harness(Op);
  h.process('k', 'push', 0);
  assert.equal(h.snapshot().length, 1);
  h.process('k', 'clear', 0);
  const answer = h.snapshotIncremental();
  assert.deepEqual(answer.chunks, [{ handle: 'l', kind: 'operator-list', keyGroup: undefined, data: new Uint8Array([1]) }]);
  assert.deepEqual(mergeSnapshot(h.snapshot(), answer), []);
});

test('objects changed in place without set() still reach the delta', () => {
  class Op {
    constructor(ctx) {
      this.doc = ctx.keyedValue('doc');
      this.tags = ctx.keyedMap('tags', codecs.string, codecs.json);
      this.items = ctx.keyedList('items', codecs.json);
    }

    process(ctx, event) {
      if (event.valueStr() === 'init') {
        this.doc.set({ n: 0 });
        this.tags.set('t', [1]);
        this.items.push({ x: 1 });
      } else {
        this.doc.get().n += 1;
        this.tags.get('t').push(2);
        this.items.get()[0].x = 9;
      }
    }
  }
  const h = new Harness(Op);
  h.process('k', 'init', 4);
  let host = h.snapshot();
  h.process('k', 'mutate', 4);
  host = mergeSnapshot(host, h.snapshotIncremental());
  const restored = Harness.restore(Op, host);
  assert.deepEqual(describeState(restored.snapshot()), describeState(host));
  const lines = describeState(host).map((line) => line.replace(/ [0-9a-f]+$/, (hex) => ' ' + text(Uint8Array.from(hex.trim().match(/../g), (b) => parseInt(b, 16))).slice(1)));
  assert.deepEqual(lines, ['doc[4] 6b = {"n":1}', 'items[4] 6b = [077b2278223a397d]', 'tags[4] 6b 0174 = [1,2]']);
});

// A deterministic pseudo-random sequence.
function random(seed) {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

class Mixed {
  constructor(ctx) {
    this.value = ctx.keyedValue('value', codecs.u64);
    this.doc = ctx.keyedValue('doc');
    this.map = ctx.keyedMap('map', codecs.string, codecs.i64);
    this.list = ctx.keyedList('list', codecs.string);
    this.count = ctx.operatorValue('count', codecs.u64);
    this.log = ctx.operatorList('log', codecs.u32);
  }

  process(ctx, event) {
    const [op, arg] = event.valueStr().split(' ');
    const n = Number(arg);
    switch (op) {
      case 'set': this.value.set(n); break;
      case 'clear': this.value.clear(); break;
      case 'doc': { const d = this.doc.get(); if (d) d.n += n; else this.doc.set({ n }); break; }
      case 'put': this.map.set(`m${n % 4}`, -n); break;
      case 'del': this.map.delete(`m${n % 4}`); break;
      case 'wipe': this.map.clear(); break;
      case 'push': this.list.push(String(n)); break;
      case 'drop': this.list.clear(); break;
      case 'replace': this.list.set(n % 2 ? [] : ['r', String(n)]); break;
      case 'count': this.count.update((c) => (c ?? 0) + 1); break;
      case 'log': if (this.log.size() > 5) this.log.clear(); else this.log.push(n); break;
      default: throw new Error(op);
    }
  }
}

test('merging every answer gives the complete state (randomized)', () => {
  const OPS = ['set', 'clear', 'doc', 'put', 'del', 'wipe', 'push', 'drop', 'replace', 'count', 'log'];
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = random(seed);
    const h = new Harness(Mixed);
    const twin = new Harness(Mixed); // same events; its full snapshots are the truth
    let host = [];
    for (let round = 0; round < 40; round++) {
      const events = [];
      for (let i = 0, n = next(12); i < n; i++) {
        const key = `k${next(10)}`;
        events.push([key, `${OPS[next(OPS.length)]} ${next(1000)}`, Number(key.slice(1)) % 3]);
      }
      h.processAll(events);
      twin.processAll(events);
      const answer = h.snapshotAnswer(next(4) === 0 ? 'full' : 'incremental');
      if (round > 0 && answer.incremental === false) assert.ok(answer.chunks.every((c) => c.data[0] === 1));
      host = mergeSnapshot(host, answer);
      assert.deepEqual(describeState(host), describeState(twin.snapshot()), `seed ${seed}, round ${round}`);
    }
    // The merged state restores into an instance that carries on the same.
    const restored = Harness.restore(Mixed, host);
    const events = [['k1', 'doc 1', 1], ['k2', 'put 2', 2], ['k3', 'count 0', 0]];
    restored.processAll(events);
    twin.processAll(events);
    assert.deepEqual(describeState(restored.snapshot()), describeState(twin.snapshot()));
  }
});

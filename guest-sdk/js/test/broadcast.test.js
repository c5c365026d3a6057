// Broadcast map state: scope, the broadcast-map chunk of STATE.md byte for
// byte, restores, incremental snapshots.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ChunkWriter, OperatorInfo, codecs, readChunk } from '../src/index.js';
import { Harness, NO_KEY_GROUP, describeState, mergeSnapshot, pairs } from '../src/testing.js';

const hex = (text) => Uint8Array.from(text.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));

/**
 * Input 1 ("rules", broadcast) sets `word<TAB>weight` rules, or removes one
 * with `-word`; input 0 (keyed) sums weighted words per key.
 */
class Rules {
  constructor(ctx) {
    this.rules = ctx.broadcastMap('rules', codecs.string, codecs.u32);
    this.totals = ctx.keyedValue('totals', codecs.u64);
  }

  process(ctx, event) {
    const text = event.valueStr();
    if (event.input === 1) {
      if (text.startsWith('-')) this.rules.delete(text.slice(1));
      else {
        const [word, weight] = text.split('\t');
        this.rules.set(word, Number(weight));
      }
      return;
    }
    const total = this.totals.update((n) => (n ?? 0) + (this.rules.get(text) ?? 0));
    ctx.emit(event.key, String(total));
  }

  finish(ctx) {
    ctx.emit('rules', JSON.stringify(this.rules.entries()));
  }
}

const harness = (restored = []) => new Harness(Rules, { restored, inputs: ['words', { name: 'rules', broadcast: true }] });
const rule = (h, line) => h.processInput(1, '', line);

test('usable for broadcast and keyed events, and in finish', () => {
  const h = harness();
  rule(h, 'apple\t3');
  rule(h, 'fig\t10');
  assert.deepEqual(pairs(h.process('k', 'apple', 4)), [['k', '3']]);
  assert.deepEqual(pairs(h.process('k', 'fig', 4)), [['k', '13']]);
  assert.deepEqual(pairs(h.process('k', 'kiwi', 4)), [['k', '13']]);
  assert.deepEqual(pairs(h.finish()), [['rules', '[["apple",3],["fig",10]]']]);
});

test('the map API', () => {
  const h = new Harness((ctx) => {
    const m = ctx.broadcastMap('m');
    return {
      process(ctx) {
        assert.equal(m.size(), 0);
        m.set('a', 1);
        m.set('a', 2);
        m.set('b', [1, 2]);
        m.set(['tuple', 1], 'by encoding');
        assert.ok(m.has('a') && !m.has('z'));
        assert.equal(m.get('z'), undefined);
        assert.equal(m.get(['tuple', 1]), 'by encoding');
        assert.deepEqual(m.entries(), [['a', 2], ['b', [1, 2]], [['tuple', 1], 'by encoding']]);
        assert.deepEqual(m.keys(), ['a', 'b', ['tuple', 1]]);
        assert.deepEqual(m.values(), [2, [1, 2], 'by encoding']);
        assert.equal(m.delete('a'), true);
        assert.equal(m.delete('a'), false);
        assert.equal(m.size(), 2);
        m.clear();
        assert.equal(m.size(), 0);
        assert.throws(() => m.set('x', undefined), /cannot store undefined/);
        ctx.emit('ok', '');
      },
    };
  });
  assert.deepEqual(pairs(h.process('k', 'v')), [['ok', '']]);
});

test('the chunk is the STATE.md broadcast-map layout, without a key group', () => {
  const h = harness();
  rule(h, 'apple\t300');
  h.process('k', 'apple', 2);
  const [rules, totals] = h.snapshot();
  // map_key "apple" (postcard string: varint length 5), value u32 300 (ac 02).
  assert.deepEqual(rules, {
    handle: 'rules',
    kind: 'broadcast-map',
    keyGroup: undefined,
    data: hex('01  06 00 00 00 05 61 70 70 6c 65  02 00 00 00 ac 02'),
  });
  assert.deepEqual([totals.kind, totals.keyGroup], ['keyed-value', 2]);
  assert.deepEqual(readChunk('broadcast-map', rules.data), [{ mapKey: hex('05 61 70 70 6c 65'), value: hex('ac 02') }]);
  assert.deepEqual(describeState([rules]), ['rules 056170706c65 = ac02']);
});

test('restores from its chunks, also split in several', () => {
  const h = harness();
  rule(h, 'apple\t3');
  h.process('k', 'apple', 2);
  assert.deepEqual(pairs(harness(h.snapshot()).process('k', 'apple', 2)), [['k', '6']]);
  const first = new ChunkWriter('broadcast-map');
  const second = new ChunkWriter('broadcast-map');
  first.broadcastMap(hex('03 66 69 67'), hex('07'));
  second.broadcastMap(hex('04 70 65 61 72'), hex('01'));
  const chunks = [first, second].map((w) => ({ handle: 'rules', kind: 'broadcast-map', data: w.finish().slice() }));
  assert.deepEqual(harness(chunks).operator.rules.entries(), [['fig', 7], ['pear', 1]]);

  const twice = new ChunkWriter('broadcast-map');
  twice.broadcastMap(hex('03 66 69 67'), hex('07'));
  twice.broadcastMap(hex('03 66 69 67'), hex('08'));
  assert.throws(
    () => harness([{ handle: 'rules', kind: 'broadcast-map', data: twice.finish().slice() }]),
    /state `rules`: the restored checkpoint holds map key "fig" twice/,
  );
  assert.throws(
    () => harness([{ handle: 'rules', kind: 'operator-list', data: hex('01') }]),
    /declared as broadcast-map but the restored checkpoint holds it as operator-list/,
  );
});

test('incremental snapshots write it whole, only when it changed', () => {
  const h = harness();
  rule(h, 'apple\t3');
  let state = mergeSnapshot([], h.snapshotIncremental()); // the first one is complete
  h.process('k', 'apple', 2); // keyed state only
  let answer = h.snapshotIncremental();
  assert.equal(answer.incremental, true);
  assert.deepEqual(answer.chunks.map((c) => [c.handle, c.data[0]]), [['totals', 2]]);
  state = mergeSnapshot(state, answer);
  rule(h, 'fig\t1');
  answer = h.snapshotIncremental();
  assert.deepEqual(answer.chunks.map((c) => [c.handle, c.kind, c.keyGroup, c.data[0]]), [['rules', 'broadcast-map', undefined, 1]]);
  state = mergeSnapshot(state, answer);
  assert.deepEqual(harness(state).operator.rules.entries(), [['apple', 3], ['fig', 1]]);
  assert.deepEqual(describeState(state), describeState(h.snapshot()));
  // Emptied: an empty version 1 chunk says so; a full snapshot leaves it out.
  rule(h, '-apple');
  rule(h, '-fig');
  answer = h.snapshotIncremental();
  assert.deepEqual(answer.chunks.map((c) => [c.handle, [...c.data]]), [['rules', [1]]]);
  state = mergeSnapshot(state, answer);
  assert.deepEqual(harness(state).operator.rules.entries(), []);
  assert.ok(!h.snapshot().some((c) => c.handle === 'rules'));
});

test('reading an object value marks the map changed (it may be changed in place)', () => {
  const h = new Harness((ctx) => {
    const m = ctx.broadcastMap('m');
    return {
      process(ctx, event) {
        if (event.valueStr() === 'set') m.set('list', []);
        else m.get('list').push(1);
      },
    };
  });
  h.process('k', 'set');
  h.snapshotIncremental();
  h.process('k', 'push');
  const answer = h.snapshotIncremental();
  assert.deepEqual(describeState(answer.chunks), describeState(h.snapshot()));
  assert.equal(answer.chunks.length, 1);
});

test('needs no keyed input', () => {
  const Unkeyed = (ctx) => {
    const m = ctx.broadcastMap('m', codecs.string, codecs.string);
    return { process: (ctx, event) => m.set(event.keyStr(), event.valueStr()), m };
  };
  const info = new OperatorInfo('t', { keyGroups: null });
  const h = new Harness(Unkeyed, { info });
  h.process('a', '1', NO_KEY_GROUP);
  assert.deepEqual(new Harness(Unkeyed, { info, restored: h.snapshot() }).operator.m.entries(), [['a', '1']]);
});

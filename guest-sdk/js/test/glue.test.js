// The exported WIT interface, called as the componentize-js bindings call
// it: plain values in, { tag, val } results out, never a throw.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchWriter, codecs, exportOperator, readBatch } from '../src/index.js';
import { Harness, pairs } from '../src/testing.js';

const utf8 = (text) => new TextEncoder().encode(text);

// The WIT `operator-context` record as the bindings build it.
const CONTEXT = {
  operatorName: 'counter',
  subtaskIndex: 1,
  parallelism: 2,
  maxParallelism: 128,
  keyGroups: { start: 64, end: 128 },
  config: [['greeting', 'hi']],
  inputs: [{ name: 'tokenizer', broadcast: false }],
  sideOutputs: [],
};

function batch(...events) {
  const w = new BatchWriter();
  for (const [key, value, keyGroup = 70, timestamp = null] of events) w.push(keyGroup, timestamp, utf8(key), utf8(value));
  return w.bytes().slice();
}

class Echo {
  constructor(ctx) {
    this.info = ctx.info;
    this.count = ctx.keyedValue('count', codecs.u64);
  }

  process(ctx, event) {
    const value = event.valueStr();
    if (value === 'fail') throw new Error('asked to fail', { cause: new RangeError('deep') });
    if (value === 'throw-string') throw 'a plain string';
    if (value === 'type') null.x;
    if (value === 'late') ctx.emitWithTimestamp('late', '', 99);
    this.count.update((n) => (n ?? 0) + 1);
    ctx.emit(event.key, `${value} ${this.info.config('greeting')} ${this.info.subtaskIndex}/${this.info.parallelism}`);
  }

  finish(ctx) {
    ctx.emit('done', '');
  }
}

test('the four calls, as the host makes them', () => {
  const operator = exportOperator(Echo);
  assert.deepEqual(operator.init(CONTEXT, []), { tag: 'ok', val: undefined });
  const out = operator.process(0, batch(['k', 'v', 70, 1234]));
  assert.equal(out.tag, 'ok');
  assert.ok(out.val instanceof Uint8Array);
  const [event] = readBatch(out.val);
  assert.deepEqual([event.keyStr(), event.valueStr(), event.timestamp, event.keyGroup], ['k', 'v hi 1/2', 1234, null]);

  const snap = operator.snapshot(1n, 'full');
  assert.equal(snap.tag, 'ok');
  assert.equal(snap.val.incremental, false);
  assert.deepEqual(snap.val.chunks.map((c) => [c.handle, c.kind, c.keyGroup]), [['count', 'keyed-value', 70]]);
  operator.process(0, batch(['k', 'v']));
  const inc = operator.snapshot(2n, 'incremental');
  assert.equal(inc.val.incremental, true);
  assert.equal(inc.val.chunks[0].data[0], 2);

  const fin = operator.finish();
  assert.deepEqual(readBatch(fin.val).map((e) => e.keyStr()), ['done']);

  // A new init drops the old instance; the restored chunks come back.
  assert.deepEqual(operator.init(CONTEXT, snap.val.chunks), { tag: 'ok', val: undefined });
  assert.deepEqual(operator.snapshot(3n, 'full').val.chunks[0].data, snap.val.chunks[0].data);
});

test('errors are err strings, never throws', () => {
  const operator = exportOperator(Echo);
  assert.deepEqual(operator.process(0, batch(['k', 'v'])), { tag: 'err', val: '`process` was called before `init`' });
  assert.deepEqual(operator.snapshot(1n, 'full'), { tag: 'err', val: '`snapshot` was called before `init`' });
  assert.deepEqual(operator.finish(), { tag: 'err', val: '`finish` was called before `init`' });
  operator.init(CONTEXT, []);
  assert.deepEqual(operator.process(0, batch(['k', 'fail'])), { tag: 'err', val: 'asked to fail: deep' });
  assert.deepEqual(operator.process(0, batch(['k', 'throw-string'])), { tag: 'err', val: 'a plain string' });
  const typeError = operator.process(0, batch(['k', 'type']));
  assert.equal(typeError.tag, 'err');
  assert.match(typeError.val, /^TypeError: /);
  assert.deepEqual(operator.process(0, new Uint8Array([1, 2, 3])), { tag: 'err', val: 'malformed input batch: bad magic (not a Weir batch)' });

  const failing = exportOperator(class {
    constructor() {
      throw new Error('cannot open');
    }
    process() {}
  });
  assert.deepEqual(failing.init(CONTEXT, []), { tag: 'err', val: 'cannot open' });
  assert.deepEqual(failing.process(0, batch()), { tag: 'err', val: '`process` was called before `init`' });

  const asyncOp = exportOperator(() => ({ async process() {} }));
  asyncOp.init(CONTEXT, []);
  assert.match(asyncOp.process(0, batch(['k', 'v'])).val, /returned a Promise: operators are synchronous/);
  assert.throws(() => exportOperator({}), /an operator is a class/);
});

test('a failed batch drops its output; outputs carry the input timestamp unless given one', () => {
  const h = new Harness(Echo);
  assert.throws(() => h.processAll([['a', 'ok'], ['b', 'fail']]), /asked to fail/);
  assert.deepEqual(pairs(h.process('c', 'ok', 1)), [['c', 'ok undefined 0/1']]);
  const out = h.processAt('k', 'late', 3, 1234);
  assert.deepEqual(pairs(out), [['late', ''], ['k', 'late undefined 0/1']]);
  assert.deepEqual(out.map((o) => o.timestamp), [99, 1234]);
  assert.equal(h.process('k', 'v', 3)[0].timestamp, null);
  const done = h.finish();
  assert.deepEqual([done[0].keyStr(), done[0].timestamp], ['done', null]);
  assert.deepEqual(h.processBatch(new Uint8Array(0)), []);
});

test('a factory function works as well as a class', () => {
  const factory = (ctx) => {
    const seen = ctx.keyedValue('seen', codecs.bool);
    return {
      process(ctx, event) {
        if (!seen.get()) ctx.emit(event.key, 'first');
        seen.set(true);
      },
    };
  };
  const h = new Harness(factory);
  assert.deepEqual(pairs(h.processAll([['a', ''], ['a', ''], ['b', '']])), [['a', 'first'], ['b', 'first']]);
});

test('a damaged batch fails process with the field that is cut, like the Rust reader', () => {
  const h = new Harness(Echo);
  const good = batch(['key', 'value']);
  // A header cut short: the count cannot fit (checked before any event).
  const cuts = new Map([[9, 'event count'], [25, 'event count'], [27, 'event key'], [30, 'event value']]);
  // The second event's header cut short, after a long first event.
  const two = batch(['k'.repeat(40), 'v'], ['key', 'value']);
  const second = 8 + 18 + 41;
  const secondCuts = new Map([[1, 'event key group'], [5, 'event timestamp'], [12, 'event key length'], [17, 'event value length']]);
  for (const [cut, field] of secondCuts) cuts.set(second + cut, field);
  for (const [cut, field] of cuts) {
    const bytes = (cut > 34 ? two : good).subarray(0, cut);
    assert.throws(() => h.processBatch(bytes), { message: `malformed input batch: truncated while reading ${field}` }, `cut at ${cut}`);
  }
  const long = new Uint8Array(good.length + 2);
  long.set(good);
  long[4] = 1;
  assert.throws(() => h.processBatch(long), { message: 'malformed input batch: 2 bytes left after the last entry' });
});

test('advance and wake-at, as the host makes them', async () => {
  const { setWakeAtSink } = await import('../src/index.js');
  const wakes = [];
  setWakeAtSink((at) => wakes.push(at));
  try {
    class Alarm {
      process(ctx) {
        ctx.registerEventTimer(10);
        ctx.registerProcessingTimer(1000);
      }

      onTimer(ctx, timer) {
        ctx.emit(timer.key, timer.domain);
      }
    }
    const operator = exportOperator(Alarm);
    assert.deepEqual(operator.advance(0n, 0n), { tag: 'err', val: '`advance` was called before `init`' });
    operator.init(CONTEXT, []);
    operator.process(0, batch(['a', '']));
    assert.deepEqual(wakes, [1000]);
    // s64 arrives as BigInt: i64::MIN is "no watermark yet"; componentize-js
    // 0.23 passes a negative s64 as its unsigned two's complement (2^63 here).
    assert.deepEqual(operator.advance(-(2n ** 63n), 999n), { tag: 'ok', val: new Uint8Array(0) });
    assert.deepEqual(operator.advance(2n ** 63n, 999n), { tag: 'ok', val: new Uint8Array(0) });
    assert.deepEqual(operator.advance(2n ** 64n - 5n, 999n), { tag: 'ok', val: new Uint8Array(0) });
    const out = operator.advance(10n, 999n);
    assert.deepEqual(readBatch(out.val).map((e) => [e.keyStr(), e.valueStr(), e.timestamp]), [['a', 'event', 10]]);
    const snap = operator.snapshot(1n, 'full').val;
    assert.deepEqual(snap.chunks.map((c) => [c.handle, c.kind, c.keyGroup]), [['weir.timers', 'keyed-map', 70]]);
    // A restored instance tells the host again, in init.
    const again = exportOperator(Alarm);
    again.init(CONTEXT, snap.chunks);
    assert.deepEqual(wakes, [1000, 1000]);
    assert.deepEqual(readBatch(again.advance(10n, 1000n).val).map((e) => e.valueStr()), ['processing']);
    assert.deepEqual(wakes, [1000, 1000, null]);
    const failing = exportOperator(() => ({ process: (ctx) => ctx.registerEventTimer(1), onTimer() { throw new Error('boom'); } }));
    failing.init(CONTEXT, []);
    failing.process(0, batch(['a', '']));
    assert.deepEqual(failing.advance(5n, 0n), { tag: 'err', val: 'boom' });
  } finally {
    setWakeAtSink(null);
  }
});

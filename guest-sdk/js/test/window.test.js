// Event-time windows (window.js): assignment, firing, lateness,
// aggregates, state layout and restore.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Window, WindowedOperator, aggregates, codecs, decode, encode, readChunk, setLogSink } from '../src/index.js';
import { Harness, pairs } from '../src/testing.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

/** A WindowedOperator over the window set `declare(ctx)` returns; emits `<start> <end> <result>`. */
function windowed(declare) {
  return class extends WindowedOperator {
    constructor(ctx) {
      super();
      this.windows = declare(ctx);
    }

    onWindow(ctx, key, window, result) {
      ctx.emit(key, `${window.start} ${window.end} ${result}`);
    }
  };
}

const Tumbling = windowed((ctx) => ctx.tumblingWindows('counts', 10, aggregates.count()));
const Sessions = windowed((ctx) => ctx.sessionWindows('sessions', 10, aggregates.count()));

const starts = (windows) => windows.map((w) => [w.start, w.end]);

test('window assignment', () => {
  const tumbling = new Harness(Tumbling).operator.windows;
  assert.deepEqual(starts(tumbling.windowsOf(0)), [[0, 10]]);
  assert.deepEqual(starts(tumbling.windowsOf(19)), [[10, 20]]);
  assert.deepEqual(starts(tumbling.windowsOf(-1)), [[-10, 0]]);
  const sliding = new Harness(windowed((ctx) => ctx.slidingWindows('w', 10, 5, aggregates.count()))).operator.windows;
  assert.deepEqual(starts(sliding.windowsOf(12)), [[5, 15], [10, 20]]);
  assert.deepEqual(starts(sliding.windowsOf(-3)), [[-10, 0], [-5, 5]]);
  const odd = new Harness(windowed((ctx) => ctx.slidingWindows('w', 10, 3, aggregates.count()))).operator.windows;
  assert.deepEqual(starts(odd.windowsOf(7)), [[0, 10], [3, 13], [6, 16]]);
  assert.equal(new Window(0, 10).maxTimestamp, 9);
});

test('bad declarations', () => {
  for (const [declare, message] of [
    [(ctx) => ctx.tumblingWindows('w', 0, aggregates.count()), /sizeMs must be a positive/],
    [(ctx) => ctx.slidingWindows('w', 10, 20, aggregates.count()), /must not exceed/],
    [(ctx) => ctx.sessionWindows('w', 10, aggregates.fold({ initial: 0, fold: (a) => a + 1, codec: codecs.u64 })), /merges/],
    [(ctx) => ctx.tumblingWindows('w', 10, aggregates.count(), { allowedLatenessMs: -1 }), /allowedLatenessMs/],
    [(ctx) => ctx.tumblingWindows('w', 10, 'count'), /the aggregate comes from/],
  ]) {
    assert.throws(() => new Harness(windowed(declare)), message);
  }
});

test('tumbling windows fire when the watermark reaches their end', () => {
  const h = new Harness(Tumbling);
  h.processAll([['a', '', 1, 1], ['a', '', 1, 9], ['b', '', 2, 5], ['a', '', 1, 10]]);
  assert.deepEqual(h.advance(9), []);
  const out = h.advance(10);
  assert.deepEqual(pairs(out), [['a', '0 10 2'], ['b', '0 10 1']]);
  assert.deepEqual(out.map((o) => o.timestamp), [9, 9]);
  assert.deepEqual(pairs(h.advance(25)), [['a', '10 20 1']]);
  assert.deepEqual(h.snapshot(), []);
});

test('late events go to the side output `late`, unchanged', () => {
  const h = new Harness(Tumbling, { sideOutputs: ['late'] });
  h.processAt('a', 'x', 1, 5);
  h.advance(10);
  assert.deepEqual(h.processAt('a', 'late', 1, 9), []);
  const late = h.sideOutput('late');
  assert.deepEqual([pairs(late), late[0].timestamp], [[['a', 'late']], 9]);
  h.processAt('a', 'on time', 1, 10);
  assert.deepEqual(h.sideOutput('late'), []);
  assert.deepEqual(pairs(h.advance(20)), [['a', '10 20 1']]);
});

test('late events are dropped without a late output', () => {
  const logs = [];
  setLogSink((level, message) => logs.push(message));
  try {
    const h = new Harness(Tumbling);
    h.advance(100);
    assert.deepEqual(h.processAt('a', 'x', 1, 5), []);
    assert.match(logs[0], /dropped a late event/);
    assert.deepEqual(h.snapshot(), []);
  } finally {
    setLogSink(null);
  }
});

test('allowed lateness', () => {
  const Lenient = windowed((ctx) => ctx.tumblingWindows('counts', 10, aggregates.count(), { allowedLatenessMs: 5 }));
  const h = new Harness(Lenient, { sideOutputs: ['late'] });
  h.processAt('a', '', 1, 3);
  assert.deepEqual(h.advance(14), []);
  h.processAt('a', '', 1, 4);
  assert.deepEqual(h.sideOutput('late'), []);
  assert.deepEqual(pairs(h.advance(15)), [['a', '0 10 2']]);
  h.processAt('a', '', 1, 4);
  assert.deepEqual(pairs(h.sideOutput('late')), [['a', '']]);
});

test('the end of the input fires every window; windows restore', () => {
  const h = new Harness(Tumbling);
  h.processAll([['a', '', 1, 1], ['a', '', 1, 2], ['b', '', 2, 15]]);
  h.advance(5);
  const restored = Harness.restore(Tumbling, h.snapshot());
  restored.processAt('a', '', 1, 3);
  assert.deepEqual(pairs(restored.advance(10)), [['a', '0 10 3']]);
  assert.deepEqual(pairs(restored.endOfInput()), [['b', '10 20 1']]);
});

test('sliding: an event counts in each of its windows that is not late', () => {
  const Sliding = windowed((ctx) => ctx.slidingWindows('counts', 10, 5, aggregates.count()));
  const h = new Harness(Sliding, { sideOutputs: ['late'] });
  h.processAt('a', '', 1, 7);
  assert.deepEqual(pairs(h.advance(10)), [['a', '0 10 1']]);
  h.processAt('a', '', 1, 9);
  assert.deepEqual(h.sideOutput('late'), []);
  h.processAt('a', '', 1, 12);
  assert.deepEqual(pairs(h.advance(20)), [['a', '5 15 3'], ['a', '10 20 1']]);
  h.processAt('a', '', 1, 14);
  assert.deepEqual(pairs(h.sideOutput('late')), [['a', '']]);
});

test('sessions merge when they overlap or touch', () => {
  const h = new Harness(Sessions);
  h.processAt('a', '', 1, 0);
  h.processAt('a', '', 1, 30);
  h.processAt('a', '', 1, 10); // touches [0, 10)
  const open = () =>
    readChunk('keyed-map', h.snapshot().find((c) => c.handle === 'sessions').data)
      .map((e) => [decode(codecs.i64, e.mapKey), decode(codecs.tuple(codecs.i64, codecs.u64), e.value)])
      .sort((x, y) => x[0] - y[0]);
  assert.deepEqual(open(), [[0, [20, 2]], [30, [40, 1]]]);
  h.processAt('a', '', 1, 20); // touches both
  assert.deepEqual(open(), [[0, [40, 4]]]);
  assert.deepEqual(h.advance(39), []); // stale timers at 10 and 20 find nothing
  assert.deepEqual(pairs(h.advance(40)), [['a', '0 40 4']]);
});

test('session layout: the end, then the accumulator', () => {
  const h = new Harness(Sessions);
  h.processAt('k', '', 3, 100);
  h.processAt('k', '', 3, 105);
  const chunk = h.snapshot().find((c) => c.handle === 'sessions');
  assert.equal(hex(chunk.data), '01' + '010000006b' + '02000000c801' + '03000000e60102');
  assert.equal(hex(encode(codecs.i64, 115)), 'e601');
});

test('a late session event', () => {
  const h = new Harness(Sessions, { sideOutputs: ['late'] });
  h.advance(50);
  h.processAt('k', '', 3, 40);
  h.processAt('k', '', 3, 41);
  assert.deepEqual(pairs(h.sideOutput('late')), [['k', '']]);
  assert.deepEqual(pairs(h.advance(51)), [['k', '41 51 1']]);
});

test('aggregates: count, sum, min, max, fold', () => {
  const run = (aggregate, values) => {
    const h = new Harness(windowed((ctx) => ctx.tumblingWindows('w', 100, aggregate)));
    h.processAll(values.map((v, i) => ['k', v, 0, i]));
    return h;
  };
  for (const [aggregate, expected, stored] of [
    [aggregates.count(), '3', encode(codecs.u64, 3)],
    [aggregates.sum(), '-3', encode(codecs.i64, -3)],
    [aggregates.min(), '-7', encode(codecs.i64, -7)],
    [aggregates.max(), '5', encode(codecs.i64, 5)],
  ]) {
    const h = run(aggregate, ['5', '-7', '-1']);
    const chunk = h.snapshot().find((c) => c.handle === 'w');
    assert.deepEqual(readChunk('keyed-map', chunk.data).map((e) => [hex(e.mapKey), hex(e.value)]), [['00', hex(stored)]], aggregate.name);
    assert.deepEqual(pairs(h.advance(100)), [['k', `0 100 ${expected}`]], aggregate.name);
  }
  const words = aggregates.fold({ initial: '', fold: (acc, e) => acc + e.valueStr(), codec: codecs.string });
  assert.deepEqual(pairs(run(words, ['a', 'b', 'c']).advance(100)), [['k', '0 100 abc']]);
  assert.deepEqual(pairs(run(aggregates.sum((e) => e.value.length), ['ab', 'c']).advance(100)), [['k', '0 100 3']]);
  assert.throws(() => run(aggregates.sum(), ['x']), /is not an integer/);
  const merging = aggregates.fold({ initial: '', fold: (acc, e) => acc + e.valueStr(), codec: codecs.string, merge: (a, b) => `${a}|${b}` });
  const h = new Harness(windowed((ctx) => ctx.sessionWindows('s', 10, merging)));
  h.processAll([['k', 'a', 0, 0], ['k', 'b', 0, 20], ['k', 'c', 0, 10]]);
  assert.deepEqual(pairs(h.advance(100)), [['k', '0 30 a|bc']]);
});

test('a window set next to timers of your own', () => {
  class Both {
    constructor(ctx) {
      this.windows = ctx.tumblingWindows('counts', 10, aggregates.count());
    }

    process(ctx, event) {
      this.windows.add(event);
      ctx.registerEventTimer(event.timestamp + 1);
    }

    onTimer(ctx, timer) {
      if (!this.windows.onTimer(timer, (c, key, window, count) => c.emit(key, `window ${window.start} ${count}`))) {
        ctx.emit(timer.key, `own timer ${timer.timestamp}`);
      }
    }
  }
  const h = new Harness(Both);
  h.processAt('a', '', 1, 9);
  assert.deepEqual(pairs(h.advance(10)), [['a', 'window 0 1']]);
  h.processAt('a', '', 1, 12);
  assert.deepEqual(pairs(h.advance(30)), [['a', 'own timer 13'], ['a', 'window 10 1']]);
  assert.throws(() => new Harness(Tumbling).process('a', '', 1), /without a timestamp/);
});

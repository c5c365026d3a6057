// Timers, the watermark and the clock (time.js), through the Harness.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OperatorInfo, codecs, readChunk, readDelta } from '../src/index.js';
import { Harness, NO_KEY_GROUP, mergeSnapshot } from '../src/testing.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const values = (outputs) => outputs.map((o) => [o.keyStr(), o.valueStr()]);

function timerKey(domain, ts) {
  const out = new Uint8Array(9);
  out[0] = domain;
  new DataView(out.buffer).setBigInt64(1, BigInt(ts), true);
  return out;
}

// Values are commands: `e <ts>` / `p <ts>` register, `-e <ts>` / `-p <ts>`
// delete, `chain <ts>` an event timer that registers itself again +5 up to 20.
class Scheduler {
  constructor(ctx) {
    this.fired = ctx.keyedValue('fired', codecs.u64);
  }

  process(ctx, event) {
    for (const command of event.valueStr().split(',')) {
      const [op, text] = command.split(' ');
      const ts = Number(text);
      if (op === 'e') ctx.registerEventTimer(ts);
      else if (op === 'p') ctx.registerProcessingTimer(ts);
      else if (op === '-e') ctx.emit(event.key, `deleted ${ctx.deleteEventTimer(ts)}`);
      else if (op === '-p') ctx.emit(event.key, `deleted ${ctx.deleteProcessingTimer(ts)}`);
      else if (op === 'chain') {
        this.fired.set(0);
        ctx.registerEventTimer(ts);
      }
    }
  }

  onTimer(ctx, timer) {
    const n = this.fired.update((n) => (n ?? 0) + 1);
    ctx.emit(timer.key, `${timer.domain} ${timer.timestamp} #${n} wm=${ctx.watermark}`);
    if (timer.keyStr() === 'chain' && timer.timestamp < 20) ctx.registerEventTimer(timer.timestamp + 5);
  }
}

test('timers fire in timestamp order across keys, event time first at equal timestamps', () => {
  const h = new Harness(Scheduler);
  h.processAt('b', 'e 10,e 20', 2, 1);
  h.processAt('a', 'e 30,e 20', 1, 1);
  h.processAt('c', 'p 20', 3, 1);
  assert.deepEqual(h.advance(5), []);
  assert.deepEqual(values(h.advance(25, 20)), [
    ['b', 'event 10 #1 wm=25'],
    ['a', 'event 20 #1 wm=25'],
    ['b', 'event 20 #2 wm=25'],
    ['c', 'processing 20 #1 wm=25'],
  ]);
  assert.deepEqual(values(h.advance(30)), [['a', 'event 30 #2 wm=30']]);
  assert.deepEqual(h.advance(1000, 1000), []);
});

test('the watermark is -Infinity before the first advance and never goes back', () => {
  const seen = [];
  const h = new Harness(() => ({ process: (ctx) => seen.push(ctx.watermark) }));
  h.processAt('k', '', 0, 1);
  h.advance(100);
  h.advance(50);
  h.advance(-(2n ** 63n), 0n); // i64::MIN as the host sends it
  h.processAt('k', '', 0, 1);
  assert.deepEqual(seen, [-Infinity, 100]);
  assert.equal(h.watermark, 100);
  h.advance(2n ** 63n - 1n, 0n); // the end of the input
  assert.equal(h.watermark, Infinity);
});

test('registering twice keeps one; a fired timer can come back', () => {
  const h = new Harness(Scheduler);
  h.processAt('k', 'e 10,e 10', 0, 1);
  h.processAt('k', 'e 10', 0, 1);
  assert.deepEqual(values(h.advance(10)), [['k', 'event 10 #1 wm=10']]);
  assert.deepEqual(h.advance(11), []);
  h.processAt('k', 'e 10', 0, 12); // at or below the watermark: due at the next advance
  assert.deepEqual(values(h.advance(12)), [['k', 'event 10 #2 wm=12']]);
});

test('deletion', () => {
  const h = new Harness(Scheduler);
  h.processAt('k', 'e 10,e 20,p 30', 0, 1);
  assert.deepEqual(values(h.processAt('k', '-e 10,-e 11,-p 30', 0, 1)), [
    ['k', 'deleted true'],
    ['k', 'deleted false'],
    ['k', 'deleted true'],
  ]);
  assert.equal(h.wakeAt, null);
  assert.deepEqual(values(h.advance(100, 100)), [['k', 'event 20 #1 wm=100']]);
  h.processAt('k', 'e 200,-e 200,e 200', 0, 150);
  assert.deepEqual(values(h.advance(300)), [['k', 'event 200 #2 wm=300']]);
});

test('timers registered in a callback that are due fire in the same advance', () => {
  const h = new Harness(Scheduler);
  h.processAt('chain', 'chain 5', 0, 1);
  assert.deepEqual(values(h.advance(17)), [
    ['chain', 'event 5 #1 wm=17'],
    ['chain', 'event 10 #2 wm=17'],
    ['chain', 'event 15 #3 wm=17'],
  ]);
  assert.deepEqual(values(h.advance(100)), [['chain', 'event 20 #4 wm=100']]);
  assert.deepEqual(h.advance(1000), []);
});

test('processing-time timers and wake-at', () => {
  const h = new Harness(Scheduler);
  assert.deepEqual(h.wakeAtRequests, []);
  h.process('a', 'p 1000', 1);
  assert.equal(h.wakeAt, 1000);
  h.process('b', 'p 500,p 700', 2);
  h.process('a', 'p 2000', 1); // not the earliest: the host is not told again
  assert.deepEqual(h.wakeAtRequests, [1000, 500]);
  h.process('b', '-p 500', 2);
  assert.equal(h.wakeAt, 700);
  assert.deepEqual(h.advance(undefined, 699), []);
  assert.deepEqual(values(h.advance(undefined, 1000)), [
    ['b', 'processing 700 #1 wm=-Infinity'],
    ['a', 'processing 1000 #1 wm=-Infinity'],
  ]);
  assert.equal(h.wakeAt, 2000);
  assert.deepEqual(values(h.advance(undefined, 5000)), [['a', 'processing 2000 #2 wm=-Infinity']]);
  assert.deepEqual(h.wakeAtRequests, [1000, 500, 700, 2000, null]);
  h.process('a', 'e 10,p 6000', 1);
  assert.deepEqual(values(h.advance(9, 10_000)), [['a', 'processing 6000 #3 wm=9']]);
  assert.deepEqual(values(h.advance(10)), [['a', 'event 10 #4 wm=10']]);
});

test('processing time in the context', () => {
  const h = new Harness(() => ({ process: (ctx, e) => ctx.emit(e.key, String(ctx.processingTime)) }));
  assert.ok(Number(h.process('k', '', 0)[0].valueStr()) > 1_600_000_000_000); // the wall clock
  h.advance(undefined, 42);
  assert.deepEqual(values(h.process('k', '', 0)), [['k', '42']]);
});

test('what a timer emits carries its timestamp; the key state is in scope', () => {
  const h = new Harness(Scheduler);
  h.processAt('k', 'e 10,p 20', 5, 3);
  const out = h.advance(10, 20);
  assert.deepEqual(out.map((o) => o.timestamp), [10, null]);
  const fired = h.snapshot().filter((c) => c.handle === 'fired');
  assert.deepEqual(fired.map((c) => [c.keyGroup, readChunk(c.kind, c.data).map((e) => [hex(e.key), hex(e.value)])]), [
    [5, [['6b', '02']]],
  ]);
});

test('timers need a key and an onTimer', () => {
  assert.throws(() => new Harness(Scheduler).process('k', 'e 10', NO_KEY_GROUP), /timers are per event key/);
  const h = new Harness(() => ({ process: (ctx) => ctx.registerEventTimer(1) }));
  // Without onTimer or keyed state, events do not scope keys: timers refuse.
  assert.throws(() => h.process('k', '', 0), /timers are per event key/);
  const withState = new Harness((ctx) => {
    const v = ctx.keyedValue('v');
    return { process: (c) => (v.set(1), c.registerEventTimer(1)) };
  });
  withState.process('k', '', 0);
  assert.throws(() => withState.advance(1), /has no onTimer/);
  assert.throws(() => new Harness(Scheduler).process('k', 'e 1.5', 0), /a timer timestamp must be an integer/);
  assert.throws(() => new Harness((ctx) => (ctx.keyedMap('weir.timers'), { process() {} })), /reserved/);
});

test('the layout of weir.timers', () => {
  const h = new Harness(Scheduler);
  h.processAt('k', 'e 60000,p -1', 9, 1);
  const chunks = h.snapshot().filter((c) => c.handle === 'weir.timers');
  assert.deepEqual(chunks.map((c) => [c.kind, c.keyGroup]), [['keyed-map', 9]]);
  assert.equal(
    hex(chunks[0].data),
    '01' + '010000006b' + '09000000' + '0060ea000000000000' + '00000000' + '010000006b' + '09000000' + '01ffffffffffffffff' + '00000000',
  );
});

test('a full snapshot restores; the restored instance tells the host its earliest processing timer', () => {
  const h = new Harness(Scheduler);
  h.processAt('a', 'e 10,p 500', 1, 1);
  h.processAt('b', 'e 5', 2, 1);
  const restored = Harness.restore(Scheduler, h.snapshot());
  assert.deepEqual(restored.wakeAtRequests, [500]);
  assert.deepEqual(values(restored.advance(10)), [['b', 'event 5 #1 wm=10'], ['a', 'event 10 #1 wm=10']]);
  assert.deepEqual(values(restored.advance(undefined, 500)), [['a', 'processing 500 #2 wm=10']]);
  assert.deepEqual(restored.snapshot().map((c) => c.handle), ['fired', 'fired']);
});

test('incremental snapshots track timers', () => {
  const h = new Harness(Scheduler);
  h.processAt('a', 'e 10,e 20', 1, 1);
  h.processAt('b', 'e 30', 2, 1);
  let state = h.snapshot();
  h.advance(10);
  let delta = h.snapshotIncremental();
  assert.equal(delta.incremental, true);
  const timers = delta.chunks.filter((c) => c.handle === 'weir.timers');
  assert.deepEqual(timers.map((c) => c.keyGroup), [1]);
  const { removed, entries } = readDelta('keyed-map', timers[0].data);
  assert.deepEqual([removed, entries.map((e) => [hex(e.key), hex(e.mapKey), hex(e.value)])], [[], [['61', hex(timerKey(0, 20)), '']]]);
  state = mergeSnapshot(state, delta);
  h.advance(20); // a has no timer left
  delta = h.snapshotIncremental();
  const gone = readDelta('keyed-map', delta.chunks.find((c) => c.handle === 'weir.timers').data);
  assert.deepEqual([gone.removed.map(hex), gone.entries], [['61'], []]);
  state = mergeSnapshot(state, delta);
  assert.deepEqual(values(Harness.restore(Scheduler, state).advance(100)), [['b', 'event 30 #1 wm=100']]);
});

test('restored at another parallelism, each subtask fires its key groups\' timers', () => {
  const h = new Harness(Scheduler);
  for (const [key, group] of [['a', 3], ['b', 70], ['c', 127]]) h.processAt(key, `e ${group},p ${group}`, group, 1);
  const chunks = h.snapshot();
  const part = (start, end, index) => {
    const info = new OperatorInfo('test', { subtaskIndex: index, parallelism: 2, keyGroups: { start, end } });
    return Harness.restore(Scheduler, chunks.filter((c) => c.keyGroup >= start && c.keyGroup < end), { info });
  };
  const low = part(0, 64, 0);
  const high = part(64, 128, 1);
  assert.deepEqual([low.wakeAt, high.wakeAt], [3, 70]);
  assert.deepEqual(values(low.advance(1000, 1000)), [['a', 'event 3 #1 wm=1000'], ['a', 'processing 3 #2 wm=1000']]);
  assert.deepEqual(values(high.advance(1000, 1000)), [
    ['b', 'event 70 #1 wm=1000'],
    ['b', 'processing 70 #2 wm=1000'],
    ['c', 'event 127 #1 wm=1000'],
    ['c', 'processing 127 #2 wm=1000'],
  ]);
  assert.deepEqual(high.snapshot().map((c) => c.keyGroup).sort((x, y) => x - y), [70, 127]);
});

test('restores timers another SDK wrote; refuses malformed ones', () => {
  const data = Buffer.from('01' + '0100000078' + '09000000' + '000700000000000000' + '00000000', 'hex');
  const h = Harness.restore(Scheduler, [{ handle: 'weir.timers', kind: 'keyed-map', keyGroup: 4, data: new Uint8Array(data) }]);
  assert.deepEqual(values(h.advance(7)), [['x', 'event 7 #1 wm=7']]);
  const bad = new Uint8Array(Buffer.from('01' + '0100000078' + '02000000' + '0007' + '00000000', 'hex'));
  assert.throws(
    () => Harness.restore(Scheduler, [{ handle: 'weir.timers', kind: 'keyed-map', keyGroup: 4, data: bad }]),
    /malformed restored timer/,
  );
});

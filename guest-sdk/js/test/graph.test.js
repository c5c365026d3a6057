// What weir:operator@0.2.0 adds for job graphs: the input index of every
// event, side outputs (FRAMING.md version 2), and the harness's view of both.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BatchWriter,
  MAIN_OUTPUT,
  NO_KEY_GROUP,
  OperatorInfo,
  Runtime,
  codecs,
  exportOperator,
  readBatch,
  readOutputBatch,
} from '../src/index.js';
import { Harness, pairs } from '../src/testing.js';

const hex = (text) => Uint8Array.from(text.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const utf8 = (text) => new TextEncoder().encode(text);

/**
 * Records what it sees; "late" goes to the side output `late`, "odd" to
 * `odd`, "nowhere" to an undeclared one, the rest to the main output.
 */
class Router {
  constructor(ctx) {
    this.info = ctx.info;
    this.seen = [];
  }

  process(ctx, event) {
    assert.equal(event.isBroadcast, this.info.inputs[event.input].broadcast);
    this.seen.push([event.input, event.inputName, event.keyGroup, event.valueStr()]);
    const text = event.valueStr();
    if (text === 'late' || text === 'odd' || text === 'nowhere') ctx.emitTo(text, event.key, event.value);
    else ctx.emit(event.key, event.value);
  }

  finish(ctx) {
    ctx.emitTo('odd', 'end', '');
    ctx.emit('end', '');
  }
}

const graphInfo = () =>
  new OperatorInfo('router', {
    inputs: ['clicks', { name: 'rules', broadcast: true }, 'join.late'],
    sideOutputs: ['late', 'odd'],
  });

function batch(...events) {
  const w = new BatchWriter();
  for (const [keyGroup, key, value] of events) w.push(keyGroup, null, utf8(key), utf8(value));
  return w.bytes().slice();
}

test('every event names its input', () => {
  const runtime = new Runtime(Router, graphInfo());
  runtime.process(batch([3, 'k', 'a']), 0);
  runtime.process(batch([NO_KEY_GROUP, '', 'b']), 1);
  runtime.process(batch([5, 'k', 'c']), 2);
  // Broadcast events never have a key group, even if a batch carried one.
  runtime.process(batch([7, 'k', 'd']), 1);
  assert.deepEqual(runtime.operator.seen, [
    [0, 'clicks', 3, 'a'],
    [1, 'rules', null, 'b'],
    [2, 'join.late', 5, 'c'],
    [1, 'rules', null, 'd'],
  ]);
  assert.throws(() => runtime.process(batch([3, 'k', 'a']), 3), {
    message: "`process` was called for input 3, but the operator's inputs are 0: `clicks`, 1: `rules`, 2: `join.late`",
  });
});

test('the info lists inputs and side outputs', () => {
  const info = graphInfo();
  assert.deepEqual(info.inputs, [
    { name: 'clicks', broadcast: false },
    { name: 'rules', broadcast: true },
    { name: 'join.late', broadcast: false },
  ]);
  assert.deepEqual(info.sideOutputs, ['late', 'odd']);
  const plain = new OperatorInfo('t');
  assert.deepEqual([plain.inputs, plain.sideOutputs], [[{ name: 'input', broadcast: false }], []]);
  assert.throws(() => new OperatorInfo('t', { inputs: [42] }), /an input is a name or \{ name, broadcast \}/);
  assert.throws(() => new OperatorInfo('t', { sideOutputs: ['a', 'a'] }), /name one twice/);
  // `with` replaces some options, keeping the others.
  const more = new OperatorInfo('t', { config: { x: '1' }, subtaskIndex: 1, parallelism: 2 }).with({ sideOutputs: ['s'] });
  assert.deepEqual([more.config('x'), more.subtaskIndex, more.sideOutputs], ['1', 1, ['s']]);
});

test('keyed state is refused for broadcast events, naming the input', () => {
  class Keyed {
    constructor(ctx) {
      this.count = ctx.keyedValue('count');
    }
    process() {
      this.count.set(1);
    }
  }
  const h = new Harness(Keyed, { inputs: ['orders', { name: 'prices', broadcast: true }] });
  h.process('k', '', 4);
  assert.throws(
    () => h.processInput('prices', 'k', ''),
    /keyed state `count` was used while processing an event of the broadcast input `prices` \(input 1\)/,
  );
});

test('output is version 1 until a side output is used, then tagged (FRAMING.md version 2)', () => {
  const runtime = new Runtime(Router, graphInfo());
  assert.equal(runtime.process(batch([1, 'k', 'v']), 0)[2], 1);
  const tagged = runtime.process(batch([1, 'a', 'x'], [1, 'b', 'late'], [1, 'c', 'odd'], [1, 'd', 'y']), 0).slice();
  assert.deepEqual(
    tagged,
    hex(`
      57 42 02 00 04 00 00 00
      ff ff 00 00 00 00 00 00 00 80 01 00 00 00 01 00 00 00 61 78
      00 00 00 00 00 00 00 00 00 80 01 00 00 00 04 00 00 00 62 6c 61 74 65
      01 00 00 00 00 00 00 00 00 80 01 00 00 00 03 00 00 00 63 6f 64 64
      ff ff 00 00 00 00 00 00 00 80 01 00 00 00 01 00 00 00 64 79`),
  );
  assert.deepEqual(readOutputBatch(tagged).map((e) => e.output), [MAIN_OUTPUT, 0, 1, MAIN_OUTPUT]);
  // Input batches are version 1 only.
  assert.throws(() => readBatch(tagged), /unknown format version 2/);
  // The next batch starts over as version 1.
  assert.equal(runtime.process(batch([1, 'k', 'v']), 0)[2], 1);
});

test('an undeclared side output fails, naming the declared ones', () => {
  const h = new Harness(Router, { info: graphInfo() });
  assert.throws(() => h.process('k', 'nowhere', 1), {
    message:
      "operator 'router' emitted to side output `nowhere`, which is not declared: its side outputs are `late`, `odd` " +
      '(declare them with `side_outputs` in the job file)',
  });
  assert.throws(() => new Harness(Router).process('k', 'late'), /side output `late`, which is not declared: its side outputs are none/);
  // The failed batch's output is dropped, side outputs included.
  assert.throws(() => h.processAll([['a', 'late', 1], ['b', 'nowhere', 1]]), /not declared/);
  assert.deepEqual(h.sideOutput('late'), []);
});

test('side outputs keep the timestamp and the order; sideOutput takes them', () => {
  const h = new Harness(Router, { info: graphInfo() });
  const out = h.processAll([['a', 'late', 1, 10], ['b', 'x', 1, 20], ['c', 'late', 1, 30]]);
  assert.deepEqual(pairs(out), [['b', 'x']]);
  const late = h.sideOutput('late');
  assert.deepEqual(pairs(late), [['a', 'late'], ['c', 'late']]);
  assert.deepEqual(late.map((o) => o.timestamp), [10, 30]);
  assert.deepEqual(h.sideOutput('late'), []);
  assert.deepEqual(pairs(h.finish()), [['end', '']]);
  assert.deepEqual(pairs(h.sideOutput('odd')), [['end', '']]);
  assert.throws(() => h.sideOutput('other'), /no side output `other`: the harness declares `late`, `odd`/);
});

test('emitToWithTimestamp sets the timestamp', () => {
  const h = new Harness(() => ({ process: (ctx, e) => ctx.emitToWithTimestamp('late', e.key, e.value, 77) }), {
    sideOutputs: ['late'],
  });
  h.processAt('k', 'v', 0, 5);
  assert.deepEqual(h.sideOutput('late').map((o) => [o.keyStr(), o.timestamp]), [['k', 77]]);
});

test('the harness feeds inputs by index or name; the defaults are one input, no side outputs', () => {
  const h = new Harness(Router, { inputs: ['orders', { name: 'prices', broadcast: true }], sideOutputs: ['late'] });
  h.processInput(0, 'k', 'a', 2);
  h.processInput('prices', '', 'b');
  h.processInputAll(1, [['', 'c'], ['', 'd', NO_KEY_GROUP]]);
  h.processInputAt(1, '', 'e', undefined, 9);
  assert.deepEqual(h.operator.seen, [
    [0, 'orders', 2, 'a'],
    [1, 'prices', null, 'b'],
    [1, 'prices', null, 'c'],
    [1, 'prices', null, 'd'],
    [1, 'prices', null, 'e'],
  ]);
  assert.throws(() => h.processInput('clicks', 'k', 'a'), /no input "clicks": its inputs are 0: `orders`, 1: `prices`/);
  assert.throws(() => h.processInput(2, 'k', 'a'), /no input 2/);
  assert.throws(() => h.processInput(1, 'k', 'a', 3), /broadcast input `prices` was given key group 3/);

  const plain = new Harness(Router);
  assert.deepEqual(pairs(plain.process('k', 'v')), [['k', 'v']]);
  assert.deepEqual(plain.operator.seen, [[0, 'input', 0, 'v']]);
  // Options survive a restore.
  const restored = Harness.restore(Router, [], { inputs: ['a', 'b'], sideOutputs: ['late'] });
  restored.processInput('b', 'k', 'late');
  assert.deepEqual(pairs(restored.sideOutput('late')), [['k', 'late']]);
});

test('inputs, side outputs and broadcast state through the WIT shapes', () => {
  class Join {
    constructor(ctx) {
      this.prices = ctx.broadcastMap('prices', codecs.string, codecs.u64);
    }
    process(ctx, event) {
      if (event.isBroadcast) this.prices.set(event.keyStr(), Number(event.valueStr()));
      else if (this.prices.has(event.keyStr())) ctx.emit(event.key, `${event.inputName} ${this.prices.get(event.keyStr())}`);
      else ctx.emitTo('unpriced', event.key, event.value);
    }
  }
  const context = {
    operatorName: 'join',
    subtaskIndex: 0,
    parallelism: 1,
    maxParallelism: 128,
    keyGroups: { start: 0, end: 128 },
    config: [],
    inputs: [
      { name: 'orders', broadcast: false },
      { name: 'prices', broadcast: true },
    ],
    sideOutputs: ['unpriced'],
  };
  const operator = exportOperator(Join);
  assert.deepEqual(operator.init(context, []), { tag: 'ok', val: undefined });
  assert.equal(operator.process(1, batch([NO_KEY_GROUP, 'apple', '30'])).val.length, 0);
  const out = operator.process(0, batch([3, 'apple', '2'], [3, 'fig', '1'])).val;
  assert.equal(out[2], 2);
  assert.deepEqual(
    readOutputBatch(out).map((e) => [e.output, new TextDecoder().decode(e.key), new TextDecoder().decode(e.value)]),
    [
      [MAIN_OUTPUT, 'apple', 'orders 30'],
      [0, 'fig', '1'],
    ],
  );
  assert.deepEqual(operator.process(2, batch()), {
    tag: 'err',
    val: "`process` was called for input 2, but the operator's inputs are 0: `orders`, 1: `prices`",
  });
  const [chunk, ...rest] = operator.snapshot(1n, 'full').val.chunks;
  assert.equal(rest.length, 0);
  // "apple" (postcard string) -> 30 (varint 1e), no key group.
  assert.deepEqual(chunk, { handle: 'prices', kind: 'broadcast-map', keyGroup: undefined, data: hex('01 06 00 00 00 05 61 70 70 6c 65 01 00 00 00 1e') });
  const again = exportOperator(Join);
  again.init(context, [chunk]);
  assert.equal(readBatch(again.process(0, batch([3, 'apple', '1'])).val)[0].valueStr(), 'orders 30');
});

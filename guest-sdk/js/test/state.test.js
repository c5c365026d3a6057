// State handles through the Harness: scoping, snapshots byte for byte,
// restores, and the errors the Rust SDK gives.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OperatorInfo, codecs, readChunk, setLogSink } from '../src/index.js';
import { Harness, NO_KEY_GROUP, describeState, pairs } from '../src/testing.js';

const hex = (text) => Uint8Array.from(text.split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const utf8 = (text) => new TextEncoder().encode(text);

class Counter {
  constructor(ctx) {
    this.count = ctx.keyedValue('count', codecs.u64);
  }

  process(ctx, event) {
    const n = this.count.update((n) => (n ?? 0) + 1);
    ctx.emit(event.key, String(n));
  }
}

test('a keyed counter counts per key, across a restore', () => {
  const h = new Harness(Counter);
  const out = h.processAll([
    ['a', '1', 5],
    ['b', '1', 9],
    ['a', '1', 5],
  ]);
  assert.deepEqual(pairs(out), [
    ['a', '1'],
    ['b', '1'],
    ['a', '2'],
  ]);
  const restored = Harness.restore(Counter, h.snapshot());
  assert.deepEqual(pairs(restored.process('a', '1', 5)), [['a', '3']]);
  assert.deepEqual(pairs(restored.process('c', '1', 5)), [['c', '1']]);
});

test('the counter snapshot is the chunk the Rust counter writes', () => {
  const h = new Harness(Counter);
  for (let i = 0; i < 300; i++) h.process('apple', '', 3);
  h.process('b', '', 7);
  const chunks = h.snapshot();
  assert.deepEqual(
    chunks.map((c) => [c.handle, c.kind, c.keyGroup]),
    [
      ['count', 'keyed-value', 3],
      ['count', 'keyed-value', 7],
    ],
  );
  assert.deepEqual(chunks[0].data, hex('01  05 00 00 00 61 70 70 6c 65  02 00 00 00 ac 02'));
  assert.deepEqual(chunks[1].data, hex('01  01 00 00 00 62  01 00 00 00 01'));

  // And a chunk the Rust SDK wrote restores here: "pear" counted 128 times.
  const rust = [{ handle: 'count', kind: 'keyed-value', keyGroup: 1, data: hex('01 04 00 00 00 70 65 61 72 02 00 00 00 80 01') }];
  assert.deepEqual(pairs(Harness.restore(Counter, rust).process('pear', '', 1)), [['pear', '129']]);
});

class Profile {
  constructor(ctx) {
    this.stats = ctx.keyedValue('stats'); // json
    this.words = ctx.keyedMap('words', codecs.string, codecs.u32);
    this.recent = ctx.keyedList('recent', codecs.string);
    this.total = ctx.operatorValue('total', codecs.u64);
    this.seen = ctx.operatorList('seen', codecs.string);
  }

  process(ctx, event) {
    const text = event.valueStr();
    const stats = this.stats.get() ?? { events: 0, bytes: 0 };
    stats.events += 1;
    stats.bytes += text.length;
    this.stats.set(stats);
    for (const word of text.split(/\s+/).filter(Boolean)) this.words.set(word, (this.words.get(word) ?? 0) + 1);
    if (this.recent.size() === 3) this.recent.clear();
    this.recent.push(text);
    this.total.update((n) => (n ?? 0) + 1);
    if (this.seen.size() < 2) this.seen.push(event.keyStr());
  }

  finish(ctx) {
    ctx.emit('total', String(this.total.get() ?? 0));
    ctx.emit('seen', this.seen.get().join(','));
  }
}

test('every kind of handle survives a snapshot and a restore', () => {
  const h = new Harness(Profile);
  h.processAll([
    ['k', 'a b a', 1],
    ['j', 'c', 2],
    ['k', 'b', 1],
  ]);
  const chunks = h.snapshot();
  assert.deepEqual(
    chunks.map((c) => `${c.handle} ${c.kind} ${c.keyGroup}`),
    [
      'stats keyed-value 1',
      'stats keyed-value 2',
      'words keyed-map 1',
      'words keyed-map 2',
      'recent keyed-list 1',
      'recent keyed-list 2',
      'total operator-value undefined',
      'seen operator-list undefined',
    ],
  );
  const words = readChunk('keyed-map', chunks[2].data).map((e) => [new TextDecoder().decode(e.mapKey), e.value[0]]);
  assert.deepEqual(words.sort(), [
    ['\u0001a', 2],
    ['\u0001b', 2],
  ]);
  const r = Harness.restore(Profile, chunks);
  r.process('k', 'z', 1);
  assert.deepEqual(describeState(r.snapshot()), describeState(applyOneMore(chunks)));
  assert.deepEqual(pairs(r.finish()), [
    ['total', '4'],
    ['seen', 'k,j'],
  ]);
  function applyOneMore() {
    const again = new Harness(Profile);
    again.processAll([
      ['k', 'a b a', 1],
      ['j', 'c', 2],
      ['k', 'b', 1],
      ['k', 'z', 1],
    ]);
    return again.snapshot();
  }
});

test('maps drop keys left empty, lists and values too', () => {
  class Op {
    constructor(ctx) {
      this.m = ctx.keyedMap('m', codecs.string, codecs.u8);
      this.l = ctx.keyedList('l', codecs.u8);
      this.v = ctx.keyedValue('v', codecs.u8);
    }

    process(ctx, event) {
      if (event.valueStr() === 'add') {
        this.m.set('x', 1);
        this.l.push(1);
        this.v.set(1);
      } else {
        assert.equal(this.m.delete('x'), true);
        assert.equal(this.m.delete('x'), false);
        this.l.set([]);
        this.v.clear();
      }
    }
  }
  const h = new Harness(Op);
  h.process('k', 'add', 1);
  assert.equal(h.snapshot().length, 3);
  h.process('k', 'remove', 1);
  assert.deepEqual(h.snapshot(), []);
});

test('map keys of any codec, compared by value', () => {
  class Op {
    constructor(ctx) {
      this.pairs = ctx.keyedMap('pairs', codecs.tuple(codecs.string, codecs.u64), codecs.bool);
      this.numbers = ctx.keyedMap('numbers', codecs.u64, codecs.string);
    }

    process(ctx, event) {
      this.pairs.set(['a', 1], true);
      this.pairs.set(['a', 1], false); // the same key: replaces
      this.pairs.set(['a', 2], true);
      this.numbers.set(7, 'seven');
      ctx.emit(String(this.pairs.size()), String(this.pairs.get(['a', 1])));
      ctx.emit(this.numbers.get(7), String(this.numbers.has(8)));
    }
  }
  const h = new Harness(Op);
  assert.deepEqual(pairs(h.process('k', '', 0)), [
    ['2', 'false'],
    ['seven', 'false'],
  ]);
  const r = Harness.restore(Op, h.snapshot());
  assert.deepEqual(r.operator.constructor, Op);
  class Reader {
    constructor(ctx) {
      this.pairs = ctx.keyedMap('pairs', codecs.tuple(codecs.string, codecs.u64), codecs.bool);
      this.numbers = ctx.keyedMap('numbers', codecs.u64, codecs.string);
    }

    process(ctx) {
      ctx.emit(JSON.stringify(this.pairs.entries()), JSON.stringify(this.numbers.keys()));
    }
  }
  const read = Harness.restore(Reader, h.snapshot());
  const [out] = pairs(read.process('k', '', 0));
  assert.deepEqual(JSON.parse(out[0]).sort(), [
    [['a', 1], false],
    [['a', 2], true],
  ]);
  assert.equal(out[1], '[7]');
});

test('keyed state needs a current key', () => {
  class Op {
    constructor(ctx) {
      this.v = ctx.keyedValue('v', codecs.u8);
    }

    process() {
      this.v.set(1);
    }

    finish() {
      this.v.get();
    }
  }
  const h = new Harness(Op);
  assert.throws(() => h.process('k', '', NO_KEY_GROUP), /keyed state `v` was used for an event without a key group/);
  assert.throws(() => h.finish(), /keyed state `v` was used with no current key/);
});

test('keyed state on an unkeyed input fails the constructor, naming the handle and key_by', () => {
  const unkeyed = new OperatorInfo('counter', { keyGroups: null });
  const declarations = {
    'keyed-value': (ctx) => ctx.keyedValue('h'),
    'keyed-map': (ctx) => ctx.keyedMap('h'),
    'keyed-list': (ctx) => ctx.keyedList('h'),
  };
  for (const [kind, declare] of Object.entries(declarations)) {
    const Op = class {
      constructor(ctx) {
        declare(ctx);
      }

      process() {}
    };
    assert.throws(() => new Harness(Op, { info: unkeyed }), {
      message:
        `operator 'counter': state \`h\` is keyed (${kind}), but the operator's input is not keyed: ` +
        'set key_by = true for this operator in the job file (or declare operator state instead)',
    });
    // The Harness's default input is keyed.
    new Harness(Op);
  }
});

test('declaration mistakes are errors naming the handle', () => {
  const declare = (f) => () => new Harness(class { constructor(ctx) { f(ctx); } process() {} });
  assert.throws(declare((ctx) => { ctx.keyedValue('a'); ctx.keyedList('a'); }), /state handle `a` is declared twice/);
  assert.throws(declare((ctx) => ctx.keyedValue('')), /non-empty string/);
  assert.throws(declare((ctx) => ctx.keyedValue('a', 'u64')), /must be a codec/);
  const restoredAsList = [{ handle: 'a', kind: 'keyed-list', keyGroup: 1, data: hex('01') }];
  assert.throws(
    () => Harness.restore(class { constructor(ctx) { ctx.keyedValue('a'); } process() {} }, restoredAsList),
    /state handle `a` is declared as keyed-value but the restored checkpoint holds it as keyed-list/,
  );
  let late;
  const h = new Harness(class { constructor(ctx) { late = ctx; } process() { late.keyedValue('late'); } });
  assert.throws(() => h.process('k', '', 0), /declared after the operator was created/);
});

test('damaged restored state is an error naming the handle and key group', () => {
  const restore = (data, kind = 'keyed-value', keyGroup = 4) =>
    Harness.restore(Counter, [{ handle: 'count', kind, keyGroup, data }]);
  assert.throws(() => restore(hex('01 01 00 00 00 61 01 00 00 00 80')), /state `count` \(key group 4\): cannot decode a restored value with codec u64: unexpected end/);
  assert.throws(() => restore(hex('01 01 00 00 00 61 02 00 00 00 01 01')), /1 bytes left over/);
  assert.throws(() => restore(hex('01 01 00 00 00 61 09 00')), /state `count` \(key group 4\): malformed restored chunk: truncated/);
  assert.throws(() => restore(hex('02 00 00 00 00')), /unknown format version 2/);
  assert.throws(() => restore(hex('01'), 'keyed-value', null), /a restored keyed-value chunk has no key group/);
  assert.throws(
    () => restore(hex('01 01 00 00 00 61 01 00 00 00 01 01 00 00 00 61 01 00 00 00 02')),
    /the restored chunk holds key "a" twice/,
  );
  const twoValues = [
    { handle: 'n', kind: 'operator-value', data: hex('01 01 00 00 00 01') },
    { handle: 'n', kind: 'operator-value', data: hex('01 01 00 00 00 02') },
  ];
  assert.throws(
    () => Harness.restore(class { constructor(ctx) { ctx.operatorValue('n', codecs.u8); } process() {} }, twoValues),
    /more than one operator-value entry/,
  );
});

test('restored state nobody declares is kept in full snapshots, with a warning', () => {
  const lines = [];
  setLogSink((level, message) => lines.push(`${level} ${message}`));
  try {
    const old = [
      { handle: 'old', kind: 'keyed-list', keyGroup: 2, data: hex('01') },
      { handle: 'old', kind: 'keyed-list', keyGroup: 3, data: hex('01') },
      ...new Harness(Counter).snapshot(),
    ];
    const h = Harness.restore(Counter, old);
    assert.deepEqual(lines, ['warn restored keyed-list state `old` is not declared by the operator; it is kept unchanged in every snapshot']);
    h.process('a', '', 1);
    assert.deepEqual(
      h.snapshot().map((c) => `${c.handle} ${c.keyGroup}`),
      ['count 1', 'old 2', 'old 3'],
    );
    // An incremental snapshot leaves them out: they did not change.
    h.process('a', '', 1);
    assert.deepEqual(
      h.snapshotIncremental().chunks.map((c) => `${c.handle} ${c.keyGroup}`),
      ['count 1'],
    );
  } finally {
    setLogSink(null);
  }
});

test('operator state is usable in finish and with unkeyed input', () => {
  class Op {
    constructor(ctx) {
      this.n = ctx.operatorValue('n', codecs.u64);
      this.names = ctx.operatorList('names', codecs.string);
      this.info = ctx.info;
    }

    process(ctx, event) {
      this.n.update((n) => (n ?? 0) + 1);
      this.names.push(event.keyStr());
    }

    finish(ctx) {
      ctx.emit(this.info.name, `${this.n.get()} ${this.names.get().join(' ')} ${this.info.config('window')}`);
    }
  }
  const info = new OperatorInfo('op', { config: { window: '10' }, keyGroups: null });
  const h = new Harness(Op, { info });
  h.process('a', '', NO_KEY_GROUP);
  h.process('b', '', NO_KEY_GROUP);
  const r = Harness.restore(Op, h.snapshot(), { info });
  r.process('c', '', NO_KEY_GROUP);
  assert.deepEqual(pairs(r.finish()), [['op', '3 a b c 10']]);
  // Operator-list chunks of several subtasks are concatenated on restore.
  const merged = Harness.restore(Op, [...h.snapshot().filter((c) => c.handle === 'names'), ...h.snapshot().filter((c) => c.handle === 'names')], { info });
  assert.deepEqual(pairs(merged.finish()), [['op', 'undefined a b a b 10']]);
});

test('undefined is not a value', () => {
  class Op {
    constructor(ctx) {
      this.v = ctx.keyedValue('v');
      this.l = ctx.operatorList('l');
    }

    process(ctx, event) {
      if (event.valueStr() === 'v') this.v.set(undefined);
      else this.l.push(undefined);
    }
  }
  const h = new Harness(Op);
  assert.throws(() => h.process('k', 'v', 0), /state `v`: cannot store undefined/);
  assert.throws(() => h.process('k', 'l', 0), /state `l`: cannot store undefined/);
});

test('a value the codec cannot encode fails the snapshot, naming the handle', () => {
  class Op {
    constructor(ctx) {
      this.v = ctx.keyedValue('v', codecs.u8);
    }

    process() {
      this.v.set(300);
    }
  }
  const h = new Harness(Op);
  h.process('k', '', 0);
  assert.throws(() => h.snapshot(), /state `v`: cannot encode a value with codec u8: codec u8: expected an integer from 0 to 255, got a number \(300\)/);
});

test('keys are bytes: non-UTF-8 keys keep their state apart', () => {
  const h = new Harness(Counter);
  h.process(new Uint8Array([0xff]), '', 0);
  h.process(new Uint8Array([0xff, 0x00]), '', 0);
  const out = h.process(new Uint8Array([0xff]), '', 0);
  assert.deepEqual(out[0].key, new Uint8Array([0xff]));
  assert.equal(out[0].valueStr(), '2');
  assert.deepEqual(describeState(h.snapshot()), ['count[0] ff = 02', 'count[0] ff00 = 01']);
  assert.equal(utf8('x').length, 1);
});

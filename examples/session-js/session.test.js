// Unit tests of the session operator, under Node: `node --test` in this folder.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OperatorInfo, codecs, decode, readChunk, setLogSink } from '../../guest-sdk/js/src/index.js';
import { Harness, mergeSnapshot, pairs } from '../../guest-sdk/js/src/testing.js';
import { Sessions } from './session.js';

const info = (gap, options = {}) =>
  new OperatorInfo('sessions', { config: gap === undefined ? {} : { gap_ms: String(gap) }, sideOutputs: ['late'], ...options });
const harness = (gap = 1000, options) => new Harness(Sessions, { info: info(gap, options) });

/** The open sessions of the state, as "key start end count" lines. */
function sessions(chunks) {
  const lines = [];
  for (const chunk of chunks.filter((c) => c.handle === 'sessions')) {
    for (const e of readChunk('keyed-map', chunk.data)) {
      const [end, count] = decode(codecs.tuple(codecs.i64, codecs.u64), e.value);
      lines.push(`${new TextDecoder().decode(e.key)} ${decode(codecs.i64, e.mapKey)} ${end} ${count}`);
    }
  }
  return lines.sort();
}

test('a session closes when the watermark reaches its last event + gap', () => {
  const h = harness(1000);
  h.processAll([
    ['alice', 'login', 1, 10_000],
    ['alice', 'click', 1, 10_400],
    ['bob', 'login', 2, 10_100],
    ['alice', 'click', 1, 11_300], // within 1 s of 10 400: same session
    ['alice', 'click', 1, 13_000], // 1.7 s later: a new session
  ]);
  assert.deepEqual(h.advance(11_099), []);
  assert.deepEqual(pairs(h.advance(11_100)), [['bob', '10100\t11100\t1']]);
  const out = h.advance(12_300);
  assert.deepEqual(pairs(out), [['alice', '10000\t12300\t3']]);
  assert.equal(out[0].timestamp, 12_299); // the session's last millisecond
  assert.deepEqual(pairs(h.endOfInput()), [['alice', '13000\t14000\t1']]);
  assert.deepEqual(h.snapshot(), []);
});

test('an event that bridges two sessions merges them', () => {
  const h = harness(1000);
  h.processAll([
    ['k', '', 0, 0],
    ['k', '', 0, 1_500],
  ]);
  assert.deepEqual(sessions(h.snapshot()), ['k 0 1000 1', 'k 1500 2500 1']);
  h.processAt('k', '', 0, 800); // [800, 1800) overlaps both
  assert.deepEqual(sessions(h.snapshot()), ['k 0 2500 3']);
  assert.deepEqual(h.advance(2_499), []); // the stale timer at 1000 finds nothing
  assert.deepEqual(pairs(h.advance(2_500)), [['k', '0\t2500\t3']]);
});

test('late events go to the side output `late`, unchanged', () => {
  const h = harness(1000);
  h.processAt('k', 'first', 0, 5_000);
  h.advance(6_000);
  assert.deepEqual(h.processAt('k', 'late', 0, 4_999), []); // [4999, 5999) ended before the watermark
  assert.deepEqual(h.processAt('k', 'in time', 0, 5_001), []); // [5001, 6001): a new session
  const late = h.sideOutput('late');
  assert.deepEqual([pairs(late), late.map((o) => o.timestamp)], [[['k', 'late']], [4_999]]);
  assert.deepEqual(pairs(h.advance(6_001)), [['k', '5001\t6001\t1']]);
});

test('without a `late` side output, late events are dropped', () => {
  setLogSink(() => {});
  try {
    const h = new Harness(Sessions, { info: new OperatorInfo('sessions', { config: { gap_ms: '10' } }) });
    h.advance(100);
    assert.deepEqual(h.processAt('k', '', 0, 5), []);
    assert.deepEqual(h.snapshot(), []);
  } finally {
    setLogSink(null);
  }
});

test('the default gap is 30 s; a bad gap fails at init', () => {
  const h = new Harness(Sessions, { info: info() });
  h.processAll([['k', '', 0, 0], ['k', '', 0, 29_999]]);
  assert.deepEqual(pairs(h.endOfInput()), [['k', '0\t59999\t2']]);
  assert.throws(() => harness('soon'), /config `gap_ms` = "soon" is not valid/);
  assert.throws(() => harness(0), /config `gap_ms` = 0 is not valid/);
  assert.throws(() => harness().process('k', '', 0), /without a timestamp/);
});

test('its state: the session map and the timers', () => {
  const h = harness(1000);
  h.processAt('k', '', 3, 100);
  h.processAt('k', '', 3, 600);
  const chunks = h.snapshot();
  const toHex = (bytes) => Buffer.from(bytes).toString('hex');
  assert.deepEqual(
    chunks.map((c) => [c.handle, c.kind, c.keyGroup, toHex(c.data)]),
    [
      // Timer map keys: domain 0 (event time), then i64 LE: 1100 (the first session's end, now stale) and 1600.
      [
        'weir.timers',
        'keyed-map',
        3,
        '01' + '010000006b' + '09000000' + '004c04000000000000' + '00000000' + '010000006b' + '09000000' + '004006000000000000' + '00000000',
      ],
      // start 100 (zig-zag c8 01) -> end 1600 (80 19) then count 2.
      ['sessions', 'keyed-map', 3, '01' + '010000006b' + '02000000c801' + '03000000801902'],
    ],
  );
});

test('sessions survive checkpoints, full and incremental, and rescaling', () => {
  const h = harness(1000);
  h.processAll([['a', '', 3, 100], ['b', '', 90, 200]]);
  let state = h.snapshot();
  h.processAt('a', '', 3, 900); // extends a's session
  state = mergeSnapshot(state, h.snapshotIncremental());
  const low = Harness.restore(Sessions, state.filter((c) => c.keyGroup < 64), {
    info: info(1000, { subtaskIndex: 0, parallelism: 2, keyGroups: { start: 0, end: 64 } }),
  });
  const high = Harness.restore(Sessions, state.filter((c) => c.keyGroup >= 64), {
    info: info(1000, { subtaskIndex: 1, parallelism: 2, keyGroups: { start: 64, end: 128 } }),
  });
  assert.deepEqual(pairs(low.endOfInput()), [['a', '100\t1900\t2']]);
  assert.deepEqual(pairs(high.endOfInput()), [['b', '200\t1200\t1']]);
});

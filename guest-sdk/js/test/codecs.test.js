// Value codecs: byte-exact vectors of postcard's wire format, computed by
// hand from https://postcard.jamesmunns.com/wire-format and checked against
// postcard 1.1.3 (the Rust SDK's codec), so that state restores across SDKs.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { codecs, decode, encode } from '../src/index.js';

const hex = (text) => Uint8Array.from(text.split(' ').filter(Boolean), (b) => parseInt(b, 16));

// [codec, value, postcard bytes]
const VECTORS = [
  ['u64', 0, '00'],
  ['u64', 127, '7f'],
  ['u64', 128, '80 01'],
  // 300 = 0b10_0101100: low 7 bits 0x2c with the continuation bit, then 2.
  ['u64', 300, 'ac 02'],
  ['u64', 2 ** 32, '80 80 80 80 10'],
  ['u64', Number.MAX_SAFE_INTEGER, 'ff ff ff ff ff ff ff 0f'],
  ['bigU64', 2n ** 64n - 1n, 'ff ff ff ff ff ff ff ff ff 01'],
  ['bigU64', 300n, 'ac 02'],
  // zig-zag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
  ['i64', 0, '00'],
  ['i64', -1, '01'],
  ['i64', 1, '02'],
  ['i64', -64, '7f'],
  ['i64', 64, '80 01'],
  ['i64', -Number.MAX_SAFE_INTEGER, 'fd ff ff ff ff ff ff 1f'],
  ['i64', 1_700_000_000_000, '80 a0 ab fe f9 62'],
  ['bigI64', -(2n ** 63n), 'ff ff ff ff ff ff ff ff ff 01'],
  ['bigI64', 2n ** 63n - 1n, 'fe ff ff ff ff ff ff ff ff 01'],
  ['i32', -(2 ** 31), 'ff ff ff ff 0f'],
  ['u32', 2 ** 32 - 1, 'ff ff ff ff 0f'],
  ['u16', 65535, 'ff ff 03'],
  ['i16', -32768, 'ff ff 03'],
  ['u8', 200, 'c8'],
  ['i8', -2, 'fe'],
  ['bool', true, '01'],
  ['bool', false, '00'],
  ['f64', 1.5, '00 00 00 00 00 00 f8 3f'],
  ['f32', -0.25, '00 00 80 be'],
  ['string', 'hi', '02 68 69'],
  ['string', 'é€', '05 c3 a9 e2 82 ac'],
  ['string', '', '00'],
  ['bytes', new Uint8Array([1, 2, 3]), '03 01 02 03'],
  ['json', { a: 1 }, '07 7b 22 61 22 3a 31 7d'],
];

for (const [name, value, bytes] of VECTORS) {
  test(`${name} ${typeof value === 'object' ? JSON.stringify(value) : String(value)} is ${bytes}`, () => {
    const codec = codecs[name];
    assert.deepEqual(encode(codec, value), hex(bytes));
    assert.deepEqual(decode(codec, hex(bytes)), value);
  });
}

test('composite codecs match postcard: Option, Vec, tuple, struct, map', () => {
  const cases = [
    [codecs.option(codecs.u64), undefined, '00'],
    [codecs.option(codecs.u64), 300, '01 ac 02'],
    [codecs.list(codecs.string), ['a', 'bc'], '02 01 61 02 62 63'],
    [codecs.tuple(codecs.u64, codecs.string), [5, 'x'], '05 01 78'],
    // struct Stats { events: u64, bytes: u64, name: String, last: Option<i64>, ok: bool }
    [
      codecs.struct({
        events: codecs.u64,
        bytes: codecs.u64,
        name: codecs.string,
        last: codecs.option(codecs.i64),
        ok: codecs.bool,
      }),
      { events: 3, bytes: 300, name: 'k', last: -2, ok: true },
      '03 ac 02 01 6b 01 03 01',
    ],
    [
      codecs.map(codecs.string, codecs.u32),
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
      '02 01 61 01 01 62 02',
    ],
  ];
  for (const [codec, value, bytes] of cases) {
    assert.deepEqual(encode(codec, value), hex(bytes), codec.name);
    assert.deepEqual(decode(codec, hex(bytes)), value, codec.name);
  }
  // A 200-byte string: its length takes two varint bytes.
  assert.deepEqual(encode(codecs.string, 'x'.repeat(200)).subarray(0, 3), hex('c8 01 78'));
});

test('u64 past 2^53 - 1: numbers refuse it, BigInts carry it', () => {
  const big = hex('80 80 80 80 80 80 80 10'); // 2^53
  assert.throws(() => decode(codecs.u64, big), /beyond 2\^53 - 1/);
  assert.equal(decode(codecs.bigU64, big), 2n ** 53n);
  assert.throws(() => encode(codecs.u64, 2 ** 53), /codec u64: expected/);
  assert.deepEqual(encode(codecs.u64, 2n ** 53n), big);
  assert.throws(() => encode(codecs.u64, -1), TypeError);
  assert.throws(() => encode(codecs.u64, 1.5), TypeError);
  assert.throws(() => encode(codecs.u64, 2n ** 64n), TypeError);
  assert.throws(() => decode(codecs.i64, hex('80 80 80 80 80 80 80 20')), /beyond/); // 2^53 zig-zagged
  assert.equal(decode(codecs.bigI64, hex('80 80 80 80 80 80 80 20')), 2n ** 53n);
  // Large numbers take the BigInt path when zig-zagging and still round-trip.
  for (const n of [2 ** 52, -(2 ** 52), Number.MAX_SAFE_INTEGER, 2 ** 40 + 3, -(2 ** 40) - 3]) {
    assert.equal(decode(codecs.i64, encode(codecs.i64, n)), n);
    assert.equal(decode(codecs.bigI64, encode(codecs.i64, n)), BigInt(n));
  }
});

test('every u64 varint length round-trips', () => {
  for (let bits = 0; bits <= 53; bits++) {
    const n = bits === 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits;
    for (const v of [n - 1, n, n + 1].filter((v) => v >= 0 && v <= Number.MAX_SAFE_INTEGER)) {
      assert.equal(decode(codecs.u64, encode(codecs.u64, v)), v);
      assert.equal(decode(codecs.bigU64, encode(codecs.u64, v)), BigInt(v));
      assert.equal(decode(codecs.u64, encode(codecs.bigU64, BigInt(v))), v);
    }
  }
});

test('decoding refuses what postcard refuses', () => {
  // A u32's 5th varint byte may carry 4 bits only.
  assert.throws(() => decode(codecs.u32, hex('ff ff ff ff 10')), /bad varint/);
  assert.equal(decode(codecs.u32, hex('ff ff ff ff 0f')), 2 ** 32 - 1);
  assert.throws(() => decode(codecs.u16, hex('ff ff 04')), /bad varint/);
  assert.throws(() => decode(codecs.u64, hex('ff ff ff ff ff ff ff ff ff 02')), /bad varint/);
  assert.throws(() => decode(codecs.bigU64, hex('ff ff ff ff ff ff ff ff ff ff 01')), /longer than 10 bytes/);
  // A non-canonical varint is accepted, as postcard does.
  assert.equal(decode(codecs.u64, hex('80 00')), 0);
  assert.throws(() => decode(codecs.bool, hex('02')), /bad bool/);
  assert.throws(() => decode(codecs.u64, hex('ac')), /unexpected end/);
  assert.throws(() => decode(codecs.u64, hex('ac 02 00')), /1 bytes left over/);
  assert.throws(() => decode(codecs.string, hex('02 ff fe')), /not UTF-8/);
  assert.throws(() => decode(codecs.option(codecs.u8), hex('02 00')), /bad option tag/);
  assert.throws(() => decode(codecs.list(codecs.u8), hex('05 01')), /unexpected end/);
});

test('encoding refuses values of the wrong type', () => {
  assert.throws(() => encode(codecs.string, 5), /codec string: expected a string, got a number \(5\)/);
  assert.throws(() => encode(codecs.bytes, 'x'), /expected a Uint8Array/);
  assert.throws(() => encode(codecs.bool, 1), /expected a boolean/);
  assert.throws(() => encode(codecs.u8, 256), /from 0 to 255/);
  assert.throws(() => encode(codecs.i32, 2 ** 31), /i32/);
  assert.throws(() => encode(codecs.json, undefined), /expected a JSON value/);
  assert.throws(() => encode(codecs.tuple(codecs.u8, codecs.u8), [1]), /an array of 2 values/);
});

test('bytes decode into a copy, json keeps structure', () => {
  const data = hex('02 07 08');
  const out = decode(codecs.bytes, data);
  data[1] = 0;
  assert.deepEqual(out, new Uint8Array([7, 8]));
  const value = { list: [1, 'two', null], nested: { t: true } };
  assert.deepEqual(decode(codecs.json, encode(codecs.json, value)), value);
});

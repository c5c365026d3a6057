// The batch framing of wit/FRAMING.md (version 1): how a batch of events
// crosses the host/guest boundary as one list<u8>.
//
//   batch  = "WB" version:u8(1) flags:u8(0) count:u32 event{count}
//   event  = key_group:u16 timestamp:i64 key_len:u32 value_len:u32 key value
//
// All integers little-endian. key_group 0xFFFF is "not keyed", timestamp
// i64::MIN is "none"; in JS both are null.

import { Buffer, Cursor, DecodeError, fromUtf8 } from './bytes.js';

/** `key_group` of an event whose operator input is not keyed. */
export const NO_KEY_GROUP = 0xffff;
export const HEADER_LEN = 8;
/** Fixed bytes per event besides its key and value. */
export const EVENT_OVERHEAD = 18;
const VERSION = 1;
const TWO_32 = 4294967296;
const I64_MIN_HI = -2147483648;

/** One input event. `key` and `value` are views into the input batch. */
export class Event {
  constructor(key, value, timestamp, keyGroup) {
    /** The key, as bytes. */
    this.key = key;
    /** The value, as bytes. */
    this.value = value;
    /** Milliseconds since the Unix epoch, or null. */
    this.timestamp = timestamp;
    /** The key group the host hashed the key into; null when not keyed. */
    this.keyGroup = keyGroup;
  }

  /** The key as UTF-8 text; throws if it is not UTF-8. */
  keyStr() {
    return fromUtf8(this.key, 'event key');
  }

  /** The value as UTF-8 text; throws if it is not UTF-8. */
  valueStr() {
    return fromUtf8(this.value, 'event value');
  }
}

/**
 * Calls `each(key, value, timestamp, rawKeyGroup)` for every event of a
 * packed batch, in order; throws a DecodeError (after the events before the
 * damage) when the bytes do not follow FRAMING.md. A zero-length batch is
 * empty.
 */
export function forEachEvent(bytes, each) {
  const count = batchCount(bytes);
  if (count === 0) return;
  const c = new Cursor(bytes);
  c.pos = HEADER_LEN;
  const view = c.view;
  for (let i = 0; i < count; i++) {
    const keyGroup = c.u16('event key group');
    c.need(8, 'event timestamp');
    const lo = view.getUint32(c.pos, true);
    const hi = view.getInt32(c.pos + 4, true);
    c.pos += 8;
    const timestamp = hi === I64_MIN_HI && lo === 0 ? null : hi * TWO_32 + lo;
    const keyLen = c.u32('event key length');
    const valueLen = c.u32('event value length');
    const key = c.take(keyLen, 'event key');
    const value = c.take(valueLen, 'event value');
    each(key, value, timestamp, keyGroup);
  }
  if (c.remaining() !== 0) throw new DecodeError(`${c.remaining()} bytes left after the last entry`);
}

/**
 * Checks a batch's header and returns its event count (0 for a zero-length
 * batch); the events start at HEADER_LEN. Throws a DecodeError for a header
 * FRAMING.md refuses, or a count the bytes cannot hold.
 */
export function batchCount(bytes) {
  if (bytes.length === 0) return 0;
  const c = new Cursor(bytes);
  const m0 = c.u8('batch header');
  const m1 = c.u8('batch header');
  if (m0 !== 0x57 || m1 !== 0x42) throw new DecodeError('bad magic (not a Weir batch)');
  const version = c.u8('batch header');
  if (version !== VERSION) throw new DecodeError(`unknown format version ${version}`);
  const flags = c.u8('batch header');
  if (flags !== 0) throw new DecodeError(`unknown flags 0x${flags.toString(16).padStart(2, '0')}`);
  const count = c.u32('batch header');
  if (count > Math.floor(c.remaining() / EVENT_OVERHEAD)) throw new DecodeError('truncated while reading event count');
  return count;
}

/** The events of a packed batch, as Event objects. */
export function readBatch(bytes) {
  const events = [];
  forEachEvent(bytes, (key, value, timestamp, keyGroup) => {
    events.push(new Event(key, value, timestamp, keyGroup === NO_KEY_GROUP ? null : keyGroup));
  });
  return events;
}

/** Packs events into a batch. */
export class BatchWriter {
  constructor(capacity = 256) {
    this.out = new Buffer(Math.max(capacity, HEADER_LEN));
    this.count = 0;
    this.reset();
  }

  /** Forgets every event, keeping the buffer. */
  reset() {
    const out = this.out;
    out.len = 0;
    out.u8(0x57);
    out.u8(0x42);
    out.u8(VERSION);
    out.u8(0);
    out.u32(0);
    this.count = 0;
  }

  get length() {
    return this.count;
  }

  /**
   * Appends an event. `key` and `value` are Uint8Arrays; `timestamp` is
   * milliseconds since the epoch (an integer number or a BigInt) or null.
   */
  push(keyGroup, timestamp, key, value) {
    const out = this.out;
    const keyLen = key.length;
    const valueLen = value.length;
    let at = out.len;
    if (at + EVENT_OVERHEAD + keyLen + valueLen > out.buf.length) out.reserve(EVENT_OVERHEAD + keyLen + valueLen);
    // Byte stores, not DataView calls: cheaper in the engine a component
    // embeds, which interprets every call.
    const b = out.buf;
    b[at] = keyGroup;
    b[at + 1] = keyGroup >>> 8;
    if (timestamp === null || timestamp === undefined) {
      b[at + 2] = b[at + 3] = b[at + 4] = b[at + 5] = b[at + 6] = b[at + 7] = b[at + 8] = 0;
      b[at + 9] = 0x80;
    } else {
      writeTimestamp(out.view, at + 2, timestamp);
    }
    b[at + 10] = keyLen;
    b[at + 11] = keyLen >>> 8;
    b[at + 12] = keyLen >>> 16;
    b[at + 13] = keyLen >>> 24;
    b[at + 14] = valueLen;
    b[at + 15] = valueLen >>> 8;
    b[at + 16] = valueLen >>> 16;
    b[at + 17] = valueLen >>> 24;
    at += EVENT_OVERHEAD;
    b.set(key, at);
    at += keyLen;
    b.set(value, at);
    out.len = at + valueLen;
    this.count++;
  }

  /** The packed batch (a view of the writer's buffer, valid until the next push or reset). */
  bytes() {
    this.out.view.setUint32(4, this.count, true);
    return this.out.bytes();
  }

  /** The packed batch as a new array, leaving the writer empty. */
  take() {
    const bytes = this.bytes().slice();
    this.reset();
    return bytes;
  }
}

function writeTimestamp(view, at, timestamp) {
  if (timestamp === null || timestamp === undefined) {
    view.setUint32(at, 0, true);
    view.setInt32(at + 4, I64_MIN_HI, true);
  } else if (typeof timestamp === 'number') {
    if (!Number.isSafeInteger(timestamp)) {
      throw new TypeError(`a timestamp must be an integer number of milliseconds, not ${timestamp}`);
    }
    const hi = Math.floor(timestamp / TWO_32);
    view.setUint32(at, timestamp - hi * TWO_32, true);
    view.setInt32(at + 4, hi, true);
  } else if (typeof timestamp === 'bigint') {
    if (timestamp < -(2n ** 63n) || timestamp >= 2n ** 63n) throw new RangeError(`timestamp ${timestamp} is not an i64`);
    view.setBigInt64(at, timestamp, true);
  } else {
    throw new TypeError(`a timestamp must be a number of milliseconds or null, not ${typeof timestamp}`);
  }
}

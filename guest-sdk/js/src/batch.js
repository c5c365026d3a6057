// The batch framing of wit/FRAMING.md (versions 1 and 2): how a batch of
// events crosses the host/guest boundary as one list<u8>.
//
//   batch  = "WB" version:u8(1 or 2) flags:u8(0) count:u32 event{count}
//   event  = key_group:u16 timestamp:i64 key_len:u32 value_len:u32 key value
//
// All integers little-endian. key_group 0xFFFF is "not keyed", timestamp
// i64::MIN is "none"; in JS both are null. Input batches are version 1. An
// output batch is version 2 when it uses side outputs: there the first field
// of each event is its output tag (MAIN_OUTPUT = 0xFFFF, or the index of a
// side output); in a version 1 output batch every event is the main output's.

import { Buffer, Cursor, DecodeError, fromUtf8 } from './bytes.js';

/** `key_group` of an event whose operator input is not keyed. */
export const NO_KEY_GROUP = 0xffff;
export const HEADER_LEN = 8;
/** Fixed bytes per event besides its key and value. */
export const EVENT_OVERHEAD = 18;
/** The framing version of input batches, and of output without side outputs. */
export const VERSION = 1;
/** The framing version of an output batch whose events name their output. */
export const TAGGED_VERSION = 2;
/**
 * The output tag (version 2) of an event for the main output; the same
 * number as NO_KEY_GROUP, so a main-output event has the same bytes in both
 * versions.
 */
export const MAIN_OUTPUT = 0xffff;
const TWO_32 = 4294967296;
const I64_MIN_HI = -2147483648;

/** One input event. `key` and `value` are views into the input batch. */
export class Event {
  constructor(key, value, timestamp, keyGroup, input = 0, inputName = 'input', isBroadcast = false) {
    /** The key, as bytes. */
    this.key = key;
    /** The value, as bytes. */
    this.value = value;
    /** Milliseconds since the Unix epoch, or null. */
    this.timestamp = timestamp;
    /** The key group the host hashed the key into; null when not keyed (and for a broadcast input). */
    this.keyGroup = keyGroup;
    /** The index of the input the event came from, in `ctx.info.inputs`. */
    this.input = input;
    /** The name of that input (the node that feeds it). */
    this.inputName = inputName;
    /** Whether that input is broadcast (delivered whole to every subtask). */
    this.isBroadcast = isBroadcast;
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
 * packed input batch (version 1), in order; throws a DecodeError (after the
 * events before the damage) when the bytes do not follow FRAMING.md. A
 * zero-length batch is empty.
 */
export function forEachEvent(bytes, each) {
  walk(bytes, batchCount(bytes), each);
}

/**
 * Calls `each(output, key, value, timestamp)` for every event of a batch an
 * operator returned, version 1 or 2: `output` is the event's output tag in
 * a version 2 batch (MAIN_OUTPUT or a side output's index), and MAIN_OUTPUT
 * for every event of a version 1 batch.
 */
export function forEachOutputEvent(bytes, each) {
  const { version, count } = batchHeader(bytes, true);
  walk(bytes, count, (key, value, timestamp, tag) => each(version === TAGGED_VERSION ? tag : MAIN_OUTPUT, key, value, timestamp));
}

function walk(bytes, count, each) {
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
 * Checks an input batch's header (version 1) and returns its event count (0
 * for a zero-length batch); the events start at HEADER_LEN. Throws a
 * DecodeError for a header FRAMING.md refuses, or a count the bytes cannot
 * hold.
 */
export function batchCount(bytes) {
  return batchHeader(bytes, false).count;
}

/** The version and event count of a batch; version 2 only if `tagged` is allowed. */
function batchHeader(bytes, tagged) {
  if (bytes.length === 0) return { version: VERSION, count: 0 };
  const c = new Cursor(bytes);
  const m0 = c.u8('batch header');
  const m1 = c.u8('batch header');
  if (m0 !== 0x57 || m1 !== 0x42) throw new DecodeError('bad magic (not a Weir batch)');
  const version = c.u8('batch header');
  if (version !== VERSION && !(tagged && version === TAGGED_VERSION)) throw new DecodeError(`unknown format version ${version}`);
  const flags = c.u8('batch header');
  if (flags !== 0) throw new DecodeError(`unknown flags 0x${flags.toString(16).padStart(2, '0')}`);
  const count = c.u32('batch header');
  if (count > Math.floor(c.remaining() / EVENT_OVERHEAD)) throw new DecodeError('truncated while reading event count');
  return { version, count };
}

/** The events of a packed input batch, as Event objects. */
export function readBatch(bytes) {
  const events = [];
  forEachEvent(bytes, (key, value, timestamp, keyGroup) => {
    events.push(new Event(key, value, timestamp, keyGroup === NO_KEY_GROUP ? null : keyGroup));
  });
  return events;
}

/**
 * The events of a batch an operator returned (version 1 or 2), as
 * { output, key, value, timestamp }: `output` is MAIN_OUTPUT or the index of
 * a side output.
 */
export function readOutputBatch(bytes) {
  const events = [];
  forEachOutputEvent(bytes, (output, key, value, timestamp) => events.push({ output, key, value, timestamp }));
  return events;
}

/**
 * Packs events into a batch: version 1 until `tagOutputs()` is called, then
 * version 2 (the first field of each event, `keyGroup` in `push`, is its
 * output tag) until the next `reset`. Events pushed before with MAIN_OUTPUT
 * (= NO_KEY_GROUP) keep their meaning.
 */
export class BatchWriter {
  constructor(capacity = 256) {
    this.out = new Buffer(Math.max(capacity, HEADER_LEN));
    this.count = 0;
    this.reset();
  }

  /** Forgets every event, keeping the buffer; the next batch is version 1 again. */
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

  /** Makes the batch version 2: each event's first field names its output (FRAMING.md). */
  tagOutputs() {
    this.out.buf[2] = TAGGED_VERSION;
  }

  /** Whether the batch is version 2. */
  get tagged() {
    return this.out.buf[2] === TAGGED_VERSION;
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

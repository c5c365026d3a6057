// Time: the watermark, timers and what fires them.
//
// The context knows two clocks (wit/operator.wit, `advance`):
//   event time       the watermark (`ctx.watermark`): no event still to come
//                    has a timestamp at or below it. -Infinity until the
//                    first `advance` (i64::MIN on the wire), Infinity at
//                    the end of bounded input (i64::MAX); it never goes back.
//   processing time  the host's clock (`ctx.processingTime`), as of the last
//                    `advance` (the wall clock before the first one).
//
// Timers are per event key and are keyed state: the SDK keeps them in the
// reserved keyed-map handle `weir.timers` (wit/STATE.md, "Timers"):
//
//   key      the event key
//   map_key  domain: u8 (0 event time, 1 processing time)  timestamp: i64 LE
//   value    empty
//
// so they are snapshotted (full and incremental), rescaled by key group and
// restored across languages with the rest. `advance(wm, now)` fires every
// event-time timer at or below wm and every processing-time timer at or
// below now, in timestamp order across keys (event time first at equal
// timestamps, then by key bytes), with the timer's key current, through the
// operator's `onTimer(ctx, timer)`; timers that callback registers and that
// are already due fire in the same call. After each call that changed the
// earliest processing-time timer the SDK tells the host (`wake-at`).

import { bytesId } from './bytes.js';
import { KEYED, KeyedTable, Store } from './state/store.js';

/** The reserved state handle of the timers. */
export const TIMERS_HANDLE = 'weir.timers';

/** The timer domains, as `timer.domain` spells them (0 and 1 in `weir.timers`). */
export const TimeDomain = Object.freeze({ EVENT: 'event', PROCESSING: 'processing' });

const DOMAIN_BYTE = { event: 0, processing: 1 };
const DOMAINS = ['event', 'processing'];

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * A WIT s64 time (BigInt or number) as the SDK's number: ±Infinity for
 * i64::MIN and i64::MAX. componentize-js 0.23 hands a negative s64 over as
 * its unsigned two's complement (i64::MIN arrives as 2^63): a BigInt is read
 * back as a signed 64-bit integer first.
 */
export function timeFromWit(value) {
  if (typeof value === 'bigint') {
    value = BigInt.asIntN(64, value);
    if (value <= I64_MIN) return -Infinity;
    if (value >= I64_MAX) return Infinity;
    return Number(value);
  }
  if (typeof value === 'number' && (Number.isSafeInteger(value) || value === Infinity || value === -Infinity)) return value;
  throw new TypeError(`a time is an integer number of milliseconds (or a BigInt), not ${String(value)}`);
}

/** The i64 of a time: ±Infinity are i64::MAX and i64::MIN. */
export function timeToBigInt(time) {
  if (time === Infinity) return I64_MAX;
  if (time === -Infinity) return I64_MIN;
  return BigInt(time);
}

export function checkTimestamp(timestamp, what = 'a timer timestamp') {
  if (!Number.isSafeInteger(timestamp)) {
    throw new TypeError(`${what} must be an integer number of milliseconds since the epoch, not ${String(timestamp)}`);
  }
  return timestamp;
}

/** A timer that fired: its event key (bytes), timestamp (ms), domain ('event' or 'processing') and key group. */
export class Timer {
  constructor(key, timestamp, domain, keyGroup) {
    this.key = key;
    this.timestamp = timestamp;
    this.domain = domain;
    this.keyGroup = keyGroup;
  }

  /** Whether it is an event-time timer. */
  get isEventTime() {
    return this.domain === TimeDomain.EVENT;
  }

  /** The key as UTF-8 text. */
  keyStr() {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.key);
  }
}

/** Lexicographic order of two byte strings. */
function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** A binary min-heap of [timestamp, slot] by (timestamp, key bytes). */
class TimerHeap {
  constructor() {
    this.items = [];
  }

  less(a, b) {
    return a[0] < b[0] || (a[0] === b[0] && compareBytes(a[1].key, b[1].key) < 0);
  }

  push(item) {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  peek() {
    return this.items[0];
  }

  pop() {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && this.less(items[l], items[m])) m = l;
        if (r < items.length && this.less(items[r], items[m])) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m], items[i]];
        i = m;
      }
    }
    return top;
  }
}

const timerId = (domain, timestamp) => `${domain}:${timestamp}`;

/**
 * The timers of every key: per key (a slot of the keyed table) a Map
 * `domain:timestamp` -> [domain, timestamp], and one heap per domain of
 * [timestamp, slot] to find the due ones. Heap items of deleted (or fired)
 * timers stay until they reach the top, where they are recognised by their
 * absence from the slot's map (or the slot's from the table).
 */
export class TimerStore extends Store {
  constructor(current) {
    super(TIMERS_HANDLE, 'keyed-map', current);
    this.table = new KeyedTable();
    this.heaps = { event: new TimerHeap(), processing: new TimerHeap() };
  }

  check() {
    if (this.current.scope !== KEYED) {
      throw new Error(
        'timers are per event key: register or delete them while processing an event of a keyed input ' +
          '(key_by = true) or in `onTimer`, not in the constructor, `finish` or for an unkeyed or broadcast event',
      );
    }
  }

  register(domain, timestamp) {
    checkTimestamp(timestamp);
    this.check();
    const id = timerId(domain, timestamp);
    const existing = this.table.find(this.current);
    if (existing !== undefined && existing.value.has(id)) return;
    const slot = this.table.findOrCreate(this.current, () => new Map());
    slot.value.set(id, [domain, timestamp]);
    this.heaps[domain].push([timestamp, slot]);
  }

  delete(domain, timestamp) {
    checkTimestamp(timestamp);
    this.check();
    const slot = this.table.find(this.current);
    if (slot === undefined || !slot.value.delete(timerId(domain, timestamp))) return false;
    this.table.touch(slot);
    if (slot.value.size === 0) this.table.remove(this.current);
    return true;
  }

  /** The current key's timers as [domain, timestamp], sorted. */
  timers() {
    this.check();
    const slot = this.table.find(this.current);
    return slot === undefined ? [] : sortedTimers(slot.value);
  }

  /** The first live item of a domain's heap, dropping stale ones. */
  head(domain) {
    const heap = this.heaps[domain];
    for (;;) {
      const top = heap.peek();
      if (top === undefined) return undefined;
      const [timestamp, slot] = top;
      if (this.table.get(slot.id) === slot && slot.value.has(timerId(domain, timestamp))) return top;
      heap.pop();
    }
  }

  /** The earliest timer of a domain, or null. */
  earliest(domain) {
    const head = this.head(domain);
    return head === undefined ? null : head[0];
  }

  /** Removes and returns the first due timer, or null. */
  popDue(watermark, now) {
    let event = this.head('event');
    if (event !== undefined && event[0] > watermark) event = undefined;
    let processing = now === null ? undefined : this.head('processing');
    if (processing !== undefined && processing[0] > now) processing = undefined;
    if (event === undefined && processing === undefined) return null;
    const domain = event !== undefined && (processing === undefined || event[0] <= processing[0]) ? 'event' : 'processing';
    const [timestamp, slot] = this.heaps[domain].pop();
    slot.value.delete(timerId(domain, timestamp));
    this.table.touch(slot);
    if (slot.value.size === 0) this.table.slots.delete(slot.id);
    return new Timer(slot.key, timestamp, domain, slot.keyGroup);
  }

  hasState(slot) {
    return slot.value.size > 0;
  }

  writeSlot(writer, slot) {
    for (const [domain, timestamp] of sortedTimers(slot.value)) writer.keyedMap(slot.key, encodeTimer(domain, timestamp), EMPTY);
  }

  restore(keyGroup, data) {
    const group = this.restoredKeyGroup(keyGroup);
    this.entries(keyGroup, data, ({ key, mapKey, value }) => {
      let timer;
      try {
        timer = decodeTimer(mapKey);
      } catch (e) {
        throw new Error(`state \`${this.name}\` (key group ${keyGroup}): malformed restored timer: ${e.message}`);
      }
      if (value.length !== 0) throw new Error(`state \`${this.name}\` (key group ${keyGroup}): a restored timer has a value`);
      const id = bytesId(key);
      let slot = this.table.get(id);
      if (slot === undefined) {
        this.table.restore(key, group, new Map());
        slot = this.table.get(id);
      }
      const [domain, timestamp] = timer;
      slot.value.set(timerId(domain, timestamp), timer);
      this.heaps[domain].push([timestamp, slot]);
    });
  }
}

const EMPTY = new Uint8Array(0);

function sortedTimers(timers) {
  return [...timers.values()].sort((a, b) => DOMAIN_BYTE[a[0]] - DOMAIN_BYTE[b[0]] || a[1] - b[1]);
}

/** The `weir.timers` map key of a timer: 9 raw bytes. */
export function encodeTimer(domain, timestamp) {
  const out = new Uint8Array(9);
  out[0] = DOMAIN_BYTE[domain];
  new DataView(out.buffer).setBigInt64(1, timeToBigInt(timestamp), true);
  return out;
}

/** [domain, timestamp] of a `weir.timers` map key. */
export function decodeTimer(mapKey) {
  if (mapKey.length !== 9) throw new Error(`a timer map key is 9 bytes, not ${mapKey.length}`);
  const domain = DOMAINS[mapKey[0]];
  if (domain === undefined) throw new Error(`unknown timer domain ${mapKey[0]}`);
  const raw = new DataView(mapKey.buffer, mapKey.byteOffset, 9).getBigInt64(1, true);
  return [domain, timeFromWit(raw)];
}

// Where `wake-at` requests go: the component entry (component.js) points it
// at the host's import; outside a component it goes nowhere.
let wakeSink = () => {};

/** Sets where the SDK's `wake-at` requests go: `(ms or null) => void`; null for nowhere. */
export function setWakeAtSink(sink) {
  wakeSink = sink ?? (() => {});
}

/** The current `wake-at` sink (what a Runtime uses unless told otherwise). */
export function wakeAtSink() {
  return wakeSink;
}

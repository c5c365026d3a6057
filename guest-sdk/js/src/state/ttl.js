// Keyed handles with a time to live (`{ ttlMs }`), wit/STATE.md "State TTL".
//
// Every value (of a keyed value; each map value; each list element) is kept
// with the time it expires at, expires_at_ms = the event time of the write +
// ttlMs, and stored with that time in front:
//
//   value = expires_at_ms: i64 LE  the value's own bytes (the handle's codec)
//
// The event time of a write is the timestamp of the event being processed;
// inside `advance` (onTimer, window callbacks) the watermark; for an event
// without a timestamp before the first watermark the entry never expires
// (i64::MAX). An entry is invisible once the operator's time (the newest of
// the current event's timestamp and the watermark) reaches its expiry, and
// is then dropped for good: the current key's expired entries when an event
// (or a timer) of the key starts, every key's entries the watermark expired
// when `advance` returns and before every snapshot (found through a heap of
// (expiry, key)). Snapshots leave them out, incremental ones report their
// keys.

import { bytesId, describe } from '../bytes.js';
import { timeFromWit, timeToBigInt } from '../time.js';
import { mapKeyId } from './map.js';
import { Handle, KEYED, KeyedTable, Store, checkValue, isObject } from './store.js';

/** Checks a `ttlMs` option. */
export function checkTtl(name, ttlMs) {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new Error(`state \`${name}\`: ttlMs must be a positive whole number of milliseconds, not ${describe(ttlMs)}`);
  }
  return ttlMs;
}

/** A min-heap of [expiresAt, slot]. */
class ExpiryHeap {
  constructor() {
    this.items = [];
  }

  push(item) {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent][0] <= items[i][0]) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
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
        if (l < items.length && items[l][0] < items[m][0]) m = l;
        if (r < items.length && items[r][0] < items[m][0]) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m], items[i]];
        i = m;
      }
    }
    return top;
  }
}

/** What the TTL stores share: expiry of a write, the packed layout, the purge. */
class TtlStore extends Store {
  constructor(name, kind, codec, current, ttlMs) {
    super(name, kind, current);
    this.codec = codec;
    this.ttlMs = checkTtl(name, ttlMs);
    this.table = new KeyedTable();
    this.expiry = new ExpiryHeap();
  }

  /** The expiry of a write now, recorded for the purge. */
  expiresAt(slot) {
    const at = this.current.writeTime();
    const expires = at === null ? Infinity : at + this.ttlMs;
    this.expiry.push([expires, slot]);
    return expires;
  }

  /** Whether an expiry is still in the future of the operator's time. */
  live(expires) {
    return expires > this.current.operatorTime();
  }

  pack(expires, value) {
    const bytes = this.encodeTemp(this.codec, value);
    const out = new Uint8Array(8 + bytes.length);
    new DataView(out.buffer).setBigInt64(0, timeToBigInt(expires), true);
    out.set(bytes, 8);
    return out;
  }

  /** [expires, value] of a restored value, recorded for the purge. */
  unpack(raw, keyGroup, slotOf) {
    if (raw.length < 8) {
      throw new Error(
        `state \`${this.name}\` (key group ${keyGroup}): a restored value of ${raw.length} bytes has no expiry in front: ` +
          'the checkpoint holds the handle without a TTL (a handle restores only into one declared with ttlMs too)',
      );
    }
    const expires = timeFromWit(new DataView(raw.buffer, raw.byteOffset, 8).getBigInt64(0, true));
    this.pending.push([expires, slotOf]);
    return [expires, this.decode(this.codec, raw.subarray(8), keyGroup)];
  }

  restore(keyGroup, data) {
    this.pending = [];
    this.restoreEntries(this.restoredKeyGroup(keyGroup), keyGroup, data);
    for (const [expires, key] of this.pending) this.expiry.push([expires, this.table.get(key)]);
    this.pending = null;
  }

  /**
   * Drops what expired of the current key's state at the operator's time
   * (called when an event or a timer enters the key): the operator reads
   * only what is visible, and no later snapshot holds it.
   */
  expireCurrent() {
    const slot = this.table.find(this.current);
    if (slot === undefined || !this.dropExpired(slot, this.current.operatorTime())) return;
    this.table.touch(slot);
    if (!this.hasState(slot)) this.table.slots.delete(slot.id);
  }

  /** Drops every entry whose expiry the watermark reached. */
  purge(watermark) {
    const heap = this.expiry;
    while (heap.items.length > 0 && heap.items[0][0] <= watermark) {
      const [, slot] = heap.pop();
      if (this.table.get(slot.id) !== slot) continue;
      if (this.dropExpired(slot, watermark)) {
        this.table.touch(slot);
        if (!this.hasState(slot)) this.table.slots.delete(slot.id);
      }
    }
  }
}

export class TtlValueStore extends TtlStore {
  constructor(name, codec, current, ttlMs) {
    super(name, 'keyed-value', codec, current, ttlMs);
  }

  hasState(slot) {
    return slot.value !== undefined;
  }

  dropExpired(slot, now) {
    if (slot.value[0] > now) return false;
    slot.value = undefined;
    return true;
  }

  writeSlot(writer, slot) {
    writer.keyedValue(slot.key, this.pack(slot.value[0], slot.value[1]));
  }

  restoreEntries(group, keyGroup, data) {
    this.entries(keyGroup, data, ({ key, value }) => {
      const entry = this.unpack(value, keyGroup, bytesId(key));
      if (!this.table.restore(key, group, entry)) throw this.duplicate(keyGroup, key, 'twice');
    });
  }
}

export class TtlMapStore extends TtlStore {
  constructor(name, keyCodec, valueCodec, current, ttlMs) {
    super(name, 'keyed-map', valueCodec, current, ttlMs);
    this.keyCodec = keyCodec;
  }

  mapKeyId(mapKey) {
    return mapKeyId(this, mapKey);
  }

  hasState(slot) {
    return slot.value.size > 0;
  }

  dropExpired(slot, now) {
    let dropped = false;
    for (const [id, entry] of slot.value) {
      if (entry[2] <= now) {
        slot.value.delete(id);
        dropped = true;
      }
    }
    return dropped;
  }

  writeSlot(writer, slot) {
    for (const [mapKey, value, expires] of slot.value.values()) {
      writer.keyedMap(slot.key, this.encode(this.keyCodec, mapKey), this.pack(expires, value));
    }
  }

  restoreEntries(group, keyGroup, data) {
    this.entries(keyGroup, data, ({ key, mapKey, value }) => {
      const id = bytesId(key);
      let slot = this.table.get(id);
      if (slot === undefined) {
        this.table.restore(key, group, new Map());
        slot = this.table.get(id);
      }
      const k = this.decode(this.keyCodec, mapKey, keyGroup);
      const kid = this.mapKeyId(k);
      if (slot.value.has(kid)) throw this.duplicate(keyGroup, key, 'with the same map key twice');
      const [expires, v] = this.unpack(value, keyGroup, id);
      slot.value.set(kid, [k, v, expires]);
    });
  }
}

export class TtlListStore extends TtlStore {
  constructor(name, codec, current, ttlMs) {
    super(name, 'keyed-list', codec, current, ttlMs);
  }

  hasState(slot) {
    return slot.value.length > 0;
  }

  dropExpired(slot, now) {
    const kept = slot.value.filter((entry) => entry[0] > now);
    if (kept.length === slot.value.length) return false;
    slot.value = kept;
    return true;
  }

  writeSlot(writer, slot) {
    writer.keyedList(
      slot.key,
      slot.value.map(([expires, value]) => this.pack(expires, value)),
    );
  }

  restoreEntries(group, keyGroup, data) {
    this.entries(keyGroup, data, ({ key, values }) => {
      const id = bytesId(key);
      const list = values.map((value) => this.unpack(value, keyGroup, id));
      if (!this.table.restore(key, group, list)) throw this.duplicate(keyGroup, key, 'twice');
    });
  }
}

function currentSlot(store) {
  const cur = store.current;
  if (cur.scope !== KEYED) cur.check(store.name);
  return store.table.find(cur);
}

/**
 * A keyed value with a TTL (from `keyedValue(name, codec, { ttlMs })`): as a
 * ValueState, but a value reads as undefined once it expired.
 */
export class TtlValueState extends Handle {
  /** The value, or undefined (none, or expired). */
  get() {
    const store = this.store;
    const slot = currentSlot(store);
    if (slot === undefined || slot.value === undefined || !store.live(slot.value[0])) return undefined;
    if (isObject(slot.value[1])) store.table.touch(slot);
    return slot.value[1];
  }

  /** Sets the value; it expires `ttlMs` of event time from now. */
  set(value) {
    const store = this.store;
    checkValue(store.name, value);
    currentSlot(store);
    const slot = store.table.findOrCreate(store.current, () => undefined);
    slot.value = [store.expiresAt(slot), value];
  }

  /** Sets the value to `fn(current value or undefined)` and returns it; undefined clears. */
  update(fn) {
    const next = fn(this.get());
    if (next === undefined) this.clear();
    else this.set(next);
    return next;
  }

  /** Removes the value. */
  clear() {
    const store = this.store;
    currentSlot(store);
    store.table.remove(store.current);
  }

  /** When the current key's value expires (ms of event time; Infinity: never), or undefined when none is visible. */
  expiresAt() {
    const store = this.store;
    const slot = currentSlot(store);
    if (slot === undefined || slot.value === undefined || !store.live(slot.value[0])) return undefined;
    return slot.value[0];
  }
}

/** A keyed map with a TTL per map value (from `keyedMap(name, k, v, { ttlMs })`). */
export class TtlMapState extends Handle {
  live() {
    const store = this.store;
    const slot = currentSlot(store);
    if (slot === undefined) return [];
    const out = [];
    let mutable = false;
    for (const [mapKey, value, expires] of slot.value.values()) {
      if (!store.live(expires)) continue;
      out.push([mapKey, value]);
      mutable ||= isObject(value);
    }
    if (mutable) store.table.touch(slot);
    return out;
  }

  get(mapKey) {
    const store = this.store;
    const slot = currentSlot(store);
    const entry = slot?.value.get(store.mapKeyId(mapKey));
    if (entry === undefined || !store.live(entry[2])) return undefined;
    if (isObject(entry[1])) store.table.touch(slot);
    return entry[1];
  }

  has(mapKey) {
    const store = this.store;
    const entry = currentSlot(store)?.value.get(store.mapKeyId(mapKey));
    return entry !== undefined && store.live(entry[2]);
  }

  /** Sets the value for `mapKey`; it expires `ttlMs` of event time from now. */
  set(mapKey, value) {
    const store = this.store;
    checkValue(store.name, value);
    if (mapKey === undefined) throw new TypeError(`state \`${store.name}\`: a map key cannot be undefined`);
    currentSlot(store);
    const slot = store.table.findOrCreate(store.current, () => new Map());
    slot.value.set(store.mapKeyId(mapKey), [mapKey, value, store.expiresAt(slot)]);
  }

  /** Removes `mapKey`; returns whether it had a live value. */
  delete(mapKey) {
    const store = this.store;
    const slot = currentSlot(store);
    if (slot === undefined) return false;
    const id = store.mapKeyId(mapKey);
    const entry = slot.value.get(id);
    if (entry === undefined) return false;
    slot.value.delete(id);
    store.table.touch(slot);
    if (slot.value.size === 0) store.table.remove(store.current);
    return store.live(entry[2]);
  }

  entries() {
    return this.live();
  }

  keys() {
    return this.live().map(([mapKey]) => mapKey);
  }

  values() {
    return this.live().map(([, value]) => value);
  }

  size() {
    return this.live().length;
  }

  clear() {
    const store = this.store;
    currentSlot(store);
    store.table.remove(store.current);
  }
}

/** A keyed list with a TTL per element (from `keyedList(name, codec, { ttlMs })`). */
export class TtlListState extends Handle {
  /** The live values, oldest first, as a new array. */
  get() {
    const store = this.store;
    const slot = currentSlot(store);
    if (slot === undefined) return [];
    return slot.value.filter(([expires]) => store.live(expires)).map(([, value]) => value);
  }

  /** Appends a value; it expires `ttlMs` of event time from now. */
  push(value) {
    const store = this.store;
    checkValue(store.name, value);
    currentSlot(store);
    const slot = store.table.findOrCreate(store.current, () => []);
    slot.value.push([store.expiresAt(slot), value]);
  }

  /** Replaces the list; every value expires `ttlMs` of event time from now. */
  set(values) {
    const store = this.store;
    if (!Array.isArray(values)) throw new TypeError(`state \`${store.name}\`: set() takes an array, not ${describe(values)}`);
    for (const value of values) checkValue(store.name, value);
    currentSlot(store);
    if (values.length === 0) {
      store.table.remove(store.current);
      return;
    }
    const slot = store.table.findOrCreate(store.current, () => null);
    const expires = store.expiresAt(slot);
    slot.value = values.map((value) => [expires, value]);
  }

  clear() {
    const store = this.store;
    currentSlot(store);
    store.table.remove(store.current);
  }

  size() {
    return this.get().length;
  }
}

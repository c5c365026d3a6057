// State handles and the stores behind them.
//
// An operator declares its state in `open` through the OpenContext and gets
// handles back. Values live in memory as ordinary JS values; reading or
// writing one costs a Map lookup and no encoding. Values are encoded (with
// the handle's codec) only by `snapshot`, and decoded only when a handle
// that the restored checkpoint holds is declared.
//
//   handle         keyed scope (keyed*)   operator scope (operator*)
//   ValueState     keyed-value            operator-value
//   MapState       keyed-map              -
//   ListState      keyed-list             operator-list
//
// Keyed state is scoped by the key of the event being processed, as in
// Flink: the same handle reads another value for another key. Each key is
// tagged with the key group the host passed with the event that created
// it, and snapshots hold one chunk per (handle, key group).
//
// Incremental snapshots: every keyed write marks its event key dirty; an
// incremental snapshot writes, per key group, a delta chunk with the dirty
// keys' complete state and the dirty keys that have none left. Reading a
// value that is an object (or array, or Uint8Array) marks the key dirty too,
// since the operator may change it in place.

import { bytesId, describe } from './bytes.js';
import { ChunkWriter, DeltaWriter, forEachEntry } from './chunk.js';
import { Writer, decode } from './codecs.js';

const NO_EVENT = 0;
const UNKEYED = 1;
const KEYED = 2;

/** The event being processed: its key (for keyed state) and timestamp. */
export class Current {
  constructor() {
    this.scope = NO_EVENT;
    this.key = null;
    this.id = '';
    this.keyGroup = 0;
    this.timestamp = null;
  }

  enter(key, keyGroup, timestamp, keyed) {
    this.timestamp = timestamp;
    if (keyGroup === 0xffff) {
      this.scope = UNKEYED;
    } else if (keyed) {
      this.scope = KEYED;
      this.key = key;
      this.id = bytesId(key);
      this.keyGroup = keyGroup;
    } else {
      this.scope = UNKEYED;
    }
  }

  leave() {
    this.scope = NO_EVENT;
    this.key = null;
    this.timestamp = null;
  }

  /** Throws unless there is a current key for keyed state `handle`. */
  check(handle) {
    if (this.scope === KEYED) return;
    if (this.scope === NO_EVENT) {
      throw new Error(
        `keyed state \`${handle}\` was used with no current key: keyed state is scoped by the key of the ` +
          'event being processed, so it is only available in `process` (use operator state in `finish`)',
      );
    }
    throw new Error(
      `keyed state \`${handle}\` was used for an event without a key group: the operator's input is not ` +
        'keyed (set `key_by = true` on it in the job file)',
    );
  }
}

function isObject(value) {
  return value !== null && typeof value === 'object';
}

function describeChunk(handle, keyGroup) {
  return keyGroup === undefined || keyGroup === null
    ? `state \`${handle}\``
    : `state \`${handle}\` (key group ${keyGroup})`;
}

/** Event key -> slot { id, key, keyGroup, value }, with the dirty keys. */
class KeyedTable {
  constructor() {
    this.slots = new Map();
    /** id -> slot of every key written since the last snapshot; null until the first one. */
    this.dirty = null;
  }

  touch(slot) {
    if (this.dirty !== null) this.dirty.set(slot.id, slot);
  }

  /** The slot of the current key, or undefined. */
  find(cur) {
    return this.slots.get(cur.id);
  }

  /** The slot of the current key, created with `make()` when missing. */
  findOrCreate(cur, make) {
    let slot = this.slots.get(cur.id);
    if (slot === undefined) {
      slot = { id: cur.id, key: cur.key.slice(), keyGroup: cur.keyGroup, value: make() };
      this.slots.set(cur.id, slot);
    }
    this.touch(slot);
    return slot;
  }

  /** Drops the current key's slot. */
  remove(cur) {
    const slot = this.slots.get(cur.id);
    if (slot !== undefined) {
      this.slots.delete(cur.id);
      this.touch(slot);
    }
  }

  /** Adds a slot from a restored chunk; false if the key is there already. */
  restore(key, keyGroup, value) {
    const id = bytesId(key);
    if (this.slots.has(id)) return false;
    this.slots.set(id, { id, key: key.slice(), keyGroup, value });
    return true;
  }

  get(id) {
    return this.slots.get(id);
  }
}

/** Behaviour shared by every store: naming, value coding, chunk output. */
class Store {
  constructor(name, kind, current) {
    this.name = name;
    this.kind = kind;
    this.current = current;
    this.scratch = new Writer(64);
  }

  /** The bytes of a value, valid until the next call (they are copied by the chunk writer). */
  encodeTemp(codec, value) {
    const w = this.scratch;
    w.len = 0;
    try {
      codec.write(w, value);
    } catch (e) {
      throw new Error(`state \`${this.name}\`: cannot encode a value with codec ${codec.name}: ${e.message}`);
    }
    return w.bytes();
  }

  encode(codec, value) {
    return this.encodeTemp(codec, value).slice();
  }

  decode(codec, bytes, keyGroup) {
    try {
      return decode(codec, bytes);
    } catch (e) {
      throw new Error(
        `${describeChunk(this.name, keyGroup)}: cannot decode a restored value with codec ${codec.name}: ${e.message}`,
      );
    }
  }

  entries(keyGroup, data, each) {
    try {
      forEachEntry(this.kind, data, each);
    } catch (e) {
      if (e.name === 'DecodeError') throw new Error(`${describeChunk(this.name, keyGroup)}: malformed restored chunk: ${e.message}`);
      throw e;
    }
  }

  restoredKeyGroup(keyGroup) {
    if (keyGroup === undefined || keyGroup === null) {
      throw new Error(`state \`${this.name}\`: a restored ${this.kind} chunk has no key group`);
    }
    return keyGroup;
  }

  duplicate(keyGroup, key, detail) {
    return new Error(
      `${describeChunk(this.name, keyGroup)}: the restored chunk holds key ${JSON.stringify(new TextDecoder().decode(key))} ${detail}`,
    );
  }

  chunk(keyGroup, data) {
    return { handle: this.name, kind: this.kind, keyGroup, data };
  }

  /** Starts (or restarts) recording the keys written from now on. */
  track() {
    if (this.table) this.table.dirty = new Map();
  }

  /**
   * Appends this handle's chunks: version 1, one per key group that holds
   * state, in key group order (keyed kinds), or one if the state is not
   * empty (operator kinds).
   */
  snapshotFull(out) {
    if (!this.table) {
      if (this.hasOperatorState()) out.push(this.chunk(undefined, this.operatorChunk()));
      return;
    }
    const writers = new Map();
    for (const slot of this.table.slots.values()) {
      if (!this.hasState(slot)) continue;
      let writer = writers.get(slot.keyGroup);
      if (writer === undefined) writers.set(slot.keyGroup, (writer = new ChunkWriter(this.kind)));
      this.writeSlot(writer, slot);
    }
    for (const keyGroup of [...writers.keys()].sort((a, b) => a - b)) {
      out.push(this.chunk(keyGroup, writers.get(keyGroup).finish().slice()));
    }
  }

  /**
   * Appends what changed since the previous snapshot: a delta chunk per key
   * group with dirty keys (keyed kinds), or the complete state as a version
   * 1 chunk, empty or not (operator kinds).
   */
  snapshotIncremental(out) {
    if (!this.table) {
      out.push(this.chunk(undefined, this.operatorChunk()));
      return;
    }
    const writers = new Map();
    for (const [id, slot] of this.table.dirty) {
      let writer = writers.get(slot.keyGroup);
      if (writer === undefined) writers.set(slot.keyGroup, (writer = new DeltaWriter(this.kind)));
      const live = this.table.get(id);
      if (live !== undefined && this.hasState(live)) this.writeSlot(writer, live);
      else writer.remove(slot.key);
    }
    for (const keyGroup of [...writers.keys()].sort((a, b) => a - b)) {
      const writer = writers.get(keyGroup);
      if (!writer.isEmpty()) out.push(this.chunk(keyGroup, writer.finish()));
    }
  }
}

export class ValueStore extends Store {
  constructor(name, keyed, codec, current) {
    super(name, keyed ? 'keyed-value' : 'operator-value', current);
    this.codec = codec;
    this.table = keyed ? new KeyedTable() : null;
    this.value = undefined;
  }

  hasState(slot) {
    return slot.value !== undefined;
  }

  hasOperatorState() {
    return this.value !== undefined;
  }

  writeSlot(writer, slot) {
    writer.keyedValue(slot.key, this.encodeTemp(this.codec, slot.value));
  }

  operatorChunk() {
    const writer = new ChunkWriter('operator-value');
    if (this.value !== undefined) writer.operatorValue(this.encodeTemp(this.codec, this.value));
    return writer.finish().slice();
  }

  restore(keyGroup, data) {
    if (this.table) {
      const group = this.restoredKeyGroup(keyGroup);
      this.entries(keyGroup, data, ({ key, value }) => {
        if (!this.table.restore(key, group, this.decode(this.codec, value, keyGroup))) {
          throw this.duplicate(keyGroup, key, 'twice');
        }
      });
    } else {
      this.entries(keyGroup, data, ({ value }) => {
        if (this.value !== undefined) {
          throw new Error(`state \`${this.name}\`: the restored checkpoint holds more than one operator-value entry for it`);
        }
        this.value = this.decode(this.codec, value, keyGroup);
      });
    }
  }
}

export class MapStore extends Store {
  constructor(name, keyCodec, valueCodec, current) {
    super(name, 'keyed-map', current);
    this.keyCodec = keyCodec;
    this.codec = valueCodec;
    this.table = new KeyedTable();
  }

  /** The id of a map key in the Map behind one event key's map. */
  mapKeyId(mapKey) {
    const type = typeof mapKey;
    if (type === 'number' || type === 'bigint' || type === 'boolean' || (type === 'string' && mapKey[0] !== '\u0001')) {
      return mapKey;
    }
    return '\u0001' + bytesId(this.encodeTemp(this.keyCodec, mapKey));
  }

  hasState(slot) {
    return slot.value.size > 0;
  }

  writeSlot(writer, slot) {
    for (const [mapKey, value] of slot.value.values()) {
      const keyBytes = this.encode(this.keyCodec, mapKey);
      writer.keyedMap(slot.key, keyBytes, this.encodeTemp(this.codec, value));
    }
  }

  restore(keyGroup, data) {
    const group = this.restoredKeyGroup(keyGroup);
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
      slot.value.set(kid, [k, this.decode(this.codec, value, keyGroup)]);
    });
  }
}

export class ListStore extends Store {
  constructor(name, keyed, codec, current) {
    super(name, keyed ? 'keyed-list' : 'operator-list', current);
    this.codec = codec;
    this.table = keyed ? new KeyedTable() : null;
    this.list = [];
  }

  hasState(slot) {
    return slot.value.length > 0;
  }

  hasOperatorState() {
    return this.list.length > 0;
  }

  writeSlot(writer, slot) {
    writer.keyedList(
      slot.key,
      slot.value.map((value) => this.encode(this.codec, value)),
    );
  }

  operatorChunk() {
    const writer = new ChunkWriter('operator-list');
    for (const value of this.list) writer.operatorList(this.encodeTemp(this.codec, value));
    return writer.finish().slice();
  }

  restore(keyGroup, data) {
    if (this.table) {
      const group = this.restoredKeyGroup(keyGroup);
      this.entries(keyGroup, data, ({ key, values }) => {
        const list = values.map((value) => this.decode(this.codec, value, keyGroup));
        if (!this.table.restore(key, group, list)) throw this.duplicate(keyGroup, key, 'twice');
      });
    } else {
      // Several operator-list chunks (after a rescale) are concatenated.
      this.entries(keyGroup, data, ({ value }) => this.list.push(this.decode(this.codec, value, keyGroup)));
    }
  }
}

function checkValue(handle, value) {
  if (value === undefined) {
    throw new TypeError(`state \`${handle}\`: cannot store undefined (use clear() to remove a value)`);
  }
}

/**
 * One value per key (from `keyedValue`) or per subtask (from
 * `operatorValue`). An absent value reads as undefined.
 */
export class ValueState {
  constructor(store) {
    this.store = store;
  }

  get name() {
    return this.store.name;
  }

  /** The value, or undefined. */
  get() {
    const store = this.store;
    if (store.table === null) return store.value;
    store.current.check(store.name);
    const slot = store.table.find(store.current);
    if (slot === undefined) return undefined;
    if (isObject(slot.value)) store.table.touch(slot);
    return slot.value;
  }

  /** Sets the value. */
  set(value) {
    const store = this.store;
    if (value === undefined) checkValue(store.name, value);
    const table = store.table;
    if (table === null) {
      store.value = value;
      return;
    }
    const cur = store.current;
    if (cur.scope !== KEYED) cur.check(store.name);
    const slot = table.slots.get(cur.id);
    if (slot === undefined) {
      const created = { id: cur.id, key: cur.key.slice(), keyGroup: cur.keyGroup, value };
      table.slots.set(cur.id, created);
      if (table.dirty !== null) table.dirty.set(cur.id, created);
    } else {
      slot.value = value;
      if (table.dirty !== null) table.dirty.set(cur.id, slot);
    }
  }

  /**
   * Sets the value to `fn(current value or undefined)` and returns it; a
   * result of undefined clears the value. One lookup: the hot path of a
   * counter.
   */
  update(fn) {
    const store = this.store;
    const table = store.table;
    if (table === null) {
      const next = fn(store.value);
      store.value = next;
      return next;
    }
    const cur = store.current;
    if (cur.scope !== KEYED) cur.check(store.name);
    const slot = table.slots.get(cur.id);
    const next = fn(slot === undefined ? undefined : slot.value);
    if (next === undefined) {
      if (slot !== undefined) table.remove(cur);
    } else if (slot === undefined) {
      table.findOrCreate(cur, () => next);
    } else {
      slot.value = next;
      if (table.dirty !== null) table.dirty.set(cur.id, slot);
    }
    return next;
  }

  /** Removes the value (a cleared value is absent from the next snapshot). */
  clear() {
    const store = this.store;
    if (store.table === null) {
      store.value = undefined;
      return;
    }
    store.current.check(store.name);
    store.table.remove(store.current);
  }
}

/**
 * A map per key (from `keyedMap`). A key whose map becomes empty is dropped
 * from the state. Map keys are compared by value (strings, numbers, BigInts,
 * booleans) or, for objects, by their encoding with the key codec.
 */
export class MapState {
  constructor(store) {
    this.store = store;
  }

  get name() {
    return this.store.name;
  }

  slot() {
    const store = this.store;
    store.current.check(store.name);
    return store.table.find(store.current);
  }

  /** The value for `mapKey`, or undefined. */
  get(mapKey) {
    const slot = this.slot();
    if (slot === undefined) return undefined;
    const entry = slot.value.get(this.store.mapKeyId(mapKey));
    if (entry === undefined) return undefined;
    if (isObject(entry[1])) this.store.table.touch(slot);
    return entry[1];
  }

  /** Whether `mapKey` has a value. */
  has(mapKey) {
    const slot = this.slot();
    return slot !== undefined && slot.value.has(this.store.mapKeyId(mapKey));
  }

  /** Sets the value for `mapKey`. */
  set(mapKey, value) {
    const store = this.store;
    checkValue(store.name, value);
    if (mapKey === undefined) throw new TypeError(`state \`${store.name}\`: a map key cannot be undefined`);
    store.current.check(store.name);
    const id = store.mapKeyId(mapKey);
    store.table.findOrCreate(store.current, () => new Map()).value.set(id, [mapKey, value]);
  }

  /** Removes `mapKey`; returns whether it had a value. */
  delete(mapKey) {
    const slot = this.slot();
    if (slot === undefined) return false;
    const removed = slot.value.delete(this.store.mapKeyId(mapKey));
    if (removed) {
      this.store.table.touch(slot);
      if (slot.value.size === 0) this.store.table.remove(this.store.current);
    }
    return removed;
  }

  /** The [mapKey, value] pairs, in insertion order. */
  entries() {
    const slot = this.slot();
    if (slot === undefined) return [];
    const out = [];
    let mutable = false;
    for (const [mapKey, value] of slot.value.values()) {
      out.push([mapKey, value]);
      mutable ||= isObject(value);
    }
    if (mutable) this.store.table.touch(slot);
    return out;
  }

  /** The map keys, in insertion order. */
  keys() {
    const slot = this.slot();
    return slot === undefined ? [] : [...slot.value.values()].map(([mapKey]) => mapKey);
  }

  /** The values, in insertion order. */
  values() {
    return this.entries().map(([, value]) => value);
  }

  /** The number of entries. */
  size() {
    const slot = this.slot();
    return slot === undefined ? 0 : slot.value.size;
  }

  /** Removes every entry. */
  clear() {
    const store = this.store;
    store.current.check(store.name);
    store.table.remove(store.current);
  }
}

const EMPTY_LIST = Object.freeze([]);

/**
 * A list per key (from `keyedList`) or per subtask (from `operatorList`).
 * When a job is restored with another parallelism, a subtask may get
 * several operator-list chunks; their elements are concatenated.
 */
export class ListState {
  constructor(store) {
    this.store = store;
  }

  get name() {
    return this.store.name;
  }

  /**
   * The values, oldest first (empty if none). The array is the state itself:
   * change it through push/set/clear (in-place changes are kept too).
   */
  get() {
    const store = this.store;
    if (store.table === null) return store.list;
    store.current.check(store.name);
    const slot = store.table.find(store.current);
    if (slot === undefined) return EMPTY_LIST;
    store.table.touch(slot);
    return slot.value;
  }

  /** Appends a value. */
  push(value) {
    const store = this.store;
    checkValue(store.name, value);
    if (store.table === null) {
      store.list.push(value);
      return;
    }
    store.current.check(store.name);
    store.table.findOrCreate(store.current, () => []).value.push(value);
  }

  /** Replaces the whole list with a copy of `values`. */
  set(values) {
    const store = this.store;
    if (!Array.isArray(values)) throw new TypeError(`state \`${store.name}\`: set() takes an array, not ${describe(values)}`);
    for (const value of values) checkValue(store.name, value);
    if (store.table === null) {
      store.list = values.slice();
      return;
    }
    store.current.check(store.name);
    if (values.length === 0) store.table.remove(store.current);
    else store.table.findOrCreate(store.current, () => null).value = values.slice();
  }

  /** Removes every value. */
  clear() {
    const store = this.store;
    if (store.table === null) {
      store.list = [];
      return;
    }
    store.current.check(store.name);
    store.table.remove(store.current);
  }

  /** The number of values. */
  size() {
    const store = this.store;
    if (store.table === null) return store.list.length;
    store.current.check(store.name);
    const slot = store.table.find(store.current);
    return slot === undefined ? 0 : slot.value.length;
  }
}

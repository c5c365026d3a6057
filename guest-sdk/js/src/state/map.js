// MapState: one map per key (see ../state.js).

import { bytesId } from '../bytes.js';
import { decode } from '../codecs.js';
import { Handle, KeyedTable, Store, checkValue, isObject } from './store.js';

/**
 * The id of a map key in a JS Map: primitives as themselves, other values
 * by their encoding with `store.keyCodec`.
 */
export function mapKeyId(store, mapKey) {
  const type = typeof mapKey;
  if (type === 'number' || type === 'bigint' || type === 'boolean' || (type === 'string' && mapKey[0] !== '\u0001')) {
    return mapKey;
  }
  return '\u0001' + bytesId(store.encodeTemp(store.keyCodec, mapKey));
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
    return mapKeyId(this, mapKey);
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

/**
 * A map per key (from `keyedMap`). A key whose map becomes empty is dropped
 * from the state. Map keys are compared by value (strings, numbers, BigInts,
 * booleans) or, for objects, by their encoding with the key codec.
 */
export class MapState extends Handle {

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

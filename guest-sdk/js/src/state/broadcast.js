// BroadcastMapState: one map for the whole operator, the same in every
// subtask (see ../state.js).

import { ChunkWriter } from '../chunk.js';
import { mapKeyId } from './map.js';
import { Handle, Store, checkValue, isObject } from './store.js';

export class BroadcastMapStore extends Store {
  constructor(name, keyCodec, valueCodec, current) {
    super(name, 'broadcast-map', current);
    this.keyCodec = keyCodec;
    this.codec = valueCodec;
    /** Not keyed: snapshots take the operator-scope path of Store. */
    this.table = null;
    /** id -> [mapKey, value], in insertion order. */
    this.map = new Map();
    /** Changed since the last snapshot (in-place changes included, see touch). */
    this.dirty = false;
  }

  mapKeyId(mapKey) {
    return mapKeyId(this, mapKey);
  }

  hasOperatorState() {
    return this.map.size > 0;
  }

  operatorChunk() {
    const writer = new ChunkWriter('broadcast-map');
    for (const [mapKey, value] of this.map.values()) {
      writer.broadcastMap(this.encode(this.keyCodec, mapKey), this.encodeTemp(this.codec, value));
    }
    return writer.finish().slice();
  }

  /** Whole, and only when it changed: a price table may be large and rarely change. */
  snapshotIncremental(out) {
    if (this.dirty) out.push(this.chunk(undefined, this.operatorChunk()));
  }

  track() {
    this.dirty = false;
  }

  restore(keyGroup, data) {
    // Several chunks (as some SDK may write) together hold the map.
    this.entries(keyGroup, data, ({ mapKey, value }) => {
      const k = this.decode(this.keyCodec, mapKey, keyGroup);
      const id = this.mapKeyId(k);
      if (this.map.has(id)) {
        throw new Error(`state \`${this.name}\`: the restored checkpoint holds map key ${JSON.stringify(String(k))} twice`);
      }
      this.map.set(id, [k, this.decode(this.codec, value, keyGroup)]);
    });
  }
}

/**
 * One map for the whole operator (from `broadcastMap`), not scoped by key:
 * usable while processing any event, of a broadcast input or not, and in
 * `finish`. Build it from broadcast inputs, which every subtask sees whole
 * and in the same order, so that every subtask holds the same map: the host
 * keeps subtask 0's copy at a checkpoint and restores it into every subtask.
 * Map keys compare as in MapState. Reading an object value marks the map
 * changed, since it may be changed in place.
 */
export class BroadcastMapState extends Handle {
  /** The value for `mapKey`, or undefined. */
  get(mapKey) {
    const store = this.store;
    const entry = store.map.get(store.mapKeyId(mapKey));
    if (entry === undefined) return undefined;
    if (isObject(entry[1])) store.dirty = true;
    return entry[1];
  }

  /** Whether `mapKey` has a value. */
  has(mapKey) {
    return this.store.map.has(this.store.mapKeyId(mapKey));
  }

  /** Sets the value for `mapKey`. */
  set(mapKey, value) {
    const store = this.store;
    checkValue(store.name, value);
    if (mapKey === undefined) throw new TypeError(`state \`${store.name}\`: a map key cannot be undefined`);
    store.map.set(store.mapKeyId(mapKey), [mapKey, value]);
    store.dirty = true;
  }

  /** Removes `mapKey`; returns whether it had a value. */
  delete(mapKey) {
    const store = this.store;
    const removed = store.map.delete(store.mapKeyId(mapKey));
    if (removed) store.dirty = true;
    return removed;
  }

  /** The [mapKey, value] pairs, in insertion order (a copy). */
  entries() {
    const store = this.store;
    const out = [];
    for (const [mapKey, value] of store.map.values()) {
      out.push([mapKey, value]);
      if (isObject(value)) store.dirty = true;
    }
    return out;
  }

  /** The map keys, in insertion order. */
  keys() {
    return [...this.store.map.values()].map(([mapKey]) => mapKey);
  }

  /** The values, in insertion order. */
  values() {
    return this.entries().map(([, value]) => value);
  }

  /** The number of entries. */
  size() {
    return this.store.map.size;
  }

  /** Removes every entry. */
  clear() {
    const store = this.store;
    if (store.map.size > 0) {
      store.map = new Map();
      store.dirty = true;
    }
  }
}

// ValueState: one value per key, or per subtask (see ../state.js).

import { ChunkWriter } from '../chunk.js';
import { decode } from '../codecs.js';
import { Handle, KEYED, KeyedTable, Store, checkValue, isObject } from './store.js';

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

/**
 * One value per key (from `keyedValue`) or per subtask (from
 * `operatorValue`). An absent value reads as undefined.
 */
export class ValueState extends Handle {

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

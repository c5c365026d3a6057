// ListState: one list per key, or per subtask (see ../state.js).

import { describe } from '../bytes.js';
import { ChunkWriter } from '../chunk.js';
import { decode } from '../codecs.js';
import { Handle, KeyedTable, Store, checkValue } from './store.js';

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

const EMPTY_LIST = Object.freeze([]);

/**
 * A list per key (from `keyedList`) or per subtask (from `operatorList`).
 * When a job is restored with another parallelism, a subtask may get
 * several operator-list chunks; their elements are concatenated.
 */
export class ListState extends Handle {

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

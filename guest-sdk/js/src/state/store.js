// What every handle stands on: the current event, the per-key table and
// the store of one handle (see ../state.js).

import { bytesId } from '../bytes.js';
import { ChunkWriter, DeltaWriter, forEachEntry } from '../chunk.js';
import { Writer, decode } from '../codecs.js';

export const NO_EVENT = 0;
export const UNKEYED = 1;
export const KEYED = 2;

/**
 * The event being processed: its key (for keyed state), timestamp and
 * input; and time: the watermark, the clock of the last `advance`, whether
 * `advance` is running.
 */
export class Current {
  constructor() {
    this.scope = NO_EVENT;
    this.key = null;
    this.id = '';
    this.keyGroup = 0;
    this.timestamp = null;
    /** The input of the batch being processed ({ index, name, broadcast }), or null. */
    this.input = null;
    /** The watermark: -Infinity before the first `advance`; never lowered. */
    this.watermark = -Infinity;
    /** The host's clock at the last `advance`, or null before the first. */
    this.now = null;
    /** Whether `advance` (timers, window callbacks) is running. */
    this.advancing = false;
  }

  /**
   * The event time of a state write (for TTL): the event's timestamp, else
   * (and inside `advance`) the watermark; null when neither is known.
   */
  writeTime() {
    if (!this.advancing && this.timestamp !== null) return this.timestamp;
    return this.watermark === -Infinity ? null : this.watermark;
  }

  /** The operator's time: the newest of the current event's timestamp and the watermark. */
  operatorTime() {
    if (!this.advancing && this.timestamp !== null && this.timestamp > this.watermark) return this.timestamp;
    return this.watermark;
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
    this.input = null;
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
    if (this.input !== null && this.input.broadcast) {
      throw new Error(
        `keyed state \`${handle}\` was used while processing an event of the broadcast input ` +
          `\`${this.input.name}\` (input ${this.input.index}): broadcast events reach every subtask and have no ` +
          'key group, so only operator and broadcast state are available for them',
      );
    }
    throw new Error(
      `keyed state \`${handle}\` was used for an event without a key group: the operator's input is not ` +
        'keyed (set `key_by = true` on it in the job file)',
    );
  }
}

export function isObject(value) {
  return value !== null && typeof value === 'object';
}

export function describeChunk(handle, keyGroup) {
  return keyGroup === undefined || keyGroup === null
    ? `state \`${handle}\``
    : `state \`${handle}\` (key group ${keyGroup})`;
}

/** Event key -> slot { id, key, keyGroup, value }, with the dirty keys. */
export class KeyedTable {
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
export class Store {
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

export function checkValue(handle, value) {
  if (value === undefined) {
    throw new TypeError(`state \`${handle}\`: cannot store undefined (use clear() to remove a value)`);
  }
}

/** What every handle is: its store, and the name it was declared with. */
export class Handle {
  constructor(store) {
    this.store = store;
  }

  get name() {
    return this.store.name;
  }
}

// The state chunk layouts of wit/STATE.md.
//
//   version 1 (full)   data = 1 entry*
//   version 2 (delta)  data = 2 removed:u32 key:bytes{removed} entry*
//   bytes              = len:u32 len bytes
//   keyed-value    entry = key:bytes value:bytes
//   keyed-map      entry = key:bytes map_key:bytes value:bytes
//   keyed-list     entry = key:bytes count:u32 value:bytes{count}
//   operator-value entry = value:bytes              (exactly one entry)
//   operator-list  entry = value:bytes
//   broadcast-map  entry = map_key:bytes value:bytes   (no key group)
//
// Guests only ever read version 1: the host merges a chain of deltas before
// `init`. `mergeChain` does the same here, for tests.

import { Buffer, Cursor, DecodeError, bytesId } from './bytes.js';

export const FULL_VERSION = 1;
export const DELTA_VERSION = 2;

/** The state kinds, as the WIT enum `state-kind` spells them. */
export const KINDS = Object.freeze([
  'keyed-value',
  'keyed-map',
  'keyed-list',
  'operator-value',
  'operator-list',
  'broadcast-map',
]);

export function isKeyed(kind) {
  return kind === 'keyed-value' || kind === 'keyed-map' || kind === 'keyed-list';
}

function checkKind(kind) {
  if (!KINDS.includes(kind)) throw new TypeError(`unknown state kind ${JSON.stringify(kind)}`);
  return kind;
}

function writeEntry(out, kind, entry) {
  switch (kind) {
    case 'keyed-value':
      out.lenBytes(entry.key);
      out.lenBytes(entry.value);
      break;
    case 'keyed-map':
      out.lenBytes(entry.key);
      out.lenBytes(entry.mapKey);
      out.lenBytes(entry.value);
      break;
    case 'keyed-list':
      out.lenBytes(entry.key);
      out.u32(entry.values.length);
      for (const value of entry.values) out.lenBytes(value);
      break;
    case 'broadcast-map':
      out.lenBytes(entry.mapKey);
      out.lenBytes(entry.value);
      break;
    default:
      out.lenBytes(entry.value);
  }
}

/** Writes one version 1 chunk of `kind`. */
export class ChunkWriter {
  constructor(kind) {
    this.kind = checkKind(kind);
    this.out = new Buffer(64);
    this.out.u8(FULL_VERSION);
    this.entries = 0;
  }

  keyedValue(key, value) {
    this.entry('keyed-value');
    this.out.lenBytes(key);
    this.out.lenBytes(value);
  }

  keyedMap(key, mapKey, value) {
    this.entry('keyed-map');
    this.out.lenBytes(key);
    this.out.lenBytes(mapKey);
    this.out.lenBytes(value);
  }

  /** All the values of `key`'s list. */
  keyedList(key, values) {
    this.entry('keyed-list');
    this.out.lenBytes(key);
    this.out.u32(values.length);
    for (const value of values) this.out.lenBytes(value);
  }

  operatorValue(value) {
    this.entry('operator-value');
    this.out.lenBytes(value);
  }

  operatorList(value) {
    this.entry('operator-list');
    this.out.lenBytes(value);
  }

  broadcastMap(mapKey, value) {
    this.entry('broadcast-map');
    this.out.lenBytes(mapKey);
    this.out.lenBytes(value);
  }

  entry(kind) {
    if (kind !== this.kind) throw new Error(`a ${kind} entry in a ${this.kind} chunk`);
    this.entries++;
  }

  finish() {
    return this.out.bytes();
  }
}

/**
 * Writes one version 2 (delta) chunk of a keyed kind: the keys that lost all
 * their state, and the complete new state of every key that changed.
 */
export class DeltaWriter extends ChunkWriter {
  constructor(kind) {
    if (!isKeyed(kind)) throw new Error(`a delta chunk is for a keyed kind, not ${kind}`);
    super(kind);
    this.out.len = 0;
    this.removedKeys = new Buffer(16);
    this.removed = 0;
  }

  /** Records that `key` lost all its state. */
  remove(key) {
    this.removedKeys.lenBytes(key);
    this.removed++;
  }

  isEmpty() {
    return this.entries === 0 && this.removed === 0;
  }

  finish() {
    const removed = this.removedKeys.bytes();
    const entries = this.out.bytes();
    const data = new Uint8Array(5 + removed.length + entries.length);
    data[0] = DELTA_VERSION;
    new DataView(data.buffer).setUint32(1, this.removed, true);
    data.set(removed, 5);
    data.set(entries, 5 + removed.length);
    return data;
  }
}

function readEntry(c, kind) {
  switch (kind) {
    case 'keyed-value':
      return { key: c.lenBytes('state key'), value: c.lenBytes('state value') };
    case 'keyed-map':
      return { key: c.lenBytes('state key'), mapKey: c.lenBytes('state map key'), value: c.lenBytes('state value') };
    case 'keyed-list': {
      const key = c.lenBytes('state key');
      const count = c.u32('state list length');
      // Each value takes at least its 4-byte length.
      if (count > c.remaining() / 4) throw new DecodeError('truncated while reading state list value');
      const values = new Array(count);
      for (let i = 0; i < count; i++) values[i] = c.lenBytes('state list value');
      return { key, values };
    }
    case 'broadcast-map':
      return { mapKey: c.lenBytes('state map key'), value: c.lenBytes('state value') };
    default:
      return { value: c.lenBytes('state value') };
  }
}

/**
 * Calls `each(entry)` for every entry of a version 1 chunk; throws a
 * DecodeError for another version or damaged bytes. Entries are
 * { key, value } (keyed-value), { key, mapKey, value } (keyed-map),
 * { key, values } (keyed-list), { value } (operator kinds) or
 * { mapKey, value } (broadcast-map), all bytes viewing `data`.
 */
export function forEachEntry(kind, data, each) {
  checkKind(kind);
  const c = new Cursor(data);
  const version = c.u8('state chunk version');
  if (version !== FULL_VERSION) throw new DecodeError(`unknown format version ${version}`);
  while (c.remaining() > 0) each(readEntry(c, kind));
}

/** The entries of a version 1 chunk, as an array. */
export function readChunk(kind, data) {
  const entries = [];
  forEachEntry(kind, data, (entry) => entries.push(entry));
  return entries;
}

/** A version 2 chunk: { removed: key[], entries }. */
export function readDelta(kind, data) {
  if (!isKeyed(checkKind(kind))) throw new DecodeError('a delta (version 2) chunk for an operator kind (only keyed kinds have deltas)');
  const c = new Cursor(data);
  const version = c.u8('state chunk version');
  if (version !== DELTA_VERSION) throw new DecodeError(`unknown format version ${version}`);
  const count = c.u32('removed key count');
  if (count > c.remaining() / 4) throw new DecodeError('truncated while reading removed key');
  const removed = new Array(count);
  for (let i = 0; i < count; i++) removed[i] = c.lenBytes('removed key');
  const entries = [];
  while (c.remaining() > 0) entries.push(readEntry(c, kind));
  return { removed, entries };
}

/** The version byte of a chunk. */
export function chunkVersion(data) {
  if (data.length === 0) throw new DecodeError('truncated while reading state chunk version');
  return data[0];
}

/**
 * Applies a chain of chunks of one (handle, key group), oldest first (a
 * version 1 chunk, then deltas), and returns one version 1 chunk: what the
 * host hands `init` on restore (`weir_wire::state::merge`).
 */
export function mergeChain(kind, chain) {
  // key id -> entries of that key (several for keyed-map), in order.
  let state = new Map();
  const keyOf = (entry) => (isKeyed(kind) ? bytesId(entry.key) : '');
  for (const data of chain) {
    const version = chunkVersion(data);
    if (version === FULL_VERSION) {
      state = new Map();
      let n = 0;
      forEachEntry(kind, data, (entry) => {
        const id = isKeyed(kind) ? keyOf(entry) : String(n++);
        if (!state.has(id)) state.set(id, []);
        state.get(id).push(entry);
      });
    } else if (version === DELTA_VERSION) {
      const delta = readDelta(kind, data);
      for (const key of delta.removed) state.delete(bytesId(key));
      const given = new Map();
      for (const entry of delta.entries) {
        const id = keyOf(entry);
        if (!given.has(id)) given.set(id, []);
        given.get(id).push(entry);
      }
      for (const [id, entries] of given) state.set(id, entries);
    } else {
      throw new DecodeError(`unknown format version ${version}`);
    }
  }
  const out = new Buffer(64);
  out.u8(FULL_VERSION);
  for (const entries of state.values()) for (const entry of entries) writeEntry(out, kind, entry);
  return out.bytes().slice();
}

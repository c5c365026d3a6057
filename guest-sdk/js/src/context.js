// Context, handed to `process` and `finish`: emits output (to the main
// output or a side output) and knows the instance. OpenContext, handed to the operator's constructor (`open`):
// declares state handles and restores them from the checkpoint's chunks.

import { BatchWriter, MAIN_OUTPUT } from './batch.js';
import { toBytes } from './bytes.js';
import { DEFAULT_CODEC, checkCodec } from './codecs.js';
import { log } from './log.js';
import {
  BroadcastMapState,
  BroadcastMapStore,
  ListState,
  ListStore,
  MapState,
  MapStore,
  ValueState,
  ValueStore,
} from './state.js';

/** What an operator sees while it processes events or finishes. */
export class Context {
  constructor(info, current) {
    /** Who this instance is and its configuration (an OperatorInfo). */
    this.info = info;
    this.current = current;
    this.output = new BatchWriter(1024);
    this.sideOutputTags = new Map(info.sideOutputs.map((name, i) => [name, i]));
  }

  /**
   * Emits an event with the timestamp of the input event being processed
   * (none in `finish`). Keys and values are strings (written as UTF-8) or
   * Uint8Arrays.
   */
  emit(key, value) {
    this.output.push(MAIN_OUTPUT, this.current.timestamp, toBytes(key, 'an emitted key'), toBytes(value, 'an emitted value'));
  }

  /** Emits an event with a timestamp (milliseconds since the Unix epoch, or null for none). */
  emitWithTimestamp(key, value, timestamp) {
    this.output.push(MAIN_OUTPUT, timestamp, toBytes(key, 'an emitted key'), toBytes(value, 'an emitted value'));
  }

  /**
   * Emits an event to the side output `sideOutput`, one of
   * `info.sideOutputs` (the job file's `side_outputs`), with the timestamp
   * of the input event being processed (none in `finish`). Events keep their
   * order within each output. A name the job file does not declare throws,
   * which fails the job.
   */
  emitTo(sideOutput, key, value) {
    this.pushTo(sideOutput, this.current.timestamp, key, value);
  }

  /** `emitTo` with a timestamp (milliseconds since the Unix epoch, or null for none). */
  emitToWithTimestamp(sideOutput, key, value, timestamp) {
    this.pushTo(sideOutput, timestamp, key, value);
  }

  pushTo(sideOutput, timestamp, key, value) {
    const tag = this.sideOutputTags.get(sideOutput);
    if (tag === undefined) {
      const declared = this.info.sideOutputs;
      const listed = declared.length === 0 ? 'none' : declared.map((name) => `\`${name}\``).join(', ');
      throw new Error(
        `operator '${this.info.name}' emitted to side output \`${sideOutput}\`, which is not declared: its side ` +
          `outputs are ${listed} (declare them with \`side_outputs\` in the job file)`,
      );
    }
    this.output.tagOutputs();
    this.output.push(tag, timestamp, toBytes(key, 'an emitted key'), toBytes(value, 'an emitted value'));
  }
}

/**
 * What the operator's constructor gets: the instance's info and the means to
 * declare state handles. Declaring a handle loads its restored state, if any.
 * Handles can only be declared while the operator is being created. Keyed
 * handles need a keyed input: declaring one when `info.keyGroups` is null
 * (`key_by = false`) throws.
 */
export class OpenContext {
  constructor(info, current, restored) {
    /** Who this instance is and its configuration (an OperatorInfo). */
    this.info = info;
    this.current = current;
    this.stores = [];
    /** Restored chunks not yet claimed by a declaration. */
    this.restored = restored;
    this.open = true;
  }

  /** Declares a value per key. The codec defaults to `codecs.json`. */
  keyedValue(name, codec = DEFAULT_CODEC) {
    return new ValueState(this.declare(new ValueStore(name, true, checkCodec(codec, 'the codec'), this.current)));
  }

  /** Declares a map per key. Both codecs default to `codecs.json`. */
  keyedMap(name, keyCodec = DEFAULT_CODEC, valueCodec = DEFAULT_CODEC) {
    const store = new MapStore(name, checkCodec(keyCodec, 'the key codec'), checkCodec(valueCodec, 'the value codec'), this.current);
    return new MapState(this.declare(store));
  }

  /** Declares a list per key. The codec defaults to `codecs.json`. */
  keyedList(name, codec = DEFAULT_CODEC) {
    return new ListState(this.declare(new ListStore(name, true, checkCodec(codec, 'the codec'), this.current)));
  }

  /** Declares one value for this subtask. The codec defaults to `codecs.json`. */
  operatorValue(name, codec = DEFAULT_CODEC) {
    return new ValueState(this.declare(new ValueStore(name, false, checkCodec(codec, 'the codec'), this.current)));
  }

  /** Declares one list for this subtask. The codec defaults to `codecs.json`. */
  operatorList(name, codec = DEFAULT_CODEC) {
    return new ListState(this.declare(new ListStore(name, false, checkCodec(codec, 'the codec'), this.current)));
  }

  /**
   * Declares one map for the whole operator, the same in every subtask
   * (build it from broadcast inputs). Usable anywhere, with or without a
   * current key. Both codecs default to `codecs.json`.
   */
  broadcastMap(name, keyCodec = DEFAULT_CODEC, valueCodec = DEFAULT_CODEC) {
    const store = new BroadcastMapStore(
      name,
      checkCodec(keyCodec, 'the key codec'),
      checkCodec(valueCodec, 'the value codec'),
      this.current,
    );
    return new BroadcastMapState(this.declare(store));
  }

  /** Adds a store, loading the restored chunks that carry its name. */
  declare(store) {
    const name = store.name;
    if (!this.open) {
      throw new Error(`state handle \`${name}\` is declared after the operator was created: declare every handle in its constructor`);
    }
    if (typeof name !== 'string' || name === '') throw new Error('a state handle name must be a non-empty string');
    // Keyed state is scoped by the event's key group, which the host sets
    // only on a keyed input: refuse it here, where the job file is at fault,
    // rather than at the first event.
    if (store.kind.startsWith('keyed-') && this.info.keyGroups === null) {
      throw new Error(
        `operator '${this.info.name}': state \`${name}\` is keyed (${store.kind}), but the operator's input is not ` +
          'keyed: set key_by = true for this operator in the job file (or declare operator state instead)',
      );
    }
    if (this.stores.some((declared) => declared.name === name)) throw new Error(`state handle \`${name}\` is declared twice`);
    const mine = this.restored.filter((chunk) => chunk.handle === name);
    this.restored = this.restored.filter((chunk) => chunk.handle !== name);
    for (const chunk of mine) {
      if (chunk.kind !== store.kind) {
        throw new Error(
          `state handle \`${name}\` is declared as ${store.kind} but the restored checkpoint holds it as ${chunk.kind}`,
        );
      }
      store.restore(chunk.keyGroup, chunk.data);
    }
    this.stores.push(store);
    return store;
  }

  /**
   * Ends the declarations: returns the stores and the restored chunks nobody
   * declared, which are kept for every later full snapshot.
   */
  close() {
    this.open = false;
    const reported = new Set();
    for (const chunk of this.restored) {
      const id = `${chunk.kind} ${chunk.handle}`;
      if (reported.has(id)) continue;
      reported.add(id);
      log.warn(
        `restored ${chunk.kind} state \`${chunk.handle}\` is not declared by the operator; it is kept unchanged in every snapshot`,
      );
    }
    return { stores: this.stores, unclaimed: this.restored };
  }
}

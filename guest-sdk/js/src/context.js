// Context, handed to `process`, `onTimer` and `finish`: emits output (to
// the main output or a side output), knows the instance, the watermark and
// the clock, registers timers. OpenContext, handed to the operator's
// constructor (`open`): declares state handles (and window sets) and
// restores them from the checkpoint's chunks.

import { BatchWriter, MAIN_OUTPUT } from './batch.js';
import { toBytes } from './bytes.js';
import { DEFAULT_CODEC, checkCodec, codecs } from './codecs.js';
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
import { TtlListState, TtlListStore, TtlMapState, TtlMapStore, TtlValueState, TtlValueStore } from './state/ttl.js';
import { TimeDomain, TimerStore } from './time.js';
import { Windows, positive, windowValueCodec } from './window.js';

/** What an operator sees while it processes events, fires timers or finishes. */
export class Context {
  constructor(info, current, timers) {
    /** Who this instance is and its configuration (an OperatorInfo). */
    this.info = info;
    this.current = current;
    this.timerStore = timers;
    this.output = new BatchWriter(1024);
    this.sideOutputTags = new Map(info.sideOutputs.map((name, i) => [name, i]));
  }

  /**
   * The timestamp of the event being processed (ms, or null); in `onTimer`
   * the timer's for an event-time timer (`window.maxTimestamp` in a window
   * callback); null elsewhere.
   */
  get timestamp() {
    return this.current.timestamp;
  }

  /**
   * The operator's event-time watermark: no event still to come has a
   * timestamp at or below it. -Infinity until the host first calls
   * `advance` (i64::MIN), Infinity at the end of bounded input (i64::MAX);
   * it never goes back.
   */
  get watermark() {
    return this.current.watermark;
  }

  /** The host's clock (ms since the epoch) as of the last `advance`; the wall clock before the first one. */
  get processingTime() {
    return this.current.now ?? Date.now();
  }

  /** Calls `onTimer` for the current key once the watermark reaches `timestamp`; registering one that exists does nothing. */
  registerEventTimer(timestamp) {
    this.timerStore.register(TimeDomain.EVENT, timestamp);
  }

  /** Deletes the current key's event-time timer at `timestamp`; returns whether there was one. */
  deleteEventTimer(timestamp) {
    return this.timerStore.delete(TimeDomain.EVENT, timestamp);
  }

  /** Calls `onTimer` for the current key once the host's clock reaches `timestamp` (ms since the epoch). */
  registerProcessingTimer(timestamp) {
    this.timerStore.register(TimeDomain.PROCESSING, timestamp);
  }

  /** Deletes the current key's processing-time timer at `timestamp`; returns whether there was one. */
  deleteProcessingTimer(timestamp) {
    return this.timerStore.delete(TimeDomain.PROCESSING, timestamp);
  }

  /** The current key's timers as [domain, timestamp] pairs, sorted. */
  timers() {
    return this.timerStore.timers();
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
    // The timers are keyed state of the SDK's own: claim their chunks
    // (whatever the operator declares) and snapshot them first.
    this.timers = this.declare(new TimerStore(current), true);
  }

  /**
   * Declares a value per key. The codec defaults to `codecs.json`. With
   * `{ ttlMs }`, a value expires that many milliseconds of event time after
   * it was set (wit/STATE.md, "State TTL").
   */
  keyedValue(name, codec = DEFAULT_CODEC, options = {}) {
    codec = checkCodec(codec, 'the codec');
    if (options.ttlMs !== undefined) return new TtlValueState(this.declare(new TtlValueStore(name, codec, this.current, options.ttlMs)));
    return new ValueState(this.declare(new ValueStore(name, true, codec, this.current)));
  }

  /**
   * Declares a map per key. Both codecs default to `codecs.json`. With
   * `{ ttlMs }`, each map value expires that many milliseconds of event time
   * after it was set.
   */
  keyedMap(name, keyCodec = DEFAULT_CODEC, valueCodec = DEFAULT_CODEC, options = {}) {
    keyCodec = checkCodec(keyCodec, 'the key codec');
    valueCodec = checkCodec(valueCodec, 'the value codec');
    if (options.ttlMs !== undefined) {
      return new TtlMapState(this.declare(new TtlMapStore(name, keyCodec, valueCodec, this.current, options.ttlMs)));
    }
    return new MapState(this.declare(new MapStore(name, keyCodec, valueCodec, this.current)));
  }

  /**
   * Declares a list per key. The codec defaults to `codecs.json`. With
   * `{ ttlMs }`, each element expires that many milliseconds of event time
   * after it was added.
   */
  keyedList(name, codec = DEFAULT_CODEC, options = {}) {
    codec = checkCodec(codec, 'the codec');
    if (options.ttlMs !== undefined) return new TtlListState(this.declare(new TtlListStore(name, codec, this.current, options.ttlMs)));
    return new ListState(this.declare(new ListStore(name, true, codec, this.current)));
  }

  /**
   * Declares tumbling event-time windows of `sizeMs` computing `aggregate`
   * (from `aggregates`), kept in the keyed map `name`; options:
   * `{ allowedLatenessMs }` (default 0). See window.js.
   */
  tumblingWindows(name, sizeMs, aggregate, options = {}) {
    const size = positive(sizeMs, `window state \`${name}\`: sizeMs`);
    return this.windows(name, 'tumbling', aggregate, { ...options, size });
  }

  /** Declares sliding event-time windows of `sizeMs` starting every `slideMs` (at most `sizeMs`). */
  slidingWindows(name, sizeMs, slideMs, aggregate, options = {}) {
    const size = positive(sizeMs, `window state \`${name}\`: sizeMs`);
    const slide = positive(slideMs, `window state \`${name}\`: slideMs`);
    if (slide > size) throw new Error(`window state \`${name}\`: slideMs (${slide}) must not exceed sizeMs (${size})`);
    return this.windows(name, 'sliding', aggregate, { ...options, size, slide });
  }

  /** Declares session windows: per key, events less than `gapMs` apart. */
  sessionWindows(name, gapMs, aggregate, options = {}) {
    const gap = positive(gapMs, `window state \`${name}\`: gapMs`);
    if (aggregate && !aggregate.merge) {
      throw new Error(`window state \`${name}\`: session windows need an aggregate that merges (aggregates.fold({ ..., merge }))`);
    }
    return this.windows(name, 'session', aggregate, { ...options, gap });
  }

  windows(name, kind, aggregate, options) {
    if (aggregate === null || typeof aggregate !== 'object' || typeof aggregate.create !== 'function') {
      throw new TypeError(`window state \`${name}\`: the aggregate comes from \`aggregates\` (count, sum, min, max, fold)`);
    }
    const { size = 0, slide = 0, gap = 0, allowedLatenessMs = 0 } = options;
    // Checked before the map is declared, so a bad argument leaves no handle.
    const windows = new Windows(kind, { name }, aggregate, { size, slide, gap, allowedLatenessMs }, this.current, this.timers);
    windows.state = this.keyedMap(name, codecs.i64, windowValueCodec(kind, aggregate));
    return windows;
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
  declare(store, reserved = false) {
    const name = store.name;
    if (!this.open) {
      throw new Error(`state handle \`${name}\` is declared after the operator was created: declare every handle in its constructor`);
    }
    if (typeof name !== 'string' || name === '') throw new Error('a state handle name must be a non-empty string');
    if (name.startsWith('weir.') && !reserved) {
      throw new Error(`state handle name \`${name}\` is reserved: names starting with \`weir.\` are the SDK's`);
    }
    // Keyed state is scoped by the event's key group, which the host sets
    // only on a keyed input: refuse it here, where the job file is at fault,
    // rather than at the first event.
    if (store.kind.startsWith('keyed-') && this.info.keyGroups === null && !reserved) {
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

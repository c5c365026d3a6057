// Type declarations of @weir/operator, the JavaScript SDK for Weir operators.

/** Keys and values an operator emits: text (written as UTF-8) or bytes. */
export type Data = string | Uint8Array | ArrayBufferView | ArrayBuffer;

/** The WIT `log-level` cases. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** The WIT `state-kind` cases. */
export type StateKind = 'keyed-value' | 'keyed-map' | 'keyed-list' | 'operator-value' | 'operator-list' | 'broadcast-map';

/** The WIT `snapshot-mode` cases. */
export type SnapshotMode = 'full' | 'incremental';

// ---------------------------------------------------------------------------
// Operators

/** One input event. `key` and `value` are views into the input batch. */
export class Event {
  /** The key, as bytes. */
  readonly key: Uint8Array;
  /** The value, as bytes. */
  readonly value: Uint8Array;
  /** Milliseconds since the Unix epoch, or null when the event has none. */
  readonly timestamp: number | null;
  /** The key group the host hashed the key into; null when the input is not keyed, and for a broadcast input. */
  readonly keyGroup: number | null;
  /** The index of the input the event came from, in `ctx.info.inputs`. */
  readonly input: number;
  /** The name of that input: the node that feeds it (`op`, or `op.NAME` for a side output). */
  readonly inputName: string;
  /** Whether that input is broadcast (delivered whole to every subtask). */
  readonly isBroadcast: boolean;
  /** The key as UTF-8 text; throws if it is not UTF-8. */
  keyStr(): string;
  /** The value as UTF-8 text; throws if it is not UTF-8. */
  valueStr(): string;
}

/** Who this instance is, as the host described it to `init`. */
export class OperatorInfo {
  /**
   * Subtask 0 of 1, owning key groups 0..128, with no configuration, unless
   * the options say otherwise (useful with the testing Harness).
   */
  constructor(
    name: string,
    options?: {
      subtaskIndex?: number;
      parallelism?: number;
      maxParallelism?: number;
      keyGroups?: KeyGroupRange | null;
      config?: Record<string, string> | Iterable<readonly [string, string]>;
      /** Default: one input named 'input'. A string is an input that is not broadcast. */
      inputs?: readonly (string | InputInfo)[];
      /** Default: none. */
      sideOutputs?: readonly string[];
    },
  );
  /** The operator's name in the job file. */
  readonly name: string;
  /** This subtask's index, from 0 to parallelism - 1. */
  readonly subtaskIndex: number;
  /** The number of parallel subtasks of this operator. */
  readonly parallelism: number;
  /** The number of key groups keys are hashed into. */
  readonly maxParallelism: number;
  /** The key groups this subtask owns; null when the input is not keyed. */
  readonly keyGroups: KeyGroupRange | null;
  /** The operator's inputs, in job-file order: `event.input` is an index into this list. */
  readonly inputs: readonly InputInfo[];
  /** The side outputs the job file declares (`side_outputs`): the names `ctx.emitTo` takes. */
  readonly sideOutputs: readonly string[];
  /** The same info with these options replacing its own. */
  with(options: ConstructorParameters<typeof OperatorInfo>[1]): OperatorInfo;
  /** One entry of the operator's `[operators.config]` table. */
  config(key: string): string | undefined;
  /**
   * One config entry as a number: `fallback` (undefined by default) when
   * absent; throws naming the key when the text is not a number.
   */
  configNumber(key: string): number | undefined;
  configNumber(key: string, fallback: number): number;
  /** Every config entry, sorted by key. */
  configEntries(): [string, string][];
}

/** One input of an operator, as the WIT record `input-info`. */
export interface InputInfo {
  /** The node whose output feeds it (`op`, or `op.NAME` for a side output). */
  readonly name: string;
  /** Delivered whole to every subtask, not partitioned by key: its events have no key group. */
  readonly broadcast: boolean;
}

/** The name of the one input an OperatorInfo has when none are given. */
export const DEFAULT_INPUT: 'input';

/** Key groups `start` (inclusive) to `end` (exclusive). */
export interface KeyGroupRange {
  start: number;
  end: number;
}

/** The number of key groups when a job file does not set `max_parallelism`. */
export const DEFAULT_MAX_PARALLELISM: 128;

/**
 * What the operator's constructor (or factory) gets: the instance's info and
 * the means to declare state handles. Declaring a handle loads its restored
 * state, if any. Handles can only be declared while the operator is created.
 *
 * Every codec defaults to `codecs.json` (any JSON value, stored as a
 * postcard string of its JSON text). State shared with operators in other
 * languages needs the codec of the type they use, e.g. `codecs.u64` for a
 * Rust `ValueState<u64>`.
 */
export class OpenContext {
  readonly info: OperatorInfo;
  /**
   * Declares a value per event key; with `{ ttlMs }` a value expires that
   * many milliseconds of event time after it was set (wit/STATE.md, "State TTL").
   */
  keyedValue<T = any>(name: string, codec?: Codec<T>, options?: StateOptions): ValueState<T>;
  /** Declares a map per event key; with `{ ttlMs }` each map value expires. */
  keyedMap<K = any, V = any>(name: string, keyCodec?: Codec<K>, valueCodec?: Codec<V>, options?: StateOptions): MapState<K, V>;
  /** Declares a list per event key; with `{ ttlMs }` each element expires. */
  keyedList<T = any>(name: string, codec?: Codec<T>, options?: StateOptions): ListState<T>;
  /** Declares tumbling event-time windows of `sizeMs`, kept in the keyed map `name`. */
  tumblingWindows<A>(name: string, sizeMs: number, aggregate: Aggregate<A>, options?: WindowOptions): Windows<A>;
  /** Declares sliding event-time windows of `sizeMs` starting every `slideMs` (at most `sizeMs`). */
  slidingWindows<A>(name: string, sizeMs: number, slideMs: number, aggregate: Aggregate<A>, options?: WindowOptions): Windows<A>;
  /** Declares session windows: per key, a session closes `gapMs` after its last event. The aggregate must merge. */
  sessionWindows<A>(name: string, gapMs: number, aggregate: Aggregate<A>, options?: WindowOptions): Windows<A>;
  /** Declares one value for this subtask. */
  operatorValue<T = any>(name: string, codec?: Codec<T>): ValueState<T>;
  /** Declares one list for this subtask. */
  operatorList<T = any>(name: string, codec?: Codec<T>): ListState<T>;
  /**
   * Declares one map for the whole operator, the same in every subtask
   * (build it from broadcast inputs); usable anywhere, with or without a
   * current key.
   */
  broadcastMap<K = any, V = any>(name: string, keyCodec?: Codec<K>, valueCodec?: Codec<V>): BroadcastMapState<K, V>;
}

/** Options of keyed handles. */
export interface StateOptions {
  /** A time to live in milliseconds of event time (wit/STATE.md, "State TTL"). */
  ttlMs?: number;
}

/** What an operator sees while it processes events, fires timers or finishes. */
export class Context {
  readonly info: OperatorInfo;
  /**
   * The timestamp of the event being processed; in `onTimer` the timer's (event time),
   * `window.maxTimestamp` in a window callback; null elsewhere.
   */
  readonly timestamp: number | null;
  /** The event-time watermark: -Infinity before the first `advance`, Infinity at the end of input; never goes back. */
  readonly watermark: number;
  /** The host's clock (ms since the epoch) as of the last `advance`; the wall clock before the first. */
  readonly processingTime: number;
  /** Calls `onTimer` for the current key once the watermark reaches `timestamp`. */
  registerEventTimer(timestamp: number): void;
  /** Deletes the current key's event-time timer; returns whether there was one. */
  deleteEventTimer(timestamp: number): boolean;
  /** Calls `onTimer` for the current key once the host's clock reaches `timestamp`. */
  registerProcessingTimer(timestamp: number): void;
  /** Deletes the current key's processing-time timer; returns whether there was one. */
  deleteProcessingTimer(timestamp: number): boolean;
  /** The current key's timers, sorted. */
  timers(): [TimeDomainName, number][];
  /** Emits an event with the timestamp of the input event (none in `finish`). */
  emit(key: Data, value: Data): void;
  /** Emits an event with a timestamp in milliseconds since the epoch (null for none). */
  emitWithTimestamp(key: Data, value: Data, timestamp: number | bigint | null): void;
  /**
   * Emits an event to a side output declared in the job file
   * (`info.sideOutputs`), with the input event's timestamp. Throws for a
   * name not declared, naming the declared ones.
   */
  emitTo(sideOutput: string, key: Data, value: Data): void;
  /** `emitTo` with a timestamp in milliseconds since the epoch (null for none). */
  emitToWithTimestamp(sideOutput: string, key: Data, value: Data, timestamp: number | bigint | null): void;
}

/**
 * A stream operator. The host creates one instance per subtask, then calls
 * `process` for every input event and `finish` once at the end of bounded
 * input. Checkpoints need no code: the SDK snapshots every declared handle.
 * Anything thrown fails the job with its message.
 */
export interface Operator {
  /** Handles one input event. Must be synchronous. */
  process(ctx: Context, event: Event): void;
  /**
   * A timer of the current key fired (the watermark, or the host's clock,
   * reached its timestamp); the key's state is in scope. Needed by
   * operators that register timers.
   */
  onTimer?(ctx: Context, timer: Timer): void;
  /** Called once when all input has been processed; may emit last events. No current key here. */
  finish?(ctx: Context): void;
}

/**
 * An operator definition: a class whose constructor takes the OpenContext
 * (and declares its handles), or a factory function returning an Operator.
 */
export type OperatorDefinition = (new (ctx: OpenContext) => Operator) | ((ctx: OpenContext) => Operator);

/** A state chunk, as the WIT record `state-chunk`. */
export interface StateChunk {
  handle: string;
  kind: StateKind;
  /** The key group of every entry; undefined for operator kinds. */
  keyGroup?: number;
  /** Entries laid out as wit/STATE.md says. */
  data: Uint8Array;
}

/** What `snapshot` returns, as the WIT record `state-snapshot`. */
export interface StateSnapshot {
  incremental: boolean;
  chunks: StateChunk[];
}

/** The WIT record `operator-context`, as componentize-js passes it. */
export interface WitOperatorContext {
  operatorName: string;
  subtaskIndex: number;
  parallelism: number;
  maxParallelism: number;
  keyGroups?: KeyGroupRange;
  config: [string, string][];
  inputs: InputInfo[];
  sideOutputs: string[];
}

/** A WIT `result<T, string>` as componentize-js expects it. */
export type WitResult<T> = { tag: 'ok'; val: T } | { tag: 'err'; val: string };

/** The implementation of the WIT interface `weir:operator/operator`. */
export interface OperatorExport {
  init(context: WitOperatorContext, restored: StateChunk[]): WitResult<undefined>;
  /** `input` is an index into `context.inputs`; `events` a version 1 batch. */
  process(input: number, events: Uint8Array): WitResult<Uint8Array>;
  snapshot(checkpointId: bigint, mode: SnapshotMode): WitResult<StateSnapshot>;
  advance(watermark: bigint, now: bigint): WitResult<Uint8Array>;
  finish(): WitResult<Uint8Array>;
}

/**
 * The WIT interface `weir:operator/operator` for an operator; export it
 * from the component's entry module as `operator`:
 * `export const operator = exportOperator(MyOperator);`
 */
export function exportOperator(definition: OperatorDefinition): OperatorExport;

/** The text of anything thrown: the message (prefixed by the error's name unless it is Error), then each cause's. */
export function errorMessage(error: unknown): string;

/** One operator instance driven through the WIT calls with plain values (what exportOperator and the Harness use). */
export class Runtime {
  /** `options.wakeAt`: where `wake-at` requests go (default: the host's import inside a component). */
  constructor(
    definition: OperatorDefinition,
    info: OperatorInfo,
    restored?: StateChunk[],
    options?: { wakeAt?: (at: number | null) => void },
  );
  readonly operator: Operator;
  readonly info: OperatorInfo;
  /**
   * Runs the operator on a packed batch from input `input` (default 0);
   * returns the packed output (version 2 if a side output was used; valid
   * until the next call).
   */
  process(batch: Uint8Array, input?: number): Uint8Array;
  snapshot(checkpointId: bigint, mode?: SnapshotMode): StateSnapshot;
  /** Moves the watermark and the clock (BigInts from WIT, or numbers); fires due timers; returns the packed output. */
  advance(watermark: bigint | number, now: bigint | number): Uint8Array;
  finish(): Uint8Array;
}

// ---------------------------------------------------------------------------
// Time, timers, windows

export type TimeDomainName = 'event' | 'processing';
export const TimeDomain: { readonly EVENT: 'event'; readonly PROCESSING: 'processing' };
/** The reserved state handle of the timers. */
export const TIMERS_HANDLE: 'weir.timers';
/** Where the SDK's `wake-at` requests go (component.js points it at the host); null for nowhere. */
export function setWakeAtSink(sink: ((at: number | null) => void) | null): void;

/** A timer that fired. */
export class Timer {
  readonly key: Uint8Array;
  readonly timestamp: number;
  readonly domain: TimeDomainName;
  readonly keyGroup: number;
  readonly isEventTime: boolean;
  keyStr(): string;
}

/** A window, `start` inclusive, `end` exclusive. */
export class Window {
  readonly start: number;
  readonly end: number;
  /** end - 1: the timestamp of what a window callback emits. */
  readonly maxTimestamp: number;
}

/** What a window set computes per window (from `aggregates`). */
export interface Aggregate<A> {
  readonly name: string;
  readonly codec: Codec<A>;
  create(event: Event): A;
  add(acc: A, event: Event): A;
  merge: ((a: A, b: A) => A) | null;
}

export const aggregates: {
  /** The number of events (u64). */
  count(): Aggregate<number>;
  /** The sum of `valueOf(event)` (default: the value as a decimal integer), i64. */
  sum(valueOf?: (event: Event) => number): Aggregate<number>;
  min(valueOf?: (event: Event) => number): Aggregate<number>;
  max(valueOf?: (event: Event) => number): Aggregate<number>;
  /** A user fold; session windows need `merge`. */
  fold<A>(spec: { initial: A; fold: (acc: A, event: Event) => A; codec: Codec<A>; merge?: (a: A, b: A) => A }): Aggregate<A>;
};

export interface WindowOptions {
  /** How long after a window's end it still takes events (default 0): it fires at end + allowedLatenessMs. */
  allowedLatenessMs?: number;
}

/** A window set: per key, the open windows and their accumulators. */
export class Windows<A> {
  readonly name: string;
  readonly kind: 'tumbling' | 'sliding' | 'session';
  /** The windows an event at `timestamp` belongs to. */
  windowsOf(timestamp: number): Window[];
  /** Whether an event at `timestamp` is late at the current watermark. */
  isLate(timestamp: number): boolean;
  /** Adds an event of the current key; false when it is late (then it is in no window). */
  add(event: Event): boolean;
  /** The current key's open windows, by start. */
  openWindows(): [Window, A][];
  /** Fires the timer's key's windows due at its timestamp; returns how many fired. */
  onTimer(timer: Timer, fire: (ctx: Context, key: Uint8Array, window: Window, result: A) => void): number;
}

/** The side output WindowedOperator sends late events to: 'late'. */
export const LATE_OUTPUT: 'late';

/**
 * An operator that is one window set: set `this.windows` in the constructor
 * (after `super()`) and implement `onWindow`. Late events go to `onLate`
 * (to the side output `late` if declared, else dropped).
 */
export abstract class WindowedOperator<A = any> implements Operator {
  windows: Windows<A>;
  process(ctx: Context, event: Event): void;
  onLate(ctx: Context, event: Event): void;
  onTimer(ctx: Context, timer: Timer): void;
  abstract onWindow(ctx: Context, key: Uint8Array, window: Window, result: A): void;
}

// ---------------------------------------------------------------------------
// State handles

/**
 * One value per event key (keyedValue) or per subtask (operatorValue).
 * Keyed handles throw when there is no current key (in `finish`, or for an
 * event of an unkeyed input).
 *
 * Reading an object value marks the key changed for the next incremental
 * snapshot, since it may be changed in place; primitives are only marked by
 * set, update and clear.
 */
export class ValueState<T> {
  readonly name: string;
  /** The value, or undefined. */
  get(): T | undefined;
  /** Sets the value (not undefined: use clear). */
  set(value: T): void;
  /** Sets the value to `fn(current)` (clears it if that is undefined) and returns it. */
  update<R extends T | undefined>(fn: (current: T | undefined) => R): R;
  /** Removes the value. */
  clear(): void;
}

/**
 * A map per event key (keyedMap). A key whose map becomes empty is dropped
 * from the state. Map keys compare by value: strings, numbers, BigInts and
 * booleans as such, other values by their encoding with the key codec.
 */
export class MapState<K, V> {
  readonly name: string;
  get(mapKey: K): V | undefined;
  has(mapKey: K): boolean;
  set(mapKey: K, value: V): void;
  /** Removes an entry; returns whether it was there. */
  delete(mapKey: K): boolean;
  /** The entries, in insertion order (a copy: deleting while walking it is fine). */
  entries(): [K, V][];
  keys(): K[];
  values(): V[];
  size(): number;
  /** Removes every entry of the current key. */
  clear(): void;
}

/**
 * One map for the whole operator (broadcastMap), the same in every subtask
 * when built from broadcast inputs: the host keeps subtask 0's copy at a
 * checkpoint and restores it into every subtask. No current key needed.
 * Written whole by incremental snapshots when it changed (reading an object
 * value counts as a change).
 */
export class BroadcastMapState<K, V> {
  readonly name: string;
  get(mapKey: K): V | undefined;
  has(mapKey: K): boolean;
  set(mapKey: K, value: V): void;
  /** Removes an entry; returns whether it was there. */
  delete(mapKey: K): boolean;
  /** The entries, in insertion order (a copy). */
  entries(): [K, V][];
  keys(): K[];
  values(): V[];
  size(): number;
  clear(): void;
}

/** A list per event key (keyedList) or per subtask (operatorList). */
export class ListState<T> {
  readonly name: string;
  /** The values, oldest first: the state itself (in-place changes are kept). */
  get(): readonly T[];
  push(value: T): void;
  /** Replaces the list with a copy of `values`. */
  set(values: readonly T[]): void;
  clear(): void;
  size(): number;
}

// ---------------------------------------------------------------------------
// Value codecs (postcard's wire format, as the Rust SDK writes it)

/** Turns values into bytes and back. */
export interface Codec<T> {
  readonly name: string;
  write(writer: Writer, value: T): void;
  read(reader: Reader): T;
}

type CodecValues<C extends readonly Codec<any>[]> = { -readonly [I in keyof C]: C[I] extends Codec<infer T> ? T : never };

/**
 * The codecs, with postcard's layouts (https://postcard.jamesmunns.com):
 * a checkpoint written by the Rust SDK restores here and the other way
 * round when both sides use the same type.
 */
export const codecs: {
  /** One byte, 0 or 1 (Rust bool). */
  readonly bool: Codec<boolean>;
  /** One byte (Rust u8). */
  readonly u8: Codec<number>;
  /** One byte, two's complement (Rust i8). */
  readonly i8: Codec<number>;
  /** Varint (Rust u16). */
  readonly u16: Codec<number>;
  /** Zig-zag varint (Rust i16). */
  readonly i16: Codec<number>;
  /** Varint (Rust u32). */
  readonly u32: Codec<number>;
  /** Zig-zag varint (Rust i32). */
  readonly i32: Codec<number>;
  /**
   * Varint (Rust u64), read as a number. Writes numbers up to 2^53 - 1 and
   * BigInts up to 2^64 - 1; reading a value past 2^53 - 1 throws: use bigU64.
   */
  readonly u64: Codec<number>;
  /** Zig-zag varint (Rust i64), read as a number; past ±(2^53 - 1) use bigI64. */
  readonly i64: Codec<number>;
  /** Varint (Rust u64), the whole range, read as a BigInt. */
  readonly bigU64: Codec<bigint>;
  /** Zig-zag varint (Rust i64), the whole range, read as a BigInt. */
  readonly bigI64: Codec<bigint>;
  /** 4 bytes little-endian (Rust f32). */
  readonly f32: Codec<number>;
  /** 8 bytes little-endian (Rust f64). */
  readonly f64: Codec<number>;
  /** Varint length, then UTF-8 (Rust String). */
  readonly string: Codec<string>;
  /** Varint length, then the bytes (Rust Vec<u8>); reads a copy. */
  readonly bytes: Codec<Uint8Array>;
  /** Any JSON value, as a postcard string of its JSON text: the default codec. */
  readonly json: Codec<any>;
  /** Nothing (Rust ()); reads null. */
  readonly unit: Codec<null>;
  /** 0 for none (undefined or null), or 1 then the value (Rust Option<T>). */
  option<T>(inner: Codec<T>): Codec<T | undefined>;
  /** Varint count, then the values (Rust Vec<T>). */
  list<T>(inner: Codec<T>): Codec<T[]>;
  /** The values back to back (Rust tuples). */
  tuple<C extends readonly Codec<any>[]>(...codecs: C): Codec<CodecValues<C>>;
  /** The fields back to back, in this order (Rust structs). */
  struct<F extends Record<string, Codec<any>>>(fields: F): Codec<{ [K in keyof F]: F[K] extends Codec<infer T> ? T : never }>;
  /** Varint count, then key, value, ... (Rust HashMap or BTreeMap), as a JS Map. */
  map<K, V>(keyCodec: Codec<K>, valueCodec: Codec<V>): Codec<Map<K, V>>;
};

/** The codec of a handle declared without one: `codecs.json`. */
export const DEFAULT_CODEC: Codec<any>;

/** Encodes one value. */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array;
/** Decodes one value that must fill `bytes` exactly. */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array): T;

/** Where a codec writes: postcard's primitives on a growable buffer. */
export class Writer {
  constructor(capacity?: number);
  u8(value: number): void;
  raw(bytes: Uint8Array): void;
  /** An unsigned LEB128 varint of a non-negative safe integer. */
  varint(n: number): void;
  /** An unsigned LEB128 varint of a non-negative BigInt. */
  varintBig(n: bigint): void;
  f32(x: number): void;
  f64(x: number): void;
  /** A varint length, then the bytes. */
  varBytes(bytes: Uint8Array): void;
  /** What was written (a view of the buffer). */
  bytes(): Uint8Array;
}

/** What a codec reads from: the bytes of one encoded value. */
export class Reader {
  constructor(bytes: Uint8Array);
  remaining(): number;
  u8(): number;
  take(n: number): Uint8Array;
  f32(): number;
  f64(): number;
  /** A varint of a `bits`-bit unsigned integer as a number (throws past 2^53 - 1). */
  varint(bits?: 16 | 32 | 64): number;
  /** A varint of a `bits`-bit unsigned integer as a BigInt. */
  varintBig(bits?: 16 | 32 | 64): bigint;
  /** A varint length, then that many bytes. */
  varBytes(): Uint8Array;
}

// ---------------------------------------------------------------------------
// Byte formats (wit/FRAMING.md, wit/STATE.md)

/** `key_group` of an event whose operator input is not keyed. */
export const NO_KEY_GROUP: 0xffff;
/** The output tag (FRAMING.md version 2) of an event for the main output. */
export const MAIN_OUTPUT: 0xffff;
/** The framing version of an output batch whose events name their output. */
export const TAGGED_VERSION: 2;

/**
 * Packs events into a batch (wit/FRAMING.md): version 1, or version 2 after
 * `tagOutputs()` (until `reset`), where `push`'s first argument is the
 * output tag.
 */
export class BatchWriter {
  constructor(capacity?: number);
  readonly length: number;
  /** Makes the batch version 2. */
  tagOutputs(): void;
  /** Whether the batch is version 2. */
  readonly tagged: boolean;
  push(keyGroup: number, timestamp: number | bigint | null, key: Uint8Array, value: Uint8Array): void;
  /** The packed batch, a view valid until the next push or reset. */
  bytes(): Uint8Array;
  /** The packed batch as a new array, leaving the writer empty. */
  take(): Uint8Array;
  reset(): void;
}

/** Calls `each` for every event of a packed batch; throws a DecodeError on damage. */
export function forEachEvent(
  batch: Uint8Array,
  each: (key: Uint8Array, value: Uint8Array, timestamp: number | null, rawKeyGroup: number) => void,
): void;

/** The events of a packed input batch (version 1). */
export function readBatch(batch: Uint8Array): Event[];

/** Calls `each` for every event of an operator's output batch, version 1 or 2 (`output` is MAIN_OUTPUT or a side output's index). */
export function forEachOutputEvent(
  batch: Uint8Array,
  each: (output: number, key: Uint8Array, value: Uint8Array, timestamp: number | null) => void,
): void;

/** The events of an operator's output batch, version 1 or 2. */
export function readOutputBatch(
  batch: Uint8Array,
): { output: number; key: Uint8Array; value: Uint8Array; timestamp: number | null }[];

/** The state kinds. */
export const KINDS: readonly StateKind[];
export const FULL_VERSION: 1;
export const DELTA_VERSION: 2;
export function isKeyed(kind: StateKind): boolean;

/** An entry of a version 1 chunk; which fields are set depends on the kind. */
export interface ChunkEntry {
  key?: Uint8Array;
  mapKey?: Uint8Array;
  value?: Uint8Array;
  values?: Uint8Array[];
}

/** Writes one version 1 chunk. */
export class ChunkWriter {
  constructor(kind: StateKind);
  readonly kind: StateKind;
  readonly entries: number;
  keyedValue(key: Uint8Array, value: Uint8Array): void;
  keyedMap(key: Uint8Array, mapKey: Uint8Array, value: Uint8Array): void;
  keyedList(key: Uint8Array, values: readonly Uint8Array[]): void;
  operatorValue(value: Uint8Array): void;
  operatorList(value: Uint8Array): void;
  broadcastMap(mapKey: Uint8Array, value: Uint8Array): void;
  finish(): Uint8Array;
}

/** Writes one version 2 (delta) chunk of a keyed kind. */
export class DeltaWriter extends ChunkWriter {
  readonly removed: number;
  /** Records that `key` lost all its state. */
  remove(key: Uint8Array): void;
  isEmpty(): boolean;
}

export function forEachEntry(kind: StateKind, data: Uint8Array, each: (entry: ChunkEntry) => void): void;
export function readChunk(kind: StateKind, data: Uint8Array): ChunkEntry[];
export function readDelta(kind: StateKind, data: Uint8Array): { removed: Uint8Array[]; entries: ChunkEntry[] };
export function chunkVersion(data: Uint8Array): number;
/** Applies a chain (a version 1 chunk, then deltas) into one version 1 chunk, as the host does. */
export function mergeChain(kind: StateKind, chain: readonly Uint8Array[]): Uint8Array;

/** A batch or chunk that does not follow its format. */
export class DecodeError extends Error {}

// ---------------------------------------------------------------------------
// Logging

/** Writes lines to the host's log (standard error outside a component). */
export const log: {
  log(level: LogLevel, message: string): void;
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
};

export const LEVELS: readonly LogLevel[];

/** Where log lines go; null restores the default (standard error). */
export function setLogSink(sink: ((level: LogLevel, message: string) => void) | null): void;

// '@weir/operator/testing': run operators under Node, without a host.

import type {
  OperatorDefinition,
  OperatorInfo,
  InputInfo,
  Operator,
  StateChunk,
  StateSnapshot,
  SnapshotMode,
  Data,
} from './index.js';

export { NO_KEY_GROUP } from './index.js';

/** One event an operator emitted. */
export class Output {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** Milliseconds since the epoch, or null. */
  readonly timestamp: number | null;
  keyStr(): string;
  valueStr(): string;
}

/** Outputs as [key, value] pairs of text, for assertions. */
export function pairs(outputs: readonly Output[]): [string, string][];

/** An event for `processAll`: key, value, key group (default 0; none for a broadcast input), timestamp (default none). */
export type TestEvent = [key: Data, value: Data, keyGroup?: number, timestamp?: number | null];

/** Harness options. */
export interface HarnessOptions {
  /** Default: new OperatorInfo('test'): subtask 0 of 1, key groups 0..128, one input 'input', no side outputs. */
  info?: OperatorInfo;
  /** Replace the info's inputs (a string is an input that is not broadcast). */
  inputs?: readonly (string | InputInfo)[];
  /** Replace the info's side outputs. */
  sideOutputs?: readonly string[];
  restored?: StateChunk[];
}

/**
 * One operator instance under test, driven through the same Runtime a
 * component uses. The process methods and `finish` return the main output;
 * side outputs are taken with `sideOutput(name)`. `process*` feed input 0,
 * `processInput*` the input given by index or name.
 */
export class Harness<O extends Operator = Operator> {
  constructor(definition: OperatorDefinition, options?: HarnessOptions);
  /** An instance restored from chunks returned by `snapshot` (or `mergeSnapshot`). */
  static restore<O extends Operator = Operator>(
    definition: OperatorDefinition,
    chunks: StateChunk[],
    options?: Omit<HarnessOptions, 'restored'>,
  ): Harness<O>;
  readonly info: OperatorInfo;
  /** The operator instance. */
  readonly operator: O;
  /** The index of an input given by index or name; throws for one the operator does not have. */
  inputIndex(input: number | string): number;
  /** One event of input 0 without a timestamp; keyGroup defaults to 0 (NO_KEY_GROUP for an unkeyed input). */
  process(key: Data, value: Data, keyGroup?: number): Output[];
  /** One event of input 0 with a timestamp (milliseconds since the epoch). */
  processAt(key: Data, value: Data, keyGroup: number, timestamp: number | null): Output[];
  /** Several events of input 0 as one batch. */
  processAll(events: readonly TestEvent[]): Output[];
  /** A packed batch of input 0 as the host would pass it. */
  processBatch(batch: Uint8Array): Output[];
  /** One event of an input; leave keyGroup out for a broadcast input. */
  processInput(input: number | string, key: Data, value: Data, keyGroup?: number): Output[];
  processInputAt(input: number | string, key: Data, value: Data, keyGroup: number | undefined, timestamp: number | null): Output[];
  processInputAll(input: number | string, events: readonly TestEvent[]): Output[];
  processInputBatch(input: number | string, batch: Uint8Array): Output[];
  /** What was emitted to this side output since it was last taken; throws for a name not declared. */
  sideOutput(name: string): Output[];
  /** A complete snapshot: the chunks to restore from. */
  snapshot(): StateChunk[];
  /** The answer to a snapshot asked as incremental. */
  snapshotIncremental(): StateSnapshot;
  /** The raw answer to a snapshot in this mode. */
  snapshotAnswer(mode: SnapshotMode): StateSnapshot;
  /** Ends the input: runs the operator's finish; returns its main output. */
  finish(): Output[];
  /**
   * Moves the watermark (undefined: keep it) and the clock (undefined: the
   * last given; before any, no processing timer is due) as the host's
   * `advance`; returns the main output of the timers that fired.
   */
  advance(watermark?: number | bigint | null, now?: number | bigint | null): Output[];
  /** advance(Infinity) then finish, as the host ends bounded input; both main outputs. */
  endOfInput(): Output[];
  /** The operator's watermark (-Infinity before the first advance). */
  readonly watermark: number;
  /** The earliest processing-time timer the operator last told the host about (null: none or never). */
  readonly wakeAt: number | null;
  /** Every wake-at request, oldest first. */
  readonly wakeAtRequests: (number | null)[];
}

/**
 * What the host restores after a snapshot answer: the complete state
 * before it (version 1 chunks) with the answer applied, as version 1 chunks.
 */
export function mergeSnapshot(previous: readonly StateChunk[], answer: StateSnapshot): StateChunk[];

/** The entries of version 1 chunks as sorted lines of text, for comparing states. */
export function describeState(chunks: readonly StateChunk[]): string[];

// '@weir/operator/testing': run operators under Node, without a host.

import type { OperatorDefinition, OperatorInfo, Operator, StateChunk, StateSnapshot, SnapshotMode, Data } from './index.js';

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

/** An event for `processAll`: key, value, key group (default 0), timestamp (default none). */
export type TestEvent = [key: Data, value: Data, keyGroup?: number, timestamp?: number | null];

/** One operator instance under test, driven through the same Runtime a component uses. */
export class Harness<O extends Operator = Operator> {
  /** Defaults: info = new OperatorInfo('test') (subtask 0 of 1, key groups 0..128), nothing restored. */
  constructor(definition: OperatorDefinition, options?: { info?: OperatorInfo; restored?: StateChunk[] });
  /** An instance restored from chunks returned by `snapshot` (or `mergeSnapshot`). */
  static restore<O extends Operator = Operator>(
    definition: OperatorDefinition,
    chunks: StateChunk[],
    options?: { info?: OperatorInfo },
  ): Harness<O>;
  readonly info: OperatorInfo;
  /** The operator instance. */
  readonly operator: O;
  /** One event without a timestamp; keyGroup defaults to 0 (NO_KEY_GROUP for an unkeyed input). */
  process(key: Data, value: Data, keyGroup?: number): Output[];
  /** One event with a timestamp (milliseconds since the epoch). */
  processAt(key: Data, value: Data, keyGroup: number, timestamp: number | null): Output[];
  /** Several events as one batch. */
  processAll(events: readonly TestEvent[]): Output[];
  /** A packed batch as the host would pass it. */
  processBatch(batch: Uint8Array): Output[];
  /** A complete snapshot: the chunks to restore from. */
  snapshot(): StateChunk[];
  /** The answer to a snapshot asked as incremental. */
  snapshotIncremental(): StateSnapshot;
  /** The raw answer to a snapshot in this mode. */
  snapshotAnswer(mode: SnapshotMode): StateSnapshot;
  /** Ends the input: runs the operator's finish. */
  finish(): Output[];
}

/**
 * What the host restores after a snapshot answer: the complete state
 * before it (version 1 chunks) with the answer applied, as version 1 chunks.
 */
export function mergeSnapshot(previous: readonly StateChunk[], answer: StateSnapshot): StateChunk[];

/** The entries of version 1 chunks as sorted lines of text, for comparing states. */
export function describeState(chunks: readonly StateChunk[]): string[];

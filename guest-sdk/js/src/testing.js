// The testing Harness: runs an operator under plain Node, without a host,
// through the same Runtime the component uses: events go through the batch
// framing, state through snapshot chunks.
//
//   import { Harness, pairs } from '@weir/operator/testing';
//
//   const h = new Harness(Counter);
//   assert.deepStrictEqual(pairs(h.process('apple', '', 3)), [['apple', '1']]);
//   const restored = Harness.restore(Counter, h.snapshot());
//   assert.deepStrictEqual(pairs(restored.process('apple', '', 3)), [['apple', '2']]);

import { BatchWriter, NO_KEY_GROUP, readBatch } from './batch.js';
import { fromUtf8, toBytes } from './bytes.js';
import { FULL_VERSION, mergeChain, readChunk } from './chunk.js';
import { OperatorInfo } from './info.js';
import { Runtime } from './runtime.js';

export { NO_KEY_GROUP };

/** One event an operator emitted. */
export class Output {
  constructor(key, value, timestamp) {
    this.key = key;
    this.value = value;
    /** Milliseconds since the epoch, or null. */
    this.timestamp = timestamp;
  }

  /** The key as UTF-8 text. */
  keyStr() {
    return fromUtf8(this.key, 'output key');
  }

  /** The value as UTF-8 text. */
  valueStr() {
    return fromUtf8(this.value, 'output value');
  }
}

/** Outputs as [key, value] pairs of text, for assertions. */
export function pairs(outputs) {
  return outputs.map((output) => [output.keyStr(), output.valueStr()]);
}

function decodeOutput(batch) {
  return readBatch(batch).map((event) => new Output(event.key.slice(), event.value.slice(), event.timestamp));
}

/** One operator instance under test. */
export class Harness {
  /**
   * A fresh instance of `definition` (an operator class or factory). Options:
   * `info` (an OperatorInfo; default new OperatorInfo('test'): subtask 0 of
   * 1, key groups 0..128) and `restored` (chunks from `snapshot`).
   */
  constructor(definition, options = {}) {
    this.info = options.info ?? new OperatorInfo('test');
    this.runtime = new Runtime(definition, this.info, options.restored ?? []);
    this.checkpointId = 0n;
  }

  /** An instance restored from chunks returned by `snapshot` (or `mergeSnapshot`). */
  static restore(definition, chunks, options = {}) {
    return new Harness(definition, { ...options, restored: chunks });
  }

  /** The operator instance. */
  get operator() {
    return this.runtime.operator;
  }

  /**
   * Processes one event without a timestamp. `keyGroup` is what the host
   * would have hashed the key into; NO_KEY_GROUP for an unkeyed input.
   */
  process(key, value, keyGroup = 0) {
    return this.processAt(key, value, keyGroup, null);
  }

  /** Processes one event with a timestamp (milliseconds since the epoch). */
  processAt(key, value, keyGroup, timestamp) {
    return this.processAll([[key, value, keyGroup, timestamp]]);
  }

  /** Processes [key, value, keyGroup, timestamp?] events as one batch. */
  processAll(events) {
    const batch = new BatchWriter();
    for (const [key, value, keyGroup = 0, timestamp = null] of events) {
      batch.push(keyGroup, timestamp, toBytes(key, 'a key'), toBytes(value, 'a value'));
    }
    return this.processBatch(batch.bytes());
  }

  /** Processes a packed batch as the host would pass it (wit/FRAMING.md). */
  processBatch(batch) {
    return decodeOutput(this.runtime.process(batch));
  }

  /** A complete snapshot, as at a checkpoint barrier: the chunks to restore from. */
  snapshot() {
    return this.snapshotAnswer('full').chunks;
  }

  /**
   * An incremental snapshot: { incremental, chunks }, as `snapshot` answers
   * the host. Combine it with the previous state with `mergeSnapshot`.
   */
  snapshotIncremental() {
    return this.snapshotAnswer('incremental');
  }

  /** The raw `snapshot` answer for a mode ('full' or 'incremental'). */
  snapshotAnswer(mode) {
    this.checkpointId += 1n;
    return this.runtime.snapshot(this.checkpointId, mode);
  }

  /** Ends the input: runs the operator's finish. */
  finish() {
    return decodeOutput(this.runtime.finish());
  }
}

/**
 * What the host restores after a snapshot answer: `previous` is the complete
 * state before it (version 1 chunks, as from `snapshot`), `answer` the
 * { incremental, chunks } the operator returned. Returns the complete state
 * after it, as version 1 chunks, dropping (handle, key group)s left empty.
 */
export function mergeSnapshot(previous, answer) {
  const slot = (chunk) => `${chunk.handle}\u0000${chunk.keyGroup ?? ''}`;
  const state = new Map();
  if (answer.incremental) for (const chunk of previous) state.set(slot(chunk), { ...chunk });
  for (const chunk of answer.chunks) {
    const before = state.get(slot(chunk));
    const chain = before && before.kind === chunk.kind ? [before.data, chunk.data] : [chunk.data];
    state.set(slot(chunk), { ...chunk, data: mergeChain(chunk.kind, chain) });
  }
  return [...state.values()].filter((chunk) => chunk.data.length > 1 || chunk.data[0] !== FULL_VERSION);
}

/**
 * The entries of version 1 chunks as sorted lines of text, one per entry
 * ("count[3] 6170706c65 = 02"; bytes in hex): equal for equal state whatever
 * the order of chunks and entries. For assertions.
 */
export function describeState(chunks) {
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const lines = [];
  for (const chunk of chunks) {
    const where = chunk.keyGroup === undefined || chunk.keyGroup === null ? chunk.handle : `${chunk.handle}[${chunk.keyGroup}]`;
    readChunk(chunk.kind, chunk.data).forEach((entry, i) => {
      if (entry.mapKey) lines.push(`${where} ${hex(entry.key)} ${hex(entry.mapKey)} = ${hex(entry.value)}`);
      else if (entry.values) lines.push(`${where} ${hex(entry.key)} = [${entry.values.map(hex).join(', ')}]`);
      else if (entry.key) lines.push(`${where} ${hex(entry.key)} = ${hex(entry.value)}`);
      else lines.push(`${where} #${i} = ${hex(entry.value)}`);
    });
  }
  return lines.sort();
}

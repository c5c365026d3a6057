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
//
// Inputs and side outputs are the job file's (by default one input named
// 'input' and no side outputs):
//
//   const h = new Harness(Join, { inputs: ['orders', { name: 'prices', broadcast: true }], sideOutputs: ['bad'] });
//   h.processInput(1, '', 'apple\t30');           // input 1: no key group
//   pairs(h.process('apple', 'x', 5));             // input 0: main output, []
//   pairs(h.sideOutput('bad'));                    // [['apple', 'x']]
//
// Time moves only when the test says so: `advance(watermark, now)` plays the
// host's `advance` (due timers and windows fire; it returns what they
// emitted to the main output) and `wakeAt` is the earliest processing-time
// timer the operator last asked the host to wake it for:
//
//   h.processAt('k', '', 0, 5);                    // registers a timer at 15
//   pairs(h.advance(20));                          // [['k', 'due at 15']]

import { BatchWriter, MAIN_OUTPUT, NO_KEY_GROUP, forEachOutputEvent } from './batch.js';
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

/**
 * The events of an output batch by output: `main` (an array of Outputs) and
 * `side` (side output name -> array of Outputs, every declared one present).
 */
function decodeOutputs(batch, sideOutputs) {
  const main = [];
  const side = new Map(sideOutputs.map((name) => [name, []]));
  forEachOutputEvent(batch, (tag, key, value, timestamp) => {
    const output = new Output(key.slice(), value.slice(), timestamp);
    if (tag === MAIN_OUTPUT) main.push(output);
    else if (tag < sideOutputs.length) side.get(sideOutputs[tag]).push(output);
    else throw new Error(`the operator emitted an event with output tag ${tag}, but it has ${sideOutputs.length} side outputs`);
  });
  return { main, side };
}

/** One operator instance under test. */
export class Harness {
  /**
   * A fresh instance of `definition` (an operator class or factory). Options:
   * `info` (an OperatorInfo; default new OperatorInfo('test'): subtask 0 of
   * 1, key groups 0..128, one input named 'input', no side outputs),
   * `inputs` and `sideOutputs` (replace the info's; an input is a name or
   * { name, broadcast }) and `restored` (chunks from `snapshot`).
   *
   * The process methods and `finish` return what the operator emitted to its
   * main output; what it emitted to a side output is kept until taken with
   * `sideOutput(name)`.
   */
  constructor(definition, options = {}) {
    let info = options.info ?? new OperatorInfo('test');
    const changes = {};
    if (options.inputs !== undefined) changes.inputs = options.inputs;
    if (options.sideOutputs !== undefined) changes.sideOutputs = options.sideOutputs;
    if (Object.keys(changes).length > 0) info = info.with(changes);
    this.info = info;
    this.side = new Map(info.sideOutputs.map((name) => [name, []]));
    /** Every value the operator passed to the host's `wake-at`, oldest first (null: no processing-time timer left). */
    this.wakeAtRequests = [];
    this.now = -Infinity;
    this.runtime = new Runtime(definition, this.info, options.restored ?? [], {
      wakeAt: (at) => this.wakeAtRequests.push(at),
    });
    this.checkpointId = 0n;
  }

  /**
   * Moves time as the host's `advance` does: the watermark to `watermark`
   * (undefined or null keeps it; a lower one is ignored) and the clock to
   * `now` (left out: the last one given; before any, no processing-time
   * timer is due). Fires what is due; returns the main output (side
   * outputs as for process).
   */
  advance(watermark, now) {
    if (now !== undefined && now !== null) this.now = now;
    return this.outputs(this.runtime.advance(watermark ?? this.watermark, this.now));
  }

  /**
   * What the host does at the end of bounded input: `advance` with the
   * watermark at i64::MAX (every event-time timer fires), then `finish`;
   * returns both main outputs.
   */
  endOfInput() {
    return [...this.advance(Infinity), ...this.finish()];
  }

  /** The operator's watermark (-Infinity before the first advance). */
  get watermark() {
    return this.runtime.current.watermark;
  }

  /** The earliest processing-time timer the operator last told the host about (null: none, or never asked). */
  get wakeAt() {
    return this.wakeAtRequests.length === 0 ? null : this.wakeAtRequests[this.wakeAtRequests.length - 1];
  }

  /** An instance restored from chunks returned by `snapshot` (or `mergeSnapshot`). */
  static restore(definition, chunks, options = {}) {
    return new Harness(definition, { ...options, restored: chunks });
  }

  /** The operator instance. */
  get operator() {
    return this.runtime.operator;
  }

  /** The index of an input given by index or by name; throws for one the operator does not have. */
  inputIndex(input) {
    const inputs = this.info.inputs;
    const index = typeof input === 'string' ? inputs.findIndex((spec) => spec.name === input) : input;
    if (Number.isInteger(index) && index >= 0 && index < inputs.length) return index;
    const names = inputs.map((spec, i) => `${i}: \`${spec.name}\``).join(', ') || 'none';
    throw new Error(`the operator has no input ${JSON.stringify(input)}: its inputs are ${names}`);
  }

  /**
   * Processes one event of input 0 without a timestamp. `keyGroup` is what
   * the host would have hashed the key into; NO_KEY_GROUP for an unkeyed
   * input.
   */
  process(key, value, keyGroup) {
    return this.processInputAll(0, [[key, value, keyGroup, null]]);
  }

  /** Processes one event of input 0 with a timestamp (milliseconds since the epoch). */
  processAt(key, value, keyGroup, timestamp) {
    return this.processInputAll(0, [[key, value, keyGroup, timestamp]]);
  }

  /** Processes [key, value, keyGroup, timestamp?] events of input 0 as one batch. */
  processAll(events) {
    return this.processInputAll(0, events);
  }

  /** Processes a packed batch of input 0 as the host would pass it (wit/FRAMING.md). */
  processBatch(batch) {
    return this.processInputBatch(0, batch);
  }

  /**
   * Processes one event of input `input` (an index or a name) without a
   * timestamp. An event of a broadcast input has no key group: leave
   * `keyGroup` out (it defaults to 0 for other inputs).
   */
  processInput(input, key, value, keyGroup) {
    return this.processInputAll(input, [[key, value, keyGroup, null]]);
  }

  /** Processes one event of input `input` with a timestamp. */
  processInputAt(input, key, value, keyGroup, timestamp) {
    return this.processInputAll(input, [[key, value, keyGroup, timestamp]]);
  }

  /** Processes [key, value, keyGroup?, timestamp?] events of input `input` as one batch. */
  processInputAll(input, events) {
    const index = this.inputIndex(input);
    const spec = this.info.inputs[index];
    const batch = new BatchWriter();
    for (const [key, value, keyGroup, timestamp = null] of events) {
      let group = keyGroup ?? 0;
      if (spec.broadcast) {
        if (keyGroup !== undefined && keyGroup !== null && keyGroup !== NO_KEY_GROUP) {
          throw new Error(
            `an event of the broadcast input \`${spec.name}\` was given key group ${keyGroup}: the host sends ` +
              'broadcast events without one',
          );
        }
        group = NO_KEY_GROUP;
      }
      batch.push(group, timestamp, toBytes(key, 'a key'), toBytes(value, 'a value'));
    }
    return this.processInputBatch(index, batch.bytes());
  }

  /** Processes a packed batch of input `input` as the host would pass it. */
  processInputBatch(input, batch) {
    return this.outputs(this.runtime.process(batch, this.inputIndex(input)));
  }

  /**
   * What the operator emitted to the side output `name` since the previous
   * call for it (or since the harness was created); taken, so a second call
   * returns only what came since.
   */
  sideOutput(name) {
    const events = this.side.get(name);
    if (events === undefined) {
      const declared = this.info.sideOutputs.map((n) => `\`${n}\``).join(', ') || 'none';
      throw new Error(`no side output \`${name}\`: the harness declares ${declared} (pass sideOutputs: [...])`);
    }
    this.side.set(name, []);
    return events;
  }

  outputs(batch) {
    const { main, side } = decodeOutputs(batch, this.info.sideOutputs);
    for (const [name, events] of side) this.side.get(name).push(...events);
    return main;
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

  /** Ends the input: runs the operator's finish; returns its main output (side outputs as for process). */
  finish() {
    return this.outputs(this.runtime.finish());
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
      if (entry.mapKey && !entry.key) lines.push(`${where} ${hex(entry.mapKey)} = ${hex(entry.value)}`);
      else if (entry.mapKey) lines.push(`${where} ${hex(entry.key)} ${hex(entry.mapKey)} = ${hex(entry.value)}`);
      else if (entry.values) lines.push(`${where} ${hex(entry.key)} = [${entry.values.map(hex).join(', ')}]`);
      else if (entry.key) lines.push(`${where} ${hex(entry.key)} = ${hex(entry.value)}`);
      else lines.push(`${where} #${i} = ${hex(entry.value)}`);
    });
  }
  return lines.sort();
}

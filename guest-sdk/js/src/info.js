// OperatorInfo: who this operator instance is (name, subtask, key groups),
// its inputs and side outputs, and its configuration from the job file.

/** The number of key groups when a job file does not set max_parallelism. */
export const DEFAULT_MAX_PARALLELISM = 128;
/** The name of the one input OperatorInfo assumes when none are given. */
export const DEFAULT_INPUT = 'input';

/** One input: a name, or { name, broadcast }. */
function inputInfo(spec) {
  if (typeof spec === 'string') return Object.freeze({ name: spec, broadcast: false });
  if (spec !== null && typeof spec === 'object' && typeof spec.name === 'string') {
    return Object.freeze({ name: spec.name, broadcast: Boolean(spec.broadcast) });
  }
  throw new TypeError(`an input is a name or { name, broadcast }, not ${JSON.stringify(spec)}`);
}

function sideOutputs(names) {
  const list = [...names];
  for (const name of list) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`a side output is a non-empty name, not ${JSON.stringify(name)}`);
  }
  if (new Set(list).size !== list.length) throw new Error(`side outputs ${JSON.stringify(list)} name one twice`);
  return Object.freeze(list);
}

/** Who this instance is, as the host described it to `init`. */
export class OperatorInfo {
  /**
   * Subtask 0 of 1, owning every key group of DEFAULT_MAX_PARALLELISM, with
   * no configuration, one input named 'input' and no side outputs, unless
   * `options` says otherwise:
   * { subtaskIndex, parallelism, maxParallelism, keyGroups: {start, end} | null,
   *   config: { key: 'value' } or [['key', 'value']],
   *   inputs: ['name' or { name, broadcast }, ...], sideOutputs: ['name', ...] }.
   */
  constructor(name, options = {}) {
    const maxParallelism = options.maxParallelism ?? DEFAULT_MAX_PARALLELISM;
    /** The operator's name in the job file. */
    this.name = name;
    /** This subtask's index, from 0 to parallelism - 1. */
    this.subtaskIndex = options.subtaskIndex ?? 0;
    /** The number of parallel subtasks of this operator. */
    this.parallelism = options.parallelism ?? 1;
    /** The number of key groups keys are hashed into. */
    this.maxParallelism = maxParallelism;
    /**
     * The key groups this subtask owns, { start, end } with end exclusive;
     * null when the operator's input is not keyed.
     */
    this.keyGroups =
      options.keyGroups === undefined ? { start: 0, end: Math.min(maxParallelism, 0xffff) } : options.keyGroups;
    const config = options.config ?? [];
    this.configMap = new Map(config instanceof Map ? config : Array.isArray(config) ? config : Object.entries(config));
    /**
     * The operator's inputs, in job-file order, as { name, broadcast }:
     * `event.input` is an index into this list.
     */
    this.inputs = Object.freeze((options.inputs ?? [DEFAULT_INPUT]).map(inputInfo));
    /** The side outputs the job file declares (`side_outputs`): the names `ctx.emitTo` takes. */
    this.sideOutputs = sideOutputs(options.sideOutputs ?? []);
    Object.freeze(this);
  }

  /** From the WIT `operator-context` record. */
  static fromWit(context) {
    return new OperatorInfo(context.operatorName, {
      subtaskIndex: context.subtaskIndex,
      parallelism: context.parallelism,
      maxParallelism: context.maxParallelism,
      keyGroups: context.keyGroups ? { start: context.keyGroups.start, end: context.keyGroups.end } : null,
      config: context.config,
      inputs: context.inputs.map((input) => ({ name: input.name, broadcast: input.broadcast })),
      sideOutputs: context.sideOutputs,
    });
  }

  /** The same info with other options (those given replace these ones'). */
  with(options) {
    return new OperatorInfo(this.name, {
      subtaskIndex: this.subtaskIndex,
      parallelism: this.parallelism,
      maxParallelism: this.maxParallelism,
      keyGroups: this.keyGroups,
      config: this.configMap,
      inputs: this.inputs,
      sideOutputs: this.sideOutputs,
      ...options,
    });
  }

  /** One entry of the operator's [operators.config] table, or undefined. */
  config(key) {
    return this.configMap.get(key);
  }

  /**
   * One config entry as a number: undefined when absent (or `fallback` when
   * given), an error naming the key and the text when it is not a number.
   */
  configNumber(key, fallback) {
    const text = this.configMap.get(key);
    if (text === undefined) return fallback;
    const value = text.trim() === '' ? NaN : Number(text);
    if (!Number.isFinite(value)) throw new Error(`config \`${key}\` = ${JSON.stringify(text)} is not valid: not a number`);
    return value;
  }

  /** Every config entry, sorted by key, as [key, value] pairs. */
  configEntries() {
    return [...this.configMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

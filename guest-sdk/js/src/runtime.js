// Runtime: one operator instance driven through the calls of the WIT
// `operator` interface (init, process, snapshot, advance, finish), with
// plain JS values. The component glue
// (`exportOperator`) keeps one Runtime per component instance; the testing
// Harness drives one under Node.

import { EVENT_OVERHEAD, Event, HEADER_LEN, NO_KEY_GROUP, batchCount } from './batch.js';
import { DecodeError, EMPTY } from './bytes.js';
import { Context, OpenContext } from './context.js';
import { Current } from './state.js';
import { KEYED } from './state/store.js';
import { TimeDomain, timeFromWit, wakeAtSink } from './time.js';

const TWO_32 = 4294967296;
const I64_MIN_HI = -2147483648;

/** The error for an event header cut short, naming the field as weir_wire does. */
function truncated(left) {
  const field = left < 2 ? 'event key group' : left < 10 ? 'event timestamp' : left < 14 ? 'event key length' : 'event value length';
  return new DecodeError(`truncated while reading ${field}`);
}

/**
 * Creates the operator: `new Definition(ctx)` for a class (one with a
 * `process` method), `definition(ctx)` for a factory function.
 */
function createOperator(definition, open) {
  const isClass = typeof definition.prototype?.process === 'function';
  const operator = isClass ? new definition(open) : definition(open);
  if (operator === null || typeof operator !== 'object' || typeof operator.process !== 'function') {
    throw new TypeError('the operator factory must return an object with a process(ctx, event) method');
  }
  return operator;
}

/** Checks what `exportOperator` or the Harness is given. */
export function checkDefinition(definition) {
  if (typeof definition !== 'function') {
    throw new TypeError(
      'an operator is a class whose constructor takes an OpenContext and that has a process(ctx, event) method, ' +
        'or a function (ctx) => ({ process(ctx, event) { ... } })',
    );
  }
  return definition;
}

function notAsync(result, call) {
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    throw new TypeError(`the operator's ${call} returned a Promise: operators are synchronous`);
  }
}

export class Runtime {
  /**
   * The WIT `init`: creates the operator, whose constructor declares its
   * handles, with the restored chunks (empty for a fresh start). Each chunk
   * is { handle, kind, keyGroup (number or undefined), data: Uint8Array }.
   * Options: `wakeAt`, where the SDK's `wake-at` requests go (`(ms or
   * null) => void`; by default the host's import inside a component); it
   * is called at once when restored processing-time timers are pending.
   */
  constructor(definition, info, restored = [], options = {}) {
    checkDefinition(definition);
    this.current = new Current();
    const open = new OpenContext(info, this.current, restored);
    this.operator = createOperator(definition, open);
    const { stores, unclaimed } = open.close();
    this.stores = stores;
    this.unclaimed = unclaimed;
    this.timers = open.timers;
    // Whether events scope keyed state (the key's id is computed per event
    // only then): keyed handles of the operator's, or timers.
    this.keyed =
      stores.some((store) => store.table !== null && store !== this.timers) ||
      typeof this.operator.onTimer === 'function' ||
      this.timers.table.slots.size > 0;
    /** The handles declared with a TTL: the current key's expired state is dropped as an event enters it. */
    this.ttlStores = stores.filter((store) => typeof store.expireCurrent === 'function');
    this.ctx = new Context(info, this.current, this.timers);
    this.current.context = this.ctx;
    this.snapshots = 0;
    this.wakeAt = options.wakeAt ?? wakeAtSink();
    /** The earliest processing-time timer the host was last told (null: none). */
    this.wake = null;
    this.updateWake();
  }

  /** Tells the host the earliest processing-time timer when it changed since it was last told. */
  updateWake() {
    const earliest = this.timers.earliest(TimeDomain.PROCESSING);
    if (earliest !== this.wake) {
      this.wake = earliest;
      this.wakeAt(earliest);
    }
  }

  get info() {
    return this.ctx.info;
  }

  /**
   * The WIT `process`: runs the operator on every event of a packed batch
   * (wit/FRAMING.md) from input `input` (an index into `info.inputs`) and
   * returns the packed output, a view valid until the next call: version 1,
   * or version 2 when a side output was emitted to. On an error (a malformed
   * batch, an input the operator does not have, or the operator's), the
   * batch's output is dropped.
   */
  process(batch, input = 0) {
    const { ctx, current, operator, ttlStores } = this;
    const inputs = ctx.info.inputs;
    if (!(Number.isInteger(input) && input >= 0 && input < inputs.length)) {
      const names = inputs.map((spec, i) => `${i}: \`${spec.name}\``).join(', ') || 'none';
      throw new Error(`\`process\` was called for input ${input}, but the operator's inputs are ${names}`);
    }
    const { name: inputName, broadcast } = inputs[input];
    // Broadcast events reach every subtask: they never scope keyed state.
    const keyed = this.keyed && !broadcast;
    ctx.output.reset();
    try {
      current.input = { index: input, name: inputName, broadcast };
      // forEachEvent, inlined: this loop is the per-event cost, and the
      // engine inside a component interprets every call and property access.
      const count = batchCount(batch);
      // Bytes are read one by one: cheaper than DataView calls there.
      const b = batch;
      const end = b.length;
      let pos = end === 0 ? 0 : HEADER_LEN;
      for (let i = 0; i < count; i++) {
        if (end - pos < EVENT_OVERHEAD) throw truncated(end - pos);
        const keyGroup = b[pos] | (b[pos + 1] << 8);
        const lo = (b[pos + 2] | (b[pos + 3] << 8) | (b[pos + 4] << 16) | (b[pos + 5] << 24)) >>> 0;
        const hi = b[pos + 6] | (b[pos + 7] << 8) | (b[pos + 8] << 16) | (b[pos + 9] << 24);
        const keyLen = (b[pos + 10] | (b[pos + 11] << 8) | (b[pos + 12] << 16) | (b[pos + 13] << 24)) >>> 0;
        const valueLen = (b[pos + 14] | (b[pos + 15] << 8) | (b[pos + 16] << 16) | (b[pos + 17] << 24)) >>> 0;
        pos += EVENT_OVERHEAD;
        if (keyLen > end - pos) throw new DecodeError('truncated while reading event key');
        const key = batch.subarray(pos, (pos += keyLen));
        if (valueLen > end - pos) throw new DecodeError('truncated while reading event value');
        const value = batch.subarray(pos, (pos += valueLen));
        const timestamp = hi === I64_MIN_HI && lo === 0 ? null : hi * TWO_32 + lo;
        current.enter(key, broadcast ? NO_KEY_GROUP : keyGroup, timestamp, keyed);
        if (ttlStores.length > 0 && current.scope === KEYED) for (const store of ttlStores) store.expireCurrent();
        const group = broadcast || keyGroup === NO_KEY_GROUP ? null : keyGroup;
        const result = operator.process(ctx, new Event(key, value, timestamp, group, input, inputName, broadcast));
        if (result !== undefined) notAsync(result, 'process');
      }
      if (pos !== end) throw new DecodeError(`${end - pos} bytes left after the last entry`);
    } catch (e) {
      ctx.output.reset();
      if (e.name === 'DecodeError') throw new Error(`malformed input batch: ${e.message}`);
      throw e;
    } finally {
      current.leave();
    }
    this.updateWake();
    return ctx.output.count === 0 ? EMPTY : ctx.output.bytes();
  }

  /**
   * The WIT `advance`: the watermark is now `watermark` and the clock `now`
   * (lower ones than the current are ignored; BigInts from WIT, or numbers;
   * i64::MIN and i64::MAX are -Infinity and Infinity). Fires every due timer
   * (time.js), in timestamp order, through the operator's `onTimer`; then
   * drops the TTL entries the watermark expired. Returns the packed output.
   */
  advance(watermark, now) {
    const { ctx, current, operator, timers } = this;
    const wm = timeFromWit(watermark);
    const clock = timeFromWit(now);
    // Neither clock goes back.
    if (wm > current.watermark) current.watermark = wm;
    if (current.now === null || clock > current.now) current.now = clock;
    ctx.output.reset();
    try {
      current.advancing = true;
      for (;;) {
        const timer = timers.popDue(current.watermark, current.now);
        if (timer === null) break;
        if (typeof operator.onTimer !== 'function') {
          throw new Error(`a timer fired (${timer.domain} time, at ${timer.timestamp}) but the operator has no onTimer(ctx, timer) method`);
        }
        current.enter(timer.key, timer.keyGroup, timer.domain === TimeDomain.EVENT ? timer.timestamp : null, true);
        for (const store of this.ttlStores) store.expireCurrent();
        notAsync(operator.onTimer(ctx, timer), 'onTimer');
      }
      current.leave();
      this.purge();
    } catch (e) {
      ctx.output.reset();
      throw e;
    } finally {
      current.leave();
      current.advancing = false;
    }
    this.updateWake();
    return ctx.output.count === 0 ? EMPTY : ctx.output.bytes();
  }

  /** Drops the TTL entries the watermark has expired. */
  purge() {
    const watermark = this.current.watermark;
    if (watermark === -Infinity) return;
    for (const store of this.stores) if (typeof store.purge === 'function') store.purge(watermark);
  }

  /**
   * The WIT `snapshot`: { incremental, chunks }. Complete (every handle,
   * then the restored chunks no handle claimed) unless `mode` is
   * 'incremental' and this instance took a snapshot before: then deltas of
   * the keyed handles since that snapshot, and the operator handles whole.
   */
  snapshot(checkpointId, mode = 'full') {
    const incremental = mode === 'incremental' && this.snapshots > 0;
    this.purge();
    const chunks = [];
    for (const store of this.stores) {
      if (incremental) store.snapshotIncremental(chunks);
      else store.snapshotFull(chunks);
    }
    if (!incremental) chunks.push(...this.unclaimed);
    for (const store of this.stores) store.track();
    this.snapshots++;
    return { incremental, chunks };
  }

  /** The WIT `finish`: runs the operator's finish, if any, and returns its output. */
  finish() {
    const { ctx, current, operator } = this;
    current.leave();
    ctx.output.reset();
    if (typeof operator.finish === 'function') {
      try {
        notAsync(operator.finish(ctx), 'finish');
      } catch (e) {
        ctx.output.reset();
        throw e;
      }
    }
    return ctx.output.count === 0 ? EMPTY : ctx.output.bytes();
  }
}

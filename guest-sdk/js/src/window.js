// Event-time windows, built on timers and keyed state.
//
// Declare a window set in the constructor, feed it events in `process` and
// let it fire in `onTimer`:
//
//   class WindowCount {
//     constructor(ctx) {
//       this.windows = ctx.tumblingWindows('counts', 60_000, aggregates.count());
//     }
//     process(ctx, event) {
//       if (!this.windows.add(event)) ctx.emitTo('late', event.key, event.value); // late: in no window
//     }
//     onTimer(ctx, timer) {
//       this.windows.onTimer(timer, (ctx, key, window, count) => ctx.emit(key, `${window.start}\t${count}`));
//     }
//   }
//
// or extend `WindowedOperator`, which does the three (late events go to the
// side output `late` when the job declares it, else are dropped).
//
// Windows are [start, end) in milliseconds of event time:
//   tumbling(sizeMs)          the one window with start = t - t mod size
//   sliding(sizeMs, slideMs)  every window whose start is a multiple of
//                             slideMs with start <= t < start + size
//   session(gapMs)            [t, t + gap), merged with every session of the
//                             key it overlaps or touches (the union)
//
// A window fires once, when the watermark reaches end + allowedLatenessMs (an
// event-time timer at that timestamp): its result goes to the callback, then
// its state is dropped. An event is late when every window it belongs to has
// fired or would have (end + lateness <= watermark): `add` returns false and
// the event is in no window. (Sliding: the event goes into those of its
// windows that are not late.)
//
// State, identical to the other SDKs' (a checkpoint restores in another
// language): one keyed map per window set, named by you, map key = window
// start (codecs.i64), value = the accumulator through its codec (count: u64;
// sum, min, max: i64); sessions: value = the session's end (i64) then the
// accumulator. The timers are in `weir.timers`. A timer left behind by
// sessions that merged fires and finds nothing to do.

import { codecs } from './codecs.js';
import { log } from './log.js';
import { TimeDomain } from './time.js';

/** The side output `WindowedOperator` sends late events to, when declared. */
export const LATE_OUTPUT = 'late';

/** A window: `start` inclusive, `end` exclusive (ms of event time). */
export class Window {
  constructor(start, end) {
    this.start = start;
    this.end = end;
    Object.freeze(this);
  }

  /** The last millisecond of the window (end - 1): the timestamp of what a window callback emits. */
  get maxTimestamp() {
    return this.end - 1;
  }
}

function integerValue(event) {
  const text = event.valueStr().trim();
  const n = text === '' ? NaN : Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new Error(`window aggregate: event value ${JSON.stringify(text.slice(0, 40))} is not an integer`);
  }
  return n;
}

function aggregate(name, codec, create, add, merge) {
  return Object.freeze({ name, codec, create, add, merge });
}

/**
 * What a window set computes per window: an accumulator built from the
 * window's first event (`create`), updated with each next (`add`) and, for
 * sessions that merge, combined (`merge`), stored with `codec`.
 */
export const aggregates = Object.freeze({
  /** The number of events (u64). */
  count() {
    return aggregate('count', codecs.u64, () => 1, (acc) => acc + 1, (a, b) => a + b);
  },
  /** The sum of `valueOf(event)` (default: the value as a decimal integer), an i64. */
  sum(valueOf = integerValue) {
    return aggregate('sum', codecs.i64, valueOf, (acc, e) => acc + valueOf(e), (a, b) => a + b);
  },
  /** The least `valueOf(event)` (i64). */
  min(valueOf = integerValue) {
    return aggregate('min', codecs.i64, valueOf, (acc, e) => Math.min(acc, valueOf(e)), Math.min);
  },
  /** The greatest `valueOf(event)` (i64). */
  max(valueOf = integerValue) {
    return aggregate('max', codecs.i64, valueOf, (acc, e) => Math.max(acc, valueOf(e)), Math.max);
  },
  /**
   * A user fold: the accumulator starts at `initial` and becomes
   * `fold(acc, event)` for each event (return a new value, do not change
   * `acc` in place); stored with `codec`. Session windows also need
   * `merge(a, b)` (a the earlier session's).
   */
  fold({ initial, fold, codec, merge }) {
    if (typeof fold !== 'function') throw new TypeError('aggregates.fold needs a fold(acc, event) function');
    if (codec === undefined) throw new TypeError('aggregates.fold needs the accumulator codec');
    return aggregate('fold', codec, (e) => fold(initial, e), fold, merge ?? null);
  },
});

function positive(value, what) {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${what} must be a positive whole number of milliseconds, not ${value}`);
  return value;
}

const mod = (a, n) => ((a % n) + n) % n;

/**
 * A window set (from `tumblingWindows`, `slidingWindows`, `sessionWindows`):
 * per key, the open windows and their accumulators. For events of a keyed
 * input.
 */
export class Windows {
  constructor(kind, state, aggregate, { size = 0, slide = 0, gap = 0, allowedLatenessMs = 0 }, current, timers) {
    if (!Number.isSafeInteger(allowedLatenessMs) || allowedLatenessMs < 0) {
      throw new Error(`window state \`${state.name}\`: allowedLatenessMs must be a whole number >= 0, not ${allowedLatenessMs}`);
    }
    this.kind = kind;
    this.state = state;
    this.aggregate = aggregate;
    this.sizeMs = size;
    this.slideMs = slide;
    this.gapMs = gap;
    this.allowedLatenessMs = allowedLatenessMs;
    this.current = current;
    this.timers = timers;
  }

  get name() {
    return this.state.name;
  }

  /** The windows an event at `timestamp` belongs to, by start (a session's own [t, t + gap)). */
  windowsOf(timestamp) {
    if (this.kind === 'tumbling') {
      const start = timestamp - mod(timestamp, this.sizeMs);
      return [new Window(start, start + this.sizeMs)];
    }
    if (this.kind === 'sliding') {
      const out = [];
      for (let start = timestamp - mod(timestamp, this.slideMs); start > timestamp - this.sizeMs; start -= this.slideMs) {
        out.push(new Window(start, start + this.sizeMs));
      }
      return out.reverse();
    }
    return [new Window(timestamp, timestamp + this.gapMs)];
  }

  firesAt(window) {
    return window.end + this.allowedLatenessMs;
  }

  windowIsLate(window) {
    return this.firesAt(window) <= this.current.watermark;
  }

  /** Whether an event at `timestamp` is late at the current watermark. */
  isLate(timestamp) {
    return this.windowsOf(timestamp).every((w) => this.windowIsLate(w));
  }

  /**
   * Adds an event (of the current key) to its windows and registers their
   * timers. Returns true, or false when the event is late: then it is in no
   * window and the caller decides what becomes of it.
   */
  add(event) {
    const timestamp = event.timestamp;
    if (timestamp === null || timestamp === undefined) {
      throw new Error(
        `window state \`${this.name}\`: an event without a timestamp: windows are in event time ` +
          '(give the source timestamps, e.g. `format = "tsv"` for a lines source)',
      );
    }
    if (this.kind === 'session') return this.addSession(event, timestamp);
    const { aggregate, state } = this;
    let added = false;
    for (const window of this.windowsOf(timestamp)) {
      if (this.windowIsLate(window)) continue;
      const acc = state.get(window.start);
      state.set(window.start, acc === undefined ? aggregate.create(event) : aggregate.add(acc, event));
      this.timers.register('event', this.firesAt(window));
      added = true;
    }
    return added;
  }

  addSession(event, timestamp) {
    const own = new Window(timestamp, timestamp + this.gapMs);
    if (this.windowIsLate(own)) return false;
    const { aggregate, state } = this;
    const touching = state
      .entries()
      .filter(([start, [end]]) => own.start <= end && start <= own.end)
      .map(([start, [end, acc]]) => ({ start, end, acc }))
      .sort((a, b) => a.start - b.start);
    let acc;
    if (touching.length === 0) {
      acc = aggregate.create(event);
    } else {
      acc = touching[0].acc;
      for (const other of touching.slice(1)) acc = aggregate.merge(acc, other.acc);
      acc = aggregate.add(acc, event);
    }
    const start = Math.min(own.start, ...touching.map((s) => s.start));
    const end = Math.max(own.end, ...touching.map((s) => s.end));
    for (const session of touching) if (session.start !== start) state.delete(session.start);
    state.set(start, [end, acc]);
    this.timers.register('event', this.firesAt(new Window(start, end)));
    return true;
  }

  /** The current key's windows that have not fired, by start: [Window, accumulator] pairs. */
  openWindows() {
    const windows =
      this.kind === 'session'
        ? this.state.entries().map(([start, [end, acc]]) => [new Window(start, end), acc])
        : this.state.entries().map(([start, acc]) => [new Window(start, start + this.sizeMs), acc]);
    return windows.sort((a, b) => a[0].start - b[0].start);
  }

  /**
   * Fires the timer's key's windows due at its timestamp (end + lateness <=
   * timer.timestamp), in start order: `fire(ctx, key, window, accumulator)`,
   * then drops the window's state. What `fire` emits carries the timestamp
   * `window.maxTimestamp` unless it sets one. Returns how many fired (0 for
   * a processing-time timer, or one that is not this set's).
   */
  onTimer(timer, fire) {
    if (timer.domain !== TimeDomain.EVENT) return 0;
    const current = this.current;
    const due = this.openWindows().filter(([window]) => this.firesAt(window) <= timer.timestamp);
    const saved = current.timestamp;
    try {
      for (const [window, acc] of due) {
        current.timestamp = window.maxTimestamp;
        fire(current.context, timer.key, window, acc);
        this.state.delete(window.start);
      }
    } finally {
      current.timestamp = saved;
    }
    return due.length;
  }
}

/** The codec of a window set's map values. */
export function windowValueCodec(kind, aggregate) {
  return kind === 'session' ? codecs.tuple(codecs.i64, aggregate.codec) : aggregate.codec;
}

export { positive };

/**
 * An operator that is one window set: its constructor sets `this.windows`
 * (call `super()` first), and it implements `onWindow(ctx, key, window,
 * result)`. Every event goes into its windows; a late one goes to `onLate`,
 * which emits it unchanged to the side output `late` when the job declares
 * one and drops it (logged at debug level) otherwise. Override `onTimer`
 * (calling `super.onTimer`) to use timers of your own too.
 */
export class WindowedOperator {
  process(ctx, event) {
    if (!this.windows.add(event)) this.onLate(ctx, event);
  }

  /** A late event: to the side output `late` if there is one. */
  onLate(ctx, event) {
    if (ctx.info.sideOutputs.includes(LATE_OUTPUT)) {
      ctx.emitTo(LATE_OUTPUT, event.key, event.value);
    } else {
      log.debug(
        `dropped a late event (timestamp ${event.timestamp}, watermark ${ctx.watermark}): declare the side output ` +
          `\`${LATE_OUTPUT}\` to keep late events`,
      );
    }
  }

  onTimer(ctx, timer) {
    this.windows.onTimer(timer, (c, key, window, result) => this.onWindow(c, key, window, result));
  }

  /** A window fired; `result` is its accumulator. */
  onWindow() {
    throw new Error(`${this.constructor.name} does not implement onWindow(ctx, key, window, result)`);
  }
}

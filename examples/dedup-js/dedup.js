// Weir example operator `dedup-js`: drops repeated events, per key, within a
// time-to-live measured in event time.
//
// For each key (the operator's input must be keyed: `key_by = true`), an
// event whose value was already seen for that key less than `ttl_ms`
// milliseconds earlier (by event timestamps) is a duplicate and is dropped;
// any other event is emitted unchanged and starts a new TTL for its value.
// Events without a timestamp cannot be placed in time: they are passed
// through, and a warning is logged once per subtask.
//
// Config (`[operators.config]` in the job file):
//   ttl_ms = "60000"   how long a value stays a duplicate (default 60 s)
//
// State, all checkpointed by the SDK:
//   seen     keyed map  value -> event time it was first seen (string -> i64)
//   oldest   keyed value  a lower bound of the times in `seen` (i64)
//   dropped  operator value  duplicates dropped by this subtask (u64)
//
// Expired entries are removed when their key gets another event: `oldest`
// tells when one may have expired, and a sweep then removes every entry
// older than the TTL. Sweeping only once the oldest entry is a quarter TTL
// past expiry keeps the cost per event constant on average. (A key that
// never comes back keeps its last entries: the SDK has no timers yet.)

import { codecs, log } from '../../guest-sdk/js/src/index.js';

/** Sweep once the oldest entry is this fraction of the TTL past expiry. */
const SWEEP_SLACK = 0.25;

export class Dedup {
  constructor(ctx) {
    this.ttl = ctx.info.configNumber('ttl_ms', 60_000);
    if (!Number.isSafeInteger(this.ttl) || this.ttl <= 0) {
      throw new Error(`config \`ttl_ms\` = ${this.ttl} is not valid: a positive whole number of milliseconds`);
    }
    this.seen = ctx.keyedMap('seen', codecs.string, codecs.i64);
    this.oldest = ctx.keyedValue('oldest', codecs.i64);
    this.dropped = ctx.operatorValue('dropped', codecs.u64);
    this.warnedUntimed = false;
  }

  process(ctx, event) {
    const now = event.timestamp;
    if (now === null) {
      if (!this.warnedUntimed) {
        log.warn('dedup: events without a timestamp are passed through without deduplication');
        this.warnedUntimed = true;
      }
      ctx.emit(event.key, event.value);
      return;
    }
    this.sweep(now);
    const id = event.valueStr();
    const first = this.seen.get(id);
    if (first !== undefined && now - first < this.ttl) {
      this.dropped.update((n) => (n ?? 0) + 1);
      return;
    }
    this.seen.set(id, now);
    const oldest = this.oldest.get();
    if (oldest === undefined || now < oldest) this.oldest.set(now);
    ctx.emit(event.key, event.value);
  }

  /** Removes the current key's expired entries, when some may be. */
  sweep(now) {
    const oldest = this.oldest.get();
    if (oldest === undefined || now - oldest < this.ttl * (1 + SWEEP_SLACK)) return;
    let min;
    for (const [id, first] of this.seen.entries()) {
      if (now - first >= this.ttl) this.seen.delete(id);
      else if (min === undefined || first < min) min = first;
    }
    if (min === undefined) this.oldest.clear();
    else this.oldest.set(min);
  }

  finish(ctx) {
    log.info(`dedup: subtask ${ctx.info.subtaskIndex} dropped ${this.dropped.get() ?? 0} duplicates`);
  }
}

// Weir example operator `dedup-js`: drops repeated events, per key, with a
// time-to-live in event time (the SDK's state TTL, wit/STATE.md).
//
// Per key (the operator's input must be keyed: `key_by = true`), an event
// is forwarded when its key has no live entry, and forwarding writes the
// entry: a keyed value with a TTL of `ttl_ms`, holding the forwarded
// event's timestamp. An entry written at event time t is live while the
// operator's time (the newest of the current event's timestamp and the
// watermark) is below t + ttl_ms: the key's repeats, late copies included,
// are dropped for `ttl_ms` of event time after the forwarded event, and the
// first event at or after t + ttl_ms is forwarded and starts a new entry. A
// copy so late that the watermark has passed t + ttl_ms finds no entry and
// is forwarded again.
//
// Keys that never come back do not keep their state: the SDK drops an entry
// once the watermark passes its expiry (give the source watermarks,
// `watermark_delay_ms`) and leaves it out of checkpoints from then on.
//
// Events without a timestamp cannot be placed in time: they are passed
// through without touching the state, and a warning is logged once per
// subtask.
//
// Config (`[operators.config]` in the job file):
//   ttl_ms = "60000"   how long a forwarded key stays a duplicate (default 60 s)
//
// State, all checkpointed by the SDK:
//   seen     keyed value with a TTL: the forwarded event's timestamp (i64,
//            stored after its expiry, i64 little-endian)
//   dropped  operator value: duplicates dropped by this subtask (u64)

import { codecs, log } from '../../guest-sdk/js/src/index.js';

export const DEFAULT_TTL_MS = 60_000;

export class Dedup {
  constructor(ctx) {
    this.ttl = ctx.info.configNumber('ttl_ms', DEFAULT_TTL_MS);
    if (!Number.isSafeInteger(this.ttl) || this.ttl <= 0) {
      throw new Error(`config \`ttl_ms\` = ${this.ttl} is not valid: a positive whole number of milliseconds`);
    }
    this.seen = ctx.keyedValue('seen', codecs.i64, { ttlMs: this.ttl });
    this.dropped = ctx.operatorValue('dropped', codecs.u64);
    this.warnedUntimed = false;
  }

  process(ctx, event) {
    if (event.timestamp === null) {
      if (!this.warnedUntimed) {
        log.warn('dedup: events without a timestamp are passed through without deduplication');
        this.warnedUntimed = true;
      }
      ctx.emit(event.key, event.value);
      return;
    }
    if (this.seen.get() === undefined) {
      this.seen.set(event.timestamp);
      ctx.emit(event.key, event.value);
    } else {
      this.dropped.update((n) => (n ?? 0) + 1);
    }
  }

  finish(ctx) {
    log.info(`dedup: subtask ${ctx.info.subtaskIndex} dropped ${this.dropped.get() ?? 0} duplicates`);
  }
}

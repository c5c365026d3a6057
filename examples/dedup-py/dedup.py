"""Weir example operator `dedup`, in Python: drops repeated events, with a
time-to-live in event time.

Per key (the input must be keyed, `key_by = true`), an event is forwarded
when its key has no live entry, and forwarding writes the entry: a keyed
value with a TTL of `ttl_ms` (the SDK's state TTL, `wit/STATE.md`), holding
the forwarded event's timestamp. The entry is written at that event's time
t and is live while the operator's time (the newest of the current event's
timestamp and the watermark) is below t + ttl_ms. So a key's repeats are
dropped for `ttl_ms` of event time after the event that was forwarded, a
late copy included; the first event at or after t + ttl_ms is forwarded and
starts a new window: "at most one event per key per `ttl_ms`", as for
deduplicating retried deliveries. A copy so late that the watermark has
already passed t + ttl_ms finds no entry and is forwarded again.

Keys that never come back do not keep their state: the SDK drops an entry
once the watermark passes its expiry (give the source watermarks,
`watermark_delay_ms`), and leaves it out of checkpoints from then on.

State: the keyed value "first_seen" (I64 with a TTL: each value is stored as
its expiry, i64 little-endian, then the timestamp).

Config (`[operators.config]` in the job file):
- `ttl_ms`: how long a forwarded event's key stays a duplicate, in
  milliseconds (default 60000).

Events must carry timestamps (the `generator` source stamps event i with i).
"""

import weir
from weir import codec

DEFAULT_TTL_MS = 60_000


class Dedup(weir.Operator):
    def open(self, ctx):
        self.ttl = ctx.info.parse_config("ttl_ms", int, DEFAULT_TTL_MS)
        if self.ttl <= 0:
            raise weir.Error(f"config `ttl_ms` must be positive, not {self.ttl}")
        self.first_seen = ctx.keyed_value("first_seen", codec=codec.I64, ttl_ms=self.ttl)
        # Counters for the log line at the end; not state.
        self.forwarded = 0
        self.dropped = 0

    def process(self, ctx, event):
        if event.timestamp is None:
            raise weir.Error(
                f"event with key {event.key!r} has no timestamp: dedup keeps keys for `ttl_ms` of event time"
            )
        if self.first_seen.get() is None:
            self.first_seen.set(event.timestamp)
            ctx.emit(event.key, event.value)
            self.forwarded += 1
        else:
            self.dropped += 1

    def finish(self, ctx):
        weir.log.info(f"dedup: forwarded {self.forwarded} events, dropped {self.dropped} duplicates")


Operator = weir.export_operator(Dedup)

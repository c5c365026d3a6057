"""Weir example operator `dedup`, in Python: drops repeated events, with a
time-to-live in event time.

The first event of a key is forwarded; a later event of the same key is a
duplicate, and dropped, while its timestamp is less than `ttl_ms`
milliseconds from the forwarded one's (in either direction, so a late copy
is caught too). Once that much event time has passed, the next event of the
key is forwarded again and starts a new window: "at most one event per key
per `ttl_ms`", as for deduplicating retried deliveries.

State: a keyed value handle "first_seen" holding the timestamp of the key's
last forwarded event (codec I64: a Rust operator could read it as i64).
Keys that never come back must not keep their state forever, so the
operator expires them itself: whenever the newest timestamp this subtask has
seen moves `ttl_ms` past its last sweep, it drops every key whose window has
closed. An event arriving more than `ttl_ms` behind the newest one may find
its key expired and be forwarded: the usual price of bounded state.

Config (`[operators.config]` in the job file):
- `ttl_ms`: the window, in milliseconds (default 60000).

The input must be keyed (`key_by = true`) and its events must carry
timestamps (the `generator` source stamps event i with i).
"""

import weir
from weir import codec

DEFAULT_TTL_MS = 60_000


class Dedup(weir.Operator):
    def open(self, ctx):
        self.ttl = ctx.info.parse_config("ttl_ms", int, DEFAULT_TTL_MS)
        if self.ttl <= 0:
            raise weir.Error(f"config `ttl_ms` must be positive, not {self.ttl}")
        self.first_seen = ctx.keyed_value("first_seen", codec=codec.I64)
        # Event time as this subtask has seen it, for expiry only: not state
        # (after a restore it is rebuilt from the next events).
        self.newest = None
        self.next_sweep = None
        self.forwarded = 0
        self.dropped = 0

    def process(self, ctx, event):
        ts = event.timestamp
        if ts is None:
            raise weir.Error(
                f"event with key {event.key!r} has no timestamp: dedup keeps keys for `ttl_ms` of event time"
            )
        seen = self.first_seen.get()
        if seen is not None and abs(ts - seen) < self.ttl:
            self.dropped += 1
        else:
            self.first_seen.set(ts)
            ctx.emit(event.key, event.value)
            self.forwarded += 1
        self._expire(ts)

    def _expire(self, ts):
        if self.newest is None or ts > self.newest:
            self.newest = ts
        if self.next_sweep is None:
            self.next_sweep = ts + self.ttl
        elif self.newest >= self.next_sweep:
            horizon = self.newest - self.ttl
            expired = self.first_seen.retain_all(lambda key, seen: seen > horizon)
            if expired:
                weir.log.debug(f"expired {expired} keys last forwarded at or before {horizon}")
            self.next_sweep = self.newest + self.ttl

    def finish(self, ctx):
        weir.log.info(f"dedup: forwarded {self.forwarded} events, dropped {self.dropped} duplicates")


Operator = weir.export_operator(Dedup)

"""`{{name}}`: a keyed Weir operator. For every event it adds to its key's
total (events seen, value bytes seen) and emits ``KEY<TAB>EVENTS BYTES``.

The total lives in keyed state: the host snapshots it at every checkpoint and
restores it after a crash or a rescale, so the counts continue exactly. The
input must be keyed (``key_by = true``).
"""

import weir
from weir import codec

# (events, bytes): two u64 varints, as Rust's postcard writes a struct.
TOTAL = codec.Tuple(codec.U64, codec.U64)


class Totals(weir.Operator):
    def open(self, ctx):
        self.total = ctx.keyed_value("total", codec=TOTAL)

    def process(self, ctx, event):
        if not event.value:
            # Fails the job with this message, naming the operator and the
            # input; the job restarts from its newest checkpoint.
            raise weir.Error("an event without a value")
        events, size = self.total.get((0, 0))
        total = (events + 1, size + len(event.value))
        self.total.set(total)
        ctx.emit(event.key, f"{total[0]} {total[1]}")


Operator = weir.export_operator(Totals)

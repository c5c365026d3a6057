"""Weir example operator `counter`, in Python: a keyed running count.

For each event it emits the event's key with the number of events seen so far
for that key, in decimal. The count lives in a keyed value handle named
"count" encoded as a u64 varint: the same state as the Rust counter
(`examples/counter/src/lib.rs`), so a checkpoint taken by either one restores
into the other.

The operator's input must be keyed (`key_by = true` in the job file).
Build it with `cargo xtask build-guests` (into
`target/wasm32-wasip2/release/counter-py.wasm`); test it with
`python3 -m unittest discover -s examples/counter-py`.
"""

import weir
from weir import codec


class Counter(weir.Operator):
    def open(self, ctx):
        self.count = ctx.keyed_value("count", codec=codec.U64)

    def process(self, ctx, event):
        n = self.count.get(0) + 1
        self.count.set(n)
        ctx.emit(event.key, str(n))


Operator = weir.export_operator(Counter)

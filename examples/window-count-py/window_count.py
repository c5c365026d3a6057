"""Weir example operator `window-count`, in Python: counts events per key in
tumbling event-time windows.

Every event (the input must be keyed, `key_by = true`, and carry
timestamps, e.g. a `lines` source with `format = "tsv"`) counts in the
window `[start, start + size_ms)` its timestamp falls in. When the watermark
passes a window's end (watermark >= end; no allowed lateness) the operator
emits key = the event key, value = `<window_start_ms>\t<count>` (the files
sink writes `key<TAB>window_start_ms<TAB>count`). An event whose window ends
at or before the current watermark is late: it goes unchanged to the side
output `late` (declare it with `side_outputs = ["late"]`; without it late
events are dropped).

Config (`[operators.config]`):
- `size_ms`: the window size, in milliseconds (default 60000).

State, the same as the Rust `examples/window-count` byte for byte, so a
checkpoint of one restores into the other and closes its open windows:
- `counts`: keyed map, window start (i64) -> count (u64);
- `weir.timers`: the SDK's timers, one event-time timer per open window at
  its end.
"""

import weir

DEFAULT_SIZE_MS = 60_000


class WindowCount(weir.WindowedOperator):
    def open(self, ctx):
        size = ctx.info.parse_config("size_ms", int, DEFAULT_SIZE_MS)
        if size <= 0:
            raise weir.Error(f"config `size_ms` must be positive, not {size}")
        self.windows = ctx.tumbling_windows("counts", size, weir.Aggregate.count())

    def on_window(self, ctx, key, window, count):
        ctx.emit(key, f"{window.start}\t{count}")


Operator = weir.export_operator(WindowCount)

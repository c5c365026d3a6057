"""The Python SDK for Weir operators.

An operator is a subclass of ``weir.Operator`` in a module that binds
``Operator = weir.export_operator(MyOperator)``. ``componentize-py``
turns that module into a WebAssembly component of the world
``weir:operator/operator-component`` (``wit/operator.wit``) that the Weir
host runs, checkpoints and restores, exactly like a Rust operator. The SDK
hides the WIT bindings, the batch framing and the state format: an operator
sees events, emits events and keeps state in handles.

Example: a keyed counter (``examples/counter-py``)::

    import weir
    from weir import codec

    class Counter(weir.Operator):
        def open(self, ctx):
            # Called once per instance, after restore data (if any) is
            # loaded; declares state handles.
            self.count = ctx.keyed_value("count", codec=codec.U64)

        def process(self, ctx, event):
            n = self.count.get(0) + 1
            self.count.set(n)
            ctx.emit(event.key, str(n))

    Operator = weir.export_operator(Counter)

Its state is byte-for-byte the Rust counter's (a keyed-value handle
``"count"`` of ``u64``), so a checkpoint of one restores into the other.

State handles (``weir.state``):

=================================  ==============  =======================
declared with                      handle          scope
=================================  ==============  =======================
``ctx.keyed_value(name, codec)``   ``ValueState``  one value per event key
``ctx.keyed_map(name, kc, codec)`` ``MapState``    one map per event key
``ctx.keyed_list(name, codec)``    ``ListState``   one list per event key
``ctx.operator_value(name, c)``    ``ValueState``  one value per subtask
``ctx.operator_list(name, c)``     ``ListState``   one list per subtask
``ctx.broadcast_map(name, kc, c)`` ``BroadcastMap  one map per operator,
                                   State``         the same in every subtask
=================================  ==============  =======================

Inputs and side outputs (``weir:operator@0.2.0``): every event tells which
input it came from (``event.input``, an index into ``ctx.info.inputs``, and
``event.input_name``); ``ctx.emit_to(name, key, value)`` emits to one of
``ctx.info.side_outputs``.

Time (``weir.time``): ``ctx.watermark``, ``ctx.processing_time``, timers
(``ctx.register_event_timer(ts)``... and the operator's ``on_timer(ctx,
timer)``), state with a time to live (``ttl_ms=`` on keyed handles) and
event-time windows (``weir.window``: ``ctx.tumbling_windows(name, size_ms,
weir.Aggregate.count())``, sliding and session windows, ``WindowedOperator``).

Codecs (``weir.codec``) default to ``JSON``; ``U64``, ``I64``, ``STR``...
write what the Rust SDK writes. Declaring a name twice is an error, and so
is declaring a name with another kind than the restored checkpoint holds.
Restored state whose name ``open`` does not declare is kept and written
again by every complete snapshot, so renaming or dropping a handle never
silently loses state.

Layout:

- ``operator``: the ``Operator`` base class.
- ``context``: ``Context`` (emit, emit_to, current key, time, timers) and
  ``OpenContext`` (declares handles and window sets, restores them).
- ``state``: the handles, their dirty tracking for incremental snapshots,
  their TTL variants (``state.ttl``).
- ``time``: ``Timer``, ``TimeDomain``, the timers' store (``weir.timers``).
- ``window``: ``Window``, ``Aggregate``, ``Windows``, ``WindowedOperator``.
- ``codec``: value codecs, postcard-compatible.
- ``chunk``: the state chunk layout, full (v1) and delta (v2), and merge.
- ``framing``: the batch layout.
- ``event``, ``info``, ``errors``, ``log``: one input event; who this
  instance is, its inputs, side outputs and config; ``weir.Error``; the host's log.
- ``runtime``: one instance driven through init/process/snapshot/advance/finish.
- ``export``: the componentize-py glue behind ``export_operator``.
- ``testing``: ``Harness`` for unit tests under plain CPython.
"""

from . import codec, log
from .chunk import Chunk, Kind
from .context import Context, OpenContext
from .errors import Error
from .event import Event
from .export import export_operator
from .info import DEFAULT_MAX_PARALLELISM, InputInfo, OperatorInfo
from .operator import Operator
from .state import BroadcastMapState, ListState, MapState, ValueState
from .time import MAX_TIMESTAMP, MIN_TIMESTAMP, TimeDomain, Timer
from .window import Aggregate, Window, WindowedOperator, Windows

__version__ = "0.1.0"

__all__ = [
    "Aggregate",
    "BroadcastMapState",
    "Chunk",
    "Context",
    "DEFAULT_MAX_PARALLELISM",
    "Error",
    "Event",
    "InputInfo",
    "Kind",
    "ListState",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "MapState",
    "OpenContext",
    "Operator",
    "OperatorInfo",
    "TimeDomain",
    "Timer",
    "ValueState",
    "Window",
    "WindowedOperator",
    "Windows",
    "codec",
    "export_operator",
    "log",
]

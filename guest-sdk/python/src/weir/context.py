"""``Context``, handed to ``process``, ``on_timer`` and ``finish``: emits
output (to the main output or a side output), knows the current event's key
and input, the watermark and the clock, registers timers, owns the state
handles; ``OpenContext``, handed to ``open``: declares state handles (and
window sets) and restores them from the checkpoint."""

from __future__ import annotations

import time as _clock
from typing import Any, List, Optional, Tuple, Union

from . import codec as _codec
from . import log
from . import state as _state
from .chunk import Chunk, Kind
from .errors import Error
from .framing import MAIN_OUTPUT, NO_KEY_GROUP, NO_TIMESTAMP, BatchWriter
from .info import OperatorInfo
from .state.ttl import _TtlList, _TtlMap, _TtlValue, check_ttl
from .time import MAX_TIMESTAMP, MIN_TIMESTAMP, TIMERS_HANDLE, TimeDomain, _TimerStore
from .window import _SESSION, _SLIDING, _TUMBLING, Aggregate, Windows, _positive

__all__ = ["Context", "OpenContext"]

BytesLike = Union[bytes, bytearray, memoryview, str]

# Where the context is: outside any event, in an event without a key group,
# in a keyed event.
_NO_EVENT, _UNKEYED, _KEYED = 0, 1, 2


def _as_bytes(data: BytesLike, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"an emitted {what} must be bytes or str, not {type(data).__name__} ({data!r:.80})")


class Context:
    """What an operator sees while it processes events or finishes: where to
    emit output, its ``OperatorInfo``, and the current event's key, which
    scopes keyed state."""

    def __init__(self, info: OperatorInfo) -> None:
        self.info = info
        self._stores: List[Any] = []
        self._output = BatchWriter()
        self._push = self._output.push
        self._scope = _NO_EVENT
        self._key = b""
        self._key_group = 0
        self._timestamp = NO_TIMESTAMP
        # The input of the batch being processed (None outside `process`).
        self._input: Optional[int] = None
        self._side_outputs = {name: i for i, name in enumerate(info.side_outputs)}
        # Restored chunks of handles `open` did not declare, returned again
        # by every full snapshot so that no state is silently dropped.
        self._unclaimed: List[Chunk] = []
        # Time: the watermark (never lowered), the clock of the last
        # `advance` (None before the first), whether `advance` is running.
        self._watermark = MIN_TIMESTAMP
        self._now: Optional[int] = None
        self._advancing = False
        self._timers = _TimerStore(self)
        # The handles declared with a TTL.
        self._ttl_stores: List[Any] = []

    def emit(self, key: BytesLike, value: BytesLike) -> None:
        """Emits an event with the timestamp of the input event being
        processed (none in ``finish``). A ``str`` is sent as UTF-8."""
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        if type(value) is not bytes:
            value = _as_bytes(value, "value")
        self._push(MAIN_OUTPUT, self._timestamp, key, value)

    def emit_with_timestamp(self, key: BytesLike, value: BytesLike, timestamp: int) -> None:
        """Emits an event with a timestamp (milliseconds since the Unix
        epoch)."""
        self._output.push(MAIN_OUTPUT, timestamp, _as_bytes(key, "key"), _as_bytes(value, "value"))

    def emit_to(self, side_output: str, key: BytesLike, value: BytesLike) -> None:
        """Emits an event to the side output ``side_output``, one of
        ``info.side_outputs`` (the job file's ``side_outputs``), with the
        timestamp of the input event being processed (none in ``finish``).
        Events keep their order within each output. A name the job file does
        not declare raises ``weir.Error``, which fails the job."""
        self._push_to(side_output, self._timestamp, key, value)

    def emit_to_with_timestamp(self, side_output: str, key: BytesLike, value: BytesLike, timestamp: int) -> None:
        """``emit_to`` with a timestamp (milliseconds since the Unix epoch)."""
        self._push_to(side_output, timestamp, key, value)

    def _push_to(self, side_output: str, timestamp: int, key: BytesLike, value: BytesLike) -> None:
        tag = self._side_outputs.get(side_output)
        if tag is None:
            declared = self.info.side_outputs
            listed = ", ".join(f"`{name}`" for name in declared) if declared else "none"
            raise Error(
                f"operator '{self.info.name}' emitted to side output `{side_output}`, which is not declared: "
                f"its side outputs are {listed} (declare them with `side_outputs` in the job file)"
            )
        self._output.tag_outputs()
        self._output.push(tag, timestamp, _as_bytes(key, "key"), _as_bytes(value, "value"))

    @property
    def timestamp(self) -> Optional[int]:
        """The timestamp of the event being processed; in ``on_timer``, the
        timer's for an event-time timer (and ``window.max_timestamp`` in a
        window callback); None elsewhere or for an event without one."""
        return None if self._timestamp == NO_TIMESTAMP else self._timestamp

    # -- time ---------------------------------------------------------------

    @property
    def watermark(self) -> int:
        """The operator's event-time watermark: no event still to come has a
        timestamp at or below it. ``weir.MIN_TIMESTAMP`` (i64::MIN) until the
        host first calls ``advance``; ``weir.MAX_TIMESTAMP`` at the end of
        bounded input. It never goes back."""
        return self._watermark

    @property
    def processing_time(self) -> int:
        """The host's clock (ms since the Unix epoch) as of the last
        ``advance``; the wall clock before the first one."""
        if self._now is None:
            return _clock.time_ns() // 1_000_000
        return self._now

    def register_event_timer(self, timestamp: int) -> None:
        """Fires ``on_timer`` for the current key once the watermark reaches
        ``timestamp``. Registering one that exists does nothing."""
        self._timers.register(TimeDomain.EVENT, timestamp)

    def delete_event_timer(self, timestamp: int) -> bool:
        """Deletes the current key's event-time timer at ``timestamp``;
        returns whether there was one."""
        return self._timers.delete(TimeDomain.EVENT, timestamp)

    def register_processing_timer(self, timestamp: int) -> None:
        """Fires ``on_timer`` for the current key once the host's clock
        reaches ``timestamp`` (ms since the Unix epoch)."""
        self._timers.register(TimeDomain.PROCESSING, timestamp)

    def delete_processing_timer(self, timestamp: int) -> bool:
        """Deletes the current key's processing-time timer at
        ``timestamp``; returns whether there was one."""
        return self._timers.delete(TimeDomain.PROCESSING, timestamp)

    def timers(self) -> List[Tuple[TimeDomain, int]]:
        """The current key's timers as (domain, timestamp), sorted."""
        return self._timers.timers()

    def _write_time(self) -> Optional[int]:
        """The event time of a state write (for TTL): the event's timestamp,
        else (and inside ``advance``) the watermark; None when neither is
        known (the entry never expires)."""
        if not self._advancing and self._timestamp != NO_TIMESTAMP:
            return self._timestamp
        return None if self._watermark == MIN_TIMESTAMP else self._watermark

    def _operator_time(self) -> int:
        """The newest of the current event's timestamp and the watermark."""
        if not self._advancing and self._timestamp > self._watermark:
            return self._timestamp
        return self._watermark

    def _purge_expired(self) -> None:
        """Drops the TTL entries the watermark has expired."""
        if self._watermark == MIN_TIMESTAMP:
            return
        for store in self._stores:
            purge = getattr(store, "_purge", None)
            if purge is not None:
                purge(self._watermark)

    # -- the runtime's side -------------------------------------------------

    def _enter(self, key_group: int, timestamp: int, key: bytes) -> None:
        self._timestamp = timestamp
        if key_group == NO_KEY_GROUP:
            self._scope = _UNKEYED
        else:
            self._scope = _KEYED
            self._key = key
            self._key_group = key_group
            # What expired of the key's TTL state at this event's time is
            # dropped now: the operator reads only what is visible, and no
            # later snapshot holds it.
            if self._ttl_stores:
                for store in self._ttl_stores:
                    store._expire_current()

    def _leave(self) -> None:
        self._scope = _NO_EVENT
        self._timestamp = NO_TIMESTAMP
        self._input = None

    def _current_key(self, handle: str) -> Tuple[int, bytes]:
        if self._scope == _KEYED:
            return self._key_group, self._key
        if self._scope == _NO_EVENT:
            raise Error(
                f"keyed state `{handle}` was used with no current key: keyed state is scoped by the key "
                "of the event being processed, so it is only available in `process` (use operator state "
                "in `finish`)"
            )
        inputs = self.info.inputs
        if self._input is not None and self._input < len(inputs) and inputs[self._input].broadcast:
            raise Error(
                f"keyed state `{handle}` was used while processing an event of the broadcast input "
                f"`{inputs[self._input].name}` (input {self._input}): broadcast events reach every subtask and "
                "have no key group, so only operator and broadcast state are available for them"
            )
        raise Error(
            f"keyed state `{handle}` was used for an event without a key group: the operator's input "
            "is not keyed (set `key_by = true` on it in the job file)"
        )

    def _take_output(self) -> bytes:
        return self._output.finish()

    def _discard_output(self) -> None:
        self._output.reset()

    def _snapshot(self, incremental: bool) -> List[Chunk]:
        """Every handle's chunks, in declaration order: complete, then the
        unclaimed ones; or what changed since the previous snapshot. Marks
        everything clean once all of it is encoded."""
        chunks: List[Chunk] = []
        for store in self._stores:
            if incremental:
                store._snapshot_delta(chunks)
            else:
                store._snapshot_full(chunks)
        if not incremental:
            chunks.extend(self._unclaimed)
        for store in self._stores:
            store._clean()
        return chunks


class OpenContext:
    """What ``open`` gets: the instance's ``OperatorInfo`` and the means to
    declare state handles. Declaring a handle loads its restored state, if
    the checkpoint holds any.

    Keyed handles (``keyed_*``) need a keyed input: declaring one when
    ``info.key_groups`` is None (``key_by = false``) raises ``weir.Error``.

    Every ``codec`` defaults to ``weir.codec.JSON`` (see ``weir.codec``);
    declare ``weir.codec.U64`` and friends for compact, typed state that a
    Rust operator can read too.
    """

    def __init__(self, info: OperatorInfo, restored: List[Chunk]) -> None:
        self._ctx = Context(info)
        self._restored = list(restored)
        self._open = True
        # The timers are keyed state of the SDK's own: claim their chunks
        # (whatever the operator declares) and snapshot them first.
        self._declare(self._ctx._timers, reserved=True)

    @property
    def info(self) -> OperatorInfo:
        """Who this instance is and its configuration."""
        return self._ctx.info

    def keyed_value(
        self, name: str, codec: _codec.Codec = _codec.DEFAULT, ttl_ms: Optional[int] = None
    ) -> _state.ValueState:
        """Declares a value per key; with ``ttl_ms``, a value expires that
        many milliseconds of event time after it was set (``wit/STATE.md``,
        "State TTL")."""
        if ttl_ms is not None:
            return self._declare(_TtlValue(self._ctx, name, codec, self._ttl(name, ttl_ms)))
        return self._declare(_state.keyed_value(self._ctx, name, codec))

    def keyed_map(
        self,
        name: str,
        key_codec: _codec.Codec = _codec.DEFAULT,
        codec: _codec.Codec = _codec.DEFAULT,
        ttl_ms: Optional[int] = None,
    ) -> _state.MapState:
        """Declares a map per key: map keys with ``key_codec``, values with
        ``codec``; with ``ttl_ms``, each map value expires that many
        milliseconds of event time after it was inserted."""
        if ttl_ms is not None:
            return self._declare(_TtlMap(self._ctx, name, key_codec, codec, self._ttl(name, ttl_ms)))
        return self._declare(_state.keyed_map(self._ctx, name, key_codec, codec))

    def keyed_list(
        self, name: str, codec: _codec.Codec = _codec.DEFAULT, ttl_ms: Optional[int] = None
    ) -> _state.ListState:
        """Declares a list per key; with ``ttl_ms``, each element expires
        that many milliseconds of event time after it was added."""
        if ttl_ms is not None:
            return self._declare(_TtlList(self._ctx, name, codec, self._ttl(name, ttl_ms)))
        return self._declare(_state.keyed_list(self._ctx, name, codec))

    @staticmethod
    def _ttl(name: str, ttl_ms: Any) -> int:
        try:
            return check_ttl(ttl_ms)
        except ValueError as e:
            raise Error(f"state `{name}`: {e}") from None

    def tumbling_windows(
        self, name: str, size_ms: int, aggregate: Aggregate, allowed_lateness_ms: int = 0
    ) -> Windows:
        """Declares tumbling event-time windows of ``size_ms`` computing
        ``aggregate``, kept in the keyed map ``name`` (see ``weir.window``)."""
        size = _positive(size_ms, f"window state `{name}`: size_ms")
        return self._windows(name, _TUMBLING, aggregate, size, 0, 0, allowed_lateness_ms)

    def sliding_windows(
        self, name: str, size_ms: int, slide_ms: int, aggregate: Aggregate, allowed_lateness_ms: int = 0
    ) -> Windows:
        """Declares sliding event-time windows of ``size_ms`` starting every
        ``slide_ms`` (at most ``size_ms``)."""
        size = _positive(size_ms, f"window state `{name}`: size_ms")
        slide = _positive(slide_ms, f"window state `{name}`: slide_ms")
        if slide > size:
            raise Error(f"window state `{name}`: slide_ms ({slide}) must not exceed size_ms ({size})")
        return self._windows(name, _SLIDING, aggregate, size, slide, 0, allowed_lateness_ms)

    def session_windows(
        self, name: str, gap_ms: int, aggregate: Aggregate, allowed_lateness_ms: int = 0
    ) -> Windows:
        """Declares session windows: per key, events less than ``gap_ms``
        apart (a session closes ``gap_ms`` after its last event)."""
        gap = _positive(gap_ms, f"window state `{name}`: gap_ms")
        if aggregate.merge is None:
            raise Error(f"window state `{name}`: session windows need an aggregate that merges (fold(..., merge=))")
        return self._windows(name, _SESSION, aggregate, 0, 0, gap, allowed_lateness_ms)

    def _windows(self, name, kind, aggregate, size, slide, gap, lateness) -> Windows:
        if not isinstance(aggregate, Aggregate):
            raise TypeError(f"window state `{name}`: the aggregate is a weir.Aggregate, not {type(aggregate).__name__}")
        value_codec = _codec.Tuple(_codec.I64, aggregate.codec) if kind == _SESSION else aggregate.codec
        # Checked before the map is declared, so a bad argument leaves no handle.
        windows = Windows(self._ctx, kind, None, aggregate, size, slide, gap, lateness)
        windows.state = self.keyed_map(name, key_codec=_codec.I64, codec=value_codec)
        return windows

    def operator_value(self, name: str, codec: _codec.Codec = _codec.DEFAULT) -> _state.ValueState:
        """Declares one value for this subtask."""
        return self._declare(_state.operator_value(self._ctx, name, codec))

    def operator_list(self, name: str, codec: _codec.Codec = _codec.DEFAULT) -> _state.ListState:
        """Declares one list for this subtask."""
        return self._declare(_state.operator_list(self._ctx, name, codec))

    def broadcast_map(
        self,
        name: str,
        key_codec: _codec.Codec = _codec.DEFAULT,
        codec: _codec.Codec = _codec.DEFAULT,
    ) -> _state.BroadcastMapState:
        """Declares one map for the whole operator, the same in every subtask
        (build it from broadcast inputs): map keys with ``key_codec``, values
        with ``codec``. Usable anywhere, with or without a current key."""
        return self._declare(_state.broadcast_map(self._ctx, name, key_codec, codec))

    def _declare(self, store: Any, reserved: bool = False) -> Any:
        name = store.name
        for c in [getattr(store, "codec", None), getattr(store, "key_codec", None)]:
            if c is not None and not isinstance(c, _codec.Codec):
                raise TypeError(f"state `{name}`: a codec must be a weir.codec.Codec, not {type(c).__name__}")
        if not self._open:
            raise Error(f"state handle `{name}` is declared after `open`: declare every handle in `open`")
        if not isinstance(name, str) or not name:
            raise Error("a state handle name must be a non-empty string")
        if name.startswith("weir.") and not reserved:
            raise Error(f"state handle name `{name}` is reserved: names starting with `weir.` are the SDK's")
        # Keyed state is scoped by the event's key group, which the host sets
        # only on a keyed input: refuse it here, where the job file is at
        # fault, rather than at the first event.
        if store.kind.is_keyed and self._ctx.info.key_groups is None and not reserved:
            raise Error(
                f"operator '{self._ctx.info.name}': state `{name}` is keyed ({store.kind.wit_name}), but the "
                "operator's input is not keyed: set key_by = true for this operator in the job file (or declare "
                "operator state instead)"
            )
        if any(declared.name == name for declared in self._ctx._stores):
            raise Error(f"state handle `{name}` is declared twice")
        mine = [chunk for chunk in self._restored if chunk.handle == name]
        self._restored = [chunk for chunk in self._restored if chunk.handle != name]
        for chunk in mine:
            if chunk.kind != store.kind:
                raise Error(
                    f"state handle `{name}` is declared as {store.kind.wit_name} but the restored checkpoint "
                    f"holds it as {Kind(chunk.kind).wit_name}"
                )
            store._restore(chunk.key_group, chunk.data)
        self._ctx._stores.append(store)
        return store

    def _into_context(self) -> Context:
        """Ends ``open``: restored chunks nobody declared are kept for the
        next snapshots."""
        self._open = False
        reported = []
        for chunk in self._restored:
            if (chunk.handle, chunk.kind) not in reported:
                reported.append((chunk.handle, chunk.kind))
                log.warn(
                    f"restored {Kind(chunk.kind).wit_name} state `{chunk.handle}` is not declared by `open`; "
                    "it is kept unchanged in every snapshot"
                )
        self._ctx._unclaimed = self._restored
        self._restored = []
        self._ctx._ttl_stores = [store for store in self._ctx._stores if hasattr(store, "_expire_current")]
        return self._ctx

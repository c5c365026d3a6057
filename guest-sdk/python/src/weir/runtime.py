"""``Runtime``: one operator instance driven through the calls of the WIT
``operator`` interface (init, process, snapshot, advance, finish), with plain
Python types.

The export glue (``weir.export_operator``) keeps one ``Runtime`` per
component instance and forwards the WIT calls to it; ``weir.testing.Harness``
drives one under plain CPython.
"""

from __future__ import annotations

from typing import Any, Callable, List, NamedTuple, Optional

from .chunk import Chunk
from .context import Context, OpenContext
from .errors import Error
from .event import Event
from .framing import NO_KEY_GROUP, NO_TIMESTAMP, MalformedBatch, read_batch
from .info import OperatorInfo
from .time import TimeDomain, check_timestamp

#: What the runtime calls to tell the host its earliest processing-time
#: timer (the WIT import ``host.wake-at``): ``wake_at(ms or None)``.
WakeAt = Callable[[Optional[int]], None]


def _no_wake(at: Optional[int]) -> None:
    pass

__all__ = ["Runtime", "Snapshot"]


class Snapshot(NamedTuple):
    """What ``snapshot`` returns (the WIT ``state-snapshot``)."""

    #: False: ``chunks`` is the complete state. True: what changed since the
    #: previous snapshot (``wit/STATE.md``, "Incremental snapshots").
    incremental: bool
    chunks: List[Chunk]


class Runtime:
    """An operator instance and its ``Context``."""

    def __init__(
        self,
        factory: Callable[[], Any],
        info: OperatorInfo,
        restored: List[Chunk],
        wake_at: Optional[WakeAt] = None,
    ) -> None:
        """The WIT ``init``: constructs the operator and runs its ``open``
        with the restored chunks (empty for a fresh start). ``wake_at`` is
        the host's ``wake-at`` import; it is called at once when restored
        processing-time timers are pending."""
        open_ctx = OpenContext(info, restored)
        self.operator = factory()
        opener = getattr(self.operator, "open", None)
        if opener is not None:
            opener(open_ctx)
        self.context: Context = open_ctx._into_context()
        self._snapshots = 0
        self._wake_at = wake_at or _no_wake
        # What the host was last asked for: nothing, for a new instance.
        self._wake: Optional[int] = None
        self._update_wake()

    def _update_wake(self) -> None:
        """Tells the host the earliest processing-time timer when it
        changed since the last time it was told."""
        earliest = self.context._timers.earliest(TimeDomain.PROCESSING)
        if earliest != self._wake:
            self._wake = earliest
            self._wake_at(earliest)

    def process(self, batch: bytes, input: int = 0) -> bytes:
        """The WIT ``process``: runs the operator's ``process`` on every event
        of a packed batch (``wit/FRAMING.md``) that came from input ``input``
        (an index into ``info.inputs``) and returns the packed output:
        version 1, or version 2 when a side output was emitted to.

        A malformed batch or an input the operator does not have is an
        error. On any error the output of the batch is discarded (the error
        fails the job anyway).
        """
        ctx = self.context
        inputs = ctx.info.inputs
        if not 0 <= input < len(inputs):
            names = ", ".join(f"{i}: `{spec.name}`" for i, spec in enumerate(inputs)) or "none"
            raise Error(f"`process` was called for input {input}, but the operator's inputs are {names}")
        spec = inputs[input]
        name = spec.name
        # Broadcast events reach every subtask: they never scope keyed state.
        broadcast = spec.broadcast
        process = self.operator.process
        enter = ctx._enter
        try:
            ctx._input = input
            for key_group, timestamp, key, value in read_batch(batch):
                if broadcast:
                    key_group = NO_KEY_GROUP
                enter(key_group, timestamp, key)
                process(
                    ctx,
                    Event(
                        key,
                        value,
                        None if timestamp == NO_TIMESTAMP else timestamp,
                        None if key_group == NO_KEY_GROUP else key_group,
                        input,
                        name,
                        broadcast,
                    ),
                )
        except MalformedBatch as e:
            ctx._discard_output()
            raise Error(f"malformed input batch: {e}") from None
        except BaseException:
            ctx._discard_output()
            raise
        finally:
            ctx._leave()
        self._update_wake()
        return ctx._take_output()

    def advance(self, watermark: int, now: int) -> bytes:
        """The WIT ``advance``: the watermark is now ``watermark`` and the
        clock ``now`` (lower ones than the current are ignored). Fires every
        due timer (``weir.time``), in timestamp order, through the
        operator's ``on_timer``; then drops the TTL entries the watermark
        expired. Returns the packed output."""
        check_timestamp(watermark, "the watermark")
        check_timestamp(now, "the processing time")
        ctx = self.context
        if watermark > ctx._watermark:
            ctx._watermark = watermark
        # Neither clock goes back.
        if ctx._now is None or now > ctx._now:
            ctx._now = now
        watermark, now = ctx._watermark, ctx._now
        timers = ctx._timers
        on_timer = getattr(self.operator, "on_timer", None)
        try:
            ctx._advancing = True
            while True:
                timer = timers.pop_due(watermark, now)
                if timer is None:
                    break
                if on_timer is None:
                    raise Error(
                        f"a timer fired ({timer!r}) but the operator {type(self.operator).__name__} has no "
                        "`on_timer(ctx, timer)` method"
                    )
                event_time = timer.domain == TimeDomain.EVENT
                ctx._enter(timer.key_group, timer.timestamp if event_time else NO_TIMESTAMP, timer.key)
                on_timer(ctx, timer)
            ctx._leave()
            ctx._purge_expired()
        except BaseException:
            ctx._discard_output()
            raise
        finally:
            ctx._leave()
            ctx._advancing = False
        self._update_wake()
        return ctx._take_output()

    @property
    def wake_at(self) -> Optional[int]:
        """The earliest processing-time timer the host was last told."""
        return self._wake

    def snapshot(self, checkpoint_id: int, incremental: bool = False) -> Snapshot:
        """The WIT ``snapshot``: the state of every handle as chunks
        (``wit/STATE.md``), plus the restored chunks ``open`` did not claim;
        or, when ``incremental`` is asked, what changed since the previous
        call. The first snapshot of an instance is always complete."""
        del checkpoint_id  # the previous call is the base, whatever its id
        incremental = bool(incremental) and self._snapshots > 0
        self.context._purge_expired()
        chunks = self.context._snapshot(incremental)
        self._snapshots += 1
        return Snapshot(incremental, chunks)

    def finish(self) -> bytes:
        """The WIT ``finish``: runs the operator's ``finish`` and returns its
        output. (The host calls ``advance`` with the watermark at
        ``MAX_TIMESTAMP`` first, which fires every event-time timer.)"""
        ctx = self.context
        ctx._leave()
        finish = getattr(self.operator, "finish", None)
        try:
            if finish is not None:
                finish(ctx)
        except BaseException:
            ctx._discard_output()
            raise
        return ctx._take_output()

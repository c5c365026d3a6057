"""Event-time windows, built on timers and keyed state.

Declare a window set in ``open``, feed it events in ``process`` and let it
fire in ``on_timer``::

    class WindowCount(weir.Operator):
        def open(self, ctx):
            self.windows = ctx.tumbling_windows("counts", 60_000, weir.Aggregate.count())

        def process(self, ctx, event):
            if not self.windows.add(event):  # late: in no window
                ctx.emit_to("late", event.key, event.value)

        def on_timer(self, ctx, timer):
            self.windows.on_timer(timer, self.fire)

        def fire(self, ctx, key, window, count):
            ctx.emit(key, f"{window.start}\\t{count}")

or subclass ``weir.WindowedOperator``, which does the three for you (late
events go to the side output ``late`` when the job declares it).

Windows (``[start, end)``, milliseconds of event time):

- **tumbling** (``size_ms``): the one window with ``start = t - t mod size``.
- **sliding** (``size_ms``, ``slide_ms``): every window whose start is a
  multiple of ``slide_ms`` with ``start <= t < start + size``.
- **session** (``gap_ms``): ``[t, t + gap)``, merged with every session of
  the key it overlaps or touches; the merged session spans the union.

A window **fires** once, when the watermark reaches ``end +
allowed_lateness_ms`` (an event-time timer at that timestamp): its result is
handed to the callback, then its state is dropped. An event is **late** when
every window it belongs to has fired or would have (``end + lateness <=
watermark``): it goes into no window and ``add`` returns False. (For sliding
windows an event is added to those of its windows that are not late.)

State: one keyed-map handle per window set, named by you (``wit/STATE.md``
keyed-map), identical to the other SDKs' so that a checkpoint restores in
another language: map key = window start (``codec.I64``), value = the
accumulator through its codec (``count``: ``U64``; ``sum``, ``min``,
``max``: ``I64``); for sessions value = the session's end (``I64``) followed by
the accumulator. The timers are in ``weir.timers``. A timer left behind by
sessions that merged fires and finds nothing to do.
"""

from __future__ import annotations

import operator as _operator
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

from . import codec as _codec
from . import log
from .errors import Error
from .operator import Operator
from .time import MAX_TIMESTAMP, TimeDomain, Timer

__all__ = ["Window", "Aggregate", "Windows", "WindowedOperator", "LATE_OUTPUT"]

#: The side output ``WindowedOperator`` sends late events to, when declared.
LATE_OUTPUT = "late"


class Window(NamedTuple):
    """A window: ``start`` inclusive, ``end`` exclusive (ms of event time)."""

    start: int
    end: int

    @property
    def max_timestamp(self) -> int:
        """The last millisecond in the window (``end - 1``): the timestamp
        of what a window callback emits."""
        return self.end - 1


def _int_value(event: Any) -> int:
    text = event.value_str().strip()
    try:
        return int(text)
    except ValueError:
        raise Error(f"window aggregate: event value {text!r:.40} (key {event.key!r:.40}) is not an integer") from None


class Aggregate:
    """What a window set computes per window: an accumulator built from the
    window's first event (``create``), updated with each next one (``add``)
    and, for sessions that merge, combined (``merge``), stored with
    ``codec``. Use the constructors: ``count``, ``sum``, ``min``, ``max``,
    ``fold``."""

    def __init__(
        self,
        name: str,
        codec: _codec.Codec,
        create: Callable[[Any], Any],
        add: Callable[[Any, Any], Any],
        merge: Optional[Callable[[Any, Any], Any]],
    ) -> None:
        if not isinstance(codec, _codec.Codec):
            raise TypeError(f"aggregate {name}: the accumulator codec must be a weir.codec.Codec")
        self.name = name
        self.codec = codec
        self.create = create
        self.add = add
        self.merge = merge

    @staticmethod
    def count() -> "Aggregate":
        """The number of events (``U64``)."""
        return Aggregate("count", _codec.U64, lambda event: 1, lambda acc, event: acc + 1, _operator.add)

    @staticmethod
    def sum(value: Callable[[Any], int] = _int_value) -> "Aggregate":
        """The sum of ``value(event)`` (default: the event's value as a
        decimal integer), an i64 (``I64``)."""
        return Aggregate("sum", _codec.I64, value, lambda acc, event: acc + value(event), _operator.add)

    @staticmethod
    def min(value: Callable[[Any], int] = _int_value) -> "Aggregate":
        """The least ``value(event)`` (``I64``)."""
        return Aggregate("min", _codec.I64, value, lambda acc, event: min(acc, value(event)), min)

    @staticmethod
    def max(value: Callable[[Any], int] = _int_value) -> "Aggregate":
        """The greatest ``value(event)`` (``I64``)."""
        return Aggregate("max", _codec.I64, value, lambda acc, event: max(acc, value(event)), max)

    @staticmethod
    def fold(
        initial: Any,
        fold: Callable[[Any, Any], Any],
        codec: _codec.Codec,
        merge: Optional[Callable[[Any, Any], Any]] = None,
    ) -> "Aggregate":
        """A user fold: a window's accumulator starts at ``initial`` and
        becomes ``fold(acc, event)`` for each of its events; it is stored
        with ``codec``. ``fold`` must return a new value, not change ``acc``
        in place. Session windows also need ``merge(a, b)``, which combines
        the accumulators of two sessions an event bridges (``a`` the
        earlier one)."""
        return Aggregate("fold", codec, lambda event: fold(initial, event), fold, merge)


_TUMBLING, _SLIDING, _SESSION = "tumbling", "sliding", "session"


def _positive(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise Error(f"{what} must be a positive whole number of milliseconds, not {value!r}")
    return value


class Windows:
    """A window set (``OpenContext.tumbling_windows``, ``sliding_windows``,
    ``session_windows``): per key, the open windows and their accumulators.
    Use it for events of a keyed input."""

    def __init__(
        self,
        ctx: Any,
        kind: str,
        state: Any,
        aggregate: Aggregate,
        size: int,
        slide: int,
        gap: int,
        allowed_lateness_ms: int,
    ) -> None:
        self._ctx = ctx
        self.kind = kind
        self.state = state
        self.aggregate = aggregate
        self.size_ms = size
        self.slide_ms = slide
        self.gap_ms = gap
        if not isinstance(allowed_lateness_ms, int) or isinstance(allowed_lateness_ms, bool) or allowed_lateness_ms < 0:
            raise Error(f"allowed_lateness_ms must be a whole number of milliseconds >= 0, not {allowed_lateness_ms!r}")
        self.allowed_lateness_ms = allowed_lateness_ms

    @property
    def name(self) -> str:
        return self.state.name

    # -- where events go ----------------------------------------------------

    def windows_of(self, timestamp: int) -> List[Window]:
        """The windows an event at ``timestamp`` belongs to, by start (for
        sessions: its own ``[t, t + gap)``, before any merge)."""
        if self.kind == _TUMBLING:
            start = timestamp - timestamp % self.size_ms  # Python's % is rem_euclid for a positive size
            return [Window(start, start + self.size_ms)]
        if self.kind == _SLIDING:
            last = timestamp - timestamp % self.slide_ms
            out = []
            start = last
            while start > timestamp - self.size_ms:
                out.append(Window(start, start + self.size_ms))
                start -= self.slide_ms
            out.reverse()
            return out
        return [Window(timestamp, timestamp + self.gap_ms)]

    def _fires_at(self, window: Window) -> int:
        return min(window.end + self.allowed_lateness_ms, MAX_TIMESTAMP)

    def _window_is_late(self, window: Window) -> bool:
        return self._fires_at(window) <= self._ctx._watermark

    def is_late(self, timestamp: int) -> bool:
        """Whether an event at ``timestamp`` is late: every window it
        belongs to has fired or would have, at the current watermark."""
        return all(self._window_is_late(w) for w in self.windows_of(timestamp))

    def add(self, event: Any) -> bool:
        """Adds an event (of the current key) to its windows and registers
        their timers. Returns True, or False when the event is late: then it
        is in no window and the caller decides what becomes of it."""
        timestamp = event.timestamp
        if timestamp is None:
            raise Error(
                f"window state `{self.name}`: event with key {event.key!r:.40} has no timestamp: windows are in "
                "event time (give the source timestamps, e.g. `format = \"tsv\"` for a lines source)"
            )
        aggregate = self.aggregate
        ctx = self._ctx
        if self.kind == _SESSION:
            return self._add_session(event, timestamp)
        added = False
        for window in self.windows_of(timestamp):
            if self._window_is_late(window):
                continue
            acc = self.state.get(window.start, _ABSENT)
            self.state.insert(window.start, aggregate.create(event) if acc is _ABSENT else aggregate.add(acc, event))
            ctx.register_event_timer(self._fires_at(window))
            added = True
        return added

    def _add_session(self, event: Any, timestamp: int) -> bool:
        window = Window(timestamp, timestamp + self.gap_ms)
        if self._window_is_late(window):
            return False
        aggregate = self.aggregate
        touching = sorted(
            (start, end, acc) for start, (end, acc) in self.state.items() if window.start <= end and start <= window.end
        )
        if not touching:
            acc = aggregate.create(event)
        else:
            acc = touching[0][2]
            for _, _, other in touching[1:]:
                acc = aggregate.merge(acc, other)  # type: ignore[misc]
            acc = aggregate.add(acc, event)
        start = min([window.start] + [s for s, _, _ in touching])
        end = max([window.end] + [e for _, e, _ in touching])
        for s, _, _ in touching:
            if s != start:
                self.state.remove(s)
        self.state.insert(start, (end, acc))
        self._ctx.register_event_timer(self._fires_at(Window(start, end)))
        return True

    # -- what fires ---------------------------------------------------------

    def _open(self) -> List[Tuple[Window, Any]]:
        if self.kind == _SESSION:
            out = [(Window(start, end), acc) for start, (end, acc) in self.state.items()]
        else:
            out = [(Window(start, start + self.size_ms), acc) for start, acc in self.state.items()]
        out.sort()
        return out

    def open_windows(self) -> List[Tuple[Window, Any]]:
        """The current key's windows that have not fired, by start, with
        their accumulators."""
        return self._open()

    def on_timer(self, timer: Timer, fire: Callable[[Any, bytes, Window, Any], None]) -> int:
        """Fires the windows of the timer's key that are due at its
        timestamp (``end + allowed_lateness <= timer.timestamp``), in start
        order: calls ``fire(ctx, key, window, accumulator)`` for each, then
        drops its state. What ``fire`` emits carries the timestamp
        ``window.max_timestamp`` unless it sets one. Returns how many fired
        (0 for a processing-time timer, or one that is not this set's)."""
        if timer.domain != TimeDomain.EVENT:
            return 0
        ctx = self._ctx
        due = [(window, acc) for window, acc in self._open() if self._fires_at(window) <= timer.timestamp]
        saved = ctx._timestamp
        try:
            for window, acc in due:
                ctx._timestamp = window.max_timestamp
                fire(ctx, timer.key, window, acc)
                self.state.remove(window.start)
        finally:
            ctx._timestamp = saved
        return len(due)

    def __repr__(self) -> str:
        return f"Windows({self.name!r}, {self.kind}, {self.aggregate.name})"


_ABSENT = object()


class WindowedOperator(Operator):
    """An operator that is one window set: declare it as ``self.windows`` in
    ``open`` and implement ``on_window``. Every event goes into its
    windows; a late one is handed to ``on_late``, which emits it unchanged
    (same key, value and timestamp) to the side output ``late`` when the
    job file declares one and drops it (with a debug log line) otherwise.
    Timers fire the windows; override ``on_timer`` (and call
    ``super().on_timer``) to use timers of your own too."""

    windows: Windows

    def process(self, ctx: Any, event: Any) -> None:
        if not self.windows.add(event):
            self.on_late(ctx, event)

    def on_late(self, ctx: Any, event: Any) -> None:
        """A late event: to the side output ``late`` if there is one."""
        if LATE_OUTPUT in ctx.info.side_outputs:
            ctx.emit_to(LATE_OUTPUT, event.key, event.value)
        else:
            log.debug(
                f"dropped a late event (key {event.key!r:.40}, timestamp {event.timestamp}, watermark "
                f"{ctx.watermark}): declare the side output `{LATE_OUTPUT}` to keep late events"
            )

    def on_timer(self, ctx: Any, timer: Timer) -> None:
        self.windows.on_timer(timer, self.on_window)

    def on_window(self, ctx: Any, key: bytes, window: Window, result: Any) -> None:
        """A window fired: ``result`` is its accumulator."""
        raise NotImplementedError(f"{type(self).__name__} does not implement on_window(ctx, key, window, result)")

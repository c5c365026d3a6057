"""Time: the watermark, timers and what fires them.

An operator's context knows two clocks (``wit/operator.wit``, ``advance``):

- **event time**: the watermark (``ctx.watermark``), the host's guarantee
  that no later event has a timestamp at or below it. It is
  ``MIN_TIMESTAMP`` until the first ``advance`` and never goes back; at the
  end of bounded input it is ``MAX_TIMESTAMP``.
- **processing time**: the host's clock (``ctx.processing_time``), as of
  the last ``advance`` (the wall clock before the first one).

Timers are per event key, like keyed state, and *are* keyed state: the SDK
keeps them in the reserved keyed-map handle ``weir.timers`` (``wit/STATE.md``,
"Timers"), so they are snapshotted, rescaled by key group and restored
across languages with the rest::

    key      = the event key
    map_key  = domain: u8 (0 event time, 1 processing time)  timestamp: i64 LE
    value    = empty

Register them while processing a keyed event (or in ``on_timer``, for the
same key) with ``ctx.register_event_timer(ts)`` and friends. When ``advance``
moves the watermark to ``wm`` and the clock to ``now``, every event-time
timer with ``ts <= wm`` and every processing-time timer with ``ts <= now``
fires, in timestamp order across keys (event time first at equal
timestamps, then by key): the SDK makes the timer's key current and calls
the operator's ``on_timer(ctx, timer)``. A timer registered there that is
already due fires in the same ``advance``. Registering the same (domain,
timestamp) twice for a key keeps one.

After every call that changed the earliest processing-time timer the SDK
tells the host with its ``wake-at`` import, so that the host calls
``advance`` when the clock gets there.
"""

from __future__ import annotations

import enum
import heapq
import struct
from typing import Any, Dict, List, Optional, Set, Tuple

from .chunk import Kind
from .errors import Error
from .state.store import _group, _Keyed

__all__ = ["TimeDomain", "Timer", "MIN_TIMESTAMP", "MAX_TIMESTAMP", "TIMERS_HANDLE"]

#: i64::MIN: the watermark before the first ``advance``.
MIN_TIMESTAMP = -(1 << 63)
#: i64::MAX: the watermark at the end of bounded input.
MAX_TIMESTAMP = (1 << 63) - 1

#: The reserved state handle the SDK keeps timers in.
TIMERS_HANDLE = "weir.timers"

_MAP_KEY = struct.Struct("<Bq")


class TimeDomain(enum.IntEnum):
    """Which clock a timer follows; numbered as in ``weir.timers``."""

    #: Fires when the watermark reaches the timer's timestamp.
    EVENT = 0
    #: Fires when the host's clock reaches the timer's timestamp.
    PROCESSING = 1


class Timer:
    """A timer that fired: its event ``key`` (bytes), ``timestamp`` (ms)
    and ``domain`` (``TimeDomain``). ``key_group`` is the key group of the
    key."""

    __slots__ = ("key", "timestamp", "domain", "key_group")

    def __init__(self, key: bytes, timestamp: int, domain: TimeDomain, key_group: int) -> None:
        self.key = key
        self.timestamp = timestamp
        self.domain = TimeDomain(domain)
        self.key_group = key_group

    @property
    def is_event_time(self) -> bool:
        return self.domain == TimeDomain.EVENT

    def key_str(self) -> str:
        """The key as UTF-8 text."""
        try:
            return self.key.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Error(f"timer key is not UTF-8 ({e})") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timer):
            return NotImplemented
        return (self.key, self.timestamp, self.domain) == (other.key, other.timestamp, other.domain)

    def __hash__(self) -> int:
        return hash((self.key, self.timestamp, self.domain))

    def __repr__(self) -> str:
        return f"Timer(key={self.key!r}, timestamp={self.timestamp}, domain={self.domain.name}, key_group={self.key_group})"


def check_timestamp(timestamp: Any, what: str = "a timer timestamp") -> int:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise TypeError(f"{what} is an int (milliseconds since the epoch), not {type(timestamp).__name__}")
    if not MIN_TIMESTAMP <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"{what} {timestamp} is out of the i64 range")
    return timestamp


def encode_timer(domain: int, timestamp: int) -> bytes:
    """The ``map_key`` of a timer in ``weir.timers``: 9 raw bytes."""
    return _MAP_KEY.pack(domain, timestamp)


def decode_timer(raw: bytes) -> Tuple[TimeDomain, int]:
    if len(raw) != _MAP_KEY.size:
        raise ValueError(f"a timer map key is {_MAP_KEY.size} bytes, not {len(raw)}")
    domain, timestamp = _MAP_KEY.unpack(raw)
    if domain > 1:
        raise ValueError(f"unknown timer domain {domain}")
    return TimeDomain(domain), timestamp


class _TimerStore(_Keyed):
    """The timers of every key: per key a set of (domain, timestamp), plus
    one heap per domain of (timestamp, key) to find the due ones. Heap
    entries of deleted (or fired) timers stay until they reach the top,
    where they are recognised by their absence from the key's set."""

    kind = Kind.KEYED_MAP

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx, TIMERS_HANDLE)
        self._heaps: Tuple[List[Tuple[int, bytes]], List[Tuple[int, bytes]]] = ([], [])

    def _key(self) -> Tuple[int, bytes]:
        ctx = self._ctx
        if ctx._scope != 2:  # not keyed
            raise Error(
                "timers are per event key: register or delete them while processing an event of a keyed input "
                "(key_by = true) or in `on_timer`, not in `open`, `finish` or for an unkeyed or broadcast event"
            )
        return ctx._key_group, ctx._key

    def register(self, domain: TimeDomain, timestamp: int) -> None:
        check_timestamp(timestamp)
        key_group, key = self._key()
        timer = (int(domain), timestamp)
        timers: Optional[Set[Tuple[int, int]]] = self._states.get(key)
        if timers is None:
            self._put(key_group, key, {timer})
        elif timer in timers:
            return
        else:
            timers.add(timer)
            self._dirty[key] = key_group
        heapq.heappush(self._heaps[domain], (timestamp, key))

    def delete(self, domain: TimeDomain, timestamp: int) -> bool:
        check_timestamp(timestamp)
        key_group, key = self._key()
        timers = self._states.get(key)
        timer = (int(domain), timestamp)
        if timers is None or timer not in timers:
            return False
        timers.discard(timer)
        if timers:
            self._dirty[key] = key_group
        else:
            self._drop(key_group, key)
        return True

    def timers(self) -> List[Tuple[TimeDomain, int]]:
        """The current key's timers, in (domain, timestamp) order."""
        key_group, key = self._key()
        return [(TimeDomain(d), ts) for d, ts in sorted(self._states.get(key, ()))]

    def _head(self, domain: int) -> Optional[Tuple[int, bytes]]:
        heap = self._heaps[domain]
        states = self._states
        while heap:
            timestamp, key = heap[0]
            timers = states.get(key)
            if timers is not None and (domain, timestamp) in timers:
                return heap[0]
            heapq.heappop(heap)
        return None

    def earliest(self, domain: TimeDomain) -> Optional[int]:
        head = self._head(domain)
        return None if head is None else head[0]

    def pop_due(self, watermark: int, now: Optional[int]) -> Optional[Timer]:
        """Removes and returns the first due timer, or None."""
        event = self._head(0)
        if event is not None and event[0] > watermark:
            event = None
        processing = self._head(1) if now is not None else None
        if processing is not None and processing[0] > now:  # type: ignore[operator]
            processing = None
        if event is None and processing is None:
            return None
        if event is not None and (processing is None or event[0] <= processing[0]):
            domain, (timestamp, key) = TimeDomain.EVENT, event
        else:
            domain, (timestamp, key) = TimeDomain.PROCESSING, processing  # type: ignore[misc]
        heapq.heappop(self._heaps[domain])
        key_group = self._groups[key]
        timers = self._states[key]
        timers.discard((int(domain), timestamp))
        if timers:
            self._dirty[key] = key_group
        else:
            self._drop(key_group, key)
        return Timer(key, timestamp, domain, key_group)

    def _write(self, writer, key_group, key, state):
        for domain, timestamp in sorted(state):
            writer.keyed_map(key, _MAP_KEY.pack(domain, timestamp), b"")

    def _restore(self, key_group, data):
        key_group = self._restored_key_group(key_group)
        restored: Dict[bytes, Set[Tuple[int, int]]] = {}
        for key, raw_key, raw_value in self._entries(key_group, data):
            try:
                domain, timestamp = decode_timer(raw_key)
            except ValueError as e:
                raise Error(f"state `{self.name}`{_group(key_group)}: malformed restored timer: {e}") from None
            if raw_value:
                raise Error(f"state `{self.name}`{_group(key_group)}: a restored timer has a value ({len(raw_value)} bytes)")
            restored.setdefault(key, set()).add((int(domain), timestamp))
        for key, timers in restored.items():
            self._restore_entry(key_group, key, timers)
            for domain, timestamp in timers:
                heapq.heappush(self._heaps[domain], (timestamp, key))

"""Keyed handles with a time to live (``ttl_ms=``), ``wit/STATE.md`` "State
TTL".

Every value (of a keyed value; every map value; every list element) is kept
with the time it expires at, ``expires_at_ms`` = the event time of the write
+ ``ttl_ms``, and is stored with that time in front::

    value = expires_at_ms: i64 LE  the value's own bytes (the handle's codec)

The event time of a write is the timestamp of the event being processed;
inside ``advance`` (``on_timer``, window callbacks) it is the watermark; for
an event without a timestamp before the first watermark the entry never
expires (``expires_at_ms`` = i64::MAX).

An entry is invisible (``get`` returns the default, iteration skips it) once
the operator's time, the newest of the current event's timestamp and the
watermark, reaches ``expires_at_ms``, and is then dropped for good: the
current key's expired entries when an event (or a timer) of the key starts,
every key's entries the watermark has expired when ``advance`` returns and
before every snapshot. So snapshots leave them out and incremental
snapshots report their keys as changed (or removed). The SDK finds what the
watermark expired through a heap of (expiry, key), not by walking every
key.
"""

from __future__ import annotations

import heapq
import struct
from typing import Any, Dict, List, Tuple

from .. import codec as _codec
from ..chunk import Kind
from ..errors import Error
from .list import _KeyedList
from .map import MapState
from .store import _ABSENT, _KEYED, _group, _where
from .value import _KeyedValue

_EXPIRES = struct.Struct("<q")
_I64_MAX = (1 << 63) - 1


def check_ttl(ttl_ms: Any) -> int:
    if not isinstance(ttl_ms, int) or isinstance(ttl_ms, bool) or ttl_ms <= 0:
        raise ValueError(f"ttl_ms is a positive int (milliseconds), not {ttl_ms!r}")
    return ttl_ms


class _Ttl:
    """What the three TTL handles share: the expiry of a write, the
    visibility test and the expiry heap."""

    ttl_ms: int
    _expiry: List[Tuple[int, bytes]]

    def _init_ttl(self, ttl_ms: int) -> None:
        self.ttl_ms = check_ttl(ttl_ms)
        self._expiry = []

    def _expires_at(self, key: bytes) -> int:
        at = self._ctx._write_time()  # type: ignore[attr-defined]
        expires = _I64_MAX if at is None else min(at + self.ttl_ms, _I64_MAX)
        heapq.heappush(self._expiry, (expires, key))
        return expires

    def _pack(self, expires: int, value: Any, where: str) -> bytes:
        return _EXPIRES.pack(expires) + self._encode(self.codec, value, where)  # type: ignore[attr-defined]

    def _unpack(self, raw: bytes, key: bytes, where: str) -> Tuple[int, Any]:
        if len(raw) < _EXPIRES.size:
            raise Error(
                f"state `{self.name}`{where}: a restored value of {len(raw)} bytes has no expiry in front: the "  # type: ignore[attr-defined]
                "checkpoint holds the handle without a TTL (a handle restores only into one declared with ttl_ms too)"
            )
        (expires,) = _EXPIRES.unpack_from(raw)
        heapq.heappush(self._expiry, (expires, key))
        return expires, self._decode(self.codec, raw[_EXPIRES.size :], where)  # type: ignore[attr-defined]

    def _expire_current(self) -> None:
        """Drops what expired of the current key's state at the operator's
        time (called when an event or a timer enters the key)."""
        ctx = self._ctx  # type: ignore[attr-defined]
        key = ctx._key
        state = self._states.get(key, _ABSENT)  # type: ignore[attr-defined]
        if state is _ABSENT:
            return
        kept = self._without_expired(state, ctx._operator_time())
        if kept is state:
            return
        if kept is None:
            self._drop(ctx._key_group, key)  # type: ignore[attr-defined]
        else:
            self._states[key] = kept  # type: ignore[attr-defined]
            self._dirty[key] = ctx._key_group  # type: ignore[attr-defined]

    def _purge(self, watermark: int) -> None:
        """Drops every entry whose expiry the watermark reached."""
        heap = self._expiry
        while heap and heap[0][0] <= watermark:
            _, key = heapq.heappop(heap)
            state = self._states.get(key, _ABSENT)  # type: ignore[attr-defined]
            if state is _ABSENT:
                continue
            kept = self._without_expired(state, watermark)
            if kept is state:
                continue
            key_group = self._groups[key]  # type: ignore[attr-defined]
            if kept is None:
                self._drop(key_group, key)  # type: ignore[attr-defined]
            else:
                self._states[key] = kept  # type: ignore[attr-defined]
                self._dirty[key] = key_group  # type: ignore[attr-defined]

    def _without_expired(self, state: Any, now: int) -> Any:
        """The state less its entries expired at ``now``: ``state`` itself
        when none is, None when all are."""
        raise NotImplementedError

    def _visible(self, state: Any) -> Any:
        """What ``get`` would see of a key's stored state (None: nothing)."""
        return self._without_expired(state, self._ctx._operator_time())  # type: ignore[attr-defined]

    def retain_all(self, keep) -> int:
        """As for other keyed handles; ``state`` is what is visible, and keys
        with nothing visible lose their state too."""
        doomed = []
        for key, state in self._states.items():  # type: ignore[attr-defined]
            visible = self._visible(state)
            if visible is None or not keep(key, self._plain(visible)):
                doomed.append(key)
        for key in doomed:
            self._drop(self._groups[key], key)  # type: ignore[attr-defined]
        return len(doomed)

    def key_count(self) -> int:
        """How many event keys have a visible entry."""
        return sum(1 for state in self._states.values() if self._visible(state) is not None)  # type: ignore[attr-defined]

    def _plain(self, state: Any) -> Any:
        raise NotImplementedError


class _TtlValue(_Ttl, _KeyedValue):
    """A keyed value with a TTL. In memory: key -> (expires_at, value)."""

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec, ttl_ms: int) -> None:
        _KeyedValue.__init__(self, ctx, name, value_codec)
        self._init_ttl(ttl_ms)

    def get(self, default: Any = None) -> Any:
        ctx = self._ctx
        if ctx._scope != _KEYED:
            ctx._current_key(self.name)  # raises
        entry = self._states.get(ctx._key)
        if entry is None or entry[0] <= ctx._operator_time():
            return default
        return entry[1]

    def set(self, value: Any) -> None:
        self._check(self.codec, value)
        key_group, key = self._ctx._current_key(self.name)
        self._put(key_group, key, (self._expires_at(key), value))

    def expires_at(self) -> Any:
        """When the current key's value expires (ms of event time), or None
        when it has none visible."""
        entry = self._lookup(None)
        if entry is None or entry[0] <= self._ctx._operator_time():
            return None
        return entry[0]

    def _without_expired(self, state, now):
        return None if state[0] <= now else state

    def _plain(self, state):
        return state[1]

    def _write(self, writer, key_group, key, state):
        writer.keyed_value(key, self._pack(state[0], state[1], _where(key_group, key)))

    def _restore(self, key_group, data):
        key_group = self._restored_key_group(key_group)
        for key, raw in self._entries(key_group, data):
            self._restore_entry(key_group, key, self._unpack(raw, key, _where(key_group, key)))


class _TtlMap(_Ttl, MapState):
    """A keyed map with a TTL per map value. In memory: key -> {map_key:
    (expires_at, value)}."""

    def __init__(
        self, ctx: Any, name: str, key_codec: _codec.Codec, value_codec: _codec.Codec, ttl_ms: int
    ) -> None:
        MapState.__init__(self, ctx, name, key_codec, value_codec)
        self._init_ttl(ttl_ms)

    def _live(self) -> Dict[Any, Any]:
        mapping = self._lookup(None)
        if not mapping:
            return {}
        now = self._ctx._operator_time()
        return {k: entry[1] for k, entry in mapping.items() if entry[0] > now}

    def get(self, map_key: Any, default: Any = None) -> Any:
        mapping = self._lookup(None)
        entry = None if mapping is None else mapping.get(map_key)
        if entry is None or entry[0] <= self._ctx._operator_time():
            return default
        return entry[1]

    def contains_key(self, map_key: Any) -> bool:
        return self.get(map_key, _ABSENT) is not _ABSENT

    def insert(self, map_key: Any, value: Any) -> Any:
        self._check(self.key_codec, map_key, "map key")
        self._check(self.codec, value)
        key_group, key = self._ctx._current_key(self.name)
        previous = self.get(map_key)
        entry = (self._expires_at(key), value)
        mapping = self._states.get(key)
        if mapping is None:
            self._put(key_group, key, {map_key: entry})
        else:
            mapping[map_key] = entry
            self._dirty[key] = key_group
        return previous

    def remove(self, map_key: Any) -> Any:
        previous = self.get(map_key)
        key_group, key = self._ctx._current_key(self.name)
        mapping = self._states.get(key)
        if mapping is None or map_key not in mapping:
            return None
        del mapping[map_key]
        if mapping:
            self._dirty[key] = key_group
        else:
            self._drop(key_group, key)
        return previous

    def items(self) -> List[Tuple[Any, Any]]:
        return list(self._live().items())

    def keys(self) -> List[Any]:
        return list(self._live())

    def values(self) -> List[Any]:
        return list(self._live().values())

    def len(self) -> int:
        return len(self._live())

    def is_empty(self) -> bool:
        return not self._live()

    def _without_expired(self, state, now):
        kept = {k: entry for k, entry in state.items() if entry[0] > now}
        if len(kept) == len(state):
            return state
        return kept or None

    def _plain(self, state):
        return {k: entry[1] for k, entry in state.items()}

    def _write(self, writer, key_group, key, state):
        where = _where(key_group, key)
        for map_key, (expires, value) in state.items():
            writer.keyed_map(key, self._encode(self.key_codec, map_key, where), self._pack(expires, value, where))

    def _restore(self, key_group, data):
        key_group = self._restored_key_group(key_group)
        restored: Dict[bytes, Dict[Any, Any]] = {}
        for key, raw_key, raw_value in self._entries(key_group, data):
            where = _where(key_group, key)
            map_key = self._decode(self.key_codec, raw_key, where)
            mapping = restored.setdefault(key, {})
            if map_key in mapping:
                raise Error(
                    f"state `{self.name}`{_group(key_group)}: the restored chunk holds key {key!r} "
                    f"with map key {map_key!r} twice"
                )
            mapping[map_key] = self._unpack(raw_value, key, where)
        for key, mapping in restored.items():
            self._restore_entry(key_group, key, mapping)


class _TtlList(_Ttl, _KeyedList):
    """A keyed list with a TTL per element. In memory: key -> [(expires_at,
    value)]."""

    kind = Kind.KEYED_LIST

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec, ttl_ms: int) -> None:
        _KeyedList.__init__(self, ctx, name, value_codec)
        self._init_ttl(ttl_ms)

    def get(self):
        values = self._lookup(())
        now = self._ctx._operator_time()
        return [value for expires, value in values if expires > now]

    def push(self, value):
        self._check(self.codec, value)
        key_group, key = self._ctx._current_key(self.name)
        entry = (self._expires_at(key), value)
        values = self._states.get(key)
        if values is None:
            self._put(key_group, key, [entry])
        else:
            values.append(entry)
            self._dirty[key] = key_group

    def set(self, values):
        values = list(values)
        for value in values:
            self._check(self.codec, value)
        key_group, key = self._ctx._current_key(self.name)
        if values:
            expires = self._expires_at(key)
            self._put(key_group, key, [(expires, value) for value in values])
        else:
            self._drop(key_group, key)

    def len(self):
        return len(self.get())

    def _without_expired(self, state, now):
        kept = [entry for entry in state if entry[0] > now]
        if len(kept) == len(state):
            return state
        return kept or None

    def _plain(self, state):
        return [value for _, value in state]

    def _write(self, writer, key_group, key, state):
        where = _where(key_group, key)
        writer.keyed_list(key, [self._pack(expires, value, where) for expires, value in state])

    def _restore(self, key_group, data):
        key_group = self._restored_key_group(key_group)
        for key, raws in self._entries(key_group, data):
            where = _where(key_group, key)
            if key in self._states:
                raise Error(f"state `{self.name}`{_group(key_group)}: the restored chunk holds key {key!r} twice")
            values = [self._unpack(raw, key, where) for raw in raws]
            if values:
                self._restore_entry(key_group, key, values)

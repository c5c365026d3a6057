"""State handles and what stands behind them: the values, their key groups,
and what changed since the last snapshot.

An operator declares its state in ``open`` through ``OpenContext`` and gets a
handle back. Values live in guest memory as ordinary Python objects: reading
or writing one costs a dict lookup and no encoding. The handle's codec
(``weir.codec``) encodes values only at snapshots, and decodes them only when
``open`` declares a handle the restored checkpoint holds.

======================  =======================  ===========================
handle                  keyed (``keyed_*``)      operator (``operator_*``)
======================  =======================  ===========================
``ValueState``          ``keyed-value``          ``operator-value``
``MapState``            ``keyed-map``            (none)
``ListState``           ``keyed-list``           ``operator-list``
======================  =======================  ===========================

**Keyed** state is scoped by the key of the event being processed, as in
Flink: the same handle reads another value for another key. Every key is kept
with the key group the host passed with its events, and snapshots hold one
chunk per (handle, key group), so that the host can hand key groups to other
subtasks when it rescales. Declaring keyed state for an input that is not
keyed fails ``open``; using it where there is no current key (in ``finish``)
raises ``weir.Error``.

**Operator** state is one value or list per subtask, usable from ``process``
and ``finish``, and saved as one chunk per handle.

**Incremental snapshots.** Every write marks its event key dirty (an operator
handle marks itself dirty). When the host asks for an incremental snapshot,
a keyed handle answers with one delta chunk per key group that has dirty
keys: the dirty keys that no longer hold state are listed as removed, the
others are written whole (``wit/STATE.md``, "Incremental snapshots"). A dirty
operator handle answers with a full chunk, empty if its state is now empty.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import codec as _codec
from .chunk import Chunk, ChunkWriter, DeltaWriter, Kind, MalformedChunk, read_chunk
from .errors import Error

__all__ = ["ValueState", "MapState", "ListState"]

_ABSENT = object()
# Context._scope of an event with a key group (see context.py).
_KEYED = 2


class _Store:
    """One declared handle's storage. Subclasses implement the handle API and
    the four hooks the runtime calls: ``_restore``, ``_snapshot_full``,
    ``_snapshot_delta`` and ``_clean``."""

    kind: Kind

    def __init__(self, ctx: Any, name: str) -> None:
        self._ctx = ctx
        self.name = name

    def _check(self, value_codec: _codec.Codec, value: Any, what: str = "value") -> None:
        try:
            value_codec.check(value)
        except (TypeError, ValueError) as e:
            raise type(e)(f"state `{self.name}`: {what}: {e}") from None

    def _encode(self, value_codec: _codec.Codec, value: Any, where: str) -> bytes:
        try:
            return _codec.encode(value_codec, value)
        except Exception as e:  # reported with the handle and key
            raise Error(f"state `{self.name}`{where}: cannot encode {value!r:.80} as {value_codec.name}: {e}") from None

    def _decode(self, value_codec: _codec.Codec, data: bytes, where: str) -> Any:
        try:
            return _codec.decode(value_codec, data)
        except Exception as e:  # reported with the handle and key
            raise Error(
                f"state `{self.name}`{where}: cannot decode a restored value as {value_codec.name}: {e}"
            ) from None

    def _entries(self, key_group: Optional[int], data: bytes) -> Iterator[tuple]:
        """The entries of a restored chunk, with decoding errors naming the
        handle and key group."""
        try:
            yield from read_chunk(self.kind, data)
        except MalformedChunk as e:
            raise Error(f"state `{self.name}`{_group(key_group)}: malformed restored chunk: {e}") from None

    def _restore(self, key_group: Optional[int], data: bytes) -> None:
        raise NotImplementedError

    def _snapshot_full(self, out: List[Chunk]) -> None:
        raise NotImplementedError

    def _snapshot_delta(self, out: List[Chunk]) -> None:
        raise NotImplementedError

    def _clean(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.kind.wit_name})"


def _group(key_group: Optional[int]) -> str:
    return "" if key_group is None else f" (key group {key_group})"


def _where(key_group: int, key: bytes) -> str:
    return f" (key group {key_group}, key {key!r})"


class _Keyed(_Store):
    """Event key -> state, in flat dicts: the state, the key group of every
    key (a key always hashes to the same group), and the keys written since
    the last snapshot with their key group, in first-write order. A write
    costs three dict stores; snapshots bucket keys by key group."""

    def __init__(self, ctx: Any, name: str) -> None:
        _Store.__init__(self, ctx, name)
        self._states: Dict[bytes, Any] = {}
        self._groups: Dict[bytes, int] = {}
        self._dirty: Dict[bytes, int] = {}

    def _lookup(self, default: Any = None) -> Any:
        ctx = self._ctx
        if ctx._scope != _KEYED:
            ctx._current_key(self.name)  # raises
        return self._states.get(ctx._key, default)

    def _put(self, key_group: int, key: bytes, state: Any) -> None:
        self._states[key] = state
        self._groups[key] = key_group
        self._dirty[key] = key_group

    def _drop(self, key_group: int, key: bytes) -> Any:
        state = self._states.pop(key, _ABSENT)
        if state is not _ABSENT:
            del self._groups[key]
            self._dirty[key] = key_group
        return state

    def _restored_key_group(self, key_group: Optional[int]) -> int:
        if key_group is None:
            raise Error(f"state `{self.name}`: a restored {self.kind.wit_name} chunk has no key group")
        return key_group

    def _restore_entry(self, key_group: int, key: bytes, state: Any) -> None:
        if key in self._states:
            raise Error(f"state `{self.name}`{_group(key_group)}: the restored chunk holds key {key!r} twice")
        self._states[key] = state
        self._groups[key] = key_group

    def _write(self, writer: ChunkWriter, key_group: int, key: bytes, state: Any) -> None:
        raise NotImplementedError

    def _snapshot_full(self, out: List[Chunk]) -> None:
        writers: Dict[int, ChunkWriter] = {}
        groups = self._groups
        for key, state in self._states.items():
            key_group = groups[key]
            writer = writers.get(key_group)
            if writer is None:
                writer = writers[key_group] = ChunkWriter(self.kind)
            self._write(writer, key_group, key, state)
        for key_group in sorted(writers):
            out.append(Chunk(self.name, self.kind, key_group, writers[key_group].finish()))

    def _snapshot_delta(self, out: List[Chunk]) -> None:
        writers: Dict[int, DeltaWriter] = {}
        states = self._states
        for key, key_group in self._dirty.items():
            writer = writers.get(key_group)
            if writer is None:
                writer = writers[key_group] = DeltaWriter(self.kind)
            state = states.get(key, _ABSENT)
            if state is _ABSENT:
                writer.remove(key)
            else:
                self._write(writer, key_group, key, state)
        for key_group in sorted(writers):
            out.append(Chunk(self.name, self.kind, key_group, writers[key_group].finish()))

    def _clean(self) -> None:
        self._dirty = {}

    def retain_all(self, keep: Callable[[bytes, Any], bool]) -> int:
        """Keeps the state of only the event keys for which
        ``keep(key, state)`` is true, across every key of every key group
        this subtask holds, whatever the current key; returns how many keys
        lost their state. ``state`` is what ``get`` would return for that key
        (a value, a list, a dict for a map): read it, do not change it.

        This is how an operator expires state of keys that may never come
        back (see ``examples/dedup-py``); it costs a pass over every key, so
        call it now and then, not per event.
        """
        doomed = [key for key, state in self._states.items() if not keep(key, state)]
        for key in doomed:
            self._drop(self._groups[key], key)
        return len(doomed)

    def key_count(self) -> int:
        """How many event keys hold state in this handle, over every key
        group this subtask holds."""
        return len(self._states)


class ValueState(_Store):
    """One value per key (``OpenContext.keyed_value``) or per subtask
    (``OpenContext.operator_value``).

    Values are checked against the handle's codec when set; ``get`` returns
    the object that was set (or restored), not a copy, so mutate a stored
    list or dict only through ``set``: a change made in place is not seen by
    incremental snapshots.
    """

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec) -> None:
        super().__init__(ctx, name)
        self.codec = value_codec

    def get(self, default: Any = None) -> Any:
        """The value, or ``default`` when none is set."""
        raise NotImplementedError

    def set(self, value: Any) -> None:
        """Sets the value."""
        raise NotImplementedError

    def clear(self) -> None:
        """Removes the value (a cleared value is absent from the next
        snapshot)."""
        raise NotImplementedError


class _KeyedValue(_Keyed, ValueState):
    kind = Kind.KEYED_VALUE

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec) -> None:
        _Keyed.__init__(self, ctx, name)
        self.codec = value_codec

    # get and set are the hot path of most operators: inlined.
    def get(self, default: Any = None) -> Any:
        ctx = self._ctx
        if ctx._scope != _KEYED:
            ctx._current_key(self.name)  # raises
        return self._states.get(ctx._key, default)

    def set(self, value: Any) -> None:
        try:
            self.codec.check(value)
        except (TypeError, ValueError):
            self._check(self.codec, value)  # raises, naming the handle
        ctx = self._ctx
        if ctx._scope != _KEYED:
            ctx._current_key(self.name)  # raises
        key = ctx._key
        self._states[key] = value
        self._groups[key] = self._dirty[key] = ctx._key_group

    def clear(self) -> None:
        key_group, key = self._ctx._current_key(self.name)
        self._drop(key_group, key)

    def _write(self, writer, key_group, key, state):
        writer.keyed_value(key, self._encode(self.codec, state, _where(key_group, key)))

    def _restore(self, key_group, data):
        key_group = self._restored_key_group(key_group)
        for key, raw in self._entries(key_group, data):
            self._restore_entry(key_group, key, self._decode(self.codec, raw, _where(key_group, key)))


class _OperatorValue(ValueState):
    kind = Kind.OPERATOR_VALUE

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec) -> None:
        super().__init__(ctx, name, value_codec)
        self._value: Any = _ABSENT
        self._dirty = False

    def get(self, default: Any = None) -> Any:
        return default if self._value is _ABSENT else self._value

    def set(self, value: Any) -> None:
        self._check(self.codec, value)
        self._value = value
        self._dirty = True

    def clear(self) -> None:
        if self._value is not _ABSENT:
            self._value = _ABSENT
            self._dirty = True

    def _restore(self, key_group, data):
        for (raw,) in self._entries(key_group, data):
            if self._value is not _ABSENT:
                raise Error(
                    f"state `{self.name}`: the restored checkpoint holds more than one operator-value entry for it"
                )
            self._value = self._decode(self.codec, raw, "")

    def _chunk(self) -> Chunk:
        writer = ChunkWriter(self.kind)
        if self._value is not _ABSENT:
            writer.operator_value(self._encode(self.codec, self._value, ""))
        return Chunk(self.name, self.kind, None, writer.finish())

    def _snapshot_full(self, out):
        if self._value is not _ABSENT:
            out.append(self._chunk())

    def _snapshot_delta(self, out):
        if self._dirty:
            out.append(self._chunk())

    def _clean(self):
        self._dirty = False


class ListState(_Store):
    """A list of values per key (``OpenContext.keyed_list``) or per subtask
    (``OpenContext.operator_list``). When a job is restored with another
    parallelism, a subtask may get several operator-list chunks; their
    values are concatenated."""

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec) -> None:
        super().__init__(ctx, name)
        self.codec = value_codec

    def get(self) -> List[Any]:
        """The values, oldest first, as a new list (empty if none)."""
        raise NotImplementedError

    def push(self, value: Any) -> None:
        """Appends a value."""
        raise NotImplementedError

    def set(self, values: List[Any]) -> None:
        """Replaces every value (an empty list clears)."""
        raise NotImplementedError

    def clear(self) -> None:
        """Removes every value."""
        self.set([])

    def len(self) -> int:
        """The number of values."""
        raise NotImplementedError

    def is_empty(self) -> bool:
        return self.len() == 0


class _KeyedList(_Keyed, ListState):
    kind = Kind.KEYED_LIST

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec) -> None:
        _Keyed.__init__(self, ctx, name)
        self.codec = value_codec

    def get(self):
        return list(self._lookup(()))

    def push(self, value):
        self._check(self.codec, value)
        key_group, key = self._ctx._current_key(self.name)
        values = self._states.get(key)
        if values is None:
            self._put(key_group, key, [value])
        else:
            values.append(value)
            self._dirty[key] = key_group

    def set(self, values):
        values = list(values)
        for value in values:
            self._check(self.codec, value)
        key_group, key = self._ctx._current_key(self.name)
        if values:
            self._put(key_group, key, values)
        else:
            self._drop(key_group, key)

    def len(self):
        return len(self._lookup(()))

    def _write(self, writer, key_group, key, state):
        where = _where(key_group, key)
        writer.keyed_list(key, [self._encode(self.codec, value, where) for value in state])

    def _restore(self, key_group, data):
        key_group = self._restored_key_group(key_group)
        for key, raws in self._entries(key_group, data):
            where = _where(key_group, key)
            values = [self._decode(self.codec, raw, where) for raw in raws]
            if key in self._states:
                raise Error(f"state `{self.name}`{_group(key_group)}: the restored chunk holds key {key!r} twice")
            if values:
                self._restore_entry(key_group, key, values)


class _OperatorList(ListState):
    kind = Kind.OPERATOR_LIST

    def __init__(self, ctx: Any, name: str, value_codec: _codec.Codec) -> None:
        super().__init__(ctx, name, value_codec)
        self._values: List[Any] = []
        self._dirty = False

    def get(self):
        return list(self._values)

    def push(self, value):
        self._check(self.codec, value)
        self._values.append(value)
        self._dirty = True

    def set(self, values):
        values = list(values)
        for value in values:
            self._check(self.codec, value)
        if values or self._values:
            self._dirty = True
        self._values = values

    def len(self):
        return len(self._values)

    def _restore(self, key_group, data):
        for (raw,) in self._entries(key_group, data):
            self._values.append(self._decode(self.codec, raw, ""))

    def _chunk(self) -> Chunk:
        writer = ChunkWriter(self.kind)
        for value in self._values:
            writer.operator_list(self._encode(self.codec, value, ""))
        return Chunk(self.name, self.kind, None, writer.finish())

    def _snapshot_full(self, out):
        if self._values:
            out.append(self._chunk())

    def _snapshot_delta(self, out):
        if self._dirty:
            out.append(self._chunk())

    def _clean(self):
        self._dirty = False


class MapState(_Keyed):
    """A map per key (``OpenContext.keyed_map``; WIT has no operator-scope
    map). Map keys are checked and encoded with the handle's ``key_codec``,
    values with its ``codec``; map keys must be hashable. A key whose map
    becomes empty is dropped from the state."""

    kind = Kind.KEYED_MAP

    def __init__(self, ctx: Any, name: str, key_codec: _codec.Codec, value_codec: _codec.Codec) -> None:
        super().__init__(ctx, name)
        self.key_codec = key_codec
        self.codec = value_codec

    def _map(self) -> Dict[Any, Any]:
        return self._lookup(_EMPTY)

    def get(self, map_key: Any, default: Any = None) -> Any:
        """The value for ``map_key``, or ``default``."""
        return self._map().get(map_key, default)

    def contains_key(self, map_key: Any) -> bool:
        return map_key in self._map()

    def insert(self, map_key: Any, value: Any) -> Any:
        """Sets the value for ``map_key``; returns the previous one (or
        None)."""
        self._check(self.key_codec, map_key, "map key")
        self._check(self.codec, value)
        key_group, key = self._ctx._current_key(self.name)
        mapping = self._states.get(key)
        if mapping is None:
            self._put(key_group, key, {map_key: value})
            return None
        previous = mapping.get(map_key)
        mapping[map_key] = value
        self._dirty[key] = key_group
        return previous

    def remove(self, map_key: Any) -> Any:
        """Removes ``map_key``; returns its value (or None)."""
        key_group, key = self._ctx._current_key(self.name)
        mapping = self._states.get(key)
        if mapping is None or map_key not in mapping:
            return None
        value = mapping.pop(map_key)
        if mapping:
            self._dirty[key] = key_group
        else:
            self._drop(key_group, key)
        return value

    def items(self) -> List[Tuple[Any, Any]]:
        """The entries, in insertion order, as a new list."""
        return list(self._map().items())

    def keys(self) -> List[Any]:
        """The map keys of the current event key, as a new list."""
        return list(self._map())

    def values(self) -> List[Any]:
        return list(self._map().values())

    def len(self) -> int:
        return len(self._map())

    def is_empty(self) -> bool:
        return not self._map()

    def clear(self) -> None:
        """Removes every entry of the current key."""
        key_group, key = self._ctx._current_key(self.name)
        self._drop(key_group, key)

    def _write(self, writer, key_group, key, state):
        where = _where(key_group, key)
        for map_key, value in state.items():
            writer.keyed_map(
                key,
                self._encode(self.key_codec, map_key, where),
                self._encode(self.codec, value, where),
            )

    def _restore(self, key_group, data):
        key_group = self._restored_key_group(key_group)
        restored: Dict[bytes, Dict[Any, Any]] = {}
        for key, raw_key, raw_value in self._entries(key_group, data):
            where = _where(key_group, key)
            map_key = self._decode(self.key_codec, raw_key, where)
            mapping = restored.setdefault(key, {})
            try:
                duplicate = map_key in mapping
            except TypeError as e:
                raise Error(f"state `{self.name}`{where}: restored map key {map_key!r} is not hashable: {e}") from None
            if duplicate:
                raise Error(
                    f"state `{self.name}`{_group(key_group)}: the restored chunk holds key {key!r} "
                    f"with map key {map_key!r} twice"
                )
            mapping[map_key] = self._decode(self.codec, raw_value, where)
        for key, mapping in restored.items():
            self._restore_entry(key_group, key, mapping)


_EMPTY: Dict[Any, Any] = {}


def keyed_value(ctx: Any, name: str, value_codec: _codec.Codec) -> ValueState:
    return _KeyedValue(ctx, name, value_codec)


def operator_value(ctx: Any, name: str, value_codec: _codec.Codec) -> ValueState:
    return _OperatorValue(ctx, name, value_codec)


def keyed_list(ctx: Any, name: str, value_codec: _codec.Codec) -> ListState:
    return _KeyedList(ctx, name, value_codec)


def operator_list(ctx: Any, name: str, value_codec: _codec.Codec) -> ListState:
    return _OperatorList(ctx, name, value_codec)


def keyed_map(ctx: Any, name: str, key_codec: _codec.Codec, value_codec: _codec.Codec) -> MapState:
    return MapState(ctx, name, key_codec, value_codec)

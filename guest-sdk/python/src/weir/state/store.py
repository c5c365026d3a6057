"""What every handle stands on: the values of one handle, per key and key
group, and what changed since the last snapshot (see ``weir.state``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional

from .. import codec as _codec
from ..chunk import Chunk, ChunkWriter, DeltaWriter, Kind, MalformedChunk, read_chunk
from ..errors import Error

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


class _Operator:
    """What an operator-scope handle (one value or list per subtask) does at
    snapshots: it is dirty as a whole, and a delta of it is its full chunk.
    Mixed in before the handle's class, which provides ``_chunk``."""

    _dirty: bool

    def _snapshot_delta(self, out: List[Chunk]) -> None:
        if self._dirty:
            out.append(self._chunk())  # type: ignore[attr-defined]

    def _clean(self) -> None:
        self._dirty = False


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

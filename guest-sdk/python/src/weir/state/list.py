"""``ListState``: one list per key, or per subtask."""

from __future__ import annotations

from typing import Any, List

from .. import codec as _codec
from ..chunk import Chunk, ChunkWriter, Kind
from ..errors import Error
from .store import _Keyed, _Operator, _Store, _group, _where


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


class _OperatorList(_Operator, ListState):
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

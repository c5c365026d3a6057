"""``ValueState``: one value per key, or per subtask."""

from __future__ import annotations

from typing import Any

from .. import codec as _codec
from ..chunk import Chunk, ChunkWriter, Kind
from ..errors import Error
from .store import _ABSENT, _KEYED, _Keyed, _Operator, _Store, _where


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


class _OperatorValue(_Operator, ValueState):
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

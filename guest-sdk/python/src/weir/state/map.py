"""``MapState``: one map per key."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from .. import codec as _codec
from ..chunk import Kind
from ..errors import Error
from .store import _Keyed, _group, _where


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

"""``BroadcastMapState``: one map for the whole operator, the same in every
subtask."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from .. import codec as _codec
from ..chunk import Chunk, ChunkWriter, Kind
from ..errors import Error
from .store import _Operator, _Store


class BroadcastMapState(_Operator, _Store):
    """A map of the whole operator (``OpenContext.broadcast_map``), not
    scoped by key: usable while processing any event, of a broadcast input
    or not, and in ``finish``. Map keys are checked and encoded with the
    handle's ``key_codec``, values with its ``codec``; map keys must be
    hashable.

    It is meant to be built from broadcast inputs, which every subtask sees
    whole and in the same order: then every subtask holds the same map. The
    host keeps subtask 0's copy at a checkpoint and gives every subtask that
    copy on restore, at any parallelism, so a write that depends on a
    subtask's share of a keyed input is lost on restore (only subtask 0's
    survives).

    At snapshots the map is written whole (one ``broadcast-map`` chunk, no
    key group), also in incremental snapshots when it changed since the
    previous one. Do not mutate a stored value in place: ``insert`` it
    again.
    """

    kind = Kind.BROADCAST_MAP

    def __init__(self, ctx: Any, name: str, key_codec: _codec.Codec, value_codec: _codec.Codec) -> None:
        _Store.__init__(self, ctx, name)
        self.key_codec = key_codec
        self.codec = value_codec
        self._map: Dict[Any, Any] = {}
        self._dirty = False

    def get(self, map_key: Any, default: Any = None) -> Any:
        """The value for ``map_key``, or ``default``."""
        return self._map.get(map_key, default)

    def contains_key(self, map_key: Any) -> bool:
        return map_key in self._map

    def insert(self, map_key: Any, value: Any) -> Any:
        """Sets the value for ``map_key``; returns the previous one (or
        None)."""
        self._check(self.key_codec, map_key, "map key")
        self._check(self.codec, value)
        previous = self._map.get(map_key)
        self._map[map_key] = value
        self._dirty = True
        return previous

    def remove(self, map_key: Any) -> Any:
        """Removes ``map_key``; returns its value (or None)."""
        if map_key not in self._map:
            return None
        self._dirty = True
        return self._map.pop(map_key)

    def items(self) -> List[Tuple[Any, Any]]:
        """The entries, in insertion order, as a new list."""
        return list(self._map.items())

    def keys(self) -> List[Any]:
        return list(self._map)

    def values(self) -> List[Any]:
        return list(self._map.values())

    def len(self) -> int:
        return len(self._map)

    def is_empty(self) -> bool:
        return not self._map

    def clear(self) -> None:
        """Removes every entry."""
        if self._map:
            self._map = {}
            self._dirty = True

    def _restore(self, key_group, data):
        # Several chunks (as some SDK may write) together hold the map.
        for raw_key, raw_value in self._entries(key_group, data):
            map_key = self._decode(self.key_codec, raw_key, "")
            try:
                duplicate = map_key in self._map
            except TypeError as e:
                raise Error(f"state `{self.name}`: restored map key {map_key!r} is not hashable: {e}") from None
            if duplicate:
                raise Error(f"state `{self.name}`: the restored checkpoint holds map key {map_key!r} twice")
            self._map[map_key] = self._decode(self.codec, raw_value, "")

    def _chunk(self) -> Chunk:
        writer = ChunkWriter(self.kind)
        for map_key, value in self._map.items():
            writer.broadcast_map(self._encode(self.key_codec, map_key, ""), self._encode(self.codec, value, ""))
        return Chunk(self.name, self.kind, None, writer.finish())

    def _snapshot_full(self, out):
        if self._map:
            out.append(self._chunk())

"""State chunks (``wit/STATE.md``): the layout of a chunk's ``data``, full
(version 1) or delta (version 2), and the merge of a chain of them.

A chunk holds the state of one handle for one key group (keyed kinds) or for
the whole subtask (operator kinds and ``broadcast-map``, whose chunks have no
key group). All integers are little-endian; keys,
map keys and values are length-prefixed byte strings (``len: u32``), the
values already encoded by the handle's codec (``weir.codec``)::

    data           = version: u8 (1) entry*
    keyed-value    entry = key:bytes value:bytes
    keyed-map      entry = key:bytes map_key:bytes value:bytes
    keyed-list     entry = key:bytes count:u32 value:bytes{count}
    operator-value entry = value:bytes              (exactly one entry)
    operator-list  entry = value:bytes
    broadcast-map  entry = map_key:bytes value:bytes

    delta data     = version: u8 (2) removed: u32 key:bytes{removed} entry*

The SDK writes both versions and reads version 1 (the host merges a chain of
deltas into one full chunk before ``init``); ``read_delta`` and ``merge``
exist for tests, which play the host's part. ``weir_wire::state`` is the
reference implementation.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

__all__ = [
    "Kind",
    "Chunk",
    "VERSION",
    "DELTA_VERSION",
    "MalformedChunk",
    "ChunkWriter",
    "DeltaWriter",
    "read_chunk",
    "read_delta",
    "chunk_version",
    "merge",
]

#: The version byte of a full chunk.
VERSION = 1
#: The version byte of a delta chunk (keyed kinds, incremental snapshots).
DELTA_VERSION = 2

_U32 = struct.Struct("<I")


class Kind(enum.IntEnum):
    """What a chunk holds; numbered as the WIT enum ``state-kind``."""

    KEYED_VALUE = 0
    KEYED_MAP = 1
    KEYED_LIST = 2
    OPERATOR_VALUE = 3
    OPERATOR_LIST = 4
    #: A map every subtask holds the same copy of (``weir:operator@0.2.0``).
    BROADCAST_MAP = 5

    @property
    def is_keyed(self) -> bool:
        return self in (Kind.KEYED_VALUE, Kind.KEYED_MAP, Kind.KEYED_LIST)

    @property
    def wit_name(self) -> str:
        """The WIT spelling (``keyed-value``...), for messages."""
        return self.name.lower().replace("_", "-")


@dataclass
class Chunk:
    """The WIT ``state-chunk``: one handle's state for one key group (keyed
    kinds; ``key_group`` is None for operator kinds)."""

    handle: str
    kind: Kind
    key_group: Optional[int]
    data: bytes

    def __repr__(self) -> str:
        return (
            f"Chunk(handle={self.handle!r}, kind={self.kind.wit_name}, key_group={self.key_group}, "
            f"data={len(self.data)} bytes, v{self.data[0] if self.data else '?'})"
        )


class MalformedChunk(ValueError):
    """The bytes are not a valid chunk of the kind they were read as."""


def _put(out: bytearray, raw: bytes) -> None:
    out += _U32.pack(len(raw))
    out += raw


class ChunkWriter:
    """Writes a full (version 1) chunk of one kind."""

    def __init__(self, kind: Kind, version: int = VERSION) -> None:
        self.kind = kind
        self.entries = 0
        self._buf = bytearray([version])

    def _entry(self, kind: Kind) -> bytearray:
        if kind != self.kind:
            raise ValueError(f"a {kind.wit_name} entry in a {self.kind.wit_name} chunk")
        self.entries += 1
        return self._buf

    def keyed_value(self, key: bytes, value: bytes) -> None:
        buf = self._entry(Kind.KEYED_VALUE)
        _put(buf, key)
        _put(buf, value)

    def keyed_map(self, key: bytes, map_key: bytes, value: bytes) -> None:
        buf = self._entry(Kind.KEYED_MAP)
        _put(buf, key)
        _put(buf, map_key)
        _put(buf, value)

    def keyed_list(self, key: bytes, values: List[bytes]) -> None:
        buf = self._entry(Kind.KEYED_LIST)
        _put(buf, key)
        buf += _U32.pack(len(values))
        for value in values:
            _put(buf, value)

    def operator_value(self, value: bytes) -> None:
        _put(self._entry(Kind.OPERATOR_VALUE), value)

    def operator_list(self, value: bytes) -> None:
        _put(self._entry(Kind.OPERATOR_LIST), value)

    def broadcast_map(self, map_key: bytes, value: bytes) -> None:
        buf = self._entry(Kind.BROADCAST_MAP)
        _put(buf, map_key)
        _put(buf, value)

    def entry(self, entry: tuple) -> None:
        """Writes an entry as ``read_chunk`` yields it for this kind."""
        if self.kind == Kind.KEYED_VALUE:
            self.keyed_value(*entry)
        elif self.kind == Kind.KEYED_MAP:
            self.keyed_map(*entry)
        elif self.kind == Kind.KEYED_LIST:
            self.keyed_list(*entry)
        elif self.kind == Kind.OPERATOR_VALUE:
            self.operator_value(*entry)
        elif self.kind == Kind.BROADCAST_MAP:
            self.broadcast_map(*entry)
        else:
            self.operator_list(*entry)

    def finish(self) -> bytes:
        return bytes(self._buf)


class DeltaWriter(ChunkWriter):
    """Writes a delta (version 2) chunk of a keyed kind: the keys removed
    since the previous snapshot (``remove``), then the entries of the keys
    written since (with the ``ChunkWriter`` methods)."""

    def __init__(self, kind: Kind) -> None:
        if not kind.is_keyed:
            raise ValueError(f"only keyed kinds have deltas, not {kind.wit_name}")
        super().__init__(kind, DELTA_VERSION)
        self._removed = bytearray()
        self.removed = 0

    def remove(self, key: bytes) -> None:
        _put(self._removed, key)
        self.removed += 1

    def finish(self) -> bytes:
        head = bytearray([DELTA_VERSION])
        head += _U32.pack(self.removed)
        head += self._removed
        head += memoryview(self._buf)[1:]
        return bytes(head)


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def left(self) -> int:
        return len(self.data) - self.pos

    def u32(self, what: str) -> int:
        if self.pos + 4 > len(self.data):
            raise MalformedChunk(f"truncated while reading {what}")
        (n,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return n

    def bytes(self, what: str) -> bytes:
        n = self.u32(f"{what} length")
        end = self.pos + n
        if end > len(self.data):
            raise MalformedChunk(f"truncated while reading {what}")
        raw = bytes(self.data[self.pos : end])
        self.pos = end
        return raw


def chunk_version(data: bytes) -> int:
    """The version byte of a chunk's data."""
    if not data:
        raise MalformedChunk("truncated while reading state chunk version")
    return data[0]


def _entries(kind: Kind, cur: _Cursor) -> Iterator[tuple]:
    while cur.left():
        if kind == Kind.KEYED_VALUE:
            yield cur.bytes("entry key"), cur.bytes("entry value")
        elif kind == Kind.KEYED_MAP:
            yield cur.bytes("entry key"), cur.bytes("entry map key"), cur.bytes("entry value")
        elif kind == Kind.KEYED_LIST:
            key = cur.bytes("entry key")
            count = cur.u32("list length")
            # Each value takes at least its 4-byte length: refuse a count
            # that cannot fit before building a list from it.
            if count > cur.left() // 4:
                raise MalformedChunk("truncated while reading list length")
            yield key, [cur.bytes("list value") for _ in range(count)]
        elif kind == Kind.BROADCAST_MAP:
            yield cur.bytes("entry map key"), cur.bytes("entry value")
        else:
            yield (cur.bytes("entry value"),)


def read_chunk(kind: Kind, data: bytes) -> Iterator[tuple]:
    """Yields the entries of a full (version 1) chunk, as tuples:
    ``(key, value)``, ``(key, map_key, value)``, ``(key, [values])``,
    ``(value,)``, ``(value,)`` or ``(map_key, value)`` for the six kinds in
    WIT order.

    Raises ``MalformedChunk`` for another version or a damaged chunk (when
    the walk reaches the damage).
    """
    version = chunk_version(data)
    if version != VERSION:
        raise MalformedChunk(f"unknown format version {version}")
    return _entries(Kind(kind), _Cursor(data, 1))


def read_delta(kind: Kind, data: bytes) -> Tuple[List[bytes], List[tuple]]:
    """The removed keys and the entries of a delta (version 2) chunk."""
    kind = Kind(kind)
    version = chunk_version(data)
    if version != DELTA_VERSION:
        raise MalformedChunk(f"unknown format version {version}")
    if not kind.is_keyed:
        raise MalformedChunk("a delta (version 2) chunk for an operator kind (only keyed kinds have deltas)")
    cur = _Cursor(data, 1)
    removed_count = cur.u32("removed key count")
    if removed_count > cur.left() // 4:
        raise MalformedChunk("truncated while reading removed key count")
    removed = [cur.bytes("removed key") for _ in range(removed_count)]
    return removed, list(_entries(kind, cur))


def merge(kind: Kind, chain: Iterable[bytes]) -> bytes:
    """Applies a chain of chunks for one (handle, key group), oldest first,
    and returns the one full chunk it amounts to (what the host hands to
    ``init``). A full chunk in the chain replaces everything before it; a
    delta removes its removed keys, then replaces the entries of every key
    it names. Entries keep the order of the keys' first appearance."""
    kind = Kind(kind)
    state: Dict[bytes, List[tuple]] = {}
    plain: List[tuple] = []
    for data in chain:
        version = chunk_version(data)
        if version == VERSION:
            state, plain = {}, []
            for entry in read_chunk(kind, data):
                if kind.is_keyed:
                    state.setdefault(entry[0], []).append(entry)
                else:
                    plain.append(entry)
        else:
            removed, entries = read_delta(kind, data)
            for key in removed:
                state.pop(key, None)
            named: Dict[bytes, List[tuple]] = {}
            for entry in entries:
                named.setdefault(entry[0], []).append(entry)
            state.update(named)
    writer = ChunkWriter(kind)
    for entries in state.values():
        for entry in entries:
            writer.entry(entry)
    for entry in plain:
        writer.entry(entry)
    return writer.finish()

"""``Harness``: runs an operator under plain CPython, without a host, for
unit tests.

The harness drives the same ``Runtime`` the component uses, so what passes
here behaves the same inside a component: events go through the batch
framing, state through snapshot chunks.

>>> import weir
>>> from weir.testing import Harness
>>> class Upper(weir.Operator):
...     def process(self, ctx, event):
...         ctx.emit(event.key, event.value_str().upper())
>>> harness = Harness(Upper)
>>> harness.process("k", "hi")
[Output('k', 'HI')]

``Checkpoints`` plays the host's part for incremental snapshots: it keeps
each (handle, key group) as a chain of a full chunk and deltas and merges
them back into the full chunks a restored instance receives.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .chunk import Chunk, Kind, chunk_version, merge
from .errors import Error
from .framing import NO_KEY_GROUP, NO_TIMESTAMP, BatchWriter, MalformedBatch, read_batch
from .info import OperatorInfo
from .runtime import Runtime, Snapshot

__all__ = ["Harness", "Output", "Checkpoints", "NO_KEY_GROUP"]

BytesLike = Union[bytes, str]


def _raw(data: BytesLike) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


class Output:
    """One event an operator emitted. Compares equal to a ``(key, value)``
    pair of ``str`` (UTF-8) or ``bytes``, so that
    ``assert harness.process("a", "x") == [("a", "1")]`` works."""

    __slots__ = ("key", "value", "timestamp")

    def __init__(self, key: bytes, value: bytes, timestamp: Optional[int]) -> None:
        self.key = key
        self.value = value
        self.timestamp = timestamp

    def key_str(self) -> str:
        return self.key.decode("utf-8")

    def value_str(self) -> str:
        return self.value.decode("utf-8")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Output):
            return (self.key, self.value, self.timestamp) == (other.key, other.value, other.timestamp)
        if isinstance(other, tuple) and len(other) == 2:
            try:
                return (self.key, self.value) == (_raw(other[0]), _raw(other[1]))
            except (TypeError, AttributeError):
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.key, self.value, self.timestamp))

    def __repr__(self) -> str:
        parts = [repr(self.key.decode("utf-8", "replace")), repr(self.value.decode("utf-8", "replace"))]
        if self.timestamp is not None:
            parts.append(str(self.timestamp))
        return f"Output({', '.join(parts)})"


def decode_output(batch: bytes) -> List[Output]:
    """The events of a packed batch an operator returned."""
    try:
        return [
            Output(key, value, None if timestamp == NO_TIMESTAMP else timestamp)
            for _, timestamp, key, value in read_batch(batch)
        ]
    except MalformedBatch as e:
        raise Error(f"the SDK wrote a malformed output batch: {e}") from None


class Harness:
    """One operator instance under test.

    ``operator`` is the operator class (or any factory returning an
    operator). ``info`` defaults to ``OperatorInfo("test")``: subtask 0 of 1,
    owning key groups 0..127, no config. ``restored`` are chunks from
    ``snapshot`` (or ``Checkpoints.chunks``) to restore from.
    """

    def __init__(
        self,
        operator: Callable[[], Any],
        info: Optional[OperatorInfo] = None,
        restored: Sequence[Chunk] = (),
    ) -> None:
        self.info = info if info is not None else OperatorInfo("test")
        self._factory = operator
        self.runtime = Runtime(operator, self.info, list(restored))
        self._checkpoint_id = 0

    @classmethod
    def restore(cls, operator: Callable[[], Any], chunks: Sequence[Chunk], info: Optional[OperatorInfo] = None):
        """An instance restored from chunks returned by ``snapshot``."""
        return cls(operator, info, chunks)

    @property
    def operator(self) -> Any:
        """The operator instance."""
        return self.runtime.operator

    def process(
        self, key: BytesLike, value: BytesLike, key_group: int = 0, timestamp: Optional[int] = None
    ) -> List[Output]:
        """Processes one event. ``key_group`` is what the host would have
        hashed the key into; pass ``NO_KEY_GROUP`` for an unkeyed input.
        ``timestamp`` is in milliseconds since the epoch, or None."""
        return self.process_all([(key, value, key_group, timestamp)])

    def process_all(self, events: Iterable[Tuple]) -> List[Output]:
        """Processes ``(key, value[, key_group[, timestamp]])`` tuples as one
        batch."""
        writer = BatchWriter()
        for event in events:
            key, value = event[0], event[1]
            key_group = event[2] if len(event) > 2 else 0
            timestamp = event[3] if len(event) > 3 and event[3] is not None else NO_TIMESTAMP
            writer.push(key_group, timestamp, _raw(key), _raw(value))
        return self.process_batch(writer.finish())

    def process_batch(self, batch: bytes) -> List[Output]:
        """Processes a packed batch as the host would pass it."""
        return decode_output(self.runtime.process(batch))

    def snapshot(self) -> List[Chunk]:
        """Takes a complete snapshot (as at a checkpoint barrier); pass the
        chunks to ``Harness.restore`` to continue from it."""
        self._checkpoint_id += 1
        return self.runtime.snapshot(self._checkpoint_id, incremental=False).chunks

    def snapshot_incremental(self) -> Snapshot:
        """Takes a snapshot as the host does when it asks for ``incremental``;
        feed it to ``Checkpoints.add``."""
        self._checkpoint_id += 1
        return self.runtime.snapshot(self._checkpoint_id, incremental=True)

    def finish(self) -> List[Output]:
        """Ends the input: runs the operator's ``finish``."""
        return decode_output(self.runtime.finish())


class Checkpoints:
    """What the host keeps of one subtask's snapshots: per (handle, key
    group), a full chunk followed by the deltas since, merged on demand."""

    def __init__(self) -> None:
        self._chains: Dict[Tuple[str, Kind, Optional[int]], List[bytes]] = {}

    def add(self, snapshot: Union[Snapshot, List[Chunk]]) -> None:
        """Records a snapshot: a complete one (or a plain list of chunks)
        replaces everything; an incremental one extends or replaces the
        chains it names."""
        if not isinstance(snapshot, Snapshot):
            snapshot = Snapshot(False, list(snapshot))
        if not snapshot.incremental:
            self._chains = {}
        for chunk in snapshot.chunks:
            ident = (chunk.handle, Kind(chunk.kind), chunk.key_group)
            if chunk_version(chunk.data) == 1:
                self._chains[ident] = [chunk.data]
            else:
                if not snapshot.incremental:
                    raise Error(f"a complete snapshot holds a delta chunk for `{chunk.handle}`")
                if ident not in self._chains:
                    # A delta on nothing: the (handle, key group) was empty.
                    self._chains[ident] = [bytes([1])]
                self._chains[ident].append(chunk.data)

    def chunks(self) -> List[Chunk]:
        """The merged full chunks a restore hands to ``init``; empty ones
        are left out."""
        out = []
        for (handle, kind, key_group), chain in self._chains.items():
            data = merge(kind, chain)
            if len(data) > 1:
                out.append(Chunk(handle, kind, key_group, data))
        return out

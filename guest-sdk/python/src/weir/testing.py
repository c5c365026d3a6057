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

Inputs and side outputs are the job file's (by default one input named
"input" and no side outputs); events go to input 0 unless told otherwise, and
what an operator emits to a side output is read with ``side_output``:

>>> class Split(weir.Operator):
...     def process(self, ctx, event):
...         if event.input_name == "rules":
...             ctx.emit_to("rules-seen", event.key, event.value)
...         else:
...             ctx.emit(event.key, event.value)
>>> harness = Harness(Split, inputs=["events", ("rules", True)], side_outputs=["rules-seen"])
>>> harness.process("", "r1", input=1)
[]
>>> harness.side_output("rules-seen")
[Output('', 'r1')]

Time moves only when the test says so: ``advance(watermark, now)`` plays
the host's ``advance`` (it fires due timers and windows and returns what
they emitted to the main output), and ``wake_at`` is the earliest
processing-time timer the operator last asked the host to wake it for:

>>> class Reminder(weir.Operator):
...     def process(self, ctx, event):
...         ctx.register_event_timer(event.timestamp + 10)
...     def on_timer(self, ctx, timer):
...         ctx.emit(timer.key, f"due at {timer.timestamp}")
>>> harness = Harness(Reminder)
>>> harness.process("k", "", timestamp=5)
[]
>>> harness.advance(14)
[]
>>> harness.advance(20)
[Output('k', 'due at 15', 15)]

``Checkpoints`` plays the host's part for incremental snapshots: it keeps
each (handle, key group) as a chain of a full chunk and deltas and merges
them back into the full chunks a restored instance receives.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .chunk import Chunk, Kind, chunk_version, merge
from .errors import Error
from .framing import MAIN_OUTPUT, NO_KEY_GROUP, NO_TIMESTAMP, BatchWriter, MalformedBatch, read_output_batch
from .info import OperatorInfo
from .runtime import Runtime, Snapshot
from .time import MIN_TIMESTAMP

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


def decode_output(batch: bytes, side_outputs: Sequence[str] = ()) -> List[Output]:
    """The events of a packed batch an operator returned for its main output
    (every event of a version 1 batch)."""
    return _decode_outputs(batch, side_outputs)[None]


def _decode_outputs(batch: bytes, side_outputs: Sequence[str]) -> Dict[Optional[str], List[Output]]:
    """The events of an output batch by output: None for the main output,
    the side output's name otherwise (each key present, maybe empty)."""
    outputs: Dict[Optional[str], List[Output]] = {None: []}
    for name in side_outputs:
        outputs[name] = []
    try:
        for tag, timestamp, key, value in read_output_batch(batch):
            if tag == MAIN_OUTPUT:
                name = None
            elif tag < len(side_outputs):
                name = side_outputs[tag]
            else:
                raise Error(
                    f"the operator emitted an event with output tag {tag}, but it has {len(side_outputs)} "
                    "side outputs"
                )
            outputs[name].append(Output(key, value, None if timestamp == NO_TIMESTAMP else timestamp))
    except MalformedBatch as e:
        raise Error(f"the SDK wrote a malformed output batch: {e}") from None
    return outputs


#: An input of ``Harness(inputs=...)``: a name, a ``(name, broadcast)``
#: tuple, or an ``InputInfo``.
InputSpec = Any


class Harness:
    """One operator instance under test.

    ``operator`` is the operator class (or any factory returning an
    operator). ``info`` defaults to ``OperatorInfo("test")``: subtask 0 of 1,
    owning key groups 0..127, no config, one input named ``"input"``, no side
    outputs. ``inputs`` and ``side_outputs``, when given, replace the info's
    (an input is a name, a ``(name, broadcast)`` tuple or an ``InputInfo``).
    ``restored`` are chunks from ``snapshot`` (or ``Checkpoints.chunks``) to
    restore from.

    The ``process`` methods return what the operator emitted to its main
    output; what it emitted to a side output is kept until read with
    ``side_output(name)``.
    """

    def __init__(
        self,
        operator: Callable[[], Any],
        info: Optional[OperatorInfo] = None,
        restored: Sequence[Chunk] = (),
        *,
        inputs: Optional[Sequence[InputSpec]] = None,
        side_outputs: Optional[Sequence[str]] = None,
    ) -> None:
        info = info if info is not None else OperatorInfo("test")
        changes: Dict[str, Any] = {}
        if inputs is not None:
            changes["inputs"] = list(inputs)
        if side_outputs is not None:
            changes["side_outputs"] = list(side_outputs)
        self.info = dataclasses.replace(info, **changes) if changes else info
        self._factory = operator
        self._side: Dict[str, List[Output]] = {name: [] for name in self.info.side_outputs}
        #: Every value the operator passed to the host's ``wake-at``, oldest
        #: first (None: no processing-time timer left).
        self.wake_at_requests: List[Optional[int]] = []
        self._now = MIN_TIMESTAMP
        self.runtime = Runtime(operator, self.info, list(restored), self.wake_at_requests.append)
        self._checkpoint_id = 0

    @classmethod
    def restore(
        cls,
        operator: Callable[[], Any],
        chunks: Sequence[Chunk],
        info: Optional[OperatorInfo] = None,
        **options: Any,
    ) -> "Harness":
        """An instance restored from chunks returned by ``snapshot``;
        ``options`` are ``inputs`` and ``side_outputs`` as for the
        constructor."""
        return cls(operator, info, chunks, **options)

    @property
    def operator(self) -> Any:
        """The operator instance."""
        return self.runtime.operator

    def input_index(self, input: Union[int, str]) -> int:
        """The index of an input given by index or by name."""
        inputs = self.info.inputs
        if isinstance(input, str):
            for i, spec in enumerate(inputs):
                if spec.name == input:
                    return i
        elif isinstance(input, int) and 0 <= input < len(inputs):
            return input
        names = ", ".join(f"{i}: `{spec.name}`" for i, spec in enumerate(inputs)) or "none"
        raise Error(f"the operator has no input {input!r}: its inputs are {names}")

    def process(
        self,
        key: BytesLike,
        value: BytesLike,
        key_group: Optional[int] = None,
        timestamp: Optional[int] = None,
        input: Union[int, str] = 0,
    ) -> List[Output]:
        """Processes one event from input ``input`` (an index or a name;
        default 0). ``key_group`` is what the host would have hashed the key
        into (default 0); pass ``NO_KEY_GROUP`` for an unkeyed input. An event
        of a broadcast input has no key group: leave it out. ``timestamp`` is
        in milliseconds since the epoch, or None."""
        return self.process_all([(key, value, key_group, timestamp)], input=input)

    def process_all(self, events: Iterable[Tuple], input: Union[int, str] = 0) -> List[Output]:
        """Processes ``(key, value[, key_group[, timestamp]])`` tuples as one
        batch from input ``input``."""
        index = self.input_index(input)
        spec = self.info.inputs[index]
        writer = BatchWriter()
        for event in events:
            key, value = event[0], event[1]
            key_group = event[2] if len(event) > 2 else None
            if spec.broadcast:
                if key_group not in (None, NO_KEY_GROUP):
                    raise Error(
                        f"an event of the broadcast input `{spec.name}` was given key group {key_group}: the host "
                        "sends broadcast events without one"
                    )
                key_group = NO_KEY_GROUP
            elif key_group is None:
                key_group = 0
            timestamp = event[3] if len(event) > 3 and event[3] is not None else NO_TIMESTAMP
            writer.push(key_group, timestamp, _raw(key), _raw(value))
        return self.process_batch(writer.finish(), input=index)

    def process_batch(self, batch: bytes, input: Union[int, str] = 0) -> List[Output]:
        """Processes a packed batch as the host would pass it, from input
        ``input``."""
        return self._outputs(self.runtime.process(batch, self.input_index(input)))

    def advance(self, watermark: Optional[int] = None, now: Optional[int] = None) -> List[Output]:
        """Moves time as the host's ``advance`` does: the watermark to
        ``watermark`` (None keeps it; a lower one is ignored) and the clock
        to ``now`` (None keeps the last one given; before any it is
        ``MIN_TIMESTAMP``, so no processing-time timer is due, and
        ``ctx.processing_time`` reads that from then on). Fires what is due;
        returns what was emitted to the main output (side outputs as for
        ``process``)."""
        if now is not None:
            self._now = now
        if watermark is None:
            watermark = self.watermark
        return self._outputs(self.runtime.advance(watermark, self._now))

    def end_of_input(self) -> List[Output]:
        """What the host does at the end of bounded input: ``advance`` with
        the watermark at i64::MAX (every event-time timer fires), then
        ``finish``; returns both main outputs."""
        return self.advance((1 << 63) - 1) + self.finish()

    @property
    def watermark(self) -> int:
        """The operator's watermark (``MIN_TIMESTAMP`` before the first
        ``advance``)."""
        return self.runtime.context.watermark

    @property
    def wake_at(self) -> Optional[int]:
        """The earliest processing-time timer the operator last told the
        host about (None: none, or never asked)."""
        return self.wake_at_requests[-1] if self.wake_at_requests else None

    def side_output(self, name: str) -> List[Output]:
        """What the operator emitted to the side output ``name`` since the
        previous call for it (or since the harness was created), and
        forgets it."""
        if name not in self._side:
            declared = ", ".join(f"`{n}`" for n in self.info.side_outputs) or "none"
            raise Error(f"no side output `{name}`: the harness declares {declared} (pass side_outputs=[...])")
        events, self._side[name] = self._side[name], []
        return events

    def _outputs(self, batch: bytes) -> List[Output]:
        outputs = _decode_outputs(batch, self.info.side_outputs)
        for name in self.info.side_outputs:
            self._side[name].extend(outputs[name])
        return outputs[None]

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
        """Ends the input: runs the operator's ``finish``; returns its main
        output (side outputs as for ``process``)."""
        return self._outputs(self.runtime.finish())


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

"""Batch framing, versions 1 and 2 (``wit/FRAMING.md``): how a batch of
events is packed into the one ``list<u8>`` that crosses the host/guest
boundary.

``read_batch`` walks an input batch (always version 1); ``BatchWriter``
packs one, and becomes a version 2 batch, whose first field per event is the
output tag (``MAIN_OUTPUT`` or a side output's index), once
``tag_outputs`` is called; ``read_output_batch`` walks what an operator
returns, of either version. They follow the reference implementation
(``weir_wire::batch``), error messages included.

>>> w = BatchWriter()
>>> w.push(7, NO_TIMESTAMP, b"a", b"1")
>>> data = w.finish()
>>> data.hex(" ")
'57 42 01 00 01 00 00 00 07 00 00 00 00 00 00 00 00 80 01 00 00 00 01 00 00 00 61 31'
>>> list(read_batch(data))
[(7, -9223372036854775808, b'a', b'1')]
"""

from __future__ import annotations

import struct
from typing import Iterator, Tuple

__all__ = [
    "MAGIC",
    "VERSION",
    "TAGGED_VERSION",
    "MAIN_OUTPUT",
    "HEADER_LEN",
    "EVENT_OVERHEAD",
    "NO_KEY_GROUP",
    "NO_TIMESTAMP",
    "MalformedBatch",
    "read_batch",
    "read_output_batch",
    "BatchWriter",
]

#: The first two bytes of every non-empty batch: "WB".
MAGIC = b"WB"
#: The framing version of input batches, and of output without side outputs.
VERSION = 1
#: The framing version of an output batch whose events name their output.
TAGGED_VERSION = 2
#: The output tag (version 2) of an event for the main output. Also
#: ``NO_KEY_GROUP``: a version 1 event and a main-output version 2 event
#: have the same bytes.
MAIN_OUTPUT = 0xFFFF
#: Size of the batch header in bytes.
HEADER_LEN = 8
#: Fixed bytes per event besides its key and value.
EVENT_OVERHEAD = 2 + 8 + 4 + 4
#: ``key_group`` of an event whose operator input is not keyed.
NO_KEY_GROUP = 0xFFFF
#: ``timestamp`` of an event that has none.
NO_TIMESTAMP = -(1 << 63)

_HEADER = struct.Struct("<2sBBI")
_EVENT = struct.Struct("<HqII")
_COUNT = struct.Struct("<I")

#: One event: (key_group, timestamp, key, value).
RawEvent = Tuple[int, int, bytes, bytes]


class MalformedBatch(ValueError):
    """The bytes are not a valid batch."""


def read_batch(data: bytes) -> Iterator[RawEvent]:
    """Yields the events of a packed input batch (version 1) as
    ``(key_group, timestamp, key, value)``.

    The header is checked at once (``MalformedBatch``); a length that runs
    past the end, or bytes left after the last event, raise ``MalformedBatch``
    when the walk reaches them (events before the damage have been yielded by then).
    An empty ``data`` is an empty batch.
    """
    # Not a generator itself: one generator frame per event, not two (this is
    # the per-event path of every operator).
    return _events(data, _header(data, (VERSION,))[1])


def read_output_batch(data: bytes) -> Iterator[RawEvent]:
    """Yields the events of a batch an operator returned, version 1 or 2, as
    ``(output, timestamp, key, value)``: ``output`` is the event's output tag
    in a version 2 batch, and ``MAIN_OUTPUT`` for every event of a version 1
    batch (whose first field means nothing on output)."""
    version, count = _header(data, (VERSION, TAGGED_VERSION))
    if version == TAGGED_VERSION:
        yield from _events(data, count)
    else:
        for _, timestamp, key, value in _events(data, count):
            yield MAIN_OUTPUT, timestamp, key, value


def _header(data: bytes, versions: Tuple[int, ...]) -> Tuple[int, int]:
    """The version and event count of a batch, checked."""
    size = len(data)
    if size == 0:
        return VERSION, 0
    if size >= 2 and data[:2] != MAGIC:
        raise MalformedBatch("bad magic (not a Weir batch)")
    if size < HEADER_LEN:
        raise MalformedBatch("truncated while reading batch header")
    magic, version, flags, count = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise MalformedBatch("bad magic (not a Weir batch)")
    if version not in versions:
        raise MalformedBatch(f"unknown format version {version}")
    if flags != 0:
        raise MalformedBatch(f"unknown flags {flags:#04x}")
    if count > (size - HEADER_LEN) // EVENT_OVERHEAD:
        raise MalformedBatch("truncated while reading event count")
    return version, count


def _events(data: bytes, count: int) -> Iterator[RawEvent]:
    size = len(data)
    if size == 0:
        return
    pos = HEADER_LEN
    unpack = _EVENT.unpack_from
    for _ in range(count):
        if pos + EVENT_OVERHEAD > size:
            raise MalformedBatch("truncated while reading event header")
        key_group, timestamp, key_len, value_len = unpack(data, pos)
        pos += EVENT_OVERHEAD
        key_end = pos + key_len
        if key_end > size:
            raise MalformedBatch("truncated while reading event key")
        value_end = key_end + value_len
        if value_end > size:
            raise MalformedBatch("truncated while reading event value")
        yield key_group, timestamp, data[pos:key_end], data[key_end:value_end]
        pos = value_end
    if pos != size:
        raise MalformedBatch(f"{size - pos} bytes left after the last entry")


class BatchWriter:
    """Packs events into a batch. ``finish`` returns the bytes; an empty
    writer finishes to ``b""`` (the empty batch, which costs the host
    nothing to read).

    A writer packs version 1 until ``tag_outputs`` is called; from then on
    until ``finish`` or ``reset`` the batch is version 2 and the first field
    of every event (``key_group`` in ``push``) is its output tag. Since the
    main output's tag is ``MAIN_OUTPUT`` (= ``NO_KEY_GROUP``), events pushed
    before the call keep their meaning.

    >>> w = BatchWriter()
    >>> w.push(MAIN_OUTPUT, NO_TIMESTAMP, b"a", b"1")
    >>> w.tag_outputs()
    >>> w.push(0, NO_TIMESTAMP, b"b", b"2")
    >>> [(tag, key) for tag, _, key, _ in read_output_batch(w.finish())]
    [(65535, b'a'), (0, b'b')]
    """

    __slots__ = ("_buf", "_count")

    def __init__(self) -> None:
        self._buf = bytearray(_HEADER.pack(MAGIC, VERSION, 0, 0))
        self._count = 0

    def push(self, key_group: int, timestamp: int, key: bytes, value: bytes) -> None:
        """Appends one event."""
        buf = self._buf
        buf += _EVENT.pack(key_group, timestamp, len(key), len(value))
        buf += key
        buf += value
        self._count += 1

    def tag_outputs(self) -> None:
        """Makes the batch version 2: each event's first field names its
        output (``wit/FRAMING.md``, "Version 2: side outputs")."""
        self._buf[2] = TAGGED_VERSION

    @property
    def tagged(self) -> bool:
        """Whether the batch is version 2."""
        return self._buf[2] == TAGGED_VERSION

    def __len__(self) -> int:
        return self._count

    def finish(self) -> bytes:
        """The packed batch (``b""`` when empty); the writer starts over."""
        if self._count == 0:
            return b""
        _COUNT.pack_into(self._buf, 4, self._count)
        data = bytes(self._buf)
        self.reset()
        return data

    def reset(self) -> None:
        """Forgets every event pushed; the next batch is version 1 again."""
        del self._buf[HEADER_LEN:]
        self._buf[2] = VERSION
        self._count = 0

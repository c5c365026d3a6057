"""Value codecs: how state values (and map keys) are encoded in snapshots.

A state handle declares its codec when `open` declares it::

    self.count = ctx.keyed_value("count", codec=weir.codec.U64)

Values live in guest memory as ordinary Python objects; a codec encodes them
only when the host takes a snapshot, and decodes them only when `open`
declares a handle the restored checkpoint holds. Setting a value checks it
against the codec at once (a cheap type and range check), so a wrong value
fails the event that set it, not a checkpoint minutes later.

The codecs below write the same bytes as the Rust SDK, which encodes with
postcard (https://postcard.jamesmunns.com/wire-format, see ``wit/STATE.md``).
A checkpoint written by a Rust operator restores into a Python one and back
when both declare the same handle name, kind and matching types:

=================  ==================================  ====================
codec              bytes                               Rust type
=================  ==================================  ====================
``U64``, ``U32``   LEB128 varint                       ``u64``, ``u32``
``I64``, ``I32``   zig-zag, then varint                ``i64``, ``i32``
``F64``, ``F32``   8 / 4 bytes, IEEE 754 little-endian ``f64``, ``f32``
``BOOL``           one byte, 0 or 1                    ``bool``
``STR``            varint length, UTF-8 bytes          ``String``
``BYTES``          varint length, bytes                ``Vec<u8>``
``Optional(c)``    0, or 1 then ``c``                  ``Option<T>``
``Tuple(a, b..)``  ``a`` then ``b`` ...                a tuple or a struct
``Seq(c)``         varint count, then each ``c``       ``Vec<T>``
``JSON``           ``STR`` of ``json.dumps(value)``    ``String``
=================  ==================================  ====================

``Tuple`` encodes a Python tuple the way postcard encodes a Rust struct
(fields in declaration order, no names), so
``Tuple(U64, U64)`` reads a Rust ``struct Stats { events: u64, bytes: u64 }``.

**The default codec is** ``JSON``: any value ``json.dumps`` accepts (numbers,
strings, booleans, ``None``, lists, dicts with string keys) round-trips
without declaring anything, at the price of JSON's lossy corners (tuples come
back as lists, dict keys as strings) and of size. Declare a typed codec for
anything hot or shared with a Rust operator.
"""

from __future__ import annotations

import json as _json
import struct
from typing import Any
from typing import Tuple as _TupleType

__all__ = [
    "Codec",
    "CodecError",
    "U64",
    "U32",
    "I64",
    "I32",
    "F64",
    "F32",
    "BOOL",
    "STR",
    "BYTES",
    "JSON",
    "Optional",
    "Tuple",
    "Seq",
    "encode",
    "decode",
    "write_varint",
    "read_varint",
]

_U64_MAX = (1 << 64) - 1
_U32_MAX = (1 << 32) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


class CodecError(ValueError):
    """A value that a codec cannot encode, or bytes it cannot decode."""


def write_varint(out: bytearray, n: int) -> None:
    """Appends ``n`` (0 <= n < 2**64) as an LEB128 varint: 7 bits per byte,
    least significant first, high bit set on every byte but the last."""
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def read_varint(data: bytes, pos: int, max_bytes: int = 10, limit: int = _U64_MAX) -> _TupleType[int, int]:
    """Reads an LEB128 varint at ``pos``; returns ``(value, next_pos)``.

    Refuses (like postcard) a varint longer than ``max_bytes`` or above
    ``limit``, and one cut off by the end of ``data``.
    """
    result = 0
    shift = 0
    end = len(data)
    for _ in range(max_bytes):
        if pos >= end:
            raise CodecError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result > limit:
                raise CodecError(f"varint {result} is out of range")
            return result, pos
        shift += 7
    raise CodecError(f"varint longer than {max_bytes} bytes")


def _zigzag(n: int) -> int:
    return (n << 1) if n >= 0 else ((-n) << 1) - 1


def _unzigzag(z: int) -> int:
    return (z >> 1) if not z & 1 else -((z + 1) >> 1)


class Codec:
    """Encodes and decodes one type of value.

    A codec appends a value to a ``bytearray`` (``encode_into``) and reads one
    from ``bytes`` at a position (``decode_at``), so that codecs compose
    (``Tuple``, ``Optional``, ``Seq``). ``check`` is the cheap test ``set``
    runs; it raises ``CodecError`` (a ``ValueError``) or ``TypeError``.
    """

    name = "codec"

    def check(self, value: Any) -> None:
        raise NotImplementedError

    def encode_into(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def decode_at(self, data: bytes, pos: int) -> _TupleType[Any, int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"weir.codec.{self.name}"


def _type_error(codec: Codec, value: Any, wanted: str) -> TypeError:
    return TypeError(f"codec {codec.name} takes {wanted}, not {type(value).__name__} ({value!r:.80})")


class _Unsigned(Codec):
    def __init__(self, name: str, limit: int, max_bytes: int):
        self.name, self._limit, self._max_bytes = name, limit, max_bytes

    def check(self, value):
        # bool is an int subclass; refuse it so that True is not stored as 1.
        if not isinstance(value, int) or isinstance(value, bool):
            raise _type_error(self, value, "an int")
        if not 0 <= value <= self._limit:
            raise CodecError(f"codec {self.name} takes 0 to {self._limit}, not {value}")

    def encode_into(self, value, out):
        write_varint(out, value)

    def decode_at(self, data, pos):
        return read_varint(data, pos, self._max_bytes, self._limit)


class _Signed(Codec):
    def __init__(self, name: str, low: int, high: int, max_bytes: int):
        self.name, self._low, self._high, self._max_bytes = name, low, high, max_bytes
        self._zlimit = _zigzag(low)

    def check(self, value):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _type_error(self, value, "an int")
        if not self._low <= value <= self._high:
            raise CodecError(f"codec {self.name} takes {self._low} to {self._high}, not {value}")

    def encode_into(self, value, out):
        write_varint(out, _zigzag(value))

    def decode_at(self, data, pos):
        z, pos = read_varint(data, pos, self._max_bytes, self._zlimit)
        return _unzigzag(z), pos


class _Float(Codec):
    def __init__(self, name: str, fmt: str):
        self.name = name
        self._struct = struct.Struct(fmt)

    def check(self, value):
        if not isinstance(value, (float, int)) or isinstance(value, bool):
            raise _type_error(self, value, "a float")

    def encode_into(self, value, out):
        out += self._struct.pack(value)

    def decode_at(self, data, pos):
        end = pos + self._struct.size
        if end > len(data):
            raise CodecError(f"truncated {self.name}")
        return self._struct.unpack_from(data, pos)[0], end


class _Bool(Codec):
    name = "BOOL"

    def check(self, value):
        if type(value) is not bool:
            raise _type_error(self, value, "a bool")

    def encode_into(self, value, out):
        out.append(1 if value else 0)

    def decode_at(self, data, pos):
        if pos >= len(data):
            raise CodecError("truncated BOOL")
        byte = data[pos]
        if byte > 1:
            raise CodecError(f"BOOL byte {byte} is neither 0 nor 1")
        return byte == 1, pos + 1


def _take_bytes(data: bytes, pos: int, what: str) -> _TupleType[bytes, int]:
    n, pos = read_varint(data, pos)
    end = pos + n
    if end > len(data):
        raise CodecError(f"truncated {what}: {n} bytes declared, {len(data) - pos} left")
    return bytes(data[pos:end]), end


class _Str(Codec):
    name = "STR"

    def check(self, value):
        if not isinstance(value, str):
            raise _type_error(self, value, "a str")

    def encode_into(self, value, out):
        raw = value.encode("utf-8")
        write_varint(out, len(raw))
        out += raw

    def decode_at(self, data, pos):
        raw, pos = _take_bytes(data, pos, "STR")
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError as e:
            raise CodecError(f"STR is not UTF-8 ({e})") from None


class _Bytes(Codec):
    name = "BYTES"

    def check(self, value):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise _type_error(self, value, "bytes")

    def encode_into(self, value, out):
        write_varint(out, len(value))
        out += value

    def decode_at(self, data, pos):
        return _take_bytes(data, pos, "BYTES")


class _Json(Codec):
    name = "JSON"
    _SCALARS = (str, int, float, bool, type(None), list, dict, tuple)

    def check(self, value):
        # A shallow check: a nested value json cannot encode fails at the
        # snapshot, with the handle and key named.
        if not isinstance(value, self._SCALARS):
            raise _type_error(self, value, "a JSON value (str, int, float, bool, None, list, dict)")

    def encode_into(self, value, out):
        try:
            text = _json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise CodecError(f"JSON cannot encode {value!r:.80}: {e}") from None
        raw = text.encode("utf-8")
        write_varint(out, len(raw))
        out += raw

    def decode_at(self, data, pos):
        raw, pos = _take_bytes(data, pos, "JSON")
        try:
            return _json.loads(raw.decode("utf-8")), pos
        except (UnicodeDecodeError, ValueError) as e:
            raise CodecError(f"JSON value does not parse ({e})") from None


class Optional(Codec):
    """``None`` or a value of ``inner``: postcard's ``Option<T>``."""

    def __init__(self, inner: Codec):
        self.inner = inner
        self.name = f"Optional({inner.name})"

    def check(self, value):
        if value is not None:
            self.inner.check(value)

    def encode_into(self, value, out):
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.inner.encode_into(value, out)

    def decode_at(self, data, pos):
        if pos >= len(data):
            raise CodecError(f"truncated {self.name}")
        tag = data[pos]
        if tag == 0:
            return None, pos + 1
        if tag == 1:
            return self.inner.decode_at(data, pos + 1)
        raise CodecError(f"{self.name} tag {tag} is neither 0 nor 1")


class Tuple(Codec):
    """A tuple of fixed length, each field with its codec, written one after
    the other: postcard's tuples and structs. Decodes to a ``tuple``."""

    def __init__(self, *fields: Codec):
        if not fields:
            raise ValueError("Tuple needs at least one field codec")
        self.fields = fields
        self.name = f"Tuple({', '.join(f.name for f in fields)})"

    def check(self, value):
        if not isinstance(value, (tuple, list)) or len(value) != len(self.fields):
            raise _type_error(self, value, f"a tuple of {len(self.fields)}")
        for codec, item in zip(self.fields, value):
            codec.check(item)

    def encode_into(self, value, out):
        for codec, item in zip(self.fields, value):
            codec.encode_into(item, out)

    def decode_at(self, data, pos):
        items = []
        for codec in self.fields:
            item, pos = codec.decode_at(data, pos)
            items.append(item)
        return tuple(items), pos


class Seq(Codec):
    """A list of values of ``item``: postcard's ``Vec<T>``. Decodes to a
    ``list``."""

    def __init__(self, item: Codec):
        self.item = item
        self.name = f"Seq({item.name})"

    def check(self, value):
        if not isinstance(value, (list, tuple)):
            raise _type_error(self, value, "a list")
        for item in value:
            self.item.check(item)

    def encode_into(self, value, out):
        write_varint(out, len(value))
        for item in value:
            self.item.encode_into(item, out)

    def decode_at(self, data, pos):
        n, pos = read_varint(data, pos)
        # Every item takes at least one byte: refuse a count that cannot fit.
        if n > len(data) - pos:
            raise CodecError(f"{self.name}: {n} items declared, {len(data) - pos} bytes left")
        items = []
        for _ in range(n):
            item, pos = self.item.decode_at(data, pos)
            items.append(item)
        return items, pos


U64: Codec = _Unsigned("U64", _U64_MAX, 10)
U32: Codec = _Unsigned("U32", _U32_MAX, 5)
I64: Codec = _Signed("I64", _I64_MIN, _I64_MAX, 10)
I32: Codec = _Signed("I32", _I32_MIN, _I32_MAX, 5)
F64: Codec = _Float("F64", "<d")
F32: Codec = _Float("F32", "<f")
BOOL: Codec = _Bool()
STR: Codec = _Str()
BYTES: Codec = _Bytes()
JSON: Codec = _Json()

#: The codec of a handle declared without one.
DEFAULT: Codec = JSON


def encode(codec: Codec, value: Any) -> bytes:
    """The bytes of one value."""
    out = bytearray()
    codec.encode_into(value, out)
    return bytes(out)


def decode(codec: Codec, data: bytes) -> Any:
    """The value of ``data``, which must hold exactly one encoded value."""
    value, pos = codec.decode_at(data, 0)
    if pos != len(data):
        raise CodecError(f"{len(data) - pos} bytes left over after decoding a {codec.name} value")
    return value

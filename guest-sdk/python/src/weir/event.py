"""``Event``: one input event."""

from __future__ import annotations

from typing import Optional

from .errors import Error
from .info import DEFAULT_INPUT

__all__ = ["Event"]


class Event:
    """One input event: ``key`` and ``value`` as bytes, ``timestamp`` in
    milliseconds since the Unix epoch (None if the event has none),
    ``key_group``, the key group the host hashed the key into (None when the
    operator's input is not keyed, and for a broadcast input), and the input
    it came from: ``input``, its index in ``ctx.info.inputs``,
    ``input_name``, that input's name (the node that feeds it), and
    ``is_broadcast``, whether that input is broadcast (delivered whole to
    every subtask)."""

    __slots__ = ("key", "value", "timestamp", "key_group", "input", "input_name", "is_broadcast")

    def __init__(
        self,
        key: bytes,
        value: bytes,
        timestamp: Optional[int] = None,
        key_group: Optional[int] = None,
        input: int = 0,
        input_name: str = DEFAULT_INPUT,
        is_broadcast: bool = False,
    ):
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.key_group = key_group
        self.input = input
        self.input_name = input_name
        self.is_broadcast = is_broadcast

    def key_str(self) -> str:
        """The key as UTF-8 text; a ``weir.Error`` if it is not UTF-8."""
        return _utf8(self.key, "key")

    def value_str(self) -> str:
        """The value as UTF-8 text; a ``weir.Error`` if it is not UTF-8."""
        return _utf8(self.value, "value")

    def __repr__(self) -> str:
        return (
            f"Event(key={self.key!r}, value={self.value!r}, timestamp={self.timestamp}, key_group={self.key_group}, "
            f"input={self.input} ({self.input_name!r}))"
        )


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Error(f"event {what} is not UTF-8 ({e})") from None

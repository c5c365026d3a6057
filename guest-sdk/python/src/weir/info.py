"""``OperatorInfo``: who this operator instance is (name, subtask, key
groups) and its ``[operators.config]`` table from the job file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, TypeVar

from .errors import Error

__all__ = ["OperatorInfo", "DEFAULT_MAX_PARALLELISM"]

#: The number of key groups when a job file does not set ``max_parallelism``:
#: the host's default, and what ``OperatorInfo`` assumes.
DEFAULT_MAX_PARALLELISM = 128

T = TypeVar("T")
_ABSENT = object()


@dataclass
class OperatorInfo:
    """Who this instance is, as the host described it to ``init``.

    The defaults describe subtask 0 of 1 owning every key group, which is
    what ``weir.testing.Harness`` uses; set fields to test other cases:
    ``OperatorInfo("dedup", config={"ttl_ms": "1000"})``.
    """

    #: The operator's name in the job file.
    name: str
    #: This subtask's index, from 0 to ``parallelism - 1``.
    subtask_index: int = 0
    parallelism: int = 1
    #: The number of key groups keys are hashed into.
    max_parallelism: int = DEFAULT_MAX_PARALLELISM
    #: The key groups this subtask owns; None when the operator's input is
    #: not keyed (``key_by = false``).
    key_groups: Optional[range] = field(default_factory=lambda: range(DEFAULT_MAX_PARALLELISM))
    #: The ``[operators.config]`` table, as strings.
    config: Dict[str, str] = field(default_factory=dict)

    def parse_config(self, key: str, parse: Callable[[str], T], default: object = None) -> T:
        """One config entry converted with ``parse`` (``int``, ``float``...):
        ``default`` when absent; a ``weir.Error`` naming the key and the text
        when ``parse`` raises.

        >>> info = OperatorInfo("op", config={"window": "10", "bad": "x"})
        >>> info.parse_config("window", int)
        10
        >>> info.parse_config("missing", int, 5)
        5
        >>> info.parse_config("bad", int)
        Traceback (most recent call last):
        ...
        weir.errors.Error: config `bad` = 'x' is not valid: invalid literal for int() with base 10: 'x'
        """
        text = self.config.get(key, _ABSENT)
        if text is _ABSENT:
            return default  # type: ignore[return-value]
        try:
            return parse(text)  # type: ignore[arg-type]
        except Exception as e:  # any parse failure is the user's text
            raise Error(f"config `{key}` = {text!r} is not valid: {e}") from None

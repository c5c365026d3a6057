"""``OperatorInfo``: who this operator instance is (name, subtask, key
groups), its inputs and side outputs, and its ``[operators.config]`` table
from the job file; ``InputInfo``: one input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, TypeVar

from .errors import Error

__all__ = ["OperatorInfo", "InputInfo", "DEFAULT_MAX_PARALLELISM", "DEFAULT_INPUT"]

#: The number of key groups when a job file does not set ``max_parallelism``:
#: the host's default, and what ``OperatorInfo`` assumes.
DEFAULT_MAX_PARALLELISM = 128

#: The name of the one input ``OperatorInfo`` assumes when none are given.
DEFAULT_INPUT = "input"

T = TypeVar("T")
_ABSENT = object()


@dataclass(frozen=True)
class InputInfo:
    """One input of an operator, as the job file wires it.

    >>> InputInfo("prices", broadcast=True)
    InputInfo(name='prices', broadcast=True)
    """

    #: The node whose output feeds this input: ``op``, or ``op.NAME`` for the
    #: side output NAME of operator op.
    name: str
    #: Delivered whole to every subtask (``broadcast`` in the job file), not
    #: partitioned by key: its events have no key group, so keyed state is
    #: not available while processing them.
    broadcast: bool = False


def _input(spec: object) -> InputInfo:
    if isinstance(spec, InputInfo):
        return spec
    if isinstance(spec, str):
        return InputInfo(spec)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return InputInfo(spec[0], bool(spec[1]))
    raise TypeError(f"an input is an InputInfo, a name or a (name, broadcast) tuple, not {spec!r}")


@dataclass
class OperatorInfo:
    """Who this instance is, as the host described it to ``init``.

    The defaults describe subtask 0 of 1 owning every key group, with one
    input named ``"input"`` and no side outputs, which is what
    ``weir.testing.Harness`` uses; set fields to test other cases:
    ``OperatorInfo("dedup", config={"ttl_ms": "1000"})``,
    ``OperatorInfo("join", inputs=["orders", ("prices", True)],
    side_outputs=["unpriced"])`` (an input is an ``InputInfo``, a name, or a
    ``(name, broadcast)`` tuple).
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
    #: The operator's inputs, in job-file order: ``Event.input`` is an index
    #: into this list.
    inputs: List[InputInfo] = field(default_factory=lambda: [InputInfo(DEFAULT_INPUT)])
    #: The side outputs the job file declares for the operator
    #: (``side_outputs``), the names ``Context.emit_to`` takes.
    side_outputs: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inputs = [_input(spec) for spec in self.inputs]
        self.side_outputs = list(self.side_outputs)
        for name in self.side_outputs:
            if not isinstance(name, str) or not name:
                raise TypeError(f"a side output is a non-empty name, not {name!r}")
        if len(set(self.side_outputs)) != len(self.side_outputs):
            raise ValueError(f"side outputs {self.side_outputs} name one twice")

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

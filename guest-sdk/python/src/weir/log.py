"""Logging through the host's ``log`` import: each line lands in the host's
log, tagged with the operator and subtask.

>>> import weir
>>> weir.log.info("starting")          # doctest: +SKIP
>>> weir.log.warn(f"skipped {3} words")  # doctest: +SKIP

Outside a component (unit tests, ``weir.testing.Harness``) lines go to
standard error as ``[LEVEL] message``. ``print`` inside a component writes to
the component's standard output, which the host may discard: log instead.
"""

from __future__ import annotations

import enum
import sys
from typing import Any, Callable, Optional

__all__ = ["Level", "log", "trace", "debug", "info", "warn", "error"]


class Level(enum.IntEnum):
    """How important a log line is; numbered as the WIT enum ``log-level``."""

    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


def _stderr(level: Level, message: str) -> None:
    print(f"[{level.name}] {message}", file=sys.stderr)


_sink: Callable[[Level, str], None] = _stderr


def _use_host(host: Any) -> None:
    """Sends lines to the host's ``log`` import (called by the export glue
    when the component's bindings are present)."""
    global _sink
    levels = [
        host.LogLevel.TRACE,
        host.LogLevel.DEBUG,
        host.LogLevel.INFO,
        host.LogLevel.WARN,
        host.LogLevel.ERROR,
    ]
    host_log = host.log

    def sink(level: Level, message: str) -> None:
        host_log(levels[level], message)

    _sink = sink


def set_sink(sink: Optional[Callable[[Level, str], None]]) -> None:
    """Sends lines to ``sink(level, message)`` instead (tests capture logs
    this way); ``None`` goes back to standard error."""
    global _sink
    _sink = sink or _stderr


def log(level: Level, message: str) -> None:
    """Writes one line to the host's log."""
    _sink(Level(level), str(message))


def trace(message: str) -> None:
    _sink(Level.TRACE, str(message))


def debug(message: str) -> None:
    _sink(Level.DEBUG, str(message))


def info(message: str) -> None:
    _sink(Level.INFO, str(message))


def warn(message: str) -> None:
    _sink(Level.WARN, str(message))


def error(message: str) -> None:
    _sink(Level.ERROR, str(message))

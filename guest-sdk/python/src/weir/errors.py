"""``Error``: the exception an operator raises to fail the job with a message.

Whatever an operator raises ends up as the ``err(string)`` of a WIT call, so
the host only ever sees text. ``weir.Error`` is reported as its bare message;
any other exception as ``"TypeName: message (at file.py:LINE in function)"``,
with its whole traceback written to the host's log at error level.
"""

from __future__ import annotations

import traceback

__all__ = ["Error", "describe"]


class Error(Exception):
    """An error whose message is reported as it is.

    >>> raise Error("config `ttl_ms` is missing")
    Traceback (most recent call last):
    ...
    weir.errors.Error: config `ttl_ms` is missing
    """

    @property
    def message(self) -> str:
        return str(self)


def describe(error: BaseException) -> str:
    """The one-line message an error is reported with."""
    if isinstance(error, Error):
        return str(error)
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        file = last.filename.replace("\\", "/").rsplit("/", 1)[-1]
        text += f" (at {file}:{last.lineno} in {last.name})"
    return text

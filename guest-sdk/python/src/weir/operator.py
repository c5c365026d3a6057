"""``Operator``: what an operator author subclasses."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Context, OpenContext
    from .event import Event
    from .time import Timer

__all__ = ["Operator"]


class Operator:
    """A stream operator. Export one per component with
    ``Operator = weir.export_operator(MyOperator)`` at the top level of the
    component's module.

    The host creates one instance per subtask: the SDK constructs the class
    with no arguments, calls ``open`` once (after restore data, if any, is
    loaded), then ``process`` for every input event, ``on_timer`` for every
    timer that fires (``weir.time``) and ``finish`` once at the end of
    bounded input. Checkpoints need no code: the SDK snapshots every
    declared state handle, and the timers, itself.

    Any exception fails the job with its message (``weir.Error`` for a plain
    message).
    """

    def open(self, ctx: "OpenContext") -> None:
        """Declares state handles; ``ctx.info`` has the configuration."""

    def process(self, ctx: "Context", event: "Event") -> None:
        """Handles one input event."""
        raise NotImplementedError(f"{type(self).__name__} does not implement process(ctx, event)")

    def on_timer(self, ctx: "Context", timer: "Timer") -> None:
        """A timer of the current key (``timer.key``) fired: its
        ``timestamp`` was reached by the watermark (``timer.domain`` is
        ``TimeDomain.EVENT``) or by the host's clock (``PROCESSING``). The
        key's state is in scope; what is emitted carries the timer's
        timestamp (event time) or none (processing time) unless told
        otherwise. Only operators that register timers need it."""
        raise NotImplementedError(
            f"a timer fired but {type(self).__name__} does not implement on_timer(ctx, timer)"
        )

    def finish(self, ctx: "Context") -> None:
        """Called once when all input has been processed; may emit last
        events. There is no current key here, so only operator state is
        usable."""

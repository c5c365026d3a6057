"""The glue between componentize-py's generated bindings and ``Runtime``:
``export_operator`` and the class it returns.

componentize-py builds a component from an app module; for the exported
interface ``operator`` of the world ``operator-component``
(``weir:operator@0.2.0``) it looks up a class
named ``Operator`` in that module and calls its ``init``, ``process``,
``snapshot``, ``advance`` and ``finish`` methods (the protocol
``wit_world.exports.Operator`` it generates). Two facts about it (0.25.1)
shape this module:

- It constructs the class more than once, so the instance's state cannot
  live on ``self``: the glue keeps the one ``Runtime`` in a closure shared by
  every instance.
- A method signals a WIT ``err`` by raising ``componentize_py_types.Err``;
  any other exception escaping a method traps the component (and a trap
  poisons the whole instance). The glue therefore catches everything and
  raises ``Err`` with a one-line message, after logging the traceback.

The bindings exist only inside ``componentize-py componentize`` (which
imports the app module once at build time and snapshots the interpreter), so
they are imported here when ``export_operator`` runs, at the app module's
import: under plain CPython they are absent and the returned class is inert,
which lets unit tests import an operator module and drive its operator class
with ``weir.testing.Harness``.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, List, Optional

from . import log
from .chunk import Chunk, Kind
from .errors import Error, describe
from .info import InputInfo, OperatorInfo
from .runtime import Runtime

__all__ = ["export_operator"]


class _Bindings:
    """The pieces of the generated bindings the glue uses."""

    def __init__(self, types: Any, host: Any, err: Any) -> None:
        self.types = types
        self.host = host
        self.Err = err


def _load_bindings() -> Optional[_Bindings]:
    try:
        from componentize_py_types import Err  # type: ignore[import-not-found]
        from wit_world.imports import host, types  # type: ignore[import-not-found]
    except ImportError:
        return None
    return _Bindings(types, host, Err)


def export_operator(factory: Callable[[], Any]) -> type:
    """Exports an operator as the component's ``weir:operator/operator``
    implementation. Call it once, at the top level of the module given to
    ``componentize-py componentize``, and bind the result to the name
    ``Operator``::

        class Counter(weir.Operator):
            ...

        Operator = weir.export_operator(Counter)

    ``factory`` is called with no arguments for every ``init`` (usually the
    operator class itself).
    """
    if not callable(factory):
        raise TypeError(f"export_operator takes an operator class, not {type(factory).__name__}")
    bindings = _load_bindings()
    if bindings is not None:
        log._use_host(bindings.host)
    return _glue(factory, bindings)


def _info_from_wit(context: Any) -> OperatorInfo:
    groups = context.key_groups
    return OperatorInfo(
        name=context.operator_name,
        subtask_index=context.subtask_index,
        parallelism=context.parallelism,
        max_parallelism=context.max_parallelism,
        key_groups=None if groups is None else range(groups.start, groups.end),
        config=dict(context.config),
        inputs=[InputInfo(spec.name, bool(spec.broadcast)) for spec in context.inputs],
        side_outputs=list(context.side_outputs),
    )


def _chunk_from_wit(chunk: Any) -> Chunk:
    return Chunk(chunk.handle, Kind(chunk.kind.value), chunk.key_group, bytes(chunk.data))


def _glue(factory: Callable[[], Any], bindings: Optional[_Bindings]) -> type:
    """The class componentize-py instantiates. With ``bindings`` None (plain
    CPython) errors propagate as they are and ``snapshot`` cannot build its
    answer: tests drive the operator class with ``weir.testing.Harness``
    instead."""
    # One runtime per component instance (each has its own interpreter).
    holder: List[Optional[Runtime]] = [None]

    def fail(call: str, error: BaseException) -> Any:
        if bindings is None:
            raise error
        message = describe(error)
        if not isinstance(error, Error):
            trace = "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
            log.error(f"`{call}` failed: {trace}")
        raise bindings.Err(message) from None

    def runtime(call: str) -> Runtime:
        current = holder[0]
        if current is None:
            raise Error(f"`{call}` was called before `init`")
        return current

    class Operator:
        """componentize-py's entry point for ``weir:operator/operator``."""

        def init(self, context: Any, restored: List[Any]) -> None:
            try:
                # Drop a previous instance's state before building the new one.
                holder[0] = None
                holder[0] = Runtime(
                    factory,
                    _info_from_wit(context),
                    [_chunk_from_wit(c) for c in restored],
                    None if bindings is None else bindings.host.wake_at,
                )
            except BaseException as e:  # anything else traps the instance
                fail("init", e)

        def process(self, input: int, events: bytes) -> bytes:
            try:
                return runtime("process").process(events, input)
            except BaseException as e:
                return fail("process", e)

        def snapshot(self, checkpoint_id: int, mode: Any) -> Any:
            try:
                types = bindings.types  # type: ignore[union-attr]
                incremental = mode == types.SnapshotMode.INCREMENTAL
                snapshot = runtime("snapshot").snapshot(checkpoint_id, incremental)
                return types.StateSnapshot(
                    incremental=snapshot.incremental,
                    chunks=[
                        types.StateChunk(
                            handle=chunk.handle,
                            kind=types.StateKind(int(chunk.kind)),
                            key_group=chunk.key_group,
                            data=chunk.data,
                        )
                        for chunk in snapshot.chunks
                    ],
                )
            except BaseException as e:
                return fail("snapshot", e)

        def advance(self, watermark: int, now: int) -> bytes:
            try:
                return runtime("advance").advance(watermark, now)
            except BaseException as e:
                return fail("advance", e)

        def finish(self) -> bytes:
            try:
                return runtime("finish").finish()
            except BaseException as e:
                return fail("finish", e)

    Operator.__qualname__ = f"export_operator({getattr(factory, '__name__', 'operator')})"
    return Operator

"""State handles and what stands behind them: the values, their key groups,
and what changed since the last snapshot.

An operator declares its state in ``open`` through ``OpenContext`` and gets a
handle back. Values live in guest memory as ordinary Python objects: reading
or writing one costs a dict lookup and no encoding. The handle's codec
(``weir.codec``) encodes values only at snapshots, and decodes them only when
``open`` declares a handle the restored checkpoint holds.

======================  =======================  ===========================
handle                  keyed (``keyed_*``)      operator (``operator_*``)
======================  =======================  ===========================
``ValueState``          ``keyed-value``          ``operator-value``
``MapState``            ``keyed-map``            (none)
``ListState``           ``keyed-list``           ``operator-list``
``BroadcastMapState``   (none)                   ``broadcast-map``
======================  =======================  ===========================

**Keyed** state is scoped by the key of the event being processed, as in
Flink: the same handle reads another value for another key. Every key is kept
with the key group the host passed with its events, and snapshots hold one
chunk per (handle, key group), so that the host can hand key groups to other
subtasks when it rescales. Declaring keyed state for an input that is not
keyed fails ``open``; using it where there is no current key (in ``finish``)
raises ``weir.Error``.

**Operator** state is one value or list per subtask, usable from ``process``
and ``finish``, and saved as one chunk per handle. A **broadcast map** is one
map for the whole operator that every subtask holds the same copy of (built
from broadcast inputs); the host keeps subtask 0's chunk and restores it into
every subtask.

**Incremental snapshots.** Every write marks its event key dirty (an operator
handle marks itself dirty). When the host asks for an incremental snapshot,
a keyed handle answers with one delta chunk per key group that has dirty
keys: the dirty keys that no longer hold state are listed as removed, the
others are written whole (``wit/STATE.md``, "Incremental snapshots"). A dirty
operator handle (and a dirty broadcast map) answers with a full chunk, empty
if its state is now empty.
"""

from __future__ import annotations

from typing import Any

from .. import codec as _codec
from .broadcast import BroadcastMapState
from .list import ListState, _KeyedList, _OperatorList
from .map import MapState
from .value import ValueState, _KeyedValue, _OperatorValue

__all__ = ["ValueState", "MapState", "ListState", "BroadcastMapState"]


def keyed_value(ctx: Any, name: str, value_codec: _codec.Codec) -> ValueState:
    return _KeyedValue(ctx, name, value_codec)


def operator_value(ctx: Any, name: str, value_codec: _codec.Codec) -> ValueState:
    return _OperatorValue(ctx, name, value_codec)


def keyed_list(ctx: Any, name: str, value_codec: _codec.Codec) -> ListState:
    return _KeyedList(ctx, name, value_codec)


def operator_list(ctx: Any, name: str, value_codec: _codec.Codec) -> ListState:
    return _OperatorList(ctx, name, value_codec)


def keyed_map(ctx: Any, name: str, key_codec: _codec.Codec, value_codec: _codec.Codec) -> MapState:
    return MapState(ctx, name, key_codec, value_codec)


def broadcast_map(ctx: Any, name: str, key_codec: _codec.Codec, value_codec: _codec.Codec) -> BroadcastMapState:
    return BroadcastMapState(ctx, name, key_codec, value_codec)

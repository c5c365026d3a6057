"""The componentize-py glue, driven with stand-ins for the generated
bindings (the same shapes as `componentize-py bindings` writes for
wit/operator.wit, weir:operator@0.2.0: dataclasses, enums, `Err`)."""

import enum
import sys
import types as pytypes
import unittest
from dataclasses import dataclass
from typing import List, Optional, Tuple

import support  # noqa: F401
import weir
from weir import codec
from weir.export import _Bindings, _glue


class StateKind(enum.Enum):
    KEYED_VALUE = 0
    KEYED_MAP = 1
    KEYED_LIST = 2
    OPERATOR_VALUE = 3
    OPERATOR_LIST = 4
    BROADCAST_MAP = 5


class SnapshotMode(enum.Enum):
    FULL = 0
    INCREMENTAL = 1


@dataclass
class StateChunk:
    handle: str
    kind: StateKind
    key_group: Optional[int]
    data: bytes


@dataclass
class StateSnapshot:
    incremental: bool
    chunks: List[StateChunk]


@dataclass
class KeyGroupRange:
    start: int
    end: int


@dataclass
class InputInfo:
    name: str
    broadcast: bool


@dataclass
class OperatorContext:
    operator_name: str
    subtask_index: int
    parallelism: int
    max_parallelism: int
    key_groups: Optional[KeyGroupRange]
    config: List[Tuple[str, str]]
    inputs: List[InputInfo]
    side_outputs: List[str]


@dataclass(frozen=True)
class Err(Exception):
    value: str


class LogLevel(enum.Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


def fake_bindings(logs, wakes=None):
    types = pytypes.SimpleNamespace(
        StateKind=StateKind,
        SnapshotMode=SnapshotMode,
        StateChunk=StateChunk,
        StateSnapshot=StateSnapshot,
    )
    wakes = [] if wakes is None else wakes
    host = pytypes.SimpleNamespace(
        LogLevel=LogLevel,
        log=lambda level, message: logs.append((level, message)),
        wake_at=wakes.append,
    )
    return _Bindings(types, host, Err)


class Counter(weir.Operator):
    def open(self, ctx):
        self.count = ctx.keyed_value("count", codec=codec.U64)
        if ctx.info.config.get("fail") == "open":
            raise weir.Error("asked to fail in open")

    def process(self, ctx, event):
        if event.value == b"crash":
            raise KeyError("missing")
        n = self.count.get(0) + 1
        self.count.set(n)
        ctx.emit(event.key, str(n))


def context(inputs=(("tokenizer", False),), side_outputs=(), **config):
    return OperatorContext(
        "counter",
        0,
        1,
        128,
        KeyGroupRange(0, 128),
        list(config.items()),
        [InputInfo(name, broadcast) for name, broadcast in inputs],
        list(side_outputs),
    )


def batch(*events):
    writer = weir.framing.BatchWriter()
    for key, group in events:
        writer.push(group, weir.framing.NO_TIMESTAMP, key, b"")
    return writer.finish()


class GlueTest(unittest.TestCase):
    def setUp(self):
        self.logs = []
        self.bindings = fake_bindings(self.logs)
        weir.log._use_host(self.bindings.host)
        self.addCleanup(weir.log.set_sink, None)
        self.Operator = _glue(Counter, self.bindings)

    def test_calls_reach_one_runtime_whatever_the_instance(self):
        # componentize-py constructs the class more than once.
        self.Operator().init(context(), [])
        out = self.Operator().process(0, batch((b"a", 1), (b"a", 1)))
        self.assertIsInstance(out, bytes)
        self.assertEqual([e[3] for e in weir.framing.read_batch(out)], [b"1", b"2"])
        snapshot = self.Operator().snapshot(1, SnapshotMode.FULL)
        self.assertEqual(
            snapshot,
            StateSnapshot(
                False, [StateChunk("count", StateKind.KEYED_VALUE, 1, bytes.fromhex("01 01000000 61 01000000 02"))]
            ),
        )
        self.assertEqual(self.Operator().finish(), b"")

    def test_restore_and_incremental_through_wit_types(self):
        op = self.Operator()
        chunk = StateChunk("count", StateKind.KEYED_VALUE, 1, bytes.fromhex("01 01000000 61 01000000 05"))
        op.init(context(), [chunk])
        self.assertEqual(list(weir.framing.read_batch(op.process(0, batch((b"a", 1)))))[0][3], b"6")
        self.assertFalse(op.snapshot(1, SnapshotMode.INCREMENTAL).incremental)  # the first is complete
        op.process(0, batch((b"b", 2)))
        delta = op.snapshot(2, SnapshotMode.INCREMENTAL)
        self.assertTrue(delta.incremental)
        self.assertEqual(
            [(c.handle, c.kind, c.key_group, c.data[0]) for c in delta.chunks], [("count", StateKind.KEYED_VALUE, 2, 2)]
        )

    def test_errors_become_err_with_one_line(self):
        op = self.Operator()
        with self.assertRaises(Err) as caught:
            op.process(0, b"")
        self.assertEqual(caught.exception.value, "`process` was called before `init`")
        with self.assertRaises(Err) as caught:
            op.init(context(fail="open"), [])
        self.assertEqual(caught.exception.value, "asked to fail in open")
        op.init(context(), [])
        with self.assertRaises(Err) as caught:
            op.process(0, batch((b"k", 1)) + b"\x00")
        self.assertEqual(caught.exception.value, "malformed input batch: 1 bytes left after the last entry")
        self.logs.clear()
        writer = weir.framing.BatchWriter()
        writer.push(1, 0, b"k", b"crash")
        with self.assertRaises(Err) as caught:
            op.process(0, writer.finish())
        self.assertRegex(caught.exception.value, r"^KeyError: 'missing' \(at test_export.py:\d+ in process\)$")
        # The traceback goes to the host's log.
        ((level, message),) = self.logs
        self.assertEqual(level, LogLevel.ERROR)
        self.assertIn("Traceback (most recent call last)", message)
        self.assertIn('raise KeyError("missing")', message)

    def test_every_kind_maps_to_its_wit_enum(self):
        class All(weir.Operator):
            def open(self, ctx):
                self.handles = [
                    ctx.keyed_value("v"),
                    ctx.keyed_map("m"),
                    ctx.keyed_list("l"),
                    ctx.operator_value("ov"),
                    ctx.operator_list("ol"),
                ]

            def process(self, ctx, event):
                v, m, lst, ov, ol = self.handles
                v.set(1)
                m.insert("k", 1)
                lst.push(1)
                ov.set(1)
                ol.push(1)

        op = _glue(All, self.bindings)()
        op.init(context(), [])
        op.process(0, batch((b"a", 1)))
        chunks = op.snapshot(1, SnapshotMode.FULL).chunks
        self.assertEqual(
            [(c.handle, c.kind) for c in chunks],
            [
                ("v", StateKind.KEYED_VALUE),
                ("m", StateKind.KEYED_MAP),
                ("l", StateKind.KEYED_LIST),
                ("ov", StateKind.OPERATOR_VALUE),
                ("ol", StateKind.OPERATOR_LIST),
            ],
        )
        self.assertEqual([c.key_group for c in chunks], [1, 1, 1, None, None])
        # And back: a restore of those chunks gives the same snapshot.
        again = _glue(All, self.bindings)()
        again.init(context(), chunks)
        self.assertEqual(again.snapshot(1, SnapshotMode.FULL).chunks, chunks)

    def test_inputs_side_outputs_and_broadcast_state_through_wit_types(self):
        class Join(weir.Operator):
            def open(self, ctx):
                self.info = ctx.info
                self.prices = ctx.broadcast_map("prices", key_codec=codec.STR, codec=codec.U64)

            def process(self, ctx, event):
                if self.info.inputs[event.input].broadcast:
                    self.prices.insert(event.key_str(), int(event.value_str()))
                elif self.prices.contains_key(event.key_str()):
                    ctx.emit(event.key, f"{event.input_name} {self.prices.get(event.key_str())}")
                else:
                    ctx.emit_to("unpriced", event.key, event.value)

        def events(*pairs, key_group=3):
            writer = weir.framing.BatchWriter()
            for key, value in pairs:
                writer.push(key_group, weir.framing.NO_TIMESTAMP, key, value)
            return writer.finish()

        wit = context(inputs=[("orders", False), ("prices", True)], side_outputs=["unpriced"])
        op = _glue(Join, self.bindings)()
        op.init(wit, [])
        self.assertEqual(op.process(1, events((b"apple", b"30"), key_group=0xFFFF)), b"")
        out = op.process(0, events((b"apple", b"2"), (b"fig", b"1")))
        self.assertEqual(out[2], 2)  # a version 2 batch: it used a side output
        self.assertEqual(
            list(weir.framing.read_output_batch(out)),
            [
                (weir.framing.MAIN_OUTPUT, weir.framing.NO_TIMESTAMP, b"apple", b"orders 30"),
                (0, weir.framing.NO_TIMESTAMP, b"fig", b"1"),
            ],
        )
        with self.assertRaises(Err) as caught:
            op.process(2, events((b"apple", b"2")))
        self.assertEqual(
            caught.exception.value,
            "`process` was called for input 2, but the operator's inputs are 0: `orders`, 1: `prices`",
        )
        (chunk,) = op.snapshot(1, SnapshotMode.FULL).chunks
        data = bytes.fromhex("01 06000000 05 6170706c65 01000000 1e")  # "apple" -> 30
        self.assertEqual(chunk, StateChunk("prices", StateKind.BROADCAST_MAP, None, data))
        again = _glue(Join, self.bindings)()
        again.init(wit, [chunk])
        self.assertEqual(list(weir.framing.read_batch(again.process(0, events((b"apple", b"1")))))[0][3], b"orders 30")

    def test_advance_and_wake_at_through_the_bindings(self):
        class Alarm(weir.Operator):
            def process(self, ctx, event):
                ctx.register_event_timer(10)
                ctx.register_processing_timer(1000)

            def on_timer(self, ctx, timer):
                ctx.emit(timer.key, timer.domain.name)

        wakes = []
        op = _glue(Alarm, fake_bindings(self.logs, wakes))()
        with self.assertRaises(Err) as caught:
            op.advance(0, 0)
        self.assertEqual(caught.exception.value, "`advance` was called before `init`")
        op.init(context(), [])
        self.assertEqual(op.process(0, batch((b"a", 1))), b"")
        self.assertEqual(wakes, [1000])
        out = op.advance(-(1 << 63), 999)
        self.assertEqual(out, b"")
        out = op.advance(10, 999)
        self.assertEqual([(e[2], e[3]) for e in weir.framing.read_batch(out)], [(b"a", b"EVENT")])
        chunks = op.snapshot(1, SnapshotMode.FULL).chunks
        self.assertEqual([(c.handle, c.kind) for c in chunks], [("weir.timers", StateKind.KEYED_MAP)])
        # A restored instance tells the host again, in init.
        again = _glue(Alarm, fake_bindings(self.logs, wakes))()
        again.init(context(), chunks)
        self.assertEqual(wakes, [1000, 1000])
        self.assertEqual([e[3] for e in weir.framing.read_batch(again.advance(10, 1000))], [b"PROCESSING"])
        self.assertEqual(wakes, [1000, 1000, None])

    def test_init_resets_the_instance(self):
        op = self.Operator()
        op.init(context(), [])
        op.process(0, batch((b"a", 1)))
        op.init(context(), [])
        self.assertEqual(list(weir.framing.read_batch(op.process(0, batch((b"a", 1)))))[0][3], b"1")

    def test_export_operator_without_bindings_gives_an_inert_class(self):
        self.assertNotIn("wit_world", sys.modules)
        Operator = weir.export_operator(Counter)
        self.assertTrue(callable(Operator().init))
        with self.assertRaises(TypeError):
            weir.export_operator(42)


if __name__ == "__main__":
    unittest.main()

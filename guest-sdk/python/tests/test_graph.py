"""What weir:operator@0.2.0 adds for job graphs: the input index of every
event, side outputs (FRAMING.md version 2) and the harness's view of both."""

import unittest

import support  # noqa: F401
import weir
from weir import Error, InputInfo, OperatorInfo
from weir.framing import MAIN_OUTPUT, NO_KEY_GROUP, NO_TIMESTAMP, BatchWriter, read_output_batch
from weir.runtime import Runtime
from weir.testing import Harness


class Router(weir.Operator):
    """Records what it sees; "late" goes to the side output `late`, "odd"
    to `odd`, "nowhere" to an undeclared one; everything else to the main
    output. `finish` emits to both."""

    def open(self, ctx):
        self.seen = []

    def process(self, ctx, event):
        assert event.is_broadcast == ctx.info.inputs[event.input].broadcast
        self.seen.append((event.input, event.input_name, event.key_group, event.value))
        text = event.value_str()
        if text in ("late", "odd", "nowhere"):
            ctx.emit_to(text, event.key, event.value)
        else:
            ctx.emit(event.key, event.value)

    def finish(self, ctx):
        ctx.emit_to("odd", "end", "")
        ctx.emit("end", "")


def graph_info(**options):
    return OperatorInfo(
        "router",
        inputs=[InputInfo("clicks"), ("rules", True), "join.late"],
        side_outputs=["late", "odd"],
        **options,
    )


def batch(*events):
    writer = BatchWriter()
    for key_group, key, value in events:
        writer.push(key_group, NO_TIMESTAMP, key, value)
    return writer.finish()


class InputTest(unittest.TestCase):
    def test_every_event_names_its_input(self):
        runtime = Runtime(Router, graph_info(), [])
        runtime.process(batch((3, b"k", b"a")), 0)
        runtime.process(batch((NO_KEY_GROUP, b"", b"b")), 1)
        runtime.process(batch((5, b"k", b"c")), 2)
        self.assertEqual(
            runtime.operator.seen,
            [(0, "clicks", 3, b"a"), (1, "rules", None, b"b"), (2, "join.late", 5, b"c")],
        )

    def test_an_input_the_operator_does_not_have_is_an_error(self):
        runtime = Runtime(Router, graph_info(), [])
        with self.assertRaisesRegex(
            Error, r"^`process` was called for input 3, but the operator's inputs are 0: `clicks`, 1: `rules`, 2: "
        ):
            runtime.process(batch((3, b"k", b"a")), 3)

    def test_the_info_lists_inputs_and_side_outputs(self):
        info = graph_info()
        self.assertEqual(
            info.inputs, [InputInfo("clicks", False), InputInfo("rules", True), InputInfo("join.late", False)]
        )
        self.assertEqual(info.side_outputs, ["late", "odd"])
        default = OperatorInfo("t")
        self.assertEqual((default.inputs, default.side_outputs), ([InputInfo("input")], []))
        with self.assertRaisesRegex(TypeError, "an input is an InputInfo"):
            OperatorInfo("t", inputs=[42])
        with self.assertRaisesRegex(ValueError, "name one twice"):
            OperatorInfo("t", side_outputs=["a", "a"])

    def test_keyed_state_is_refused_for_broadcast_events_by_name(self):
        class Keyed(weir.Operator):
            def open(self, ctx):
                self.count = ctx.keyed_value("count")

            def process(self, ctx, event):
                self.count.set(1)

        h = Harness(Keyed, inputs=["orders", ("prices", True)])
        h.process("k", "", 4)
        with self.assertRaisesRegex(
            Error, r"keyed state `count` was used while processing an event of the broadcast input `prices` \(input 1\)"
        ):
            h.process("k", "", input="prices")

    def test_broadcast_events_never_have_a_key_group(self):
        # Even if a batch carried one: broadcast events reach every subtask.
        runtime = Runtime(Router, graph_info(), [])
        runtime.process(batch((7, b"k", b"x")), 1)
        self.assertEqual(runtime.operator.seen, [(1, "rules", None, b"x")])


class SideOutputTest(unittest.TestCase):
    def test_output_is_version_1_until_a_side_output_is_used(self):
        runtime = Runtime(Router, graph_info(), [])
        plain = runtime.process(batch((1, b"k", b"v")), 0)
        self.assertEqual(plain[2], 1)
        tagged = runtime.process(batch((1, b"a", b"x"), (1, b"b", b"late"), (1, b"c", b"odd"), (1, b"d", b"y")), 0)
        self.assertEqual(
            tagged,
            bytes.fromhex(
                "57 42 02 00 04 00 00 00"  # "WB", version 2, flags 0, 4 events
                "ff ff 0000000000000080 01000000 01000000 61 78"  # main output: "a" "x"
                "00 00 0000000000000080 01000000 04000000 62 6c617465"  # side output 0 (late): "b" "late"
                "01 00 0000000000000080 01000000 03000000 63 6f6464"  # side output 1 (odd): "c" "odd"
                "ff ff 0000000000000080 01000000 01000000 64 79"  # main output: "d" "y"
            ),
        )
        self.assertEqual([e[0] for e in read_output_batch(tagged)], [MAIN_OUTPUT, 0, 1, MAIN_OUTPUT])
        # The next batch starts over as version 1.
        self.assertEqual(runtime.process(batch((1, b"k", b"v")), 0)[2], 1)

    def test_an_undeclared_side_output_fails_naming_the_declared_ones(self):
        h = Harness(Router, graph_info())
        with self.assertRaises(Error) as caught:
            h.process("k", "nowhere", 1)
        self.assertEqual(
            str(caught.exception),
            "operator 'router' emitted to side output `nowhere`, which is not declared: its side outputs are "
            "`late`, `odd` (declare them with `side_outputs` in the job file)",
        )
        with self.assertRaisesRegex(Error, "side output `late`, which is not declared: its side outputs are none"):
            Harness(Router).process("k", "late")
        # The failed batch's output is dropped, side outputs included.
        self.assertEqual(h.side_output("late"), [])

    def test_side_outputs_keep_the_timestamp_and_the_order(self):
        h = Harness(Router, graph_info())
        out = h.process_all([("a", "late", 1, 10), ("b", "x", 1, 20), ("c", "late", 1, 30)])
        self.assertEqual(out, [("b", "x")])
        late = h.side_output("late")
        self.assertEqual(late, [("a", "late"), ("c", "late")])
        self.assertEqual([o.timestamp for o in late], [10, 30])
        self.assertEqual(h.side_output("late"), [])  # read once

    def test_emit_to_with_timestamp(self):
        class Stamp(weir.Operator):
            def process(self, ctx, event):
                ctx.emit_to_with_timestamp("late", event.key, event.value, 77)

        h = Harness(Stamp, side_outputs=["late"])
        h.process("k", "v", 0, 5)
        self.assertEqual([(o.key, o.timestamp) for o in h.side_output("late")], [(b"k", 77)])
        with self.assertRaisesRegex(Error, "side output `late`, which is not declared: its side outputs are `early`"):
            Harness(Stamp, side_outputs=["early"]).process("k", "v")

    def test_finish_emits_to_side_outputs_too(self):
        h = Harness(Router, graph_info())
        self.assertEqual(h.finish(), [("end", "")])
        self.assertEqual(h.side_output("odd"), [("end", "")])


class HarnessTest(unittest.TestCase):
    def test_inputs_by_index_or_name(self):
        h = Harness(Router, inputs=["orders", ("prices", True)], side_outputs=["late"])
        h.process("k", "a", 2, input=0)
        h.process("", "b", input="prices")
        h.process_all([("", "c"), ("", "d", NO_KEY_GROUP)], input=1)
        self.assertEqual(
            h.operator.seen,
            [(0, "orders", 2, b"a"), (1, "prices", None, b"b"), (1, "prices", None, b"c"), (1, "prices", None, b"d")],
        )
        with self.assertRaisesRegex(Error, r"no input 'clicks': its inputs are 0: `orders`, 1: `prices`"):
            h.process("k", "a", input="clicks")
        with self.assertRaisesRegex(Error, "no input 2"):
            h.process("k", "a", input=2)
        with self.assertRaisesRegex(Error, "broadcast input `prices` was given key group 3"):
            h.process("k", "a", 3, input=1)
        with self.assertRaisesRegex(Error, r"no side output `odd`: the harness declares `late`"):
            h.side_output("odd")

    def test_the_defaults_are_one_input_and_no_side_outputs(self):
        h = Harness(Router)
        self.assertEqual(h.process("k", "v"), [("k", "v")])
        self.assertEqual(h.operator.seen, [(0, "input", 0, b"v")])
        self.assertEqual(h.info.side_outputs, [])

    def test_options_override_the_info_and_survive_a_restore(self):
        info = OperatorInfo("router", config={"x": "1"})
        h = Harness.restore(Router, [], info, inputs=["a", "b"], side_outputs=["late"])
        self.assertEqual(
            (h.info.name, h.info.config, [i.name for i in h.info.inputs]), ("router", {"x": "1"}, ["a", "b"])
        )
        h.process("k", "late", 0, input="b")
        self.assertEqual(h.side_output("late"), [("k", "late")])


if __name__ == "__main__":
    unittest.main()

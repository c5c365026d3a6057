"""The runtime behind both the component and the harness: batches in and
out, errors, timestamps."""

import unittest

import support  # noqa: F401
import weir
from weir import Error, OperatorInfo
from weir.framing import NO_KEY_GROUP, NO_TIMESTAMP, BatchWriter, read_batch
from weir.runtime import Runtime
from weir.testing import Harness


class Echo(weir.Operator):
    """Echoes events; "fail" emits first, then fails; "late" emits with a
    timestamp of its own; "crash" raises a plain Python error."""

    def process(self, ctx, event):
        ctx.emit(event.key, event.value)
        if event.value == b"fail":
            raise Error("asked to fail")
        if event.value == b"late":
            ctx.emit_with_timestamp("late", "", 99)
        if event.value == b"crash":
            {}["missing"]

    def finish(self, ctx):
        ctx.emit("done", b"")


class RuntimeTest(unittest.TestCase):
    def test_a_malformed_batch_is_an_error(self):
        runtime = Runtime(Echo, OperatorInfo("t"), [])
        writer = BatchWriter()
        writer.push(1, NO_TIMESTAMP, b"key", b"value")
        good = writer.finish()
        with self.assertRaisesRegex(Error, "^malformed input batch: truncated while reading event value$"):
            runtime.process(good[:-1])
        with self.assertRaisesRegex(Error, r"^malformed input batch: bad magic \(not a Weir batch\)$"):
            runtime.process(b"XX\x01\x00\x00\x00\x00\x00")
        # The partial output of a failed batch is not carried into the next one.
        self.assertEqual(list(read_batch(runtime.process(good))), [(NO_KEY_GROUP, NO_TIMESTAMP, b"key", b"value")])

    def test_empty_input_gives_empty_output(self):
        runtime = Runtime(Echo, OperatorInfo("t"), [])
        self.assertEqual(runtime.process(b""), b"")
        self.assertEqual(runtime.process(b"WB\x01\x00\x00\x00\x00\x00"), b"")

    def test_output_carries_the_input_timestamp_unless_given_one(self):
        harness = Harness(Echo)
        out = harness.process("k", "late", 3, 1234)
        self.assertEqual(out, [("k", "late"), ("late", "")])
        self.assertEqual([o.timestamp for o in out], [1234, 99])
        self.assertIsNone(harness.process("k", "v", 3)[0].timestamp)
        (done,) = harness.finish()
        self.assertEqual((done.key_str(), done.timestamp), ("done", None))

    def test_an_operator_error_fails_the_batch_and_drops_its_output(self):
        harness = Harness(Echo)
        with self.assertRaisesRegex(Error, "asked to fail"):
            harness.process_all([("a", "ok", 1), ("b", "fail", 1)])
        self.assertEqual(harness.process("c", "ok", 1), [("c", "ok")])

    def test_events_see_their_fields(self):
        seen = []

        class Spy(weir.Operator):
            def process(self, ctx, event):
                seen.append((event.key, event.value, event.timestamp, event.key_group, ctx.timestamp))

        harness = Harness(Spy)
        harness.process_all([("k", "v", 7, 5), ("k2", b"\xff", NO_KEY_GROUP)])
        self.assertEqual(seen, [(b"k", b"v", 5, 7, 5), (b"k2", b"\xff", None, None, None)])

    def test_emit_refuses_what_is_not_text_or_bytes(self):
        class Sloppy(weir.Operator):
            def process(self, ctx, event):
                ctx.emit(event.key, 42)

        with self.assertRaisesRegex(TypeError, "must be bytes or str, not int"):
            Harness(Sloppy).process("k", "v")

    def test_utf8_accessors(self):
        class Text(weir.Operator):
            def process(self, ctx, event):
                ctx.emit(event.key_str(), event.value_str())

        with self.assertRaisesRegex(Error, "event value is not UTF-8"):
            Harness(Text).process("k", b"\xff")


if __name__ == "__main__":
    unittest.main()

"""Event-time windows (weir.window): assignment, firing, lateness,
aggregates, state layout and restore."""

import unittest

import support  # noqa: F401
import weir
from weir import Aggregate, Kind, Window, codec
from weir.chunk import ChunkWriter, read_chunk
from weir.testing import Harness


def windowed(declare, name="windows"):
    """A WindowedOperator whose window set `declare(ctx)` returns; emits
    `<start> <end> <result>` per fired window."""

    class Op(weir.WindowedOperator):
        def open(self, ctx):
            self.windows = declare(ctx)

        def on_window(self, ctx, key, window, result):
            ctx.emit(key, f"{window.start} {window.end} {result}")

    Op.__name__ = name
    return Op


def text(outputs):
    return [(o.key_str(), o.value_str()) for o in outputs]


Tumbling = windowed(lambda ctx: ctx.tumbling_windows("counts", 10, Aggregate.count()), "Tumbling")


class AssignmentTest(unittest.TestCase):
    def windows(self, declare):
        return Harness(windowed(declare)).operator.windows

    def test_tumbling(self):
        w = self.windows(lambda ctx: ctx.tumbling_windows("w", 10, Aggregate.count()))
        self.assertEqual(w.windows_of(0), [Window(0, 10)])
        self.assertEqual(w.windows_of(19), [Window(10, 20)])
        self.assertEqual(w.windows_of(-1), [Window(-10, 0)])  # rem_euclid, not truncation

    def test_sliding(self):
        w = self.windows(lambda ctx: ctx.sliding_windows("w", 10, 5, Aggregate.count()))
        self.assertEqual(w.windows_of(12), [Window(5, 15), Window(10, 20)])
        self.assertEqual(w.windows_of(10), [Window(5, 15), Window(10, 20)])
        self.assertEqual(w.windows_of(-3), [Window(-10, 0), Window(-5, 5)])
        w = self.windows(lambda ctx: ctx.sliding_windows("w", 10, 3, Aggregate.count()))
        self.assertEqual(w.windows_of(7), [Window(0, 10), Window(3, 13), Window(6, 16)])

    def test_bad_declarations(self):
        for declare, message in [
            (lambda ctx: ctx.tumbling_windows("w", 0, Aggregate.count()), "size_ms must be a positive"),
            (lambda ctx: ctx.sliding_windows("w", 10, 20, Aggregate.count()), "must not exceed"),
            (lambda ctx: ctx.session_windows("w", 10, Aggregate.fold(0, lambda a, e: a + 1, codec.U64)), "merges"),
            (lambda ctx: ctx.tumbling_windows("w", 10, Aggregate.count(), allowed_lateness_ms=-1), "allowed_lateness"),
        ]:
            with self.subTest(message), self.assertRaisesRegex(weir.Error, message):
                Harness(windowed(declare))


class TumblingTest(unittest.TestCase):
    def test_fires_when_the_watermark_reaches_the_end(self):
        h = Harness(Tumbling)
        h.process_all([("a", "", 1, 1), ("a", "", 1, 9), ("b", "", 2, 5), ("a", "", 1, 10)])
        self.assertEqual(h.advance(9), [])
        out = h.advance(10)
        self.assertEqual(text(out), [("a", "0 10 2"), ("b", "0 10 1")])
        self.assertEqual([o.timestamp for o in out], [9, 9])  # window.max_timestamp
        self.assertEqual(text(h.advance(25)), [("a", "10 20 1")])
        self.assertEqual(h.snapshot(), [])  # fired windows and their timers are gone

    def test_late_events_go_to_the_late_side_output(self):
        h = Harness(Tumbling, side_outputs=["late"])
        h.process("a", "x", 1, 5)
        h.advance(10)
        self.assertEqual(h.process("a", "late", 1, 9), [])
        late = h.side_output("late")
        self.assertEqual(text(late), [("a", "late")])
        self.assertEqual(late[0].timestamp, 9)  # unchanged
        # Not late: its window ends after the watermark.
        h.process("a", "on time", 1, 10)
        self.assertEqual(h.side_output("late"), [])
        self.assertEqual(text(h.advance(20)), [("a", "10 20 1")])

    def test_late_events_are_dropped_without_a_late_output(self):
        logs = []
        weir.log.set_sink(lambda level, message: logs.append(message))
        self.addCleanup(weir.log.set_sink, None)
        h = Harness(Tumbling)
        h.advance(100)
        self.assertEqual(h.process("a", "x", 1, 5), [])
        self.assertIn("dropped a late event", logs[0])
        self.assertEqual(h.snapshot(), [])

    def test_allowed_lateness(self):
        Lenient = windowed(lambda ctx: ctx.tumbling_windows("counts", 10, Aggregate.count(), allowed_lateness_ms=5))
        h = Harness(Lenient, side_outputs=["late"])
        h.process("a", "", 1, 3)
        self.assertEqual(h.advance(14), [])
        h.process("a", "", 1, 4)  # after the window's end, within the lateness: counted
        self.assertEqual(h.side_output("late"), [])
        self.assertEqual(text(h.advance(15)), [("a", "0 10 2")])
        h.process("a", "", 1, 4)
        self.assertEqual(text(h.side_output("late")), [("a", "")])

    def test_end_of_input_fires_everything(self):
        h = Harness(Tumbling)
        h.process_all([("a", "", 1, 1), ("a", "", 1, 1000)])
        self.assertEqual(text(h.end_of_input()), [("a", "0 10 1"), ("a", "1000 1010 1")])

    def test_windows_restore_and_close(self):
        h = Harness(Tumbling)
        h.process_all([("a", "", 1, 1), ("a", "", 1, 2), ("b", "", 2, 15)])
        h.advance(5)
        restored = Harness.restore(Tumbling, h.snapshot())
        restored.process("a", "", 1, 3)
        self.assertEqual(text(restored.advance(10)), [("a", "0 10 3")])
        self.assertEqual(text(restored.advance(20)), [("b", "10 20 1")])


class SlidingTest(unittest.TestCase):
    def test_an_event_counts_in_each_of_its_windows_that_is_not_late(self):
        Sliding = windowed(lambda ctx: ctx.sliding_windows("counts", 10, 5, Aggregate.count()))
        h = Harness(Sliding, side_outputs=["late"])
        h.process("a", "", 1, 7)  # [0, 10) and [5, 15)
        self.assertEqual(text(h.advance(10)), [("a", "0 10 1")])
        h.process("a", "", 1, 9)  # [0, 10) fired: only [5, 15)
        self.assertEqual(h.side_output("late"), [])
        h.process("a", "", 1, 12)  # [5, 15) and [10, 20)
        self.assertEqual(text(h.advance(20)), [("a", "5 15 3"), ("a", "10 20 1")])
        h.process("a", "", 1, 14)  # both of its windows fired
        self.assertEqual(text(h.side_output("late")), [("a", "")])


class SessionTest(unittest.TestCase):
    Sessions = windowed(lambda ctx: ctx.session_windows("sessions", 10, Aggregate.count()), "Sessions")

    def test_sessions_merge_when_they_overlap_or_touch(self):
        h = Harness(self.Sessions)
        h.process("a", "", 1, 0)  # [0, 10)
        h.process("a", "", 1, 30)  # [30, 40)
        h.process("a", "", 1, 10)  # [10, 20) touches [0, 10): [0, 20)
        self.assertEqual(
            [(w, acc) for w, acc in self._open(h, "a")], [(Window(0, 20), (20, 2)), (Window(30, 40), (40, 1))]
        )
        h.process("a", "", 1, 20)  # [20, 30) touches both [0, 20) and [30, 40): [0, 40)
        self.assertEqual(self._open(h, "a"), [(Window(0, 40), (40, 4))])
        self.assertEqual(h.advance(39), [])  # the stale timers at 10 and 20 fire and find nothing
        self.assertEqual(text(h.advance(40)), [("a", "0 40 4")])

    def _open(self, h, key):
        (chunk,) = [c for c in h.snapshot() if c.handle == "sessions"]
        windows = []
        for k, start, value in read_chunk(Kind.KEYED_MAP, chunk.data):
            if k == key.encode():
                s = codec.decode(codec.I64, start)
                end, acc = codec.decode(codec.Tuple(codec.I64, codec.U64), value)
                windows.append((Window(s, end), (end, acc)))
        return sorted(windows)

    def test_session_layout_end_then_accumulator(self):
        h = Harness(self.Sessions)
        h.process("k", "", 3, 100)
        h.process("k", "", 3, 105)
        chunks = {c.handle: c for c in h.snapshot()}
        writer = ChunkWriter(Kind.KEYED_MAP)
        writer.keyed_map(b"k", codec.encode(codec.I64, 100), codec.encode(codec.I64, 115) + codec.encode(codec.U64, 2))
        self.assertEqual(chunks["sessions"].data, writer.finish())
        self.assertEqual(chunks["sessions"].data.hex(), "0101000000" "6b" "02000000" "c801" "03000000" "e60102")

    def test_late_session_event(self):
        h = Harness(self.Sessions, side_outputs=["late"])
        h.advance(50)
        h.process("k", "", 3, 40)  # [40, 50): ends at the watermark: late
        h.process("k", "", 3, 41)  # [41, 51): not late
        self.assertEqual(text(h.side_output("late")), [("k", "")])
        self.assertEqual(text(h.advance(51)), [("k", "41 51 1")])


class AggregateTest(unittest.TestCase):
    def run_all(self, aggregate, values):
        Op = windowed(lambda ctx: ctx.tumbling_windows("w", 100, aggregate))
        h = Harness(Op)
        h.process_all([("k", v, 0, i) for i, v in enumerate(values)])
        return h

    def test_count_sum_min_max(self):
        for aggregate, expected, stored in [
            (Aggregate.count(), "3", codec.encode(codec.U64, 3)),
            (Aggregate.sum(), "-3", codec.encode(codec.I64, -3)),
            (Aggregate.min(), "-7", codec.encode(codec.I64, -7)),
            (Aggregate.max(), "5", codec.encode(codec.I64, 5)),
        ]:
            with self.subTest(aggregate.name):
                h = self.run_all(aggregate, ["5", "-7", "-1"])
                (chunk,) = [c for c in h.snapshot() if c.handle == "w"]
                self.assertEqual(list(read_chunk(Kind.KEYED_MAP, chunk.data)), [(b"k", b"\x00", stored)])
                self.assertEqual(text(h.advance(100)), [("k", f"0 100 {expected}")])

    def test_fold(self):
        words = Aggregate.fold("", lambda acc, event: acc + event.value_str(), codec.STR)
        h = self.run_all(words, ["a", "b", "c"])
        self.assertEqual(text(h.advance(100)), [("k", "0 100 abc")])
        by_length = Aggregate.sum(lambda event: len(event.value))
        self.assertEqual(text(self.run_all(by_length, ["ab", "c"]).advance(100)), [("k", "0 100 3")])

    def test_fold_sessions_merge(self):
        words = Aggregate.fold("", lambda acc, e: acc + e.value_str(), codec.STR, merge=lambda a, b: a + "|" + b)
        Op = windowed(lambda ctx: ctx.session_windows("s", 10, words))
        h = Harness(Op)
        h.process_all([("k", "a", 0, 0), ("k", "b", 0, 20), ("k", "c", 0, 10)])
        self.assertEqual(text(h.advance(100)), [("k", "0 30 a|bc")])

    def test_sum_of_a_value_that_is_not_a_number(self):
        with self.assertRaisesRegex(weir.Error, "is not an integer"):
            self.run_all(Aggregate.sum(), ["x"])


class HandleTest(unittest.TestCase):
    def test_windows_next_to_timers_of_your_own(self):
        class Both(weir.Operator):
            def open(self, ctx):
                self.windows = ctx.tumbling_windows("counts", 10, Aggregate.count())

            def process(self, ctx, event):
                self.windows.add(event)
                ctx.register_event_timer(event.timestamp + 1)

            def on_timer(self, ctx, timer):
                if not self.windows.on_timer(timer, self.fire):
                    ctx.emit(timer.key, f"own timer {timer.timestamp}")

            def fire(self, ctx, key, window, count):
                ctx.emit(key, f"window {window.start} {count}")

        h = Harness(Both)
        h.process("a", "", 1, 9)
        self.assertEqual(text(h.advance(10)), [("a", "window 0 1")])  # one timer at 10, shared
        h.process("a", "", 1, 12)
        self.assertEqual(text(h.advance(30)), [("a", "own timer 13"), ("a", "window 10 1")])

    def test_events_need_timestamps(self):
        with self.assertRaisesRegex(weir.Error, "no timestamp"):
            Harness(Tumbling).process("a", "", 1)


if __name__ == "__main__":
    unittest.main()

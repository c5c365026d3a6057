"""Timers, the watermark and the clock (weir.time), through the Harness."""

import struct
import unittest

import support  # noqa: F401
import weir
from weir import Chunk, Kind, OperatorInfo, TimeDomain, codec
from weir.chunk import read_chunk, read_delta
from weir.testing import Checkpoints, Harness, NO_KEY_GROUP

EVENT, PROCESSING = TimeDomain.EVENT, TimeDomain.PROCESSING


def timer_key(domain, ts):
    return struct.pack("<Bq", domain, ts)


class Scheduler(weir.Operator):
    """Values are commands: `e <ts>` / `p <ts>` register, `-e <ts>` / `-p <ts>` delete,
    `chain <ts>` registers an event timer that re-registers itself +5 up to 20."""

    def open(self, ctx):
        self.fired = ctx.keyed_value("fired", codec=codec.U64)

    def process(self, ctx, event):
        for command in event.value_str().split(","):
            op, ts = command.split()
            ts = int(ts)
            if op == "e":
                ctx.register_event_timer(ts)
            elif op == "p":
                ctx.register_processing_timer(ts)
            elif op == "-e":
                ctx.emit(event.key, f"deleted {ctx.delete_event_timer(ts)}")
            elif op == "-p":
                ctx.emit(event.key, f"deleted {ctx.delete_processing_timer(ts)}")
            elif op == "chain":
                self.fired.set(0)
                ctx.register_event_timer(ts)

    def on_timer(self, ctx, timer):
        n = self.fired.get(0) + 1
        self.fired.set(n)
        ctx.emit(timer.key, f"{timer.domain.name.lower()} {timer.timestamp} #{n} wm={ctx.watermark}")
        if timer.key == b"chain" and timer.timestamp < 20:
            ctx.register_event_timer(timer.timestamp + 5)


def values(outputs):
    return [(o.key_str(), o.value_str()) for o in outputs]


class TimerTest(unittest.TestCase):
    def test_fire_in_timestamp_order_across_keys(self):
        h = Harness(Scheduler)
        h.process("b", "e 10,e 20", 2, 1)
        h.process("a", "e 30,e 20", 1, 1)
        h.process("c", "p 20", 3, 1)
        self.assertEqual(h.advance(5), [])
        self.assertEqual(
            values(h.advance(25, now=20)),
            [
                ("b", "event 10 #1 wm=25"),
                ("a", "event 20 #1 wm=25"),  # equal timestamps: event time first, then by key
                ("b", "event 20 #2 wm=25"),
                ("c", "processing 20 #1 wm=25"),
            ],
        )
        self.assertEqual(values(h.advance(30)), [("a", "event 30 #2 wm=30")])
        self.assertEqual(h.advance(1000, now=1000), [])

    def test_watermark_never_goes_back_and_is_min_before_the_first(self):
        seen = []

        class Probe(weir.Operator):
            def process(self, ctx, event):
                seen.append(ctx.watermark)

        h = Harness(Probe)
        h.process("k", "", 0, 1)
        h.advance(100)
        h.advance(50)
        h.process("k", "", 0, 1)
        self.assertEqual(seen, [weir.MIN_TIMESTAMP, 100])
        self.assertEqual(h.watermark, 100)

    def test_reregistration_keeps_one_and_fired_timers_can_come_back(self):
        h = Harness(Scheduler)
        h.process("k", "e 10,e 10", 0, 1)
        h.process("k", "e 10", 0, 1)
        self.assertEqual(values(h.advance(10)), [("k", "event 10 #1 wm=10")])
        self.assertEqual(h.advance(11), [])
        # Registered again at or below the watermark: due at the next advance.
        h.process("k", "e 10", 0, 12)
        self.assertEqual(values(h.advance(12)), [("k", "event 10 #2 wm=12")])

    def test_deletion(self):
        h = Harness(Scheduler)
        h.process("k", "e 10,e 20,p 30", 0, 1)
        self.assertEqual(
            values(h.process("k", "-e 10,-e 11,-p 30", 0, 1)),
            [("k", "deleted True"), ("k", "deleted False"), ("k", "deleted True")],
        )
        self.assertEqual(h.wake_at, None)
        self.assertEqual(values(h.advance(100, now=100)), [("k", "event 20 #1 wm=100")])
        # Deleting and registering again leaves one timer.
        h.process("k", "e 200,-e 200,e 200", 0, 150)
        self.assertEqual(values(h.advance(300)), [("k", "event 200 #2 wm=300")])

    def test_timers_registered_in_callbacks_fire_in_the_same_advance(self):
        h = Harness(Scheduler)
        h.process("chain", "chain 5", 0, 1)
        out = values(h.advance(17))
        self.assertEqual(out, [("chain", "event 5 #1 wm=17"), ("chain", "event 10 #2 wm=17"), ("chain", "event 15 #3 wm=17")])
        self.assertEqual(values(h.advance(100)), [("chain", "event 20 #4 wm=100")])
        self.assertEqual(h.advance(1000), [])

    def test_processing_timers_and_wake_at(self):
        h = Harness(Scheduler)
        self.assertEqual(h.wake_at_requests, [])
        h.process("a", "p 1000", 1)
        self.assertEqual(h.wake_at, 1000)
        h.process("b", "p 500,p 700", 2)
        h.process("a", "p 2000", 1)  # not the earliest: the host is not told again
        self.assertEqual(h.wake_at_requests, [1000, 500])
        h.process("b", "-p 500", 2)
        self.assertEqual(h.wake_at, 700)
        self.assertEqual(h.advance(now=699), [])
        self.assertEqual(values(h.advance(now=1000)), [("b", "processing 700 #1 wm=-9223372036854775808"), ("a", "processing 1000 #1 wm=-9223372036854775808")])
        self.assertEqual(h.wake_at, 2000)
        self.assertEqual(values(h.advance(now=5000)), [("a", "processing 2000 #2 wm=-9223372036854775808")])
        self.assertEqual(h.wake_at_requests, [1000, 500, 700, 2000, None])
        # Processing time does not fire event timers, nor the other way round.
        h.process("a", "e 10,p 6000", 1)
        self.assertEqual(h.advance(9, now=10_000)[0].value_str(), "processing 6000 #3 wm=9")
        self.assertEqual(values(h.advance(10)), [("a", "event 10 #4 wm=10")])

    def test_processing_time_in_the_context(self):
        class Clock(weir.Operator):
            def process(self, ctx, event):
                ctx.emit(event.key, str(ctx.processing_time))

        h = Harness(Clock)
        self.assertGreater(int(h.process("k", "", 0)[0].value_str()), 1_600_000_000_000)  # the wall clock
        h.advance(now=42)
        self.assertEqual(h.process("k", "", 0), [("k", "42")])

    def test_emitted_timestamps_and_state_in_scope(self):
        h = Harness(Scheduler)
        h.process("k", "e 10,p 20", 5, 3)
        out = h.advance(10, now=20)
        self.assertEqual([o.timestamp for o in out], [10, None])
        # The key's state was in scope: the callback counted in `fired`.
        (chunk,) = [c for c in h.snapshot() if c.handle == "fired"]
        self.assertEqual((chunk.key_group, list(read_chunk(Kind.KEYED_VALUE, chunk.data))), (5, [(b"k", b"\x02")]))

    def test_timers_need_a_key_and_an_on_timer(self):
        h = Harness(Scheduler)
        with self.assertRaisesRegex(weir.Error, "timers are per event key"):
            h.process("k", "e 10", NO_KEY_GROUP)

        class NoCallback:
            def process(self, ctx, event):
                ctx.register_event_timer(1)

        h = Harness(NoCallback)
        h.process("k", "", 0)
        with self.assertRaisesRegex(weir.Error, "has no `on_timer"):
            h.advance(1)

        class Forgot(weir.Operator):
            def process(self, ctx, event):
                ctx.register_event_timer(1)

        h = Harness(Forgot)
        h.process("k", "", 0)
        with self.assertRaisesRegex(NotImplementedError, "does not implement on_timer"):
            h.advance(1)

        class Fractional(weir.Operator):
            def process(self, ctx, event):
                ctx.register_event_timer(1.5)

        with self.assertRaisesRegex(TypeError, "timer timestamp is an int"):
            Harness(Fractional).process("k", "", 0)

    def test_the_timers_handle_is_reserved(self):
        class Squatter(weir.Operator):
            def open(self, ctx):
                ctx.keyed_map("weir.timers")

        with self.assertRaisesRegex(weir.Error, "reserved"):
            Harness(Squatter)


class TimerStateTest(unittest.TestCase):
    def test_layout_of_weir_timers(self):
        h = Harness(Scheduler)
        h.process("k", "e 60000,p -1", 9, 1)
        chunks = [c for c in h.snapshot() if c.handle == "weir.timers"]
        self.assertEqual(len(chunks), 1)
        self.assertEqual((chunks[0].kind, chunks[0].key_group), (Kind.KEYED_MAP, 9))
        self.assertEqual(
            chunks[0].data,
            bytes.fromhex("01" "01000000 6b" "09000000 00 60ea000000000000" "00000000"
                          "01000000 6b" "09000000 01 ffffffffffffffff" "00000000".replace(" ", "")),
        )

    def test_restore_full_snapshot(self):
        h = Harness(Scheduler)
        h.process("a", "e 10,p 500", 1, 1)
        h.process("b", "e 5", 2, 1)
        restored = Harness.restore(Scheduler, h.snapshot())
        # A restored instance tells the host its earliest processing timer at once.
        self.assertEqual(restored.wake_at_requests, [500])
        self.assertEqual(values(restored.advance(10)), [("b", "event 5 #1 wm=10"), ("a", "event 10 #1 wm=10")])
        self.assertEqual(values(restored.advance(now=500)), [("a", "processing 500 #2 wm=10")])
        self.assertEqual([c.handle for c in restored.snapshot()], ["fired", "fired"])

    def test_incremental_snapshots_track_timers(self):
        h = Harness(Scheduler)
        checkpoints = Checkpoints()
        h.process("a", "e 10,e 20", 1, 1)
        h.process("b", "e 30", 2, 1)
        checkpoints.add(h.snapshot_incremental())
        h.advance(10)  # a's 10 fires: key a changed
        delta = h.snapshot_incremental()
        self.assertTrue(delta.incremental)
        timers = [c for c in delta.chunks if c.handle == "weir.timers"]
        self.assertEqual([c.key_group for c in timers], [1])
        removed, entries = read_delta(Kind.KEYED_MAP, timers[0].data)
        self.assertEqual((removed, entries), ([], [(b"a", timer_key(0, 20), b"")]))
        checkpoints.add(delta)
        h.advance(20)  # a has no timer left: removed
        delta = h.snapshot_incremental()
        timers = [c for c in delta.chunks if c.handle == "weir.timers"]
        self.assertEqual(read_delta(Kind.KEYED_MAP, timers[0].data), ([b"a"], []))
        checkpoints.add(delta)
        restored = Harness.restore(Scheduler, checkpoints.chunks())
        self.assertEqual(values(restored.advance(100)), [("b", "event 30 #1 wm=100")])

    def test_restore_split_across_key_groups(self):
        h = Harness(Scheduler)
        for key, group in [("a", 3), ("b", 70), ("c", 127)]:
            h.process(key, f"e {group},p {group}", group, 1)
        chunks = h.snapshot()
        # Rescaled to two subtasks: each gets the chunks of its key groups.
        low = OperatorInfo("test", subtask_index=0, parallelism=2, key_groups=range(0, 64))
        high = OperatorInfo("test", subtask_index=1, parallelism=2, key_groups=range(64, 128))
        first = Harness.restore(Scheduler, [c for c in chunks if c.key_group in low.key_groups], low)
        second = Harness.restore(Scheduler, [c for c in chunks if c.key_group in high.key_groups], high)
        self.assertEqual((first.wake_at, second.wake_at), (3, 70))
        self.assertEqual(values(first.advance(1000, now=1000)), [("a", "event 3 #1 wm=1000"), ("a", "processing 3 #2 wm=1000")])
        self.assertEqual(
            values(second.advance(1000, now=1000)),
            [("b", "event 70 #1 wm=1000"), ("b", "processing 70 #2 wm=1000"), ("c", "event 127 #1 wm=1000"), ("c", "processing 127 #2 wm=1000")],
        )
        # The keys keep their key groups: the fired counts land in them.
        self.assertEqual(sorted(c.key_group for c in second.snapshot()), [70, 127])

    def test_restores_timers_written_by_another_sdk(self):
        # A chunk as the Rust SDK writes it: key "x", event timer at 7.
        data = bytes.fromhex("01" "01000000" "78" "09000000" "00" "0700000000000000" "00000000")
        h = Harness.restore(Scheduler, [Chunk("weir.timers", Kind.KEYED_MAP, 4, data)])
        self.assertEqual(values(h.advance(7)), [("x", "event 7 #1 wm=7")])
        bad = Chunk("weir.timers", Kind.KEYED_MAP, 4, bytes.fromhex("01 01000000 78 02000000 0007 00000000".replace(" ", "")))
        with self.assertRaisesRegex(weir.Error, "malformed restored timer"):
            Harness.restore(Scheduler, [bad])


if __name__ == "__main__":
    unittest.main()

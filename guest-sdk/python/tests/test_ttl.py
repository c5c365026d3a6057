"""State with a time to live (ttl_ms=): visibility, layout, snapshots."""

import struct
import unittest

import support  # noqa: F401
import weir
from weir import Chunk, Kind, codec
from weir.chunk import read_chunk, read_delta
from weir.testing import Checkpoints, Harness

I64_MAX = (1 << 63) - 1


def le(n):
    return struct.pack("<q", n)


class Remember(weir.Operator):
    """`set X` / `get`, `put K V` / `map`, `push X` / `list`; `tick` sets in on_timer."""

    def open(self, ctx):
        self.value = ctx.keyed_value("value", codec=codec.STR, ttl_ms=100)
        self.map = ctx.keyed_map("map", key_codec=codec.STR, codec=codec.U64, ttl_ms=100)
        self.list = ctx.keyed_list("list", codec=codec.U64, ttl_ms=100)

    def process(self, ctx, event):
        words = event.value_str().split()
        op = words[0]
        if op == "set":
            self.value.set(words[1])
        elif op == "get":
            ctx.emit(event.key, repr(self.value.get()))
        elif op == "put":
            self.map.insert(words[1], int(words[2]))
        elif op == "map":
            ctx.emit(event.key, repr((sorted(self.map.items()), self.map.len(), self.map.contains_key("x"))))
        elif op == "push":
            self.list.push(int(words[1]))
        elif op == "list":
            ctx.emit(event.key, repr(self.list.get()))
        elif op == "retain":
            seen = []
            dropped = self.value.retain_all(lambda key, value: seen.append((key, value)) or True)
            ctx.emit(event.key, repr((dropped, seen)))
        elif op == "tick":
            ctx.register_event_timer(int(words[1]))

    def on_timer(self, ctx, timer):
        self.value.set("from a timer")


def text(outputs):
    return [o.value_str() for o in outputs]


class TtlVisibilityTest(unittest.TestCase):
    def test_a_value_lives_ttl_ms_of_event_time(self):
        h = Harness(Remember)
        h.process("k", "set a", 1, 1000)
        self.assertEqual(text(h.process("k", "get", 1, 1099)), ["'a'"])
        # An older event sees it too: the operator's time is the newest of
        # the event's timestamp and the watermark.
        self.assertEqual(text(h.process("k", "get", 1, 1050)), ["'a'"])
        self.assertEqual(text(h.process("k", "get", 1, 1100)), ["None"])  # expires_at = 1000 + 100
        # Once an event of its key saw it expire, it is gone for good.
        self.assertEqual(text(h.process("k", "get", 1, 1050)), ["None"])
        self.assertEqual(h.snapshot(), [])
        # The watermark expires it as well, whatever the event's timestamp.
        h.process("j", "set b", 2, 1000)
        h.advance(1100)
        self.assertEqual(text(h.process("j", "get", 2, 1050)), ["None"])
        self.assertEqual(text(h.process("j", "get", 2)), ["None"])

    def test_write_time_without_a_timestamp(self):
        h = Harness(Remember)
        # No timestamp, no watermark: never expires.
        h.process("forever", "set a", 1)
        # No timestamp after a watermark: written at the watermark.
        h.advance(500)
        h.process("wm", "set b", 2)
        self.assertEqual(text(h.process("wm", "get", 2, 599)), ["'b'"])
        entries = [e for c in h.snapshot() if c.handle == "value" for e in read_chunk(Kind.KEYED_VALUE, c.data)]
        self.assertEqual(entries, [(b"forever", le(I64_MAX) + b"\x01a"), (b"wm", le(600) + b"\x01b")])
        self.assertEqual(text(h.process("wm", "get", 2, 600)), ["None"])
        self.assertEqual(text(h.process("forever", "get", 1, 10**15)), ["'a'"])
        # The end of the input (watermark i64::MAX) expires everything.
        h.advance(I64_MAX)
        self.assertEqual(h.snapshot(), [])

    def test_writes_in_a_timer_use_the_watermark(self):
        h = Harness(Remember)
        h.process("k", "tick 10", 1, 5)
        h.advance(40)  # the timer at 10 fires with the watermark at 40
        self.assertEqual(text(h.process("k", "get", 1, 139)), ["'from a timer'"])
        self.assertEqual(text(h.process("k", "get", 1, 140)), ["None"])

    def test_map_values_and_list_elements_expire_one_by_one(self):
        h = Harness(Remember)
        h.process("k", "put x 1", 1, 0)
        h.process("k", "put y 2", 1, 50)
        h.process("k", "push 1", 1, 0)
        h.process("k", "push 2", 1, 50)
        self.assertEqual(text(h.process("k", "map", 1, 99)), ["([('x', 1), ('y', 2)], 2, True)"])
        self.assertEqual(text(h.process("k", "map", 1, 100)), ["([('y', 2)], 1, False)"])
        self.assertEqual(text(h.process("k", "list", 1, 100)), ["[2]"])
        # The expired ones are gone from the state.
        (chunk,) = [c for c in h.snapshot() if c.handle == "map"]
        self.assertEqual(list(read_chunk(Kind.KEYED_MAP, chunk.data)), [(b"k", b"\x01y", le(150) + b"\x02")])
        # Writing again renews a map value.
        h.process("k", "put x 3", 1, 120)
        self.assertEqual(text(h.process("k", "map", 1, 160)), ["([('x', 3)], 1, True)"])


class TtlStateTest(unittest.TestCase):
    def test_layout_expiry_in_front_of_the_value(self):
        h = Harness(Remember)
        h.process("k", "set a", 7, 1000)
        h.process("k", "put x 5", 7, 1000)
        h.process("k", "push 6", 7, 1050)
        chunks = {c.handle: c for c in h.snapshot()}
        self.assertEqual(chunks["value"].data, bytes.fromhex("01 01000000 6b 0a000000".replace(" ", "")) + le(1100) + b"\x01a")
        self.assertEqual(list(read_chunk(Kind.KEYED_MAP, chunks["map"].data)), [(b"k", b"\x01x", le(1100) + b"\x05")])
        self.assertEqual(list(read_chunk(Kind.KEYED_LIST, chunks["list"].data)), [(b"k", [le(1150) + b"\x06"])])
        # And back.
        r = Harness.restore(Remember, list(chunks.values()))
        self.assertEqual(text(r.process("k", "get", 7, 1099)), ["'a'"])
        self.assertEqual(text(r.process("k", "map", 7, 1099)), ["([('x', 5)], 1, True)"])
        self.assertEqual(text(r.process("k", "list", 7, 1149)), ["[6]"])
        self.assertEqual(text(r.process("k", "list", 7, 1150)), ["[]"])

    def test_full_snapshots_leave_expired_entries_out(self):
        h = Harness(Remember)
        for i in range(10):
            h.process(f"k{i}", "set v", i, i * 100)
        h.advance(500)  # k0..k4 expired (written at 0..400, expiring at 100..500)
        self.assertEqual([c.key_group for c in h.snapshot()], [5, 6, 7, 8, 9])
        self.assertEqual(h.operator.value.key_count(), 5)

    def test_incremental_snapshots_report_expired_keys(self):
        h = Harness(Remember)
        checkpoints = Checkpoints()
        h.process("a", "set v", 1, 0)
        h.process("b", "set v", 2, 50)
        h.process("b", "put x 1", 2, 50)
        h.process("b", "put y 2", 2, 90)
        checkpoints.add(h.snapshot_incremental())
        h.advance(150)  # a's value (expiring at 100), b's value and map value x (at 150) go
        delta = h.snapshot_incremental()
        self.assertTrue(delta.incremental)
        by_handle = {(c.handle, c.key_group): read_delta(c.kind, c.data) for c in delta.chunks}
        self.assertEqual(
            by_handle,
            {
                ("value", 1): ([b"a"], []),
                ("value", 2): ([b"b"], []),
                ("map", 2): ([], [(b"b", b"\x01y", le(190) + b"\x02")]),
            },
        )
        checkpoints.add(delta)
        h.advance(200)
        checkpoints.add(h.snapshot_incremental())
        self.assertEqual(checkpoints.chunks(), [])

    def test_a_checkpoint_without_ttl_does_not_restore_into_a_ttl_handle(self):
        chunk = Chunk("value", Kind.KEYED_VALUE, 1, bytes.fromhex("01 01000000 6b 02000000 0161".replace(" ", "")))
        with self.assertRaisesRegex(weir.Error, "no expiry in front"):
            Harness.restore(Remember, [chunk])

    def test_ttl_must_be_positive(self):
        class Bad(weir.Operator):
            def open(self, ctx):
                ctx.keyed_value("v", ttl_ms=0)

        with self.assertRaisesRegex(weir.Error, "state `v`: ttl_ms is a positive int"):
            Harness(Bad)

    def test_retain_all_sees_only_live_values(self):
        h = Harness(Remember)
        h.process("old", "set a", 1, 0)
        h.process("new", "set b", 2, 100)
        # At operator time 150 "old" is invisible: retain_all drops it unseen.
        self.assertEqual(text(h.process("new", "retain", 2, 150)), ["(1, [(b'new', 'b')])"])
        self.assertEqual(h.operator.value.key_count(), 1)


if __name__ == "__main__":
    unittest.main()

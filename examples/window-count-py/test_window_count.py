"""Unit tests of the Python window count, under plain CPython:
`python3 -m unittest discover -s examples/window-count-py`."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "guest-sdk", "python", "src"))
sys.path.insert(0, HERE)

import weir  # noqa: E402
from weir import Chunk, Kind, OperatorInfo  # noqa: E402
from weir.testing import Checkpoints, Harness  # noqa: E402
from window_count import WindowCount  # noqa: E402

# The cross-language vector (the Rust examples/window-count asserts the same
# lines): `handle kind key_group hex(data)` per chunk, sorted by (handle, key
# group), of the state after events ("a", 1000), ("a", 2000) in key group 3
# and ("b", 61000) in key group 7 with the default 60 s windows and no
# watermark yet: two open windows, [0, 60000) with 2 events and [60000,
# 120000) with 1, and their event-time timers at 60000 and 120000.
VECTOR = """\
counts keyed-map 3 01010000006101000000000100000002
counts keyed-map 7 01010000006203000000c0a9070100000001
weir.timers keyed-map 3 010100000061090000000060ea00000000000000000000
weir.timers keyed-map 7 0101000000620900000000c0d401000000000000000000
"""


def harness(size_ms=None, restored=(), **info):
    config = {} if size_ms is None else {"size_ms": str(size_ms)}
    return Harness(WindowCount, OperatorInfo("count", config=config, side_outputs=["late"], **info), restored)


def vector_lines(chunks):
    rows = sorted((c.handle, c.key_group, Kind(c.kind).wit_name, c.data.hex()) for c in chunks)
    return "".join(f"{handle} {kind} {group} {data}\n" for handle, group, kind, data in rows)


def vector_chunks(text):
    chunks = []
    for line in text.splitlines():
        handle, kind, group, data = line.split()
        chunks.append(Chunk(handle, Kind[kind.upper().replace("-", "_")], int(group), bytes.fromhex(data)))
    return chunks


class WindowCountTest(unittest.TestCase):
    def setUp(self):
        weir.log.set_sink(lambda level, message: None)
        self.addCleanup(weir.log.set_sink, None)

    def test_counts_per_key_and_window(self):
        h = harness(size_ms=5000)
        h.process_all(
            [
                ("apple", "", 1, 1000),
                ("pear", "", 2, 2000),
                ("apple", "", 1, 4999),
                ("apple", "", 1, 5000),  # the next window
            ]
        )
        self.assertEqual(h.advance(4999), [])
        out = h.advance(5000)  # watermark >= end of [0, 5000)
        self.assertEqual(out, [("apple", "0\t2"), ("pear", "0\t1")])
        self.assertEqual(h.advance(20_000), [("apple", "5000\t1")])
        self.assertEqual(h.snapshot(), [])

    def test_late_events_go_to_the_side_output_unchanged(self):
        h = harness(size_ms=5000)
        h.process("apple", "first", 1, 1000)
        h.advance(6000)
        self.assertEqual(h.process("apple", "too late", 1, 4999), [])
        (late,) = h.side_output("late")
        self.assertEqual((late.key, late.value, late.timestamp), (b"apple", b"too late", 4999))
        # Its window [5000, 10000) ends after the watermark: counted.
        h.process("apple", "in time", 1, 5000)
        self.assertEqual(h.side_output("late"), [])
        self.assertEqual(h.end_of_input(), [("apple", "5000\t1")])

    def test_default_size_and_config_errors(self):
        h = harness()
        h.process_all([("k", "", 0, 59_999), ("k", "", 0, 60_000)])
        self.assertEqual(h.advance(60_000), [("k", "0\t1")])
        with self.assertRaisesRegex(weir.Error, "size_ms"):
            harness(size_ms="soon")
        with self.assertRaisesRegex(weir.Error, "positive"):
            harness(size_ms=0)
        with self.assertRaisesRegex(weir.Error, "no timestamp"):
            harness().process("k", "", 0)

    def test_state_is_the_cross_language_vector(self):
        h = harness()
        h.process_all([("a", "x", 3, 1000), ("a", "y", 3, 2000), ("b", "z", 7, 61000)])
        self.assertEqual(vector_lines(h.snapshot()), VECTOR)

    def test_restores_the_vector_and_closes_its_windows(self):
        # As if restoring a checkpoint of the Rust operator.
        h = harness(restored=vector_chunks(VECTOR))
        h.process("a", "", 3, 59_000)
        self.assertEqual(h.advance(59_999), [])
        self.assertEqual(h.advance(60_000), [("a", "0\t3")])
        self.assertEqual(h.advance(120_000), [("b", "60000\t1")])
        self.assertEqual(h.snapshot(), [])

    def test_restore_at_another_parallelism(self):
        full = vector_chunks(VECTOR)
        low = harness(restored=[c for c in full if c.key_group < 5], key_groups=range(0, 5))
        high = harness(restored=[c for c in full if c.key_group >= 5], key_groups=range(5, 128))
        self.assertEqual(low.end_of_input(), [("a", "0\t2")])
        self.assertEqual(high.end_of_input(), [("b", "60000\t1")])

    def test_incremental_checkpoints(self):
        h = harness(size_ms=1000)
        checkpoints = Checkpoints()
        h.process_all([("a", "", 1, 100), ("b", "", 2, 1500)])
        checkpoints.add(h.snapshot_incremental())
        h.advance(1000)  # a's window fires: its window and timer go
        h.process("b", "", 2, 1600)
        delta = h.snapshot_incremental()
        self.assertTrue(delta.incremental)
        checkpoints.add(delta)
        restored = harness(size_ms=1000, restored=checkpoints.chunks())
        self.assertEqual(restored.advance(1000), [])
        self.assertEqual(restored.advance(2000), [("b", "1000\t2")])


if __name__ == "__main__":
    unittest.main()

"""Unit tests of the Python deduplicator, under plain CPython:
`python3 -m unittest discover -s examples/dedup-py`."""

import os
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "guest-sdk", "python", "src"))
sys.path.insert(0, HERE)

import weir  # noqa: E402
from dedup import Dedup  # noqa: E402
from weir import Chunk, Kind, OperatorInfo  # noqa: E402
from weir.testing import Checkpoints, Harness  # noqa: E402


def harness(ttl_ms=1000, restored=()):
    return Harness(Dedup, OperatorInfo("dedup", config={"ttl_ms": str(ttl_ms)}), restored)


class DedupTest(unittest.TestCase):
    def setUp(self):
        weir.log.set_sink(lambda level, message: None)
        self.addCleanup(weir.log.set_sink, None)

    def test_drops_repeats_while_the_entry_lives(self):
        h = harness(ttl_ms=1000)
        out = h.process_all(
            [
                ("order-1", "a", 1, 10_000),  # forwarded: the entry lives until 11 000
                ("order-2", "b", 2, 10_100),
                ("order-1", "a again", 1, 10_500),  # duplicate
                ("order-1", "late copy", 1, 9_200),  # late, the entry still lives: duplicate
                ("order-1", "a, later", 1, 11_000),  # operator time 11 000: expired, forwarded
                ("order-1", "and again", 1, 11_999),  # the new entry lives until 12 000
            ]
        )
        self.assertEqual(out, [("order-1", "a"), ("order-2", "b"), ("order-1", "a, later")])
        self.assertEqual([o.timestamp for o in out], [10_000, 10_100, 11_000])

    def test_the_watermark_expires_entries_too(self):
        h = harness(ttl_ms=1000)
        h.process("k", "first", 4, 5_000)
        self.assertEqual(h.process("k", "late copy", 4, 5_500), [])
        h.advance(6_000)
        # Later than the watermark would allow, but its key's entry is gone.
        self.assertEqual(h.process("k", "very late copy", 4, 5_600), [("k", "very late copy")])

    def test_the_entry_survives_a_restore(self):
        h = harness()
        h.process("k", "first", 4, 5_000)
        restored = harness(restored=h.snapshot())
        self.assertEqual(restored.process("k", "again", 4, 5_999), [])
        self.assertEqual(restored.process("k", "new window", 4, 6_000), [("k", "new window")])

    def test_state_layout(self):
        h = harness(ttl_ms=1000)
        h.process("k", "", 4, 5_000)
        # keyed-value "k": expiry 6000 as i64 LE, then 5000 as an I64 (zig-zag varint).
        value = struct.pack("<q", 6_000) + bytes.fromhex("904e")
        data = bytes.fromhex("01 01000000 6b".replace(" ", "")) + struct.pack("<I", len(value)) + value
        self.assertEqual(h.snapshot(), [Chunk("first_seen", Kind.KEYED_VALUE, 4, data)])

    def test_keys_that_never_come_back_are_dropped_once_the_watermark_passes(self):
        h = harness(ttl_ms=100)
        for i in range(50):
            h.process(f"once-{i}", "", i % 8, i)
        self.assertEqual(h.operator.first_seen.key_count(), 50)
        h.advance(120)  # entries written at 0..20 expire at 100..120
        self.assertEqual(h.operator.first_seen.key_count(), 29)
        h.advance(1_000)
        self.assertEqual(h.operator.first_seen.key_count(), 0)
        self.assertEqual(h.snapshot(), [])
        self.assertEqual(h.process("once-1", "back", 1, 1_001), [("once-1", "back")])

    def test_incremental_snapshots_record_expiry(self):
        h = harness(ttl_ms=100)
        checkpoints = Checkpoints()
        for i in range(20):
            h.process(f"k{i}", "", i % 4, i)
        checkpoints.add(h.snapshot_incremental())  # the first one is complete
        h.process("k0", "", 0, 50)  # duplicate: no state change
        h.process("k1", "", 1, 500)  # expired at operator time 500: forwarded, entry rewritten
        h.advance(400)  # every other entry expired
        delta = h.snapshot_incremental()
        self.assertTrue(delta.incremental)
        checkpoints.add(delta)
        self.assertEqual(sorted(c.key_group for c in checkpoints.chunks()), [1])
        restored = harness(ttl_ms=100, restored=checkpoints.chunks())
        self.assertEqual(restored.operator.first_seen.key_count(), 1)
        self.assertEqual(restored.process("k1", "", 1, 550), [])
        self.assertEqual(restored.process("k2", "", 2, 550), [("k2", "")])

    def test_config_and_input_errors(self):
        with self.assertRaisesRegex(weir.Error, "ttl_ms"):
            harness(ttl_ms="soon")
        with self.assertRaisesRegex(weir.Error, "positive"):
            harness(ttl_ms=0)
        with self.assertRaisesRegex(weir.Error, "no timestamp"):
            harness().process("k", "v", 1)


if __name__ == "__main__":
    unittest.main()

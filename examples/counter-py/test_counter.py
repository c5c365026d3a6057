"""Unit tests of the Python counter, under plain CPython:
`python3 -m unittest discover -s examples/counter-py`."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "guest-sdk", "python", "src"))
sys.path.insert(0, HERE)

from counter import Counter  # noqa: E402
from weir import Chunk, Kind  # noqa: E402
from weir.testing import Harness  # noqa: E402


class CounterTest(unittest.TestCase):
    def test_counts_per_key_across_a_restore(self):
        harness = Harness(Counter)
        out = harness.process_all([("a", "1", 5), ("b", "1", 9), ("a", "1", 5)])
        self.assertEqual(out, [("a", "1"), ("b", "1"), ("a", "2")])

        restored = Harness.restore(Counter, harness.snapshot())
        self.assertEqual(restored.process("a", "1", 5), [("a", "3")])
        self.assertEqual(restored.process("c", "1", 5), [("c", "1")])

    def test_state_is_the_rust_counters(self):
        harness = Harness(Counter)
        for _ in range(300):
            harness.process("apple", "", 3)
        # keyed-value entry: key "apple", value 300 as a u64 varint (ac 02).
        expected = bytes.fromhex("01050000006170706c6502000000ac02")
        self.assertEqual(harness.snapshot(), [Chunk("count", Kind.KEYED_VALUE, 3, expected)])

    def test_restores_a_checkpoint_of_the_rust_counter(self):
        # What the Rust counter snapshots after counting "pear" 127 times and
        # "fig" 128 times in key group 8.
        data = bytes.fromhex("010400000070656172010000007f03000000666967020000008001")
        harness = Harness.restore(Counter, [Chunk("count", Kind.KEYED_VALUE, 8, data)])
        self.assertEqual(harness.process("pear", "", 8), [("pear", "128")])
        self.assertEqual(harness.process("fig", "", 8), [("fig", "129")])

    def test_needs_a_keyed_input(self):
        from weir import Error
        from weir.testing import NO_KEY_GROUP

        with self.assertRaisesRegex(Error, "key_by = true"):
            Harness(Counter).process("a", "", NO_KEY_GROUP)


if __name__ == "__main__":
    unittest.main()

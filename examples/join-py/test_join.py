"""Unit tests of the Python orders/prices join, under plain CPython:
`python3 -m unittest discover -s examples/join-py`."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "guest-sdk", "python", "src"))
sys.path.insert(0, HERE)

from join import Join  # noqa: E402
from weir import Chunk, Error, Kind, OperatorInfo  # noqa: E402
from weir.testing import Checkpoints, Harness  # noqa: E402

INPUTS = ["orders", ("prices", True)]
SIDE_OUTPUTS = ["unpriced", "bad"]


def harness(restored=(), **info):
    return Harness(Join, OperatorInfo("join", **info), restored, inputs=INPUTS, side_outputs=SIDE_OUTPUTS)


def price(h, line):
    return h.process("", line, input="prices")


class JoinTest(unittest.TestCase):
    def test_a_priced_order_is_emitted_with_its_total(self):
        h = harness()
        self.assertEqual(price(h, "apple\t30"), [])
        self.assertEqual(h.process("apple", "3", 5), [("apple", "3\t90")])
        self.assertEqual(price(h, "apple\t40"), [])  # a new price replaces the old one
        out = h.process_all([("apple", "1", 5), ("apple", "007", 5)])
        self.assertEqual(out, [("apple", "1\t40"), ("apple", "7\t280")])

    def test_an_order_waits_for_its_price(self):
        h = harness()
        self.assertEqual(h.process_all([("fig", "2", 9), ("pear", "1", 4), ("fig", "5", 9)]), [])
        self.assertEqual(h.operator.waiting.key_count(), 2)
        # The price flushes the fig orders, in arrival order; pear waits on.
        self.assertEqual(price(h, "fig\t7"), [("fig", "2\t14"), ("fig", "5\t35")])
        self.assertEqual(h.operator.waiting.key_count(), 1)
        self.assertEqual(h.process("fig", "1", 9), [("fig", "1\t7")])

    def test_buffered_orders_are_flushed_before_a_priced_order(self):
        # Restored state can hold waiting orders of a product whose price is
        # known (another SDK, another order of events): the next order
        # flushes them first.
        h = harness()
        h.process("kiwi", "4", 2)
        state = [c for c in h.snapshot() if c.handle == "waiting"]
        h = harness(state)
        h.operator.prices.insert("kiwi", 5)  # as if restored with the price
        self.assertEqual(h.process("kiwi", "1", 2), [("kiwi", "4\t20"), ("kiwi", "1\t5")])
        self.assertEqual(h.operator.waiting.key_count(), 0)

    def test_orders_still_waiting_at_the_end_go_to_unpriced(self):
        h = harness()
        h.process_all([("pear", "1", 4), ("date", "2", 1), ("pear", "3", 4)])
        price(h, "plum\t10")
        self.assertEqual(h.finish(), [])
        self.assertEqual(h.side_output("unpriced"), [("date", "2"), ("pear", "1"), ("pear", "3")])
        self.assertEqual(h.side_output("bad"), [])

    def test_bad_lines_go_to_bad_unchanged(self):
        h = harness()
        price(h, "apple\t30")
        bad = [("apple", "three"), ("apple", "1.5"), ("apple", ""), ("apple", "-2"), ("apple", str(2**64)), (b"\xff", "1")]
        self.assertEqual(h.process_all([(k, v, 5) for k, v in bad]), [])
        self.assertEqual(h.side_output("bad"), bad)
        # A bad price line is ignored (logged), as in the Rust join.
        for line in ["apple 30", "apple\t3.5", "\t30", "apple\t-1"]:
            price(h, line)
        self.assertEqual(h.side_output("bad"), [])
        # The price stays what it was.
        self.assertEqual(h.process("apple", "1", 5), [("apple", "1\t30")])

    def test_prices_and_waiting_orders_survive_a_restore(self):
        h = harness()
        price(h, "apple\t30")
        h.process("fig", "2", 9)
        chunks = h.snapshot()
        self.assertEqual(
            sorted((c.handle, c.kind, c.key_group) for c in chunks),
            [("prices", Kind.BROADCAST_MAP, None), ("waiting", Kind.KEYED_LIST, 9)],
        )
        # prices: "apple" (postcard string) -> 30 (varint 1e).
        (prices,) = [c for c in chunks if c.handle == "prices"]
        expected = bytes.fromhex("01 06000000 056170706c65 01000000 1e")
        self.assertEqual(prices, Chunk("prices", Kind.BROADCAST_MAP, None, expected))
        restored = harness(chunks)
        self.assertEqual(restored.process("apple", "1", 5), [("apple", "1\t30")])
        self.assertEqual(price(restored, "fig\t3"), [("fig", "2\t6")])

    def test_incremental_snapshots_restore_both_kinds_of_state(self):
        h = harness()
        checkpoints = Checkpoints()
        price(h, "apple\t30")
        checkpoints.add(h.snapshot_incremental())
        h.process("fig", "2", 9)  # waits
        delta = h.snapshot_incremental()
        self.assertEqual([(c.handle, c.data[0]) for c in delta.chunks], [("waiting", 2)])  # prices unchanged
        checkpoints.add(delta)
        price(h, "fig\t3")  # flushes fig: a price changed, a key lost its state
        delta = h.snapshot_incremental()
        self.assertEqual(sorted((c.handle, c.data[0]) for c in delta.chunks), [("prices", 1), ("waiting", 2)])
        checkpoints.add(delta)
        restored = harness(checkpoints.chunks())
        self.assertEqual(sorted(restored.operator.prices.items()), [("apple", 30), ("fig", 3)])
        self.assertEqual(restored.operator.waiting.key_count(), 0)

    def test_a_rescaled_subtask_gets_the_price_table_and_its_keys(self):
        h = harness()
        price(h, "apple\t30")
        h.process_all([("fig", "2", 9), ("pear", "1", 100)])
        chunks = h.snapshot()
        # The host gives subtask 1 of 2 the broadcast map and key groups 64..127.
        mine = [c for c in chunks if c.key_group is None or c.key_group >= 64]
        other = harness(mine, subtask_index=1, parallelism=2, key_groups=range(64, 128))
        self.assertEqual(other.process("apple", "2", 70), [("apple", "2\t60")])
        self.assertEqual(price(other, "pear\t4"), [("pear", "1\t4")])
        self.assertEqual(price(other, "fig\t1"), [])  # fig's key group is subtask 0's

    def test_the_wiring_is_checked_at_open(self):
        with self.assertRaisesRegex(Error, r"join needs two inputs.*it has orders, prices$"):
            Harness(Join, inputs=["orders", "prices"], side_outputs=SIDE_OUTPUTS)
        with self.assertRaisesRegex(Error, r"declare \['bad'\] in side_outputs"):
            Harness(Join, inputs=INPUTS, side_outputs=["unpriced"])
        with self.assertRaisesRegex(Error, "key_by = true"):
            Harness(Join, OperatorInfo("join", key_groups=None), inputs=INPUTS, side_outputs=SIDE_OUTPUTS)


if __name__ == "__main__":
    unittest.main()

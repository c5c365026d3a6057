"""Unit tests of `{{module}}`, under CPython: `weir test`."""

import unittest

import weir
from weir.testing import Harness
from {{module}} import Totals


class TotalsTest(unittest.TestCase):
    def test_totals_per_key_continue_across_a_restore(self):
        harness = Harness(Totals)
        out = harness.process_all([("a", "xy", 5), ("b", "xyz", 9), ("a", "x", 5)])
        self.assertEqual(out, [("a", "1 2"), ("b", "1 3"), ("a", "2 3")])

        restored = Harness.restore(Totals, harness.snapshot())
        self.assertEqual(restored.process("a", "xyzw", 5), [("a", "3 7")])

    def test_an_event_without_a_value_is_an_error(self):
        with self.assertRaisesRegex(weir.Error, "without a value"):
            Harness(Totals).process("a", "", 5)


if __name__ == "__main__":
    unittest.main()

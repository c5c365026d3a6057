"""Batch framing against wit/FRAMING.md."""

import unittest

import support  # noqa: F401
from weir.framing import (
    MAIN_OUTPUT,
    NO_KEY_GROUP,
    NO_TIMESTAMP,
    BatchWriter,
    MalformedBatch,
    read_batch,
    read_output_batch,
)


class FramingTest(unittest.TestCase):
    def test_the_example_of_framing_md(self):
        expected = bytes.fromhex(
            "57 42 01 00 01 00 00 00"  # header: "WB", v1, flags 0, count 1
            "07 00"  # key_group 7
            "00 00 00 00 00 00 00 80"  # timestamp i64::MIN (none)
            "01 00 00 00 01 00 00 00"  # key_len 1, value_len 1
            "61 31"  # "a" "1"
        )
        writer = BatchWriter()
        writer.push(7, NO_TIMESTAMP, b"a", b"1")
        self.assertEqual(writer.finish(), expected)
        self.assertEqual(list(read_batch(expected)), [(7, NO_TIMESTAMP, b"a", b"1")])

    def test_round_trip_and_reuse(self):
        writer = BatchWriter()
        events = [(NO_KEY_GROUP, 1_700_000_000_000, b"k", b"v" * 300), (0, -5, b"", b"")]
        for event in events:
            writer.push(*event)
        self.assertEqual(len(writer), 2)
        data = writer.finish()
        self.assertEqual(list(read_batch(data)), events)
        self.assertEqual(len(writer), 0)
        writer.push(1, 2, b"x", b"y")
        self.assertEqual(list(read_batch(writer.finish())), [(1, 2, b"x", b"y")])

    def test_empty_batches(self):
        self.assertEqual(BatchWriter().finish(), b"")
        self.assertEqual(list(read_batch(b"")), [])
        self.assertEqual(list(read_batch(b"WB\x01\x00\x00\x00\x00\x00")), [])

    def test_refuses_damaged_batches(self):
        writer = BatchWriter()
        writer.push(1, NO_TIMESTAMP, b"key", b"value")
        good = writer.finish()
        cases = [
            (good[:-1], "truncated while reading event value"),
            (good[:-6], "truncated while reading event key"),
            (good + b"\x00", "1 bytes left after the last entry"),
            (b"XX" + good[2:], "bad magic"),
            (good[:2] + b"\x02" + good[3:], "unknown format version 2"),
            (good[:3] + b"\x01" + good[4:], "unknown flags 0x01"),
            (good[:4] + b"\x02\x00\x00\x00" + good[8:], "truncated while reading event count"),
            (good[:5], "truncated while reading batch header"),
        ]
        for data, message in cases:
            with self.subTest(message=message), self.assertRaisesRegex(MalformedBatch, message):
                list(read_batch(data))


    def test_version_2_tags_outputs(self):
        writer = BatchWriter()
        writer.push(MAIN_OUTPUT, NO_TIMESTAMP, b"a", b"1")
        self.assertFalse(writer.tagged)
        writer.tag_outputs()
        writer.push(3, 5, b"b", b"2")
        data = writer.finish()
        # Version 1's layout with version 2; the first field is the output tag.
        self.assertEqual(data[:8], bytes.fromhex("57 42 02 00 02 00 00 00"))
        self.assertEqual(list(read_output_batch(data)), [(MAIN_OUTPUT, NO_TIMESTAMP, b"a", b"1"), (3, 5, b"b", b"2")])
        # Input batches are version 1 only.
        with self.assertRaisesRegex(MalformedBatch, "unknown format version 2"):
            list(read_batch(data))
        # In a version 1 output batch every event is the main output's.
        writer.push(7, NO_TIMESTAMP, b"c", b"3")
        self.assertEqual(list(read_output_batch(writer.finish())), [(MAIN_OUTPUT, NO_TIMESTAMP, b"c", b"3")])
        # finish and reset start over as version 1.
        writer.tag_outputs()
        writer.reset()
        self.assertFalse(writer.tagged)
        with self.assertRaisesRegex(MalformedBatch, "unknown format version 3"):
            list(read_output_batch(data[:2] + b"\x03" + data[3:]))


if __name__ == "__main__":
    unittest.main()

"""State chunk layout against wit/STATE.md: byte-exact vectors, hand-computed
from the spec (what the Rust SDK writes for the same state), the delta
layout, and the merge of a chain."""

import unittest

import support  # noqa: F401
from weir.chunk import (
    ChunkWriter,
    DeltaWriter,
    Kind,
    MalformedChunk,
    merge,
    read_chunk,
    read_delta,
)


def h(text):
    return bytes.fromhex(text)


class LayoutTest(unittest.TestCase):
    def test_every_kind_matches_the_spec(self):
        w = ChunkWriter(Kind.KEYED_VALUE)
        w.keyed_value(b"a", b"\x05")
        self.assertEqual(w.finish(), h("01 01000000 61 01000000 05"))

        w = ChunkWriter(Kind.KEYED_MAP)
        w.keyed_map(b"a", b"\x01x", b"\x02")
        self.assertEqual(w.finish(), h("01 01000000 61 02000000 0178 01000000 02"))

        w = ChunkWriter(Kind.KEYED_LIST)
        w.keyed_list(b"a", [b"\x01", b""])
        self.assertEqual(w.finish(), h("01 01000000 61 02000000 01000000 01 00000000"))

        w = ChunkWriter(Kind.OPERATOR_VALUE)
        w.operator_value(b"\xac\x02")
        self.assertEqual(w.finish(), h("01 02000000 ac02"))

        w = ChunkWriter(Kind.OPERATOR_LIST)
        w.operator_list(b"\x01")
        w.operator_list(b"\x02")
        self.assertEqual(w.finish(), h("01 01000000 01 01000000 02"))

    def test_reading_gives_the_entries_back(self):
        data = h("01 01000000 61 02000000 01000000 01 0000000001000000 62 00000000")
        self.assertEqual(list(read_chunk(Kind.KEYED_LIST, data)), [(b"a", [b"\x01", b""]), (b"b", [])])
        self.assertEqual(list(read_chunk(Kind.OPERATOR_VALUE, b"\x01")), [])

    def test_refuses_damaged_chunks(self):
        good = h("01 01000000 61 01000000 05")
        cases = [
            (b"", "truncated while reading state chunk version"),
            (b"\x03" + good[1:], "unknown format version 3"),
            (good[:-1], "truncated while reading entry value"),
            (good[:3], "truncated while reading entry key length"),
            (good + b"\x00", "truncated while reading entry key length"),
            (h("01 01000000 61 ffffffff"), "truncated while reading list length"),
        ]
        for data, message in cases:
            kind = Kind.KEYED_LIST if data.endswith(b"\xff") else Kind.KEYED_VALUE
            with self.subTest(message=message), self.assertRaisesRegex(MalformedChunk, message):
                list(read_chunk(kind, data))

    def test_delta_layout(self):
        w = DeltaWriter(Kind.KEYED_VALUE)
        w.remove(b"gone")
        w.keyed_value(b"a", b"\x07")
        data = w.finish()
        self.assertEqual(data, h("02 01000000 04000000 676f6e6501000000 61 01000000 07"))
        self.assertEqual(read_delta(Kind.KEYED_VALUE, data), ([b"gone"], [(b"a", b"\x07")]))
        self.assertEqual(DeltaWriter(Kind.KEYED_MAP).finish(), h("02 00000000"))
        with self.assertRaises(ValueError):
            DeltaWriter(Kind.OPERATOR_LIST)
        with self.assertRaisesRegex(MalformedChunk, "operator kind"):
            read_delta(Kind.OPERATOR_VALUE, h("02 00000000"))
        with self.assertRaisesRegex(MalformedChunk, "unknown format version 2"):
            list(read_chunk(Kind.KEYED_VALUE, data))


class MergeTest(unittest.TestCase):
    def test_a_delta_replaces_whole_keys_and_removes_others(self):
        base = ChunkWriter(Kind.KEYED_MAP)
        base.keyed_map(b"k1", b"x", b"1")
        base.keyed_map(b"k1", b"y", b"2")
        base.keyed_map(b"k2", b"x", b"3")
        base.keyed_map(b"k3", b"x", b"4")
        delta = DeltaWriter(Kind.KEYED_MAP)
        delta.remove(b"k2")
        delta.remove(b"k3")
        delta.keyed_map(b"k1", b"z", b"5")  # k1 now holds only z
        delta.keyed_map(b"k3", b"w", b"6")  # removed, then set again
        delta.keyed_map(b"k4", b"x", b"7")
        merged = merge(Kind.KEYED_MAP, [base.finish(), delta.finish()])
        self.assertEqual(
            list(read_chunk(Kind.KEYED_MAP, merged)),
            [(b"k1", b"z", b"5"), (b"k3", b"w", b"6"), (b"k4", b"x", b"7")],
        )

    def test_a_full_chunk_restarts_the_chain(self):
        first = ChunkWriter(Kind.KEYED_VALUE)
        first.keyed_value(b"a", b"1")
        delta = DeltaWriter(Kind.KEYED_VALUE)
        delta.keyed_value(b"b", b"2")
        second = ChunkWriter(Kind.KEYED_VALUE)
        second.keyed_value(b"c", b"3")
        merged = merge(Kind.KEYED_VALUE, [first.finish(), delta.finish(), second.finish()])
        self.assertEqual(list(read_chunk(Kind.KEYED_VALUE, merged)), [(b"c", b"3")])


if __name__ == "__main__":
    unittest.main()

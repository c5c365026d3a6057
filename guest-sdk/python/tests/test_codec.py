"""Value codecs: byte-exact against the postcard wire format the Rust SDK
writes (https://postcard.jamesmunns.com/wire-format)."""

import math
import unittest

import support  # noqa: F401
from weir import codec
from weir.codec import CodecError, decode, encode


class VarintTest(unittest.TestCase):
    # (value, postcard bytes of a u64)
    U64_VECTORS = [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2**32 - 1, "ffffffff0f"),
        (2**64 - 1, "ffffffffffffffffff01"),
    ]
    # (value, postcard bytes of an i64: zig-zag, then varint)
    I64_VECTORS = [
        (0, "00"),
        (-1, "01"),
        (1, "02"),
        (-2, "03"),
        (63, "7e"),
        (-64, "7f"),
        (64, "8001"),
        (150, "ac02"),
        (2**63 - 1, "feffffffffffffffff01"),
        (-(2**63), "ffffffffffffffffff01"),
    ]

    def test_u64_vectors(self):
        for value, hex_bytes in self.U64_VECTORS:
            with self.subTest(value=value):
                self.assertEqual(encode(codec.U64, value).hex(), hex_bytes)
                self.assertEqual(decode(codec.U64, bytes.fromhex(hex_bytes)), value)

    def test_i64_vectors(self):
        for value, hex_bytes in self.I64_VECTORS:
            with self.subTest(value=value):
                self.assertEqual(encode(codec.I64, value).hex(), hex_bytes)
                self.assertEqual(decode(codec.I64, bytes.fromhex(hex_bytes)), value)

    def test_u32_and_i32_share_the_encoding_with_their_own_range(self):
        self.assertEqual(encode(codec.U32, 300), encode(codec.U64, 300))
        self.assertEqual(encode(codec.I32, -150), encode(codec.I64, -150))
        self.assertEqual(decode(codec.U32, bytes.fromhex("ffffffff0f")), 2**32 - 1)
        with self.assertRaises(CodecError):
            decode(codec.U32, bytes.fromhex("8080808010"))  # 2**32
        with self.assertRaises(CodecError):
            codec.U32.check(2**32)
        with self.assertRaises(CodecError):
            codec.I32.check(-(2**31) - 1)

    def test_refuses_bad_varints(self):
        with self.assertRaisesRegex(CodecError, "truncated"):
            decode(codec.U64, b"\x80")
        with self.assertRaisesRegex(CodecError, "longer than 10"):
            decode(codec.U64, b"\xff" * 11)
        with self.assertRaisesRegex(CodecError, "out of range"):
            decode(codec.U64, bytes.fromhex("ffffffffffffffffff02"))  # 2**65 - 1
        with self.assertRaisesRegex(CodecError, "left over"):
            decode(codec.U64, b"\x01\x02")


class ScalarTest(unittest.TestCase):
    def test_strings_and_bytes_are_length_prefixed(self):
        self.assertEqual(encode(codec.STR, ""), b"\x00")
        self.assertEqual(encode(codec.STR, "hé"), b"\x03h\xc3\xa9")
        self.assertEqual(encode(codec.STR, "x" * 200), b"\xc8\x01" + b"x" * 200)
        self.assertEqual(decode(codec.STR, b"\x03h\xc3\xa9"), "hé")
        self.assertEqual(encode(codec.BYTES, b"\x00\xff"), b"\x02\x00\xff")
        self.assertEqual(decode(codec.BYTES, b"\x02\x00\xff"), b"\x00\xff")
        with self.assertRaisesRegex(CodecError, "not UTF-8"):
            decode(codec.STR, b"\x01\xff")
        with self.assertRaisesRegex(CodecError, "truncated STR"):
            decode(codec.STR, b"\x05abc")

    def test_bool_and_floats(self):
        self.assertEqual(encode(codec.BOOL, True), b"\x01")
        self.assertEqual(encode(codec.BOOL, False), b"\x00")
        with self.assertRaisesRegex(CodecError, "neither 0 nor 1"):
            decode(codec.BOOL, b"\x02")
        self.assertEqual(encode(codec.F64, 1.5).hex(), "000000000000f83f")
        self.assertEqual(encode(codec.F64, -0.0).hex(), "0000000000000080")
        self.assertEqual(encode(codec.F32, 1.5).hex(), "0000c03f")
        self.assertTrue(math.isnan(decode(codec.F64, encode(codec.F64, math.nan))))
        self.assertEqual(decode(codec.F64, encode(codec.F64, 3)), 3.0)

    def test_check_refuses_wrong_types_and_ranges(self):
        for c, bad in [
            (codec.U64, -1),
            (codec.U64, 2**64),
            (codec.U64, True),
            (codec.U64, "1"),
            (codec.I64, 2**63),
            (codec.I64, 1.0),
            (codec.STR, b"x"),
            (codec.BYTES, "x"),
            (codec.BOOL, 1),
            (codec.F64, "1.0"),
            (codec.JSON, object()),
        ]:
            with self.subTest(codec=c, value=bad), self.assertRaises((TypeError, ValueError)):
                c.check(bad)


class CompositeTest(unittest.TestCase):
    def test_optional_tuple_and_seq(self):
        opt = codec.Optional(codec.U64)
        self.assertEqual(encode(opt, None), b"\x00")
        self.assertEqual(encode(opt, 300), b"\x01\xac\x02")
        self.assertIsNone(decode(opt, b"\x00"))
        # A Rust `struct Stats { events: u64, bytes: u64 }` is its fields in order.
        stats = codec.Tuple(codec.U64, codec.U64)
        self.assertEqual(encode(stats, (1, 300)), b"\x01\xac\x02")
        self.assertEqual(decode(stats, b"\x01\xac\x02"), (1, 300))
        words = codec.Seq(codec.STR)
        self.assertEqual(encode(words, ["a", "bc"]), b"\x02\x01a\x02bc")
        self.assertEqual(decode(words, b"\x02\x01a\x02bc"), ["a", "bc"])
        with self.assertRaisesRegex(CodecError, "items declared"):
            decode(words, b"\x05\x01a")
        with self.assertRaises(TypeError):
            stats.check((1, 2, 3))
        with self.assertRaises(ValueError):
            codec.Seq(codec.U64).check([1, -1])

    def test_json_is_a_string_of_json(self):
        value = {"n": 1, "tags": ["a", "é"], "ok": True, "none": None}
        raw = encode(codec.JSON, value)
        text = '{"n":1,"tags":["a","é"],"ok":true,"none":null}'.encode()
        self.assertEqual(raw, bytes([len(text)]) + text)
        self.assertEqual(decode(codec.STR, raw), text.decode())  # what Rust reads as a String
        self.assertEqual(decode(codec.JSON, raw), value)
        with self.assertRaisesRegex(CodecError, "JSON cannot encode"):
            encode(codec.JSON, {"set": {1}})


if __name__ == "__main__":
    unittest.main()

"""Broadcast map state: scope, the broadcast-map chunk of STATE.md byte for
byte, restores, incremental snapshots."""

import unittest

import support  # noqa: F401
import weir
from weir import Chunk, Error, Kind, codec
from weir.chunk import ChunkWriter, read_chunk
from weir.testing import Checkpoints, Harness


class Rules(weir.Operator):
    """Input 1 ("rules", broadcast) sets `word<TAB>weight` rules, or removes
    one with `-word`; input 0 (keyed) counts weighted words per key."""

    def open(self, ctx):
        self.rules = ctx.broadcast_map("rules", key_codec=codec.STR, codec=codec.U32)
        self.totals = ctx.keyed_value("totals", codec=codec.U64)

    def process(self, ctx, event):
        text = event.value_str()
        if event.input == 1:
            if text.startswith("-"):
                self.rules.remove(text[1:])
            else:
                word, weight = text.split("\t")
                self.rules.insert(word, int(weight))
            return
        total = self.totals.get(0) + self.rules.get(text, 0)
        self.totals.set(total)
        ctx.emit(event.key, str(total))

    def finish(self, ctx):
        ctx.emit("rules", repr(sorted(self.rules.items())))


def harness(restored=()):
    return Harness(Rules, restored=restored, inputs=["words", ("rules", True)])


class BroadcastMapTest(unittest.TestCase):
    def test_usable_for_broadcast_and_keyed_events_and_in_finish(self):
        h = harness()
        h.process("", "apple\t3", input=1)
        h.process("", "fig\t10", input=1)
        self.assertEqual(h.process("k", "apple", 4), [("k", "3")])
        self.assertEqual(h.process("k", "fig", 4), [("k", "13")])
        self.assertEqual(h.process("k", "kiwi", 4), [("k", "13")])
        self.assertEqual(h.finish(), [("rules", "[('apple', 3), ('fig', 10)]")])

    def test_the_map_api(self):
        class Api(weir.Operator):
            def open(self, ctx):
                self.m = ctx.broadcast_map("m")

            def process(self, ctx, event):
                m = self.m
                assert m.is_empty() and m.len() == 0
                assert m.insert("a", 1) is None
                assert m.insert("a", 2) == 1
                m.insert("b", [1, 2])
                assert m.contains_key("a") and not m.contains_key("z")
                assert m.get("z", "none") == "none"
                assert m.items() == [("a", 2), ("b", [1, 2])]
                assert m.keys() == ["a", "b"] and m.values() == [2, [1, 2]]
                assert m.remove("a") == 2 and m.remove("a") is None
                assert m.len() == 1
                m.clear()
                assert m.is_empty()
                ctx.emit("ok", "")

        self.assertEqual(Harness(Api).process("k", "v"), [("ok", "")])

    def test_the_chunk_is_state_md_broadcast_map_without_a_key_group(self):
        h = harness()
        h.process("", "apple\t300", input=1)
        h.process("k", "apple", 2)
        (rules, totals) = h.snapshot()
        # map_key "apple" (postcard string: varint length 5), value u32 300 (ac 02).
        expected = bytes.fromhex("01" "06000000 05 6170706c65" "02000000 ac02")
        self.assertEqual(rules, Chunk("rules", Kind.BROADCAST_MAP, None, expected))
        self.assertEqual((totals.kind, totals.key_group), (Kind.KEYED_VALUE, 2))
        self.assertEqual(list(read_chunk(Kind.BROADCAST_MAP, expected)), [(b"\x05apple", b"\xac\x02")])

    def test_restores_from_its_chunks(self):
        h = harness()
        h.process("", "apple\t3", input=1)
        h.process("k", "apple", 2)
        restored = harness(h.snapshot())
        self.assertEqual(restored.process("k", "apple", 2), [("k", "6")])
        # Another subtask's restore gets the same chunks: a map written by
        # any SDK in the STATE.md layout, maybe split in several chunks.
        first, second = ChunkWriter(Kind.BROADCAST_MAP), ChunkWriter(Kind.BROADCAST_MAP)
        first.broadcast_map(b"\x03fig", b"\x07")
        second.broadcast_map(b"\x04pear", b"\x01")
        chunks = [Chunk("rules", Kind.BROADCAST_MAP, None, w.finish()) for w in (first, second)]
        other = harness(chunks)
        self.assertEqual(sorted(other.operator.rules.items()), [("fig", 7), ("pear", 1)])

    def test_a_restored_map_key_twice_is_an_error(self):
        writer = ChunkWriter(Kind.BROADCAST_MAP)
        writer.broadcast_map(b"\x03fig", b"\x07")
        writer.broadcast_map(b"\x03fig", b"\x08")
        with self.assertRaisesRegex(Error, "state `rules`: the restored checkpoint holds map key 'fig' twice"):
            harness([Chunk("rules", Kind.BROADCAST_MAP, None, writer.finish())])
        with self.assertRaisesRegex(Error, "declared as broadcast-map but the restored checkpoint holds it as"):
            harness([Chunk("rules", Kind.OPERATOR_LIST, None, b"\x01")])

    def test_incremental_snapshots_write_it_whole_when_it_changed(self):
        h = harness()
        checkpoints = Checkpoints()
        h.process("", "apple\t3", input=1)
        checkpoints.add(h.snapshot_incremental())  # the first one is complete
        h.process("k", "apple", 2)  # keyed state only
        delta = h.snapshot_incremental()
        self.assertTrue(delta.incremental)
        self.assertEqual([(c.handle, c.data[0]) for c in delta.chunks], [("totals", 2)])
        checkpoints.add(delta)
        h.process("", "fig\t1", input=1)
        delta = h.snapshot_incremental()
        self.assertEqual(
            [(c.handle, c.kind, c.key_group, c.data[0]) for c in delta.chunks], [("rules", Kind.BROADCAST_MAP, None, 1)]
        )
        checkpoints.add(delta)
        restored = harness(checkpoints.chunks())
        self.assertEqual(sorted(restored.operator.rules.items()), [("apple", 3), ("fig", 1)])
        # Emptied: an empty version 1 chunk says so.
        h.process("", "-apple", input=1)
        h.process("", "-fig", input=1)
        delta = h.snapshot_incremental()
        self.assertEqual([(c.handle, c.data) for c in delta.chunks], [("rules", b"\x01")])
        checkpoints.add(delta)
        self.assertEqual(harness(checkpoints.chunks()).operator.rules.items(), [])
        # A complete snapshot leaves an empty map out.
        self.assertNotIn("rules", [c.handle for c in h.snapshot()])

    def test_needs_no_keyed_input(self):
        class Unkeyed(weir.Operator):
            def open(self, ctx):
                self.m = ctx.broadcast_map("m", key_codec=codec.STR, codec=codec.STR)

            def process(self, ctx, event):
                self.m.insert(event.key_str(), event.value_str())

        info = weir.OperatorInfo("t", key_groups=None)
        h = Harness(Unkeyed, info)
        h.process("a", "1", weir.testing.NO_KEY_GROUP)
        self.assertEqual(Harness(Unkeyed, info, h.snapshot()).operator.m.items(), [("a", "1")])

    def test_values_are_checked_against_the_codecs(self):
        class Wrong(weir.Operator):
            def open(self, ctx):
                self.m = ctx.broadcast_map("m", key_codec=codec.STR, codec=codec.U32)

            def process(self, ctx, event):
                self.m.insert("a", -1)

        with self.assertRaisesRegex(ValueError, "state `m`: value"):
            Harness(Wrong).process("k", "v")


if __name__ == "__main__":
    unittest.main()

"""State handles through the runtime: scopes, snapshots, restores, the
Rust counter's bytes, and incremental snapshots checked against complete
ones."""

import random
import unittest

import support  # noqa: F401
import weir
from weir import Chunk, Error, Kind, OperatorInfo, codec
from weir.chunk import chunk_version, read_chunk
from weir.testing import NO_KEY_GROUP, Checkpoints, Harness


def quiet():
    logs = []
    weir.log.set_sink(lambda level, message: logs.append((level, message)))
    return logs


class Counter(weir.Operator):
    """The Rust counter's twin (examples/counter)."""

    def open(self, ctx):
        self.count = ctx.keyed_value("count", codec=codec.U64)

    def process(self, ctx, event):
        n = self.count.get(0) + 1
        self.count.set(n)
        ctx.emit(event.key, str(n))


class Profile(weir.Operator):
    """Every kind of handle, as in the Rust SDK's crate docs."""

    def open(self, ctx):
        self.stats = ctx.keyed_value("stats", codec=codec.Tuple(codec.U64, codec.U64))
        self.words = ctx.keyed_map("words", key_codec=codec.STR, codec=codec.U32)
        self.recent = ctx.keyed_list("recent", codec=codec.STR)
        self.total = ctx.operator_value("total", codec=codec.U64)
        self.seen = ctx.operator_list("seen", codec=codec.BYTES)

    def process(self, ctx, event):
        text = event.value_str()
        if text == "dump":
            ctx.emit("dump", repr((self.stats.get(), dict(self.words.items()), self.recent.get(), self.seen.get())))
            return
        if text == "forget":
            self.stats.clear()
            self.words.clear()
            self.recent.clear()
            return
        if text.startswith("unsay "):
            for word in text.split()[1:]:
                self.words.remove(word)
            return
        events, size = self.stats.get((0, 0))
        self.stats.set((events + 1, size + len(text)))
        for word in text.split():
            self.words.insert(word, self.words.get(word, 0) + 1)
        if self.recent.len() == 3:
            self.recent.clear()
        self.recent.push(text)
        self.total.set(self.total.get(0) + 1)
        if len(self.seen.get()) < 4:
            self.seen.push(event.key)

    def finish(self, ctx):
        ctx.emit("total", str(self.total.get(0)))


def one_handle(declaration):
    """An operator whose ``open`` runs ``declaration(ctx)`` and nothing else."""

    class OneHandle(weir.Operator):
        def open(self, ctx):
            declaration(ctx)

        def process(self, ctx, event):
            pass

    return OneHandle


class RustCounterBytesTest(unittest.TestCase):
    """The Rust counter's snapshot, computed from STATE.md by hand: version 1,
    then per key `len:u32 key len:u32 postcard(u64)`."""

    def test_python_writes_what_rust_writes(self):
        harness = Harness(Counter)
        for key, group, times in [("a", 5, 1), ("bb", 5, 128), ("c", 9, 300)]:
            for _ in range(times):
                harness.process(key, "", group)
        self.assertEqual(
            harness.snapshot(),
            [
                Chunk(
                    "count",
                    Kind.KEYED_VALUE,
                    5,
                    bytes.fromhex("01 01000000 61 01000000 01 02000000 6262 02000000 8001"),
                ),
                Chunk("count", Kind.KEYED_VALUE, 9, bytes.fromhex("01 01000000 63 02000000 ac02")),
            ],
        )

    def test_python_reads_what_rust_writes(self):
        # Entries in another order than Python would write them (Rust's
        # hash table order is arbitrary), u64::MAX - 1 included.
        data = bytes.fromhex("01 01000000 7a 0a000000 feffffffffffffffff01 01000000 79 01000000 00")
        harness = Harness.restore(Counter, [Chunk("count", Kind.KEYED_VALUE, 0, data)])
        self.assertEqual(harness.process("z", "", 0), [("z", str(2**64 - 1))])
        self.assertEqual(harness.process("y", "", 0), [("y", "1")])
        with self.assertRaisesRegex(ValueError, "state `count`: value: codec U64 takes 0 to"):
            harness.process("z", "", 0)


class HandlesTest(unittest.TestCase):
    def setUp(self):
        self.logs = quiet()
        self.addCleanup(weir.log.set_sink, None)

    def test_every_handle_survives_a_restore(self):
        harness = Harness(Profile)
        harness.process_all([("k1", "a b a", 1), ("k2", "b", 2), ("k1", "c", 1)])
        restored = Harness.restore(Profile, harness.snapshot())
        restored.process("k1", "d", 1)
        (dump,) = restored.process("k1", "dump", 1)
        stats, words, recent, seen = eval(dump.value_str())
        self.assertEqual(stats, (3, 7))
        self.assertEqual(words, {"a": 2, "b": 1, "c": 1, "d": 1})
        self.assertEqual(recent, ["a b a", "c", "d"])
        self.assertEqual(seen, [b"k1", b"k2", b"k1", b"k1"])
        self.assertEqual(restored.finish(), [("total", "4")])

    def test_snapshots_hold_one_chunk_per_key_group_and_no_empty_ones(self):
        harness = Harness(Profile)
        harness.process_all([("k1", "a", 3), ("k2", "b", 1), ("k3", "c", 3)])
        harness.process("k2", "forget", 1)
        chunks = harness.snapshot()
        self.assertEqual(
            [(c.handle, c.key_group) for c in chunks],
            [("stats", 3), ("words", 3), ("recent", 3), ("total", None), ("seen", None)],
        )
        self.assertEqual(
            list(read_chunk(Kind.KEYED_MAP, chunks[1].data)),
            [(b"k1", b"\x01a", b"\x01"), (b"k3", b"\x01c", b"\x01")],
        )

    def test_a_map_emptied_key_by_key_is_dropped(self):
        harness = Harness(Profile)
        harness.process("k", "x y", 1)
        harness.process("k", "unsay x y", 1)
        self.assertEqual([c.handle for c in harness.snapshot() if c.handle == "words"], [])

    def test_keyed_state_needs_a_current_key(self):
        class Misuse(Counter):
            def finish(self, ctx):
                self.count.get()

        harness = Harness(Misuse)
        with self.assertRaisesRegex(Error, "only available in `process`"):
            harness.finish()
        with self.assertRaisesRegex(Error, "not keyed"):
            harness.process("k", "", NO_KEY_GROUP)

    def test_keyed_state_on_an_unkeyed_input_fails_open(self):
        unkeyed = OperatorInfo("counter", key_groups=None)
        declare = {
            "keyed-value": lambda ctx: ctx.keyed_value("h"),
            "keyed-map": lambda ctx: ctx.keyed_map("h"),
            "keyed-list": lambda ctx: ctx.keyed_list("h"),
        }
        for kind, declaration in declare.items():
            OneHandle = one_handle(declaration)
            with self.subTest(kind=kind):
                with self.assertRaises(Error) as caught:
                    Harness(OneHandle, unkeyed)
                self.assertEqual(
                    str(caught.exception),
                    f"operator 'counter': state `h` is keyed ({kind}), but the operator's input is not keyed: "
                    "set key_by = true for this operator in the job file (or declare operator state instead)",
                )
                # The default harness input is keyed.
                Harness(OneHandle)

    def test_operator_state_works_on_an_unkeyed_input(self):
        class Tally(weir.Operator):
            def open(self, ctx):
                self.total = ctx.operator_value("total", codec=codec.U64)
                self.seen = ctx.operator_list("seen", codec=codec.BYTES)

            def process(self, ctx, event):
                self.total.set(self.total.get(0) + 1)
                self.seen.push(event.key)

        harness = Harness(Tally, OperatorInfo("tally", key_groups=None))
        harness.process_all([("a", "", NO_KEY_GROUP), ("b", "", NO_KEY_GROUP)])
        chunks = harness.snapshot()
        self.assertEqual(sorted((c.handle, c.key_group) for c in chunks), [("seen", None), ("total", None)])
        restored = Harness.restore(Tally, chunks, OperatorInfo("tally", key_groups=None))
        self.assertEqual(restored.operator.total.get(), 2)
        self.assertEqual(restored.operator.seen.get(), [b"a", b"b"])

    def test_declarations_are_checked(self):
        class Twice(weir.Operator):
            def open(self, ctx):
                ctx.keyed_value("x")
                ctx.keyed_list("x")

        with self.assertRaisesRegex(Error, "declared twice"):
            Harness(Twice)

        class Late(weir.Operator):
            def open(self, ctx):
                self.ctx = ctx

            def process(self, ctx, event):
                self.ctx.keyed_value("late")

        with self.assertRaisesRegex(Error, "after `open`"):
            Harness(Late).process("k", "")

        class BadCodec(weir.Operator):
            def open(self, ctx):
                ctx.keyed_value("x", codec=int)

        with self.assertRaisesRegex(TypeError, "weir.codec.Codec"):
            Harness(BadCodec)

    def test_a_kind_mismatch_on_restore_is_an_error(self):
        chunk = Chunk("count", Kind.KEYED_LIST, 1, b"\x01")
        with self.assertRaisesRegex(
            Error, "declared as keyed-value but the restored checkpoint holds it as keyed-list"
        ):
            Harness.restore(Counter, [chunk])

    def test_undecodable_restored_state_names_the_handle_and_key(self):
        data = bytes.fromhex("01 01000000 61 01000000 80")  # a cut varint
        with self.assertRaisesRegex(Error, r"state `count` \(key group 2, key b'a'\): cannot decode"):
            Harness.restore(Counter, [Chunk("count", Kind.KEYED_VALUE, 2, data)])
        with self.assertRaisesRegex(Error, "malformed restored chunk: truncated"):
            Harness.restore(Counter, [Chunk("count", Kind.KEYED_VALUE, 2, data[:-3])])
        with self.assertRaisesRegex(Error, "holds key b'a' twice"):
            entry = bytes.fromhex("01000000 61 01000000 05")
            Harness.restore(Counter, [Chunk("count", Kind.KEYED_VALUE, 2, b"\x01" + entry * 2)])

    def test_undeclared_restored_state_is_carried_along(self):
        other = Chunk("renamed", Kind.KEYED_MAP, 4, bytes.fromhex("01 01000000 6b 01000000 00 01000000 00"))
        harness = Harness.restore(Counter, [other])
        self.assertIn("`renamed` is not declared by `open`", self.logs[0][1])
        harness.process("a", "", 1)
        chunks = harness.snapshot()
        self.assertEqual([c.handle for c in chunks], ["count", "renamed"])
        self.assertEqual(chunks[1], other)
        # Not part of a delta (it does not change), back in every full one.
        self.assertEqual(harness.snapshot_incremental().chunks, [])
        self.assertIn(other, Harness.restore(Counter, harness.snapshot()).snapshot())

    def test_wrong_values_fail_the_event_that_sets_them(self):
        class Wrong(weir.Operator):
            def open(self, ctx):
                self.words = ctx.keyed_map("words", key_codec=codec.STR, codec=codec.U64)

            def process(self, ctx, event):
                self.words.insert(event.value, 1)

        with self.assertRaisesRegex(TypeError, "state `words`: map key: codec STR takes a str, not bytes"):
            Harness(Wrong).process("k", "v")

    def test_json_is_the_default_codec(self):
        class Notes(weir.Operator):
            def open(self, ctx):
                self.notes = ctx.keyed_value("notes")

            def process(self, ctx, event):
                self.notes.set({"last": event.value_str(), "n": (self.notes.get() or {"n": 0})["n"] + 1})

        harness = Harness(Notes)
        harness.process("k", "hi", 1)
        (chunk,) = harness.snapshot()
        entry = list(read_chunk(Kind.KEYED_VALUE, chunk.data))[0]
        self.assertEqual(codec.decode(codec.STR, entry[1]), '{"last":"hi","n":1}')
        restored = Harness.restore(Notes, [chunk])
        restored.process("k", "ho", 1)
        self.assertEqual(restored.operator.notes.key_count(), 1)

    def test_restored_maps_and_lists_are_checked(self):
        class Tags(weir.Operator):
            def open(self, ctx):
                self.tags = ctx.keyed_map("tags")  # JSON map keys

        def map_chunk(*entries):
            w = weir.chunk.ChunkWriter(Kind.KEYED_MAP)
            for key, map_key, value in entries:
                w.keyed_map(key, codec.encode(codec.JSON, map_key), codec.encode(codec.JSON, value))
            return Chunk("tags", Kind.KEYED_MAP, 1, w.finish())

        with self.assertRaisesRegex(Error, "holds key b'k' with map key 'x' twice"):
            Harness.restore(Tags, [map_chunk((b"k", "x", 1), (b"k", "x", 2))])
        with self.assertRaisesRegex(Error, r"restored map key \[1\] is not hashable"):
            Harness.restore(Tags, [map_chunk((b"k", [1], 1))])
        with self.assertRaisesRegex(Error, "has no key group"):
            Harness.restore(Tags, [Chunk("tags", Kind.KEYED_MAP, None, b"\x01")])
        harness = Harness.restore(Tags, [map_chunk((b"k", "x", 1), (b"k", "y", [2]))])
        self.assertEqual(harness.operator.tags.key_count(), 1)

        w = weir.chunk.ChunkWriter(Kind.KEYED_LIST)
        w.keyed_list(b"k", [codec.encode(codec.STR, "a")])
        w.keyed_list(b"empty", [])
        harness = Harness.restore(Profile, [Chunk("recent", Kind.KEYED_LIST, 1, w.finish())])
        self.assertEqual(harness.operator.recent.key_count(), 1)  # an empty list is no state
        (dump,) = harness.process("k", "dump", 1)
        self.assertEqual(eval(dump.value_str())[2], ["a"])

    def test_operator_list_chunks_concatenate(self):
        def chunk(*values):
            w = weir.chunk.ChunkWriter(Kind.OPERATOR_LIST)
            for v in values:
                w.operator_list(codec.encode(codec.BYTES, v))
            return Chunk("seen", Kind.OPERATOR_LIST, None, w.finish())

        harness = Harness.restore(Profile, [chunk(b"a"), chunk(b"b", b"c")])
        self.assertEqual(harness.operator.seen.get(), [b"a", b"b", b"c"])

    def test_info_reaches_open(self):
        class Configured(weir.Operator):
            def open(self, ctx):
                self.window = ctx.info.parse_config("window", int, 10)
                self.groups = ctx.info.key_groups

        info = OperatorInfo("op", subtask_index=1, parallelism=2, key_groups=range(64, 128), config={"window": "3"})
        op = Harness(Configured, info).operator
        self.assertEqual((op.window, op.groups), (3, range(64, 128)))


class IncrementalTest(unittest.TestCase):
    """A chain of a complete snapshot and deltas, merged as the host merges
    it, must equal a complete snapshot of the same state."""

    def setUp(self):
        quiet()
        self.addCleanup(weir.log.set_sink, None)

    def test_the_first_snapshot_is_complete_then_only_changes(self):
        harness = Harness(Counter)
        harness.process_all([("a", "", 1), ("b", "", 2)])
        first = harness.snapshot_incremental()
        self.assertFalse(first.incremental)
        self.assertEqual(len(first.chunks), 2)
        harness.process("a", "", 1)
        second = harness.snapshot_incremental()
        self.assertTrue(second.incremental)
        self.assertEqual([(c.key_group, chunk_version(c.data)) for c in second.chunks], [(1, 2)])
        self.assertEqual(second.chunks[0].data, bytes.fromhex("02 00000000 01000000 61 01000000 02"))
        self.assertEqual(harness.snapshot_incremental().chunks, [])

    def test_operator_state_is_sent_whole_when_it_changed(self):
        harness = Harness(Profile)
        harness.process("k", "a", 1)
        harness.snapshot()
        harness.process("k", "forget", 1)  # keyed only
        delta = harness.snapshot_incremental()
        self.assertEqual({c.handle for c in delta.chunks}, {"stats", "words", "recent"})
        self.assertTrue(all(chunk_version(c.data) == 2 for c in delta.chunks))
        harness.process("k", "b", 1)
        delta = harness.snapshot_incremental()
        total = [c for c in delta.chunks if c.handle == "total"]
        self.assertEqual(total, [Chunk("total", Kind.OPERATOR_VALUE, None, bytes.fromhex("01 01000000 02"))])

    def test_random_workloads_merge_to_the_complete_state(self):
        rng = random.Random(7)
        for round_ in range(30):
            # Same events into both: one takes incremental snapshots, its
            # shadow complete ones.
            harness, shadow = Harness(Profile), Harness(Profile)
            checkpoints = Checkpoints()
            for _ in range(rng.randint(1, 6)):
                events = []
                for _ in range(rng.randint(0, 25)):
                    key = rng.randint(0, 6)
                    value = rng.choice(["a b", "b", "c a", "forget", "unsay a", "unsay b c", "d"])
                    events.append((f"k{key}", value, key % 4))
                harness.process_all(events)
                shadow.process_all(events)
                checkpoints.add(harness.snapshot_incremental())
                expected = sorted(map(comparable, shadow.snapshot()))
                with self.subTest(round=round_):
                    self.assertEqual(sorted(map(comparable, checkpoints.chunks())), expected)
            # And the merged chain restores to the same state.
            restored = Harness.restore(Profile, checkpoints.chunks())
            self.assertEqual(sorted(map(comparable, restored.snapshot())), expected)


def comparable(chunk):
    """A chunk as comparable data: entry order is free (STATE.md), except
    within an operator list."""
    entries = list(map(repr, read_chunk(chunk.kind, chunk.data)))
    if chunk.kind != Kind.OPERATOR_LIST:
        entries.sort()
    return (chunk.handle, int(chunk.kind), chunk.key_group, tuple(entries))


if __name__ == "__main__":
    unittest.main()

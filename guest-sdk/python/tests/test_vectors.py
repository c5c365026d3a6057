"""The shared test vectors in wit/vectors: this SDK writes every file byte for
byte and reads back its meaning (the Rust reference checks the same files in
guest-sdk/tests/vectors.rs)."""

import json
import os
import unittest

import support  # noqa: F401  (puts the SDK on sys.path)

from weir import codec
from weir.chunk import ChunkWriter, DeltaWriter, Kind, merge, read_chunk, read_delta
from weir.framing import NO_KEY_GROUP, NO_TIMESTAMP, BatchWriter, read_batch

VECTORS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "wit", "vectors"))

KINDS = {
    "keyed-value": Kind.KEYED_VALUE,
    "keyed-map": Kind.KEYED_MAP,
    "keyed-list": Kind.KEYED_LIST,
    "operator-value": Kind.OPERATOR_VALUE,
    "operator-list": Kind.OPERATOR_LIST,
}

CODECS = {"u64": codec.U64, "i64": codec.I64, "str": codec.STR, "bytes": codec.BYTES, "bool": codec.BOOL, "f64": codec.F64}


def encode(typed):
    ((name, value),) = typed.items()
    if name == "bytes":
        value = bytes.fromhex(value)
    return codec.encode(CODECS[name], value)


def entry_tuple(kind, entry):
    """An entry of the manifest as the tuple read_chunk yields."""
    if kind == Kind.KEYED_VALUE:
        return (entry["key"].encode(), encode(entry["value"]))
    if kind == Kind.KEYED_MAP:
        return (entry["key"].encode(), encode(entry["map_key"]), encode(entry["value"]))
    if kind == Kind.KEYED_LIST:
        return (entry["key"].encode(), [encode(v) for v in entry["values"]])
    return (encode(entry["value"]),)


def comparable(entries):
    return sorted(repr(e) for e in entries)


def read(name):
    with open(os.path.join(VECTORS, name), "rb") as f:
        return f.read()


def manifest():
    with open(os.path.join(VECTORS, "vectors.json")) as f:
        return json.load(f)


class StateVectors(unittest.TestCase):
    def test_every_state_vector_both_ways(self):
        cases = manifest()["state"]
        self.assertGreaterEqual(len(cases), 6)
        for case in cases:
            with self.subTest(case["file"]):
                kind = KINDS[case["kind"]]
                entries = [entry_tuple(kind, e) for e in case["entries"]]
                stored = read(case["file"])
                if case["version"] == 1:
                    writer = ChunkWriter(kind)
                    for entry in entries:
                        writer.entry(entry)
                    self.assertEqual(writer.finish(), stored)
                    self.assertEqual(comparable(read_chunk(kind, stored)), comparable(entries))
                else:
                    writer = DeltaWriter(kind)
                    removed = [k.encode() for k in case["removed"]]
                    for key in removed:
                        writer.remove(key)
                    for entry in entries:
                        writer.entry(entry)
                    self.assertEqual(writer.finish(), stored)
                    got_removed, got_entries = read_delta(kind, stored)
                    self.assertEqual(got_removed, removed)
                    self.assertEqual(comparable(got_entries), comparable(entries))
                    merged = merge(kind, [read(case["merged_onto"]), stored])
                    expected = [entry_tuple(kind, e) for e in case["merged"]]
                    self.assertEqual(comparable(read_chunk(kind, merged)), comparable(expected))


class EventTimeVectors(unittest.TestCase):
    """One known event-time state, byte for byte as every SDK writes it
    (the Rust and JS SDKs assert the same bytes): key "a" (key group 3)
    with a tumbling 60 s count window [0, 60000) of 2 events, key "b" (key
    group 7) with [60000, 120000) of 1, and their event-time timers at the
    windows' ends (examples/window-count-py checks the same state against
    the shared vector file)."""

    EXPECTED = [
        ("counts", 3, "01010000006101000000000100000002"),
        ("counts", 7, "01010000006203000000c0a9070100000001"),
        ("weir.timers", 3, "010100000061090000000060ea00000000000000000000"),
        ("weir.timers", 7, "0101000000620900000000c0d401000000000000000000"),
    ]

    def test_timers_and_a_window_map(self):
        import weir
        from weir.testing import Harness

        class Count(weir.WindowedOperator):
            def open(self, ctx):
                self.windows = ctx.tumbling_windows("counts", 60_000, weir.Aggregate.count())

            def on_window(self, ctx, key, window, count):
                ctx.emit(key, f"{window.start}\t{count}")

        h = Harness(Count)
        h.process_all([("a", "x", 3, 1000), ("a", "y", 3, 2000), ("b", "z", 7, 61000)])
        chunks = sorted(h.snapshot(), key=lambda c: (c.handle, c.key_group))
        self.assertEqual([(c.handle, c.key_group, c.data.hex()) for c in chunks], self.EXPECTED)
        self.assertTrue(all(c.kind == Kind.KEYED_MAP for c in chunks))
        restored = Harness.restore(Count, chunks)
        self.assertEqual(restored.advance(60_000), [("a", "0\t2")])
        self.assertEqual(restored.advance(120_000), [("b", "60000\t1")])


    # Timers of both domains, a TTL value and a session window (the Rust SDK's
    # guest-sdk/tests/event_time_vectors.rs asserts the same lines): `seen`,
    # a keyed U64 value with a TTL of 1000 ms set at 1000 for key "p" (key
    # group 1) with a processing-time timer at 5000; `sums`, session windows
    # with a 50 ms gap summing values, given ("s", "5") at 100 (key group 2).
    MIXED = [
        ("seen", 1, "01010000007009000000d00700000000000001"),
        ("sums", 2, "01010000007302000000c80103000000ac020a"),
        ("weir.timers", 1, "0101000000700900000001881300000000000000000000"),
        ("weir.timers", 2, "0101000000730900000000960000000000000000000000"),
    ]

    def test_timers_ttl_and_sessions(self):
        import weir
        from weir import codec
        from weir.testing import Harness

        class Mixed(weir.Operator):
            def open(self, ctx):
                self.seen = ctx.keyed_value("seen", codec=codec.U64, ttl_ms=1000)
                self.sums = ctx.session_windows("sums", 50, weir.Aggregate.sum())

            def process(self, ctx, event):
                if event.key == b"p":
                    self.seen.set(1)
                    ctx.register_processing_timer(5000)
                else:
                    self.sums.add(event)

            def on_timer(self, ctx, timer):
                fired = self.sums.on_timer(timer, lambda c, key, w, total: c.emit(key, f"{w.start} {w.end} {total}"))
                if not fired:
                    ctx.emit(timer.key, f"tick {self.seen.get()}")

        h = Harness(Mixed)
        h.process("p", "x", 1, 1000)
        h.process("s", "5", 2, 100)
        chunks = sorted(h.snapshot(), key=lambda c: (c.handle, c.key_group))
        self.assertEqual([(c.handle, c.key_group, c.data.hex()) for c in chunks], self.MIXED)
        self.assertEqual([c.kind for c in chunks], [Kind.KEYED_VALUE] + [Kind.KEYED_MAP] * 3)
        restored = Harness.restore(Mixed, chunks)
        self.assertEqual(restored.wake_at, 5000)
        self.assertEqual(restored.advance(1999, 5000), [("s", "100 150 5"), ("p", "tick 1")])
        self.assertEqual(restored.wake_at, None)
        restored.advance(2000)
        self.assertEqual(restored.snapshot(), [])


class BatchVectors(unittest.TestCase):
    def test_every_batch_vector_both_ways(self):
        for case in manifest()["batches"]:
            with self.subTest(case["file"]):
                events = [
                    (
                        NO_KEY_GROUP if e["key_group"] is None else e["key_group"],
                        NO_TIMESTAMP if e["timestamp"] is None else e["timestamp"],
                        e["key"].encode(),
                        e["value"].encode(),
                    )
                    for e in case["events"]
                ]
                writer = BatchWriter()
                for event in events:
                    writer.push(*event)
                stored = read(case["file"])
                self.assertEqual(writer.finish(), stored)
                self.assertEqual([tuple(e) for e in read_batch(stored)], events)


if __name__ == "__main__":
    unittest.main()

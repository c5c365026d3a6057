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

//! The shared test vectors (`wit/vectors`): the reference codec (weir-wire
//! for the layout, postcard for values, as the SDK writes them) must produce
//! every file byte for byte and read back its meaning.
//!
//! `WEIR_WRITE_VECTORS=1 cargo test -p weir-guest --test vectors` rewrites the
//! files instead (only for a new format version).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use weir_wire::batch::{BatchReader, BatchWriter, NO_KEY_GROUP, NO_TIMESTAMP};
use weir_wire::state::{ChunkReader, ChunkWriter, DeltaReader, DeltaWriter, Entry, Kind};

/// One entry: its event key (empty for operator kinds) and its encoded
/// parts (value; map key and value; or the list's values).
type Parts = (Vec<u8>, Vec<Vec<u8>>);

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/vectors")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(dir().join("vectors.json")).expect("wit/vectors/vectors.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn kind(name: &str) -> Kind {
    match name {
        "keyed-value" => Kind::KeyedValue,
        "keyed-map" => Kind::KeyedMap,
        "keyed-list" => Kind::KeyedList,
        "operator-value" => Kind::OperatorValue,
        "operator-list" => Kind::OperatorList,
        "broadcast-map" => Kind::BroadcastMap,
        other => panic!("unknown kind {other}"),
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// A typed value, encoded as the Rust SDK encodes it (postcard).
fn encode(value: &Value) -> Vec<u8> {
    let (codec, v) = value.as_object().and_then(|o| o.iter().next()).expect("a typed value");
    let bytes = match codec.as_str() {
        "u64" => postcard::to_allocvec(&v.as_u64().expect("u64")),
        "i64" => postcard::to_allocvec(&v.as_i64().expect("i64")),
        "str" => postcard::to_allocvec(v.as_str().expect("str")),
        "bytes" => postcard::to_allocvec(&hex(v.as_str().expect("hex"))),
        "bool" => postcard::to_allocvec(&v.as_bool().expect("bool")),
        "f64" => postcard::to_allocvec(&v.as_f64().expect("f64")),
        other => panic!("unknown codec {other}"),
    };
    bytes.expect("encodable")
}

fn text(value: &Value) -> &[u8] {
    value.as_str().expect("a string").as_bytes()
}

fn entries_of(kind: Kind, entries: &Value) -> Vec<Parts> {
    entries
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| match kind {
            Kind::KeyedValue => (text(&e["key"]).to_vec(), vec![encode(&e["value"])]),
            Kind::KeyedMap => (text(&e["key"]).to_vec(), vec![encode(&e["map_key"]), encode(&e["value"])]),
            Kind::KeyedList => {
                (text(&e["key"]).to_vec(), e["values"].as_array().expect("values").iter().map(encode).collect())
            }
            Kind::OperatorValue | Kind::OperatorList => (Vec::new(), vec![encode(&e["value"])]),
            Kind::BroadcastMap => (Vec::new(), vec![encode(&e["map_key"]), encode(&e["value"])]),
        })
        .collect()
}

fn write_full(kind: Kind, entries: &[Parts]) -> Vec<u8> {
    let mut writer = ChunkWriter::new(kind);
    for (key, parts) in entries {
        match kind {
            Kind::KeyedValue => writer.keyed_value(key, &parts[0]),
            Kind::KeyedMap => writer.keyed_map(key, &parts[0], &parts[1]),
            Kind::KeyedList => writer.keyed_list(key, parts.iter().map(Vec::as_slice)),
            Kind::OperatorValue => writer.operator_value(&parts[0]),
            Kind::OperatorList => writer.operator_list(&parts[0]),
            Kind::BroadcastMap => writer.broadcast_map(&parts[0], &parts[1]),
        }
    }
    writer.finish()
}

fn write_delta(kind: Kind, removed: &[Vec<u8>], entries: &[Parts]) -> Vec<u8> {
    let mut writer = DeltaWriter::new(kind);
    for key in removed {
        writer.remove(key);
    }
    for (key, parts) in entries {
        match kind {
            Kind::KeyedValue => writer.keyed_value(key, &parts[0]),
            Kind::KeyedMap => writer.keyed_map(key, &parts[0], &parts[1]),
            Kind::KeyedList => writer.keyed_list(key, parts.iter().map(Vec::as_slice)),
            Kind::OperatorValue | Kind::OperatorList | Kind::BroadcastMap => {
                panic!("no deltas for operator kinds")
            }
        }
    }
    writer.finish()
}

/// Decoded entries as a set: their order within a chunk is unspecified.
fn read_entries<'a>(entries: impl Iterator<Item = Entry<'a>>) -> BTreeSet<Parts> {
    entries
        .map(|entry| match entry {
            Entry::KeyedValue { key, value } => (key.to_vec(), vec![value.to_vec()]),
            Entry::KeyedMap { key, map_key, value } => (key.to_vec(), vec![map_key.to_vec(), value.to_vec()]),
            Entry::KeyedList { key, values } => (key.to_vec(), values.map(<[u8]>::to_vec).collect()),
            Entry::OperatorValue { value } | Entry::OperatorList { value } => (Vec::new(), vec![value.to_vec()]),
            Entry::BroadcastMap { map_key, value } => (Vec::new(), vec![map_key.to_vec(), value.to_vec()]),
        })
        .collect()
}

/// Compares `produced` with the stored file (writing it first when asked).
fn check_file(name: &str, produced: &[u8]) -> Vec<u8> {
    let path = dir().join(name);
    if std::env::var_os("WEIR_WRITE_VECTORS").is_some() {
        std::fs::write(&path, produced).expect("write vector");
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(stored, produced, "{name}: the reference codec no longer produces the stored bytes");
    stored
}

#[test]
fn state_chunks_match_the_vectors_both_ways() {
    let manifest = manifest();
    let cases = manifest["state"].as_array().expect("state cases");
    assert!(cases.len() >= 6, "a vector per kind and a delta");
    for case in cases {
        let name = case["file"].as_str().expect("file");
        let kind = kind(case["kind"].as_str().expect("kind"));
        let entries = entries_of(kind, &case["entries"]);
        match case["version"].as_u64() {
            Some(1) => {
                let bytes = check_file(name, &write_full(kind, &entries));
                let reader = ChunkReader::new(kind, &bytes).expect("readable");
                let read = read_entries(reader.map(|e| e.expect("entry")));
                assert_eq!(read, entries.into_iter().collect(), "{name}: decoded entries differ");
            }
            Some(2) => {
                let removed: Vec<Vec<u8>> =
                    case["removed"].as_array().expect("removed").iter().map(|k| text(k).to_vec()).collect();
                let bytes = check_file(name, &write_delta(kind, &removed, &entries));
                let reader = DeltaReader::new(kind, &bytes).expect("readable delta");
                assert_eq!(reader.removed().map(<[u8]>::to_vec).collect::<Vec<_>>(), removed);
                let read = read_entries(reader.entries().map(|e| e.expect("entry")));
                assert_eq!(read, entries.into_iter().collect(), "{name}: decoded entries differ");

                let base = std::fs::read(dir().join(case["merged_onto"].as_str().expect("base"))).expect("base");
                let merged = weir_wire::state::merge(kind, &[&base, &bytes]).expect("merge");
                let read = read_entries(ChunkReader::new(kind, &merged).expect("merged").map(|e| e.expect("entry")));
                assert_eq!(read, entries_of(kind, &case["merged"]).into_iter().collect(), "{name}: merge differs");
            }
            other => panic!("{name}: unknown version {other:?}"),
        }
    }
}

#[test]
fn batches_match_the_vectors_both_ways() {
    for case in manifest()["batches"].as_array().expect("batch cases") {
        let name = case["file"].as_str().expect("file");
        let events = case["events"].as_array().expect("events");
        let key_group = |e: &Value| e["key_group"].as_u64().map_or(NO_KEY_GROUP, |g| g as u16);
        let timestamp = |e: &Value| e["timestamp"].as_i64().unwrap_or(NO_TIMESTAMP);
        let mut writer = BatchWriter::new();
        for e in events {
            writer.push(key_group(e), timestamp(e), text(&e["key"]), text(&e["value"]));
        }
        let bytes = check_file(name, &writer.finish());
        let read: Vec<_> = BatchReader::new(&bytes).expect("readable").map(|e| e.expect("event")).collect();
        assert_eq!(read.len(), events.len());
        for (event, expected) in read.iter().zip(events) {
            assert_eq!((event.key, event.value), (text(&expected["key"]), text(&expected["value"])));
            assert_eq!((event.key_group, event.timestamp), (key_group(expected), timestamp(expected)));
        }
    }
}

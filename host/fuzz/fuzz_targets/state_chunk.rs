//! `ChunkReader` on untrusted bytes, as a checkpoint file or a guest may
//! hand them over: never a panic, an error at most once, and a chunk read
//! without error is exactly what `ChunkWriter` writes for its entries.
//!
//! The first input byte picks the state kind; the rest is the chunk.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_wire::state::{ChunkReader, ChunkWriter, Entry, Kind};

const KINDS: [Kind; 5] = [Kind::KeyedValue, Kind::KeyedMap, Kind::KeyedList, Kind::OperatorValue, Kind::OperatorList];

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else { return };
    let kind = KINDS[usize::from(kind) % KINDS.len()];
    let Ok(mut reader) = ChunkReader::new(kind, data) else { return };
    let mut writer = ChunkWriter::new(kind);
    let mut failed = false;
    for entry in reader.by_ref() {
        match entry {
            Ok(Entry::KeyedValue { key, value }) => writer.keyed_value(key, value),
            Ok(Entry::KeyedMap { key, map_key, value }) => writer.keyed_map(key, map_key, value),
            Ok(Entry::KeyedList { key, values }) => {
                let len = values.len();
                let values: Vec<&[u8]> = values.collect();
                assert_eq!(values.len(), len, "a list yields other than its declared length");
                writer.keyed_list(key, values.into_iter());
            }
            Ok(Entry::OperatorValue { value }) => writer.operator_value(value),
            Ok(Entry::OperatorList { value }) => writer.operator_list(value),
            Err(_) => {
                assert!(!failed, "a second error after the first");
                failed = true;
            }
        }
    }
    assert!(reader.next().is_none(), "entries after the end");
    if !failed {
        assert_eq!(writer.finish(), data, "a well-formed chunk is not canonical");
    }
});

//! `BatchReader` (and `stamp_key_groups`) on untrusted bytes, as a guest
//! may return them: never a panic, an error at most once, and a batch read
//! without error is exactly what `BatchWriter` writes for its events.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_wire::batch::{BatchReader, BatchWriter, event_count, stamp_key_groups};

fuzz_target!(|data: &[u8]| {
    let read = BatchReader::new(data).map(|mut reader| {
        let declared = reader.remaining_events();
        let mut writer = BatchWriter::new();
        let mut failed = false;
        for event in reader.by_ref() {
            match event {
                Ok(event) => writer.push_event(&event),
                Err(_) => {
                    assert!(!failed, "a second error after the first");
                    failed = true;
                }
            }
        }
        assert!(reader.next().is_none(), "events after the end");
        if !failed {
            assert_eq!(writer.len(), declared);
            if !data.is_empty() {
                assert_eq!(writer.finish(), data, "a well-formed batch is not canonical");
            }
        }
        (declared, failed)
    });
    assert_eq!(event_count(data).ok(), read.as_ref().ok().map(|&(declared, _)| declared));

    let mut stamped = data.to_vec();
    let result = stamp_key_groups(&mut stamped, 0x1234);
    match read {
        Ok((declared, false)) => {
            assert_eq!(result, Ok(declared));
            for event in BatchReader::new(&stamped).unwrap() {
                assert_eq!(event.unwrap().key_group, 0x1234);
            }
        }
        _ => assert!(result.is_err(), "stamp_key_groups accepted a batch the reader refuses"),
    }
});

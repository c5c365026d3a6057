//! The guest SDK's state handles round-trip through a real component:
//! snapshot from one instance of the counter, restore into a fresh one,
//! and the counts go on where they were.

use weir_host::guest::{GuestInstance, GuestRuntime, InstanceContext, Limits, LoadedComponent};
use weir_host::job::graph::key_group_of;
use weir_wire::batch::{BatchReader, BatchWriter, NO_TIMESTAMP};

use crate::support::guest;

fn batch(keys: &[&str]) -> Vec<u8> {
    let mut writer = BatchWriter::new();
    for key in keys {
        writer.push(key_group_of(key.as_bytes(), 128), NO_TIMESTAMP, key.as_bytes(), b"1");
    }
    writer.finish()
}

fn outputs(bytes: &[u8]) -> Vec<(String, String)> {
    BatchReader::new(bytes)
        .expect("valid output batch")
        .map(|e| {
            let e = e.expect("valid event");
            (String::from_utf8_lossy(e.key).into_owned(), String::from_utf8_lossy(e.value).into_owned())
        })
        .collect()
}

#[test]
fn counter_state_survives_snapshot_and_restore() {
    let runtime = GuestRuntime::new(false).expect("runtime");
    let component = LoadedComponent::load(&runtime, "counter", &guest("counter")).expect("load counter");
    let context = InstanceContext::new("counter", 0, 1, 128, true);

    let mut first = GuestInstance::new(&component, &context, Vec::new(), &Limits::default()).expect("instantiate");
    first.process(&batch(&["apple", "pear", "apple"])).expect("process");
    let chunks = first.snapshot(1).expect("snapshot");
    // One chunk per key group that holds state, all of the counter's handle.
    assert_eq!(chunks.len(), 2, "{chunks:?}");
    assert!(chunks.iter().all(|c| c.handle == "count" && c.key_group.is_some()));

    // The first instance goes on; the restored one must agree with it.
    let after_first = outputs(&first.process(&batch(&["apple", "plum"])).expect("process"));
    let mut restored = GuestInstance::new(&component, &context, chunks, &Limits::default()).expect("restore");
    let after_restore = outputs(&restored.process(&batch(&["apple", "plum"])).expect("process"));
    assert_eq!(after_first, [("apple".into(), "3".into()), ("plum".into(), "1".into())]);
    assert_eq!(after_restore, after_first);
}

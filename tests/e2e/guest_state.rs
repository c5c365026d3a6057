//! The guest SDK's state handles round-trip through a real component:
//! snapshot from one instance of the counter, restore into a fresh one,
//! and the counts go on where they were.

use weir_host::guest::{GuestInstance, GuestRuntime, InstanceContext, Limits, LoadedComponent};
use weir_host::job::graph::key_group_of;
use weir_host::operator::SnapshotMode;
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
    let runtime = GuestRuntime::new(false, true).expect("runtime");
    let component = LoadedComponent::load(&runtime, "counter", &guest("counter")).expect("load counter");
    let context = InstanceContext::new("counter", 0, 1, 128, true);

    let mut first = GuestInstance::new(&component, &context, Vec::new(), &Limits::default()).expect("instantiate");
    first.process(0, &batch(&["apple", "pear", "apple"])).expect("process");
    let snapshot = first.snapshot(1, SnapshotMode::Full).expect("snapshot");
    assert!(!snapshot.incremental);
    let chunks = snapshot.chunks;
    // One chunk per key group that holds state, all of the counter's handle.
    assert_eq!(chunks.len(), 2, "{chunks:?}");
    assert!(chunks.iter().all(|c| c.handle == "count" && c.key_group.is_some()));

    // The first instance goes on; the restored one must agree with it.
    let after_first = outputs(&first.process(0, &batch(&["apple", "plum"])).expect("process"));
    let mut restored = GuestInstance::new(&component, &context, chunks, &Limits::default()).expect("restore");
    let after_restore = outputs(&restored.process(0, &batch(&["apple", "plum"])).expect("process"));
    assert_eq!(after_first, [("apple".into(), "3".into()), ("plum".into(), "1".into())]);
    assert_eq!(after_restore, after_first);
}

/// An incremental snapshot through the real component carries only the keys
/// that changed, and the host's merge of full + deltas restores exactly.
#[test]
fn counter_incremental_snapshots_merge_to_the_full_state() {
    let runtime = GuestRuntime::new(false, true).expect("runtime");
    let component = LoadedComponent::load(&runtime, "counter", &guest("counter")).expect("load counter");
    let context = InstanceContext::new("counter", 0, 1, 128, true);
    let keys: Vec<String> = (0..1000).map(|i| format!("key-{i}")).collect();
    let all: Vec<&str> = keys.iter().map(String::as_str).collect();

    let mut instance = GuestInstance::new(&component, &context, Vec::new(), &Limits::default()).expect("instantiate");
    instance.process(0, &batch(&all)).expect("process");
    let full = instance.snapshot(1, SnapshotMode::Full).expect("full snapshot");
    instance.process(0, &batch(&all[..10])).expect("process");
    let delta2 = instance.snapshot(2, SnapshotMode::Incremental).expect("incremental snapshot");
    instance.process(0, &batch(&all[5..15])).expect("process");
    let delta3 = instance.snapshot(3, SnapshotMode::Incremental).expect("incremental snapshot");
    assert!(delta2.incremental && delta3.incremental);
    let size = |chunks: &[weir_host::guest::StateChunk]| chunks.iter().map(|c| c.data.len()).sum::<usize>();
    assert!(
        size(&delta2.chunks) * 20 < size(&full.chunks),
        "a delta of 1% of the keys should be far smaller than the full state: {} vs {} bytes",
        size(&delta2.chunks),
        size(&full.chunks)
    );

    // Merge per (handle, key group), in chain order, as a restore does.
    let mut chains: std::collections::BTreeMap<(String, Option<u16>), Vec<Vec<u8>>> = Default::default();
    for chunk in full.chunks.iter().chain(&delta2.chunks).chain(&delta3.chunks) {
        chains.entry((chunk.handle.clone(), chunk.key_group)).or_default().push(chunk.data.clone());
    }
    let restored_chunks = chains
        .into_iter()
        .map(|((handle, key_group), chain)| {
            let parts: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
            let kind = weir_host::guest::StateKind::KeyedValue;
            let data = weir_wire::state::merge(kind, &parts).expect("merge");
            weir_host::guest::StateChunk { handle, kind, key_group, data }
        })
        .collect();
    let mut restored = GuestInstance::new(&component, &context, restored_chunks, &Limits::default()).expect("restore");
    let probe = ["key-0", "key-7", "key-12", "key-500"];
    let expected = outputs(&instance.process(0, &batch(&probe)).expect("process"));
    assert_eq!(outputs(&restored.process(0, &batch(&probe)).expect("process")), expected);
    assert_eq!(expected[0], ("key-0".into(), "3".into()));
}

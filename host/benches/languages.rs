//! The same counter in every language (`examples/counter` in Rust, `-py`,
//! `-js`, `-c`) and the Rust one run natively: per-event cost of a batch of
//! 256 events over 10,000 keys, instantiating a subtask (pooling allocator,
//! compiled component from the on-disk cache, `init` included), and the size
//! of a full snapshot of the same 10,000 counts, which `cargo xtask bench`
//! reads from `$CARGO_TARGET_DIR/criterion/languages-snapshot-bytes.json`.
//!
//! Run with `cargo xtask bench` after `cargo xtask build-guests`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weir_guest::OperatorInfo;
use weir_guest::runtime::{Runtime, SnapshotMode as SdkMode};
use weir_host::guest::cache::ComponentCache;
use weir_host::guest::{GuestInstance, GuestRuntime, InstanceContext, Limits, LoadedComponent};
use weir_host::job::graph::key_group_of;
use weir_host::operator::SnapshotMode;
use weir_wire::batch::{BatchWriter, NO_TIMESTAMP};

/// The counter components, by language.
const COMPONENTS: [(&str, &str); 4] =
    [("rust", "counter"), ("python", "counter-py"), ("javascript", "counter-js"), ("c", "counter-c")];
const BATCH: usize = 256;
const KEYS: usize = 10_000;

fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("WEIR_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `cargo xtask build-guests`", path.display());
    path
}

/// Batches of 256 events covering every key once (word-like keys, value "1").
fn batches() -> Vec<Vec<u8>> {
    (0..KEYS.div_ceil(BATCH))
        .map(|b| {
            let mut writer = BatchWriter::with_capacity(BATCH * 40);
            for i in b * BATCH..((b + 1) * BATCH).min(KEYS) {
                let key = format!("word-{i}");
                writer.push(key_group_of(key.as_bytes(), 128), NO_TIMESTAMP, key.as_bytes(), b"1");
            }
            writer.finish()
        })
        .collect()
}

fn languages(c: &mut Criterion) {
    let batches = batches();
    let cache_dir = std::env::temp_dir().join(format!("weir-bench-languages-{}", std::process::id()));
    let runtime = GuestRuntime::new(false, true).expect("runtime").with_cache(ComponentCache::new(&cache_dir));
    let context = InstanceContext::new("counter", 0, 1, 128, true);
    let mut snapshot_bytes = serde_json::Map::new();

    let mut process = c.benchmark_group("languages/process");
    process.throughput(Throughput::Elements(BATCH as u64));
    for (language, name) in COMPONENTS {
        let component = LoadedComponent::load(&runtime, "counter", &guest_path(name)).expect("load");
        let mut instance = GuestInstance::new(&component, &context, Vec::new(), &Limits::default()).expect("init");
        let mut next = (0..batches.len()).cycle();
        process.bench_function(BenchmarkId::from_parameter(language), |b| {
            b.iter(|| black_box(instance.process(0, &batches[next.next().unwrap_or(0)]).expect("process")))
        });
        // Sizes after exactly one pass over every key (count 1 each), on a
        // fresh instance: the timed one saw a number of passes that depends
        // on the language's speed.
        let mut fresh = GuestInstance::new(&component, &context, Vec::new(), &Limits::default()).expect("init");
        for batch in &batches {
            fresh.process(0, batch).expect("process");
        }
        let snapshot = fresh.snapshot(1, SnapshotMode::Full).expect("snapshot");
        let bytes: usize = snapshot.chunks.iter().map(|c| c.data.len()).sum();
        snapshot_bytes.insert(language.into(), bytes.into());
    }
    let info = OperatorInfo::new("counter");
    let mut native = Runtime::<counter::Counter>::init(info.clone(), Vec::new()).expect("native init");
    let mut next = (0..batches.len()).cycle();
    process.bench_function(BenchmarkId::from_parameter("native"), |b| {
        b.iter(|| black_box(native.process(0, &batches[next.next().unwrap_or(0)]).expect("process")))
    });
    let mut fresh = Runtime::<counter::Counter>::init(info, Vec::new()).expect("native init");
    for batch in &batches {
        fresh.process(0, batch).expect("process");
    }
    let snapshot = fresh.snapshot(1, SdkMode::Full).expect("snapshot");
    snapshot_bytes.insert("native".into(), snapshot.chunks.iter().map(|c| c.data.len()).sum::<usize>().into());
    process.finish();

    let mut instantiate = c.benchmark_group("languages/instantiate");
    for (language, name) in COMPONENTS {
        // Loaded again: from the cache this time (the loop above filled it).
        let component = LoadedComponent::load(&runtime, "counter", &guest_path(name)).expect("load");
        assert!(component.loaded_from_cache(), "{name} was not in the compiled cache");
        instantiate.bench_function(BenchmarkId::from_parameter(language), |b| {
            b.iter(|| GuestInstance::new(&component, &context, Vec::new(), &Limits::default()).expect("instantiate"))
        });
    }
    instantiate.finish();

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let out = target.join("criterion/languages-snapshot-bytes.json");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("criterion dir");
    }
    std::fs::write(&out, serde_json::Value::Object(snapshot_bytes).to_string()).expect("write snapshot sizes");
    let _ = std::fs::remove_dir_all(cache_dir);
}

criterion_group!(benches, languages);
criterion_main!(benches);

//! The compiled-component cache: a second load skips compilation, an engine
//! with other settings does not take the artifact, and a damaged artifact
//! is deleted and compiled again, never loaded.

use weir_host::guest::cache::ComponentCache;
use weir_host::guest::{GuestInstance, GuestRuntime, InstanceContext, Limits, LoadedComponent};
use weir_wire::batch::{BatchReader, BatchWriter, NO_TIMESTAMP};

use crate::support::guest;

fn runtime(dir: &std::path::Path, fuel: bool) -> GuestRuntime {
    GuestRuntime::new(fuel, true).expect("runtime").with_cache(ComponentCache::new(dir))
}

fn load(runtime: &GuestRuntime) -> LoadedComponent {
    LoadedComponent::load(runtime, "counter", &guest("counter")).expect("load counter")
}

/// The loaded counter really runs: one event in, its count out.
fn counts(component: &LoadedComponent) -> String {
    let context = InstanceContext::new("counter", 0, 1, 128, true);
    let mut instance = GuestInstance::new(component, &context, Vec::new(), &Limits::default()).expect("instantiate");
    let mut batch = BatchWriter::new();
    batch.push(3, NO_TIMESTAMP, b"k", b"v");
    let out = instance.process(0, &batch.finish()).expect("process");
    let event = BatchReader::new(&out).expect("batch").next().expect("one event").expect("event");
    String::from_utf8_lossy(event.value).into_owned()
}

#[test]
fn compiled_components_are_cached_per_engine_and_checked() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let first = load(&runtime(dir.path(), false));
    assert!(!first.loaded_from_cache(), "an empty cache cannot hold it");
    // Another engine with the same settings (another run of the host).
    let second = load(&runtime(dir.path(), false));
    assert!(second.loaded_from_cache());
    assert_eq!(counts(&second), "1");
    // Fuel changes the generated code: that engine compiles its own.
    assert!(!load(&runtime(dir.path(), true)).loaded_from_cache());
    assert!(load(&runtime(dir.path(), true)).loaded_from_cache());

    // Damage every artifact: none is loaded, each is compiled again.
    for entry in std::fs::read_dir(dir.path()).expect("cache dir").flatten() {
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            let mut bytes = std::fs::read(entry.path()).expect("read artifact");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            std::fs::write(entry.path(), bytes).expect("damage artifact");
        }
    }
    let recompiled = load(&runtime(dir.path(), false));
    assert!(!recompiled.loaded_from_cache(), "a damaged artifact was loaded");
    assert_eq!(counts(&recompiled), "1");
    assert!(load(&runtime(dir.path(), false)).loaded_from_cache(), "the recompiled artifact was not cached again");
}

//! What starting a subtask costs, through the public API, for the `counter`
//! example component:
//!
//! - `compile`: [`LoadedComponent::load`] with no cache: read, hash, compile
//!   with Cranelift, check the world, pre-link (`InstancePre`). Once per job
//!   and component when the cache is cold.
//! - `load-cached`: the same from the on-disk compiled cache
//!   ([`ComponentCache`]): read, hash, check and map the compiled artifact.
//! - `pooling` / `no-pooling`: [`GuestInstance::new`] from the loaded
//!   component, with and without wasmtime's pooling allocator: a fresh store,
//!   instantiation, and the guest's `init` (the SDK's `open`). Once per
//!   subtask. The instance is dropped outside the timed part (with pooling,
//!   that returns its slot for the next one).
//!
//! Run with `cargo xtask bench`, or `cargo bench -p weir-host --bench
//! instantiate` after `cargo xtask build-guests`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use weir_host::guest::cache::ComponentCache;
use weir_host::guest::{GuestInstance, GuestRuntime, InstanceContext, Limits, LoadedComponent};

fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("WEIR_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `cargo xtask build-guests`", path.display());
    path
}

fn instantiate(c: &mut Criterion) {
    let path = guest_path("counter");
    let cache_dir = tempfile::tempdir().expect("temporary cache directory");
    let mut group = c.benchmark_group("instantiate");

    // Compiling takes tens of milliseconds: criterion's minimum of samples.
    group.sample_size(10);
    let uncached = GuestRuntime::new(false, true).expect("runtime");
    group.bench_function("compile", |b| {
        b.iter(|| LoadedComponent::load(&uncached, "counter", &path).expect("compile counter"))
    });
    group.sample_size(100);

    let cached = GuestRuntime::new(false, true).expect("runtime").with_cache(ComponentCache::new(cache_dir.path()));
    let first = LoadedComponent::load(&cached, "counter", &path).expect("compile counter into the cache");
    assert!(!first.loaded_from_cache());
    group.bench_function("load-cached", |b| {
        b.iter(|| {
            let loaded = LoadedComponent::load(&cached, "counter", &path).expect("load counter from the cache");
            assert!(loaded.loaded_from_cache());
            loaded
        })
    });

    let context = InstanceContext::new("counter", 0, 1, 128, true);
    let limits = Limits::default();
    for (name, pooling) in [("pooling", true), ("no-pooling", false)] {
        let runtime =
            GuestRuntime::new(false, pooling).expect("runtime").with_cache(ComponentCache::new(cache_dir.path()));
        let component = LoadedComponent::load(&runtime, "counter", &path).expect("load counter");
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                for _ in 0..iterations {
                    let started = Instant::now();
                    let instance =
                        GuestInstance::new(&component, &context, Vec::new(), &limits).expect("instantiate counter");
                    timed += started.elapsed();
                    drop(instance);
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, instantiate);
criterion_main!(benches);

//! What crossing into a guest costs: a no-op call, and a keyed running count
//! over a batch passed as `list<record>` versus one packed `list<u8>`
//! (`wit/FRAMING.md`), plus the real `counter` operator through the SDK and
//! the host's `GuestInstance`. Events have 16-byte keys and 64-byte values,
//! 10,000 distinct keys.
//!
//! Run with `cargo xtask bench` (which builds the guests and records the
//! figures in BENCHMARKS.md), or `cargo bench -p weir-host --bench boundary`
//! after `cargo xtask build-guests`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use weir_host::guest::{GuestInstance, GuestRuntime, InstanceContext, Limits, LoadedComponent};
use weir_host::job::graph::key_group_of;
use weir_wire::batch::{BatchReader, BatchWriter, NO_TIMESTAMP};

wasmtime::component::bindgen!({ path: "../tests/guests/boundary/wit", world: "boundary" });

const BATCH_SIZES: [usize; 3] = [1, 64, 256];
const KEYS: usize = 10_000;

struct State {
    wasi: wasmtime_wasi::WasiCtx,
    table: ResourceTable,
}

impl wasmtime_wasi::WasiView for State {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("WEIR_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `cargo xtask build-guests`", path.display());
    path
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{:012}", i % KEYS).into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("{i:064}").into_bytes();
    v.truncate(64);
    v
}

/// Batches of `n` events covering every key once (at least one batch).
fn ring<T>(n: usize, event: impl Fn(usize) -> T) -> Vec<Vec<T>> {
    let batches = KEYS.div_ceil(n).max(1);
    (0..batches).map(|b| (b * n..(b + 1) * n).map(&event).collect()).collect()
}

/// The same ring, packed; `key_group` computes each event's key group.
fn packed_ring(n: usize, key_group: impl Fn(&[u8]) -> u16) -> Vec<Vec<u8>> {
    ring(n, |i| (key(i), value(i)))
        .into_iter()
        .map(|events| {
            let mut writer = BatchWriter::with_capacity(n * 100);
            for (k, v) in &events {
                writer.push(key_group(k), NO_TIMESTAMP, k, v);
            }
            writer.finish()
        })
        .collect()
}

fn boundary(c: &mut Criterion) {
    let engine = Engine::default();
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("link WASI");
    let component = Component::from_file(&engine, guest_path("boundary")).expect("compile boundary guest");
    let state = State { wasi: wasmtime_wasi::WasiCtxBuilder::new().build(), table: ResourceTable::new() };
    let mut store = Store::new(&engine, state);
    let guest = Boundary::instantiate(&mut store, &component, &linker).expect("instantiate");

    c.bench_function("boundary/noop", |b| b.iter(|| guest.call_noop(&mut store).expect("noop")));

    // Inputs are built before timing: a ring of batches covering every key
    // once, so that the timed loop is the call and the walk of its output.
    let mut group = c.benchmark_group("boundary");
    group.bench_function("noop", |b| b.iter(|| guest.call_noop(&mut store).expect("noop")));
    for &n in &BATCH_SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let records: Vec<Vec<Event>> =
            ring(n, |i| Event { key_group: 0, timestamp: NO_TIMESTAMP, key: key(i), value: value(i) });
        let mut next = (0..records.len()).cycle();
        group.bench_with_input(BenchmarkId::new("records", n), &n, |b, _| {
            b.iter(|| {
                let batch = &records[next.next().unwrap_or(0)];
                black_box(guest.call_count_records(&mut store, batch).expect("count records"))
            })
        });
        let packed = packed_ring(n, |_| 0);
        let mut next = (0..packed.len()).cycle();
        group.bench_with_input(BenchmarkId::new("packed", n), &n, |b, _| {
            b.iter(|| {
                let batch = &packed[next.next().unwrap_or(0)];
                let out = guest.call_count_packed(&mut store, batch).expect("count packed");
                for event in BatchReader::new(&out).expect("packed output") {
                    black_box(event.expect("event"));
                }
            })
        });
    }
    group.finish();

    // The real path: the SDK's counter operator behind weir-host's
    // GuestInstance (packed batches, typed keyed state in the guest).
    let runtime = GuestRuntime::new(false, true).expect("runtime");
    let counter = LoadedComponent::load(&runtime, "counter", &guest_path("counter")).expect("load counter");
    let context = InstanceContext::new("counter", 0, 1, 128, true);
    let mut instance =
        GuestInstance::new(&counter, &context, Vec::new(), &Limits::default()).expect("instantiate counter");
    let mut group = c.benchmark_group("sdk-counter");
    for &n in &BATCH_SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let packed = packed_ring(n, |k| key_group_of(k, 128));
        let mut next = (0..packed.len()).cycle();
        group.bench_with_input(BenchmarkId::new("packed", n), &n, |b, _| {
            b.iter(|| {
                let out = instance.process(0, &packed[next.next().unwrap_or(0)]).expect("process");
                for event in BatchReader::new(&out).expect("output") {
                    black_box(event.expect("event"));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, boundary);
criterion_main!(benches);

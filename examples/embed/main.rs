//! Embedding Weir: build the word-count job in code, run it through the
//! library API, watch its progress and read the result. No job file, no
//! `weir` binary: this is what an edge service does.
//!
//! Run it with `cargo run --release -p weir-host --example embed` after
//! `cargo xtask build-guests`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_host::{Engine, JobSpec, JobStatus, OperatorSpec, SinkSpec, SourceSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Tests pass their own build of the guests; by default, use the
    // documented location.
    let guests = std::env::var_os("WEIR_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/wasm32-wasip2/release"));
    let input = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| root.join("examples/wordcount/input.txt"));
    let out = std::env::temp_dir().join(format!("weir-embed-{}", std::process::id()));

    let job = JobSpec::new("wordcount-embedded", SourceSpec::lines(&input), SinkSpec::files(&out))
        .operator(OperatorSpec::new("tokenizer", guests.join("tokenizer.wasm")).parallelism(2))
        .operator(OperatorSpec::new("counter", guests.join("counter.wasm")).parallelism(2).key_by(true));

    let engine = Engine::new()?;
    let running = engine.start(job)?;
    println!("started job {}", running.id());
    while !running.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let metrics = running.metrics();
        println!("{} lines read so far", metrics.source_events);
    }
    let report = running.wait()?;
    assert_eq!(report.status, JobStatus::Finished);

    // Each output line is `word<TAB>running count`; the highest is the total.
    let mut totals = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&out)? {
        for line in std::fs::read_to_string(entry?.path())?.lines() {
            if let Some((word, count)) = line.split_once('\t') {
                let count: u64 = count.parse()?;
                let total = totals.entry(word.to_owned()).or_insert(0);
                *total = count.max(*total);
            }
        }
    }
    std::fs::remove_dir_all(&out)?;
    println!("{} words in {:?}", report.metrics.sink_events, report.metrics.elapsed);
    for (word, total) in totals.iter().filter(|(_, total)| **total >= 10) {
        println!("{word}\t{total}");
    }
    Ok(())
}

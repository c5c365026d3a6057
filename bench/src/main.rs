//! `weir-bench`: the end-to-end benchmarks of issue 5, run through the real
//! engine exactly as an embedder would use it. The same engine runs every
//! job; the operators are the example components (`tokenizer`, `counter`)
//! and the `store` test guest, or the very same SDK operators compiled into
//! this binary and registered as native operators: the only difference
//! between a Wasm run and its native baseline is the sandbox.
//!
//! ```text
//! weir-bench [--quick] [--runs N] [--guests DIR] [--work DIR] SCENARIO...
//! ```
//!
//! Scenarios: `wordcount`, `keyed`, `flink` (the keyed job on Apache Flink
//! and on `weir run`, side by side; needs `WEIR_FLINK_HOME`), `sources` (the keyed job with one
//! generator subtask against two), `windows` (the windowed count of issue 15), `snapshot`, `checkpoint` (with the
//! restores), `throughput`, `memory`, `brokers` (Kafka and NATS in and
//! out, against a plain loop; needs `WEIR_NISSHI` and `WEIR_NATS_SERVER`),
//! or `all`. Results go to stdout, one
//! JSON object per line with a `"scenario"` field (`cargo xtask bench`
//! turns them into the tables of BENCHMARKS.md); progress goes to stderr.
//! Every figure is the median of `--runs` runs (default 3; `--quick`: 1,
//! with tiny sizes, as a smoke test of the harness).

mod brokers;
mod flink;
mod harness;
mod jobs;
mod memory;
mod natives;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use harness::{Bench, Code, generator, generator_job, progress};

const SCENARIOS: &[&str] =
    &["wordcount", "keyed", "flink", "sources", "windows", "snapshot", "checkpoint", "throughput", "memory", "brokers"];

const USAGE: &str = "usage: weir-bench [--quick] [--runs N] [--state-mib N,N..] [--only wasm|native] [--guests DIR] [--work DIR] SCENARIO...

scenarios: wordcount keyed flink sources windows snapshot checkpoint throughput memory brokers, or all
  --quick        tiny sizes and one run: a smoke test of the harness
  --runs N       runs per figure, the median is reported (default 3)
  --state-mib L  keyed state sizes of snapshot and checkpoint, MiB (default 10,100,1024)
  --only CODE    run only wasm or only native in wordcount and keyed (for profiling)
  --guests DIR   where the .wasm components are (default: target/wasm32-wasip2/release)
  --work DIR     scratch space: inputs, checkpoints, component cache (default: target/bench)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weir-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    quick: bool,
    runs: Option<usize>,
    state_mib: Option<Vec<u64>>,
    only: Option<Code>,
    guests: PathBuf,
    work: PathBuf,
    scenarios: Vec<String>,
}

fn parse_args() -> Result<Options> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut options = Options {
        quick: false,
        runs: None,
        state_mib: None,
        only: None,
        guests: root.join("target/wasm32-wasip2/release"),
        work: root.join("target/bench"),
        scenarios: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value\n\n{USAGE}"));
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--runs" => {
                let runs = value("--runs")?;
                options.runs =
                    Some(runs.parse().ok().filter(|&n| n > 0).with_context(|| format!("bad --runs {runs}"))?);
            }
            "--state-mib" => {
                let list = value("--state-mib")?;
                let sizes: Option<Vec<u64>> =
                    list.split(',').map(|n| n.trim().parse().ok().filter(|&n: &u64| n > 0)).collect();
                options.state_mib = Some(sizes.with_context(|| format!("bad --state-mib {list}"))?);
            }
            "--only" => {
                options.only = Some(match value("--only")?.as_str() {
                    "wasm" => Code::Wasm,
                    "native" => Code::Native,
                    other => bail!("bad --only {other}: wasm or native"),
                })
            }
            "--guests" => options.guests = value("--guests")?.into(),
            "--work" => options.work = value("--work")?.into(),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag}\n\n{USAGE}"),
            scenario => options.scenarios.push(scenario.to_owned()),
        }
    }
    if options.scenarios.is_empty() {
        bail!("no scenario given\n\n{USAGE}");
    }
    Ok(options)
}

fn run() -> Result<()> {
    let options = parse_args()?;
    let runs = options.runs.unwrap_or(if options.quick { 1 } else { 3 });
    let mut bench = Bench::new(options.guests, options.work, options.quick, runs)?;
    bench.state_mib = options.state_mib;
    bench.only = options.only;

    // Internal: one measured job in a process of its own.
    if options.scenarios.first().map(String::as_str) == Some("memory-job") {
        let kind = options.scenarios.get(1).context("memory-job needs a kind: idle, native or wasm")?;
        return memory::memory_job(&bench, kind);
    }

    let mut scenarios: Vec<&str> = Vec::new();
    for scenario in &options.scenarios {
        if scenario == "all" {
            scenarios.extend(SCENARIOS);
        } else if let Some(known) = SCENARIOS.iter().find(|known| *known == scenario) {
            scenarios.push(known);
        } else {
            bail!("unknown scenario '{scenario}'\n\n{USAGE}");
        }
    }
    let load_before = harness::load_average()?;
    warm_component_cache(&bench)?;
    let mut kept_checkpoint = None;
    for scenario in scenarios {
        match scenario {
            "wordcount" => jobs::wordcount(&bench)?,
            "keyed" => jobs::keyed(&bench)?,
            "sources" => jobs::sources(&bench)?,
            "windows" => jobs::windows(&bench)?,
            "snapshot" => state::snapshot(&bench)?,
            "checkpoint" => kept_checkpoint = state::checkpoint(&bench)?,
            "throughput" => state::throughput(&bench, kept_checkpoint.take())?,
            "memory" => memory::memory(&bench)?,
            "brokers" => brokers::brokers(&bench)?,
            "flink" => flink::flink(&bench)?,
            _ => unreachable!("scenario names are checked above"),
        }
    }
    // Other load on the machine makes wall-clock figures noisy: say how much.
    let load_after = harness::load_average()?;
    harness::emit(serde_json::json!({
        "scenario": "machine", "load_average_before": load_before, "load_average_after": load_after,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
    }));
    Ok(())
}

/// Runs every component once, so that no measured run (nor a memory
/// child) compiles: each loads from the compiled-component cache.
fn warm_component_cache(bench: &Bench) -> Result<()> {
    progress("warming the compiled-component cache");
    let spec = generator_job(
        "bench-warm-up",
        generator(100, 10, 16),
        vec![
            bench.operator("tokenizer", Code::Wasm)?,
            bench.operator("counter", Code::Wasm)?.key_by(true),
            bench.operator("store", Code::Wasm)?.key_by(true),
        ],
    );
    bench.run_to_end(spec)?;
    Ok(())
}

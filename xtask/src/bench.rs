//! `cargo xtask bench`: runs the benchmarks, prints one table and writes it
//! to BENCHMARKS.md with the date, the machine and the command.
//!
//! Micro figures come from criterion (`host/benches/`), read back from its
//! `estimates.json` files; end-to-end figures come from running the real
//! `weir` binary on generated input, several times, reporting the median.
//! `--quick` shortens everything (a smoke run of the harness, for CI).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{build_guests, build_host, cargo, root, run, step, target_dir};

struct Settings {
    /// criterion's measurement time per benchmark, seconds.
    measurement_secs: u32,
    /// Runs of each end-to-end job (the median is reported).
    runs: usize,
    /// Scale of the end-to-end inputs (1.0 = the sizes).
    scale: f64,
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let settings = if quick {
        Settings { measurement_secs: 1, runs: 1, scale: 0.01 }
    } else {
        Settings { measurement_secs: 3, runs: 3, scale: 1.0 }
    };
    let guests = build_guests()?;
    let weir = build_host()?;

    step("micro-benchmarks (criterion): crossing into a guest");
    let mut command = cargo();
    command
        .args(["bench", "--quiet", "-p", "weir-host", "--bench", "boundary", "--"])
        .args(["--warm-up-time", "1", "--measurement-time", &settings.measurement_secs.to_string()])
        .env("WEIR_GUEST_DIR", &guests);
    run(&mut command)?;
    let micro = micro_table()?;

    step("end-to-end: the real binary on generated input");
    let work = target_dir().join("bench");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let e2e = end_to_end(&weir, &guests, &work, &settings)?;

    let table = format!("{micro}\n{e2e}");
    println!("\n{table}");
    if quick {
        eprintln!("(--quick: figures not written to BENCHMARKS.md)");
        return Ok(());
    }
    write_benchmarks_md(&table)
}

/// Median time of one criterion benchmark, in nanoseconds.
fn criterion_median(id: &str) -> Result<f64> {
    let path = target_dir().join("criterion").join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("bad JSON in {}", path.display()))?;
    json["median"]["point_estimate"].as_f64().with_context(|| format!("no median in {}", path.display()))
}

fn micro_table() -> Result<String> {
    let noop = criterion_median("boundary/noop")?;
    let mut out = String::new();
    writeln!(out, "### Crossing into a guest (criterion medians)\n")?;
    writeln!(out, "Keyed running count, 16-byte keys, 64-byte values, 10,000 keys. ns/event includes the call.")?;
    writeln!(out, "An empty call (`noop`) costs **{noop:.0} ns**.\n")?;
    writeln!(
        out,
        "| batch size | `list<record>` ns/event | packed `list<u8>` ns/event | record ÷ packed | SDK counter via `GuestInstance` ns/event |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|")?;
    for n in [1usize, 64, 256] {
        let records = criterion_median(&format!("boundary/records/{n}"))? / n as f64;
        let packed = criterion_median(&format!("boundary/packed/{n}"))? / n as f64;
        let sdk = criterion_median(&format!("sdk-counter/packed/{n}"))? / n as f64;
        writeln!(out, "| {n} | {records:.0} | {packed:.0} | {:.1}x | {sdk:.0} |", records / packed)?;
    }
    Ok(out)
}

/// Deterministic text of about `words` words drawn from a skewed
/// vocabulary of 10,000 words, 10 words per line.
fn write_wordcount_input(path: &Path, words: usize) -> Result<()> {
    let mut text = String::with_capacity(words * 8);
    let mut state: u64 = 42;
    for i in 0..words {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let r = (state >> 33) % 10_000;
        let _ = write!(text, "w{}", r * r / 10_000);
        text.push(if i % 10 == 9 { '\n' } else { ' ' });
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `weir run job` `runs` times; returns the median wall time in seconds.
fn median_run_secs(weir: &Path, job: &Path, runs: usize) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let output = Command::new(weir)
            .arg("run")
            .arg(job)
            .env("RUST_LOG", "warn")
            .output()
            .with_context(|| format!("cannot run {}", weir.display()))?;
        if !output.status.success() {
            bail!("weir run {} failed:\n{}", job.display(), String::from_utf8_lossy(&output.stderr));
        }
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn end_to_end(weir: &Path, guests: &Path, work: &Path, settings: &Settings) -> Result<String> {
    let words = (5_000_000.0 * settings.scale) as usize;
    let input = work.join("wordcount-input.txt");
    write_wordcount_input(&input, words)?;
    let wordcount = work.join("wordcount.toml");
    let component = |name: &str| guests.join(format!("{name}.wasm")).display().to_string();
    std::fs::write(
        &wordcount,
        format!(
            "[job]\nname = \"bench-wordcount\"\n\
             [source]\ntype = \"lines\"\npath = \"{}\"\n\
             [[operators]]\nname = \"tokenizer\"\ncomponent = \"{}\"\nparallelism = 2\n\
             [[operators]]\nname = \"counter\"\ncomponent = \"{}\"\nparallelism = 2\nkey_by = true\n\
             [sink]\ntype = \"discard\"\n",
            input.display(),
            component("tokenizer"),
            component("counter")
        ),
    )?;
    let events = (10_000_000.0 * settings.scale) as u64;
    let generator = work.join("generator-counter.toml");
    std::fs::write(
        &generator,
        format!(
            "[job]\nname = \"bench-generator\"\n\
             [source]\ntype = \"generator\"\ncount = {events}\nkeys = 10000\nvalue_size = 16\n\
             [[operators]]\nname = \"counter\"\ncomponent = \"{}\"\nparallelism = 2\nkey_by = true\n\
             [sink]\ntype = \"discard\"\n",
            component("counter")
        ),
    )?;

    let wordcount_secs = median_run_secs(weir, &wordcount, settings.runs)?;
    let generator_secs = median_run_secs(weir, &generator, settings.runs)?;
    let mut out = String::new();
    writeln!(out, "### End to end (`weir run`, median of {} runs, wall time including start-up)\n", settings.runs)?;
    writeln!(out, "| job | events | seconds | events/s |")?;
    writeln!(out, "|---|---:|---:|---:|")?;
    writeln!(
        out,
        "| word count: lines → tokenizer ×2 → counter ×2 (key_by) → discard | {words} words | {wordcount_secs:.2} | {:.0} |",
        words as f64 / wordcount_secs
    )?;
    writeln!(
        out,
        "| generator → counter ×2 (key_by) → discard, 10k keys | {events} | {generator_secs:.2} | {:.0} |",
        events as f64 / generator_secs
    )?;
    Ok(out)
}

/// Replaces the generated part of BENCHMARKS.md (between the markers),
/// keeping the hand-written analysis around it.
fn write_benchmarks_md(table: &str) -> Result<()> {
    const START: &str = "<!-- cargo xtask bench: start -->";
    const END: &str = "<!-- cargo xtask bench: end -->";
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let generated = format!(
        "{START}\nMade by `cargo xtask bench` on {date}: {cpu}, {cores} cores. The machine is shared \
         and noisy: compare figures of one run with each other, not across runs.\n\n{table}{END}"
    );
    let path = root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| format!("# Benchmarks\n\n{START}\n{END}\n"));
    let text = match (old.find(START), old.find(END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{generated}{}", &old[..start], &old[end + END.len()..])
        }
        _ => format!("{old}\n{generated}\n"),
    };
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

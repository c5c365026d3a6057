//! `cargo xtask demo`: build everything, run the word count with
//! checkpoints on the local disk, kill it hard after at least two
//! checkpoints, resume it with `--resume`, and check that the committed
//! output equals a failure-free run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{build_host, build_rust_guests, root, run, step};

pub fn run_demo() -> Result<()> {
    let guests = build_rust_guests()?;
    let weir = build_host()?;
    let demo = root().join("target/demo");
    if demo.exists() {
        std::fs::remove_dir_all(&demo).with_context(|| format!("cannot clear {}", demo.display()))?;
    }
    std::fs::create_dir_all(&demo)?;

    // The example's text, repeated so that the job runs long enough (about
    // four seconds at the rate limit) to be killed in the middle.
    let text = std::fs::read_to_string(root().join("examples/wordcount/input.txt"))?;
    std::fs::write(demo.join("input.txt"), text.repeat(2500))?;
    let lines = text.lines().count() * 2500;
    write_job(&demo.join("job.toml"), &guests, "out", Some(lines as u64 / 4))?;
    write_job(&demo.join("reference.toml"), &guests, "reference-out", None)?;

    step("failure-free reference run (no rate limit, no crash)");
    run(Command::new(&weir).arg("run").arg(demo.join("reference.toml")).env("RUST_LOG", "warn"))?;

    step("checkpointed run, to be killed with SIGKILL after two checkpoints");
    let log = std::fs::File::create(demo.join("crashed-run.log"))?;
    let mut child = Command::new(&weir)
        .arg("run")
        .arg(demo.join("job.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", weir.display()))?;
    let job_dir = demo.join("checkpoints/wordcount-demo");
    let started = Instant::now();
    let seen = loop {
        let complete = complete_checkpoints(&job_dir);
        if complete.len() >= 2 {
            break complete;
        }
        if child.try_wait()?.is_some() {
            bail!("the job ended before two checkpoints; see {}", demo.join("crashed-run.log").display());
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            bail!("no two checkpoints after 60 s; see {}", demo.join("crashed-run.log").display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().context("cannot kill the job")?;
    child.wait()?;
    let out = demo.join("out");
    let (committed, staged) = count_files(&out);
    println!("killed (SIGKILL) with complete checkpoints {seen:?} in {}", job_dir.display());
    println!("output at the crash: {committed} committed file(s), {staged} staged (uncommitted) file(s)");

    step("resuming: weir run job.toml --resume");
    let resumed = Command::new(&weir).arg("run").arg(demo.join("job.toml")).arg("--resume").output()?;
    let log = String::from_utf8_lossy(&resumed.stderr);
    for line in log.lines().filter(|l| l.contains("restoring") || l.contains("checkpoint") || l.contains("finished")) {
        println!("  {}", line.split_once("Z ").map_or(line, |(_, rest)| rest).trim());
    }
    if !resumed.status.success() {
        bail!("the resumed run failed:\n{log}");
    }

    let got = committed_lines(&out)?;
    let expected = committed_lines(&demo.join("reference-out"))?;
    if got != expected {
        bail!("VERDICT: output differs from the failure-free run ({} lines vs {} expected)", got.len(), expected.len());
    }
    step(&format!(
        "VERDICT: exact. {} committed lines, identical to the failure-free run: nothing lost, nothing duplicated",
        got.len()
    ));
    print_top_ten(&got);
    Ok(())
}

/// The demo's job file: the word count of `examples/wordcount`, with a
/// rate limit and checkpoints when `rate` is given.
fn write_job(path: &Path, guests: &Path, out: &str, rate: Option<u64>) -> Result<()> {
    let component = |name: &str| guests.join(format!("{name}.wasm")).display().to_string();
    let mut job = format!(
        "[job]\nname = \"wordcount\"\nid = \"wordcount-demo\"\n\n\
         [source]\ntype = \"lines\"\npath = \"input.txt\"\n{}\n\
         [[operators]]\nname = \"tokenizer\"\ncomponent = \"{}\"\nparallelism = 2\n\n\
         [[operators]]\nname = \"counter\"\ncomponent = \"{}\"\nparallelism = 2\nkey_by = true\n\n\
         [sink]\ntype = \"files\"\npath = \"{out}\"\n",
        rate.map(|r| format!("rate_limit = {r}\n")).unwrap_or_default(),
        component("tokenizer"),
        component("counter"),
    );
    if rate.is_some() {
        job += "\n[checkpoint]\ndir = \"checkpoints\"\ninterval_ms = 500\n\
                retention = \"retain-on-cancellation\"\nnum_retained = 2\n";
    }
    std::fs::write(path, job).with_context(|| format!("cannot write {}", path.display()))
}

fn complete_checkpoints(job_dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(job_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("_metadata").exists())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

fn visible(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    !name.starts_with('.') && !name.starts_with('_')
}

fn count_files(out: &Path) -> (usize, usize) {
    let files: Vec<PathBuf> = std::fs::read_dir(out).into_iter().flatten().flatten().map(|e| e.path()).collect();
    let committed = files.iter().filter(|p| visible(p)).count();
    (committed, files.len() - committed)
}

/// Every committed `word<TAB>count` line, sorted.
fn committed_lines(out: &Path) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))? {
        let path = entry?.path();
        if visible(&path) {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines.sort();
    Ok(lines)
}

fn print_top_ten(lines: &[String]) {
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for line in lines {
        if let Some((word, count)) = line.split_once('\t') {
            let count: u64 = count.parse().unwrap_or(0);
            let total = totals.entry(word).or_insert(0);
            *total = (*total).max(count);
        }
    }
    let mut words: Vec<(&str, u64)> = totals.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    println!("ten most frequent of {} distinct words:", words.len());
    for (word, count) in words.iter().take(10) {
        println!("{count:>8}  {word}");
    }
}

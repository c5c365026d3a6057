//! Helpers for the checkpoint tests: a checkpointed word-count job, its
//! expected output, starting/killing/cancelling the real binary, and
//! watching the checkpoint directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A word-count job with checkpoints, in its own directory.
pub struct CheckpointedJob {
    pub job: JobDir,
    pub input: String,
    pub job_id: String,
}

/// Settings of a checkpointed word count.
#[derive(Clone)]
pub struct Shape {
    pub tokenizer: &'static str,
    /// The counter's component: `counter` (Rust) or another language's.
    pub counter: &'static str,
    pub tokenizers: u32,
    pub counters: u32,
    pub lines: usize,
    /// Lines per second.
    pub rate: u64,
    pub interval_ms: u64,
    pub retention: &'static str,
    pub num_retained: u32,
    /// 0 puts every subtask's state in a data file.
    pub inline_threshold_bytes: usize,
    /// Checkpoint root; relative to the job directory unless a URL.
    pub dir: String,
    /// The `[restart]` table's body. Tests take no restarts unless they
    /// ask: a checkpointed job's default (exponential-delay, unlimited)
    /// would retry a deterministic failure forever.
    pub restart: &'static str,
    /// More lines for the `[checkpoint]` table (e.g. `incremental = true`).
    pub checkpoint_extra: &'static str,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            tokenizer: "tokenizer",
            counter: "counter",
            tokenizers: 2,
            counters: 2,
            lines: 6000,
            rate: 6000,
            interval_ms: 100,
            retention: "retain-on-cancellation",
            num_retained: 2,
            inline_threshold_bytes: 20 * 1024,
            dir: "ckpt".into(),
            restart: "strategy = \"none\"",
            checkpoint_extra: "",
        }
    }
}

/// Deterministic lines of 8 words from 400 words.
pub fn input_lines(lines: usize, seed: u64) -> String {
    let mut state = seed;
    let mut text = String::new();
    for _ in 0..lines {
        for w in 0..8 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            text += &format!("w{}", (state >> 33) % 400);
            text.push(if w == 7 { '\n' } else { ' ' });
        }
    }
    text
}

/// Every `word<TAB>running count` line of the word count, sorted.
pub fn expected_output(input: &str) -> Vec<String> {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut lines: Vec<String> = input
        .split_whitespace()
        .map(|word| {
            let count = counts.entry(word).or_insert(0);
            *count += 1;
            format!("{word}\t{count}")
        })
        .collect();
    lines.sort();
    lines
}

impl CheckpointedJob {
    pub fn new(shape: &Shape) -> Self {
        Self::with_input(shape, input_lines(shape.lines, 42))
    }

    pub fn with_input(shape: &Shape, input: String) -> Self {
        let job = JobDir::new();
        job.write("input.txt", &input);
        let job_id = "wc-test".to_owned();
        let checked = CheckpointedJob { job, input, job_id };
        checked.write_job(shape);
        checked
    }

    /// (Re)writes the job file, e.g. with another parallelism.
    pub fn write_job(&self, shape: &Shape) {
        self.job.write(
            "job.toml",
            format!(
                r#"
[job]
name = "wordcount"
id = "{id}"
batch_size = 64

[source]
type = "lines"
path = "input.txt"
rate_limit = {rate}

[[operators]]
name = "tokenizer"
component = "{tokenizer}"
parallelism = {tokenizers}

[[operators]]
name = "counter"
component = "{counter}"
parallelism = {counters}
key_by = true

[sink]
type = "files"
path = "out"

[checkpoint]
dir = "{dir}"
interval_ms = {interval}
retention = "{retention}"
num_retained = {retained}
inline_threshold_bytes = {inline}
{checkpoint_extra}

[restart]
{restart}
"#,
                id = self.job_id,
                rate = shape.rate,
                tokenizer = guest(shape.tokenizer).display(),
                tokenizers = shape.tokenizers,
                counter = guest(shape.counter).display(),
                counters = shape.counters,
                dir = shape.dir,
                interval = shape.interval_ms,
                retention = shape.retention,
                retained = shape.num_retained,
                inline = shape.inline_threshold_bytes,
                restart = shape.restart,
                checkpoint_extra = shape.checkpoint_extra,
            ),
        );
    }

    pub fn out_dir(&self) -> PathBuf {
        self.job.path("out")
    }

    /// The local job directory of the checkpoints (`ckpt/<job-id>`).
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.job.path("ckpt").join(&self.job_id)
    }

    /// Starts `weir run job.toml ARGS...` in the background.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.spawn_with_env(args, &[])
    }

    /// Runs `weir run job.toml ARGS...` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[])
    }

    /// `weir run job.toml ARGS...` in the job's directory.
    fn command(&self, args: &[&str], env: &[(String, String)]) -> std::process::Command {
        let mut command = weir();
        command
            .arg("run")
            .arg(self.job.path("job.toml"))
            .args(args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .current_dir(self.job.dir.path());
        command
    }

    /// [`spawn`](Self::spawn) with extra environment variables for `weir`
    /// (e.g. the `AWS_*` settings of an `s3://` checkpoint directory).
    pub fn spawn_with_env(&self, args: &[&str], env: &[(String, String)]) -> Child {
        self.command(args, env).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start weir")
    }

    /// [`run`](Self::run) with extra environment variables for `weir`.
    pub fn run_with_env(&self, args: &[&str], env: &[(String, String)]) -> Output {
        self.command(args, env).output().expect("run weir")
    }

    /// Committed output lines, sorted.
    pub fn output(&self) -> Vec<String> {
        output_lines(&self.out_dir())
    }

    pub fn assert_exact(&self) {
        let got = self.output();
        let expected = expected_output(&self.input);
        assert_eq!(got.len(), expected.len(), "wrong number of committed lines (duplicates or losses)");
        assert!(got == expected, "committed output differs from the failure-free result");
    }
}

/// Committed output lines of a `files` sink directory, sorted.
pub fn output_lines(out: &Path) -> Vec<String> {
    if !out.exists() {
        return Vec::new();
    }
    let mut lines: Vec<String> =
        committed_files(out).values().flat_map(|contents| contents.lines().map(str::to_owned)).collect();
    lines.sort();
    lines
}

/// Ids of the complete checkpoints (`chk-<n>/_metadata`) in a local job
/// directory, sorted.
pub fn complete_checkpoints(job_dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(job_dir) else { return Vec::new() };
    let mut ids: Vec<u64> = entries
        .flatten()
        .filter(|e| e.path().join("_metadata").exists())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// Waits until the job directory holds at least `count` complete
/// checkpoints with ids of at least `min_id`.
pub fn wait_for_checkpoints(job_dir: &Path, min_id: u64, child: &mut Child) {
    let started = Instant::now();
    loop {
        if complete_checkpoints(job_dir).iter().any(|&id| id >= min_id) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("weir ended ({status}) before checkpoint {min_id} appeared in {}", job_dir.display());
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no checkpoint {min_id} after 30 s in {}",
            job_dir.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILL: the process dies with no chance to clean up.
pub fn kill_hard(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGTERM, then waits for a clean exit; returns the output.
pub fn cancel(child: Child) -> Output {
    let status = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(status.is_ok_and(|s| s.success()), "cannot send SIGTERM");
    child.wait_with_output().expect("wait for weir")
}

/// A tiny seeded generator for crash moments.
pub struct Seeded(pub u64);

impl Seeded {
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

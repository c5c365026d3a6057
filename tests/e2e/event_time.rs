//! Event time through the real binary and real components: the windowed
//! count in Rust and Python (DESIGN.md, "Event time"), killed with SIGKILL
//! at random moments and resumed, a checkpoint of one language's operator
//! resumed by the other's with its windows open, and an idle source that
//! must not hold the windows back.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::checkpoint_support::{Seeded, complete_checkpoints, kill_hard, output_lines, wait_for_checkpoints};
use crate::support::*;

/// Out-of-order events within the watermark delay, and every 97th one
/// twelve seconds behind: late.
fn events(count: usize, seed: u64) -> String {
    let keys = ["alpha", "beta", "gamma", "delta", "eps"];
    let mut random = Seeded(seed);
    let mut text = String::new();
    for i in 0..count as i64 {
        let mut ts = 1_700_000_000_000 + i * 20 + random.below(1200) as i64 - 600;
        if i % 97 == 50 {
            ts -= 12_000;
        }
        let key = keys[random.below(keys.len() as u64) as usize];
        text.push_str(&format!("{ts}\t{key}\tv{i}\n"));
    }
    text
}

const WINDOWS: &str = r#"
[job]
name = "windows"
id = "windows-{id}"

[[sources]]
name = "events"
type = "lines"
format = "tsv"
path = "events.tsv"
watermark_delay_ms = 1000
rate_limit = {rate}

[[operators]]
name = "count"
component = "{guests}/{component}.wasm"
key_by = true
parallelism = {parallelism}
side_outputs = ["late"]
config = { size_ms = 5000 }

[[sinks]]
name = "counts"
type = "files"
path = "out"
inputs = ["count"]

[[sinks]]
name = "late"
type = "files"
path = "late"
inputs = ["count.late"]

[checkpoint]
dir = "ckpt"
interval_ms = 100
retention = "retain-on-cancellation"
num_retained = 2

[restart]
strategy = "none"
"#;

struct WindowJob {
    job: JobDir,
    id: String,
}

impl WindowJob {
    fn new(input: &str) -> Self {
        let job = JobDir::new();
        job.write("events.tsv", input);
        WindowJob { job, id: format!("{}", std::process::id()) }
    }

    /// `rate`: events per second, or `None` for as fast as it goes.
    fn write(&self, component: &str, parallelism: u32, rate: Option<u64>) {
        let mut body = WINDOWS
            .replace("{id}", &self.id)
            .replace("{guests}", &guest_dir().display().to_string())
            .replace("{component}", component)
            .replace("{parallelism}", &parallelism.to_string());
        body = match rate {
            Some(rate) => body.replace("{rate}", &rate.to_string()),
            None => body.lines().filter(|l| !l.starts_with("rate_limit")).collect::<Vec<_>>().join("\n"),
        };
        self.job.write("job.toml", body);
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        weir_run(self.job.dir.path(), args)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        spawn_weir_run(self.job.dir.path(), args)
    }

    fn checkpoints(&self) -> PathBuf {
        self.job.path("ckpt").join(format!("windows-{}", self.id))
    }

    fn outputs(&self) -> [Vec<String>; 2] {
        [output_lines(&self.job.path("out")), output_lines(&self.job.path("late"))]
    }
}

/// What the job writes when nothing fails.
fn failure_free(input: &str, component: &str) -> [Vec<String>; 2] {
    let job = WindowJob::new(input);
    job.write(component, 2, None);
    assert_success(&job.command(&[]).output().expect("run weir"));
    let outputs = job.outputs();
    assert!(!outputs[0].is_empty() && !outputs[1].is_empty(), "no windows or no late events: {outputs:?}");
    outputs
}

/// Kills after a checkpoint newer than any so far and a random moment more.
fn kill_after_a_checkpoint(job: &WindowJob, args: &[&str], random: &mut Seeded) {
    let newest = complete_checkpoints(&job.checkpoints()).last().copied().unwrap_or(0);
    let mut child = job.spawn(args);
    wait_for_checkpoints(&job.checkpoints(), newest + 1, &mut child);
    std::thread::sleep(Duration::from_millis(random.below(300)));
    kill_hard(child);
}

fn windows_survive_kill_9(component: &str) {
    let input = events(6000, 7);
    let expected = failure_free(&input, component);
    let job = WindowJob::new(&input);
    let mut random = Seeded(component.len() as u64);
    job.write(component, 2, Some(2000));
    kill_after_a_checkpoint(&job, &[], &mut random);
    for parallelism in [3, 1] {
        job.write(component, parallelism, Some(2000));
        kill_after_a_checkpoint(&job, &["--resume"], &mut random);
    }
    job.write(component, 2, None);
    assert_success(&job.command(&["--resume"]).output().expect("run weir"));
    assert_eq!(
        job.outputs(),
        expected,
        "{component}: output after kill -9 and resumes differs from a failure-free run"
    );
}

#[test]
fn rust_windows_survive_kill_9_and_rescaling_exactly() {
    windows_survive_kill_9("window-count");
}

#[test]
fn python_windows_survive_kill_9_and_rescaling_exactly() {
    windows_survive_kill_9("window-count-py");
}

/// A checkpoint taken with windows open in one language restores into the
/// other's operator, which closes them with the right counts: the state
/// (windows and timers) has one layout in every SDK.
#[test]
fn open_windows_restore_into_the_other_language() {
    let input = events(6000, 11);
    let expected = failure_free(&input, "window-count");
    assert_eq!(failure_free(&input, "window-count-py"), expected, "the two languages disagree");
    for (first, second) in [("window-count", "window-count-py"), ("window-count-py", "window-count")] {
        let job = WindowJob::new(&input);
        job.write(first, 2, Some(2000));
        kill_after_a_checkpoint(&job, &[], &mut Seeded(3));
        job.write(second, 2, None);
        assert_success(&job.command(&["--resume"]).output().expect("run weir"));
        assert_eq!(job.outputs(), expected, "{first} → {second}");
    }
}

/// Two sources into one windowed count: while the second sends nothing,
/// it is idle after `idle_timeout_ms` and no longer holds the watermark
/// back, so windows close (and their counts are committed) long before
/// the end of the input. Without it, no window could close before the end.
#[test]
fn an_idle_source_does_not_stall_the_windows() {
    let job = WindowJob::new(&events(3000, 5));
    let body = WINDOWS
        .replace("{id}", &job.id)
        .replace("{guests}", &guest_dir().display().to_string())
        .replace("{component}", "window-count")
        .replace("{parallelism}", "2")
        .replace("{rate}", "1000")
        .replace(
            "[[operators]]",
            "[[sources]]\nname = \"quiet\"\ntype = \"lines\"\nformat = \"tsv\"\npath = \"quiet.tsv\"\n\
             watermark_delay_ms = 1000\nidle_timeout_ms = 200\nrate_limit = 1\n\n[[operators]]",
        )
        .replace("key_by = true", "key_by = true\ninputs = [\"events\", \"quiet\"]");
    // The quiet source sends a first batch (its rate limit allows a burst
    // of one), then one line a second, all stamped at the very start: it
    // stays open for minutes, and holds the watermark back whenever it is
    // not idle.
    job.job.write("quiet.tsv", "1700000000000\talpha\tq\n".repeat(600));
    job.job.write("job.toml", body);
    let mut child = job.spawn(&[]);
    let started = Instant::now();
    loop {
        if !output_lines(&job.job.path("out")).is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "no window closed within 2 s of a 3 s input: the idle source holds the watermark back"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("weir ended ({status}) before any window closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_hard(child);
}

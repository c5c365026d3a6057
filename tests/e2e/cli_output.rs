//! What `weir run` prints while a job runs: a live line on a terminal,
//! plain progress lines otherwise, JSON lines with `--log-format json`.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::checkpoint_support::*;
use crate::support::*;

#[test]
fn weir_run_shows_a_live_line_on_a_terminal_and_plain_lines_otherwise() {
    let job = CheckpointedJob::new(&Shape { lines: 4000, rate: 2000, interval_ms: 200, ..Shape::default() });
    // `script` (util-linux) runs weir on a pseudo-terminal.
    let command = format!(
        "'{}' run '{}' --progress-interval 0.3",
        env!("CARGO_BIN_EXE_weir"),
        job.job.path("job.toml").display()
    );
    let output = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(job.job.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run `script` (util-linux) to give weir a terminal");
    let screen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "weir on a terminal failed:\n{screen}");
    assert!(screen.contains("\r\x1b[2K▶ "), "no live line:\n{screen:?}");
    let live: Vec<&str> = screen.split("\r\x1b[2K").filter(|s| s.starts_with("▶ ")).collect();
    assert!(live.len() >= 3, "the live line was drawn {} time(s):\n{screen:?}", live.len());
    assert!(live.iter().all(|l| l.contains(" ev/s | in ")), "{live:?}");
    assert!(live.iter().any(|l| l.contains("| checkpoint ") && l.contains(" ms, ")), "{live:?}");
    assert!(screen.contains("finished"), "{screen}");
    job.assert_exact();

    // Not a terminal: periodic log lines, no carriage returns.
    let job = CheckpointedJob::new(&Shape { lines: 3000, rate: 2000, interval_ms: 200, ..Shape::default() });
    let output = job.run(&["--progress-interval", "0.3"]);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains('\r'), "{stderr:?}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.contains(" ev/s) | tokenizer ")).collect();
    assert!(progress.len() >= 3, "{stderr}");
    assert!(progress.iter().any(|l| l.contains("| checkpoint ")), "{stderr}");
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let job = CheckpointedJob::new(&Shape { lines: 3000, rate: 3000, interval_ms: 200, ..Shape::default() });
    let output = job.run(&["--log-format", "json", "--progress-interval", "0.3"]);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let events: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}")))
        .collect();
    assert!(events.iter().all(|e| e["level"].is_string() && e["message"].is_string()), "{stderr}");
    let progress: Vec<&Value> = events.iter().filter(|e| e["message"] == "progress").collect();
    assert!(!progress.is_empty(), "{stderr}");
    assert!(progress.iter().all(|e| e["source_events"].is_u64() && e["events_per_s"].is_number()), "{stderr}");
    let end = events.last().expect("a last line");
    assert_eq!(end["message"], "job 'wordcount' finished", "{stderr}");
    assert_eq!(end["source_events"], 3000);
    assert!(end["checkpoint"].is_u64(), "{stderr}");
    assert!(
        events
            .iter()
            .any(|e| e["checkpoint"].is_u64() && e["message"].as_str().is_some_and(|m| m.contains("complete")))
    );

    // A failure is a JSON line too.
    let output = weir().args(["run", "--log-format", "json", "/no/such/job.toml"]).output().expect("run weir");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap_or_default()).expect("a JSON line");
    assert_eq!(last["level"], "ERROR");
    assert!(last["message"].as_str().is_some_and(|m| m.contains("/no/such/job.toml")), "{stderr}");
}

#[test]
fn while_a_job_restarts_the_progress_says_so_and_why() {
    let shape = Shape {
        tokenizer: "faulty",
        lines: 10,
        restart: "strategy = \"fixed-delay\"\nattempts = 1\ndelay_ms = 1500",
        ..Shape::default()
    };
    let mut input = input_lines(10, 1);
    input.push_str("PANIC\n");
    let job = CheckpointedJob::with_input(&shape, input);
    let output = job.run(&["--progress-interval", "0.2"]);
    let stderr = assert_failure(&output, &["gave up after 1 restart(s)"]);
    let line = stderr.lines().find(|l| l.contains("restarting (attempt 1, last error: ")).unwrap_or_else(|| {
        panic!("no progress line says the job is restarting:\n{stderr}");
    });
    assert!(line.contains("operator 'tokenizer'") && line.contains("trapped in process"), "{line}");
}

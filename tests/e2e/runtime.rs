//! Behaviour of a running job beyond its output: guest output reaching the
//! host log, the rate limit, cancellation by signal.

use std::time::{Duration, Instant};

use crate::support::*;

fn job_with(operator: &str, source_extra: &str, lines: usize) -> JobDir {
    let job = JobDir::new();
    let input: String = (0..lines).map(|i| format!("line {i}\n")).collect();
    job.write("input.txt", input);
    job.write(
        "job.toml",
        format!(
            r#"
            [job]
            name = "behaviour"
            batch_size = 16
            [source]
            type = "lines"
            path = "input.txt"
            {source_extra}
            [[operators]]
            name = "op"
            component = "{}"
            [sink]
            type = "files"
            path = "out"
            "#,
            guest(operator).display()
        ),
    );
    job
}

#[test]
fn guest_stdout_stderr_and_log_reach_the_host_log_tagged() {
    let job = job_with("chatty", "", 3);
    let output = job.run("job.toml");
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in ["to stdout: line 2", "to stderr: line 0", "to the log: line 1", "op[0]"] {
        assert!(stderr.contains(needle), "host log lacks {needle:?}:\n{stderr}");
    }
    // Nothing the guest printed went to the host's own stdout.
    assert!(output.stdout.is_empty(), "guest output leaked to stdout: {:?}", String::from_utf8_lossy(&output.stdout));
    let files = committed_files(&job.path("out"));
    let contents: Vec<&String> = files.values().collect();
    assert_eq!(contents, ["\tline 0\n\tline 1\n\tline 2\n"]);
}

#[test]
fn rate_limit_bounds_events_per_second() {
    // 120 events at 200/s cannot take less than ~0.5 s (one batch may go at once).
    let job = job_with("chatty", "rate_limit = 200", 120);
    let started = Instant::now();
    assert_success(&job.run("job.toml"));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(450), "120 events at 200/s took only {elapsed:?}");
}

#[test]
fn sigterm_cancels_the_job_with_exit_status_zero() {
    let job = job_with("chatty", "rate_limit = 20", 100_000);
    let child =
        weir().arg("run").arg(job.path("job.toml")).stderr(std::process::Stdio::piped()).spawn().expect("start weir");
    // Let it start and process a few events, then ask it to stop.
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(status.is_ok_and(|s| s.success()), "cannot send SIGTERM");
    let started = Instant::now();
    let output = child.wait_with_output().expect("wait for weir");
    assert!(started.elapsed() < Duration::from_secs(10), "cancellation took {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cancelled job exited with {}:\n{stderr}", output.status);
    assert!(stderr.contains("cancelled"), "{stderr}");
}

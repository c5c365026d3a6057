//! A misbehaving guest is contained: each hostile behaviour fails its job
//! with a message naming the operator, subtask and limit; the host process
//! and other jobs in the same engine keep running; a restart strategy heals
//! the job with output still exactly once.

use std::time::Duration;

use weir_host::{Engine, JobSpec, JobStatus};

use crate::checkpoint_support::*;
use crate::support::*;

/// A job: lines (with `attack` at line `attack_at`) → hostile → files.
fn hostile_job(mode: &str, extra: &str, lines: usize, attack_at: usize) -> (JobDir, Vec<String>) {
    let job = JobDir::new();
    let mut input: Vec<String> = (0..lines).map(|i| format!("line {i}")).collect();
    input.insert(attack_at, "attack".into());
    job.write("input.txt", input.join("\n") + "\n");
    job.write(
        "job.toml",
        format!(
            r#"
[job]
name = "hostile"
id = "hostile-job"
batch_size = 16

[source]
type = "lines"
path = "input.txt"

[[operators]]
name = "hostile"
component = "{}"
config = {{ mode = "{mode}" }}

[sink]
type = "files"
path = "out"

[limits]
memory_mb = 32
call_timeout_ms = 500
{extra}
"#,
            guest("hostile").display()
        ),
    );
    (job, input)
}

#[test]
fn each_hostile_guest_is_contained_with_a_clear_error() {
    let cases = [
        ("loop", vec!["limit call_timeout_ms = 500 exceeded", "interrupted"]),
        ("memory-bomb", vec!["limit memory_mb = 32 exceeded"]),
        ("panic", vec!["trapped in process", "panicking on purpose"]),
        ("stack-overflow", vec!["stack overflow"]),
        ("flood", vec!["limit memory_mb = 32 exceeded"]),
        ("filesystem", vec!["returned an error", "filesystem is closed"]),
    ];
    for (mode, needles) in cases {
        let (job, _) = hostile_job(mode, "[restart]\nstrategy = \"none\"", 10, 5);
        let output = job.run("job.toml");
        let mut all = vec!["operator 'hostile' subtask 0"];
        all.extend(needles);
        assert_failure(&output, &all);
    }
}

#[test]
fn a_component_using_sockets_cannot_connect_anywhere() {
    // A real listener on loopback: the guest is told to connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("address").to_string();
    let (job, _) = hostile_job("panic", "", 10, 5);
    let text = std::fs::read_to_string(job.path("job.toml")).expect("job file");
    job.write(
        "job.toml",
        text.replace(&guest("hostile").display().to_string(), &guest("hostile-net").display().to_string())
            .replace("config = { mode = \"panic\" }", &format!("config = {{ addr = \"{addr}\" }}")),
    );
    assert_failure(&job.run("job.toml"), &["operator 'hostile' subtask 0", "process returned an error"]);
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the guest reached the listener: {other:?}"),
    }
}

#[test]
fn a_healthy_job_runs_on_beside_hostile_ones_in_the_same_engine() {
    let engine = Engine::new().expect("engine");
    let shape = Shape { lines: 6000, rate: 4000, ..Shape::default() };
    let healthy = CheckpointedJob::new(&shape);
    let running = engine.start(JobSpec::from_file(healthy.job.path("job.toml")).expect("job")).expect("start healthy");
    for mode in ["loop", "memory-bomb", "panic", "stack-overflow", "flood", "filesystem"] {
        let (job, _) = hostile_job(mode, "[restart]\nstrategy = \"none\"", 10, 5);
        let spec = JobSpec::from_file(job.path("job.toml")).expect("hostile job");
        let result = engine.start(spec).expect("start hostile").wait();
        assert!(result.is_err(), "{mode}: the hostile job did not fail");
        assert!(!running.is_finished() || mode != "loop", "the healthy job ended early");
    }
    let report = running.wait().expect("the healthy job failed");
    assert_eq!(report.status, JobStatus::Finished);
    healthy.assert_exact();
}

#[test]
fn restarts_heal_the_job_and_output_stays_exactly_once() {
    for mode in ["panic", "memory-bomb", "loop"] {
        let extra = "\n[checkpoint]\ndir = \"ckpt\"\ninterval_ms = 30\n\n\
                     [restart]\nstrategy = \"fixed-delay\"\nattempts = 3\ndelay_ms = 20";
        let (job, input) = hostile_job(mode, extra, 4000, 2500);
        let text = std::fs::read_to_string(job.path("job.toml")).expect("job file");
        // Attack in the first two attempts only; slow enough to checkpoint first.
        let text = text
            .replace(&format!("mode = \"{mode}\""), &format!("mode = \"{mode}\", attacks = \"2\""))
            .replace("path = \"input.txt\"", "path = \"input.txt\"\nrate_limit = 8000");
        job.write("job.toml", text);
        let output = job.run("job.toml");
        assert_success(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("restart 1") && stderr.contains("restart 2"), "{mode}:\n{stderr}");
        assert!(stderr.contains("after 2 restart(s)"), "{mode}:\n{stderr}");
        assert!(stderr.contains("restoring from checkpoint"), "{mode}: restarts did not restore:\n{stderr}");
        let mut expected: Vec<String> = input.iter().map(|line| format!("\t{line}")).collect();
        expected.sort();
        assert_eq!(output_lines(&job.path("out")), expected, "{mode}: output is not exactly once");
    }
}

#[test]
fn when_the_strategy_gives_up_the_job_fails_with_the_cause() {
    let extra = "\n[checkpoint]\ndir = \"ckpt\"\ninterval_ms = 30\nretention = \"retain-on-cancellation\"\n\n\
                 [restart]\nstrategy = \"fixed-delay\"\nattempts = 2\ndelay_ms = 10";
    let (job, _) = hostile_job("panic", extra, 3000, 2000);
    let text = std::fs::read_to_string(job.path("job.toml")).expect("job file");
    job.write("job.toml", text.replace("path = \"input.txt\"", "path = \"input.txt\"\nrate_limit = 8000"));
    let output = job.run("job.toml");
    assert_failure(&output, &["gave up after 2 restart(s)", "operator 'hostile' subtask 0", "panicking on purpose"]);
    // retain-on-cancellation keeps checkpoints of a failed job.
    assert!(!complete_checkpoints(&job.path("ckpt/hostile-job")).is_empty(), "the failed job kept no checkpoint");
    let _ = Duration::ZERO;
}

#[test]
fn fuel_emit_and_hostcall_limits_name_themselves() {
    // Fuel: a deterministic cut-off, long before the (raised) deadline.
    let (job, _) = hostile_job("loop", "fuel = 5000000\n\n[restart]\nstrategy = \"none\"", 10, 5);
    assert_failure(&job.run("job.toml"), &["operator 'hostile' subtask 0", "limit fuel = 5000000 exceeded"]);

    // Emit caps: a tokenizer turning one line into 50 events.
    let job = JobDir::new();
    job.write("input.txt", (0..50).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ") + "\n");
    let emit_job = |limits: &str| {
        format!(
            "[job]\nname = \"emit\"\n[source]\ntype = \"lines\"\npath = \"input.txt\"\n\
             [[operators]]\nname = \"tokenizer\"\ncomponent = \"{}\"\nlimits = {{ {limits} }}\n\
             [sink]\ntype = \"discard\"\n",
            guest("tokenizer").display()
        )
    };
    job.write("events.toml", emit_job("max_emit_events = 10"));
    assert_failure(&job.run("events.toml"), &["limit max_emit_events = 10 exceeded", "emitted 50 events"]);
    job.write("bytes.toml", emit_job("max_emit_bytes = 100"));
    assert_failure(&job.run("bytes.toml"), &["limit max_emit_bytes = 100 exceeded"]);
    job.write("fine.toml", emit_job("max_emit_events = 50"));
    assert_success(&job.run("fine.toml"));

    // Hostcall bytes: the chatty guest's log line is longer than allowed.
    let job = JobDir::new();
    job.write("input.txt", format!("{}\n", "x".repeat(1000)));
    job.write(
        "job.toml",
        format!(
            "[job]\nname = \"chatty\"\n[source]\ntype = \"lines\"\npath = \"input.txt\"\n\
             [[operators]]\nname = \"chatty\"\ncomponent = \"{}\"\nlimits = {{ max_hostcall_bytes = 256 }}\n\
             [sink]\ntype = \"discard\"\n",
            guest("chatty").display()
        ),
    );
    assert_failure(&job.run("job.toml"), &["operator 'chatty' subtask 0", "limit max_hostcall_bytes = 256 exceeded"]);
}

//! The checkpoint coordinator's rules: manual triggers through the library
//! API, timeouts, tolerable failures, and restoring into a changed operator.

use std::time::Duration;

use weir_host::checkpoint::storage::CheckpointStorage;
use weir_host::{
    CheckpointConfig, Engine, JobSpec, JobStatus, LineFormat, OperatorSpec, Retention, SinkSpec, SourceSpec,
};

use crate::checkpoint_support::*;
use crate::support::*;

#[test]
fn manual_triggers_through_the_library_api() {
    let job = JobDir::new();
    job.write("input.txt", input_lines(50_000, 3));
    let mut config = CheckpointConfig::new("memory://manual-trigger", Duration::from_secs(3600));
    config.retention = Retention::RetainOnCancellation;
    config.num_retained = 2;
    let spec = JobSpec::new(
        "manual",
        SourceSpec::Lines { path: job.path("input.txt"), rate_limit: Some(5000), format: LineFormat::Plain },
        SinkSpec::files(job.path("out")),
    )
    .operator(OperatorSpec::new("tokenizer", guest("tokenizer")))
    .operator(OperatorSpec::new("counter", guest("counter")).parallelism(2).key_by(true))
    .checkpoint(config);
    let mut spec = spec;
    spec.id = Some("manual-job".into());

    let engine = Engine::new().expect("engine");
    let running = engine.start(spec).expect("start");
    // The interval is an hour: only the manual triggers take checkpoints.
    assert_eq!(running.trigger_checkpoint().expect("first checkpoint"), 1);
    assert_eq!(running.trigger_checkpoint().expect("second checkpoint"), 2);
    assert_eq!(running.trigger_checkpoint().expect("third checkpoint"), 3);
    running.cancel();
    let report = running.wait().expect("wait");
    assert_eq!(report.status, JobStatus::Cancelled);

    // Retained on cancellation, two of them: 2 and 3.
    let storage = CheckpointStorage::open("memory://manual-trigger", std::path::Path::new("/")).expect("storage");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let listed = runtime.block_on(storage.list_checkpoints("manual-job")).expect("list");
    assert_eq!(listed, [(2, true), (3, true)]);
}

#[test]
fn a_checkpoint_that_times_out_is_aborted_and_removed() {
    // Every subtask's state goes to a data file: aborting must remove files.
    let shape = Shape { lines: 100_000, interval_ms: 20, inline_threshold_bytes: 0, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    // Nearly nothing completes within a millisecond; a thousand failures
    // are tolerated.
    let text = std::fs::read_to_string(job.job.path("job.toml")).expect("job file");
    job.job.write("job.toml", text.replace("[checkpoint]", "[checkpoint]\ntimeout_ms = 1\ntolerable_failed = 1000"));
    let child = job.spawn(&[]);
    std::thread::sleep(Duration::from_millis(800));
    let output = cancel(child);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("aborted: timed out"), "{stderr}");
    // A checkpoint that did complete within the millisecond is kept
    // (retain-on-cancellation); every aborted one is gone, files and all.
    let mut aborted = Vec::new();
    for entry in std::fs::read_dir(job.checkpoint_dir()).into_iter().flatten().flatten() {
        if !entry.path().join("_metadata").exists() {
            let files: Vec<_> =
                std::fs::read_dir(entry.path()).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
            aborted.push((entry.file_name(), files));
        }
    }
    assert!(aborted.is_empty(), "aborted checkpoints left behind: {aborted:?}");
}

#[test]
fn more_failed_checkpoints_than_tolerated_fail_the_job() {
    let shape = Shape { lines: 100_000, interval_ms: 20, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let text = std::fs::read_to_string(job.job.path("job.toml")).expect("job file");
    job.job.write("job.toml", text.replace("[checkpoint]", "[checkpoint]\ntolerable_failed = 2"));
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 1, &mut child);
    // Storage breaks: the job's directory becomes a regular file, so every
    // later checkpoint write fails, deterministically.
    std::fs::remove_dir_all(job.checkpoint_dir()).expect("remove the job directory");
    std::fs::write(job.checkpoint_dir(), "not a directory").expect("block it");
    let output = child.wait_with_output().expect("wait for weir");
    assert_failure(&output, &["3 checkpoint(s) failed in a row", "tolerable_failed = 2", "Not a directory"]);
}

#[test]
fn restoring_into_a_changed_component_is_allowed_and_logged() {
    let shape = Shape { lines: 100_000, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 1, &mut child);
    assert_success(&cancel(child));
    // The faulty tokenizer is a different component with the same behaviour
    // on this input (it has no PANIC).
    job.write_job(&Shape { tokenizer: "faulty", rate: 1_000_000, ..shape });
    let output = job.run(&["--resume"]);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("operator 'tokenizer': the component changed"), "{stderr}");
    job.assert_exact();
}

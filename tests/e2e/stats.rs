//! Checkpoint statistics: kept in memory for the running job, written into
//! `_metadata`, and still there for a new host that resumes the job.

use weir_host::checkpoint::stats::CheckpointStatus;
use weir_host::{Engine, JobSpec, JobStatus, StartFrom, StartOptions};

use crate::checkpoint_support::*;
use crate::support::*;

#[test]
fn statistics_are_kept_in_memory_and_in_metadata_and_survive_a_new_host() {
    let shape = Shape { lines: 30_000, rate: 20_000, interval_ms: 100, inline_threshold_bytes: 0, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let running = Engine::new()
        .expect("engine")
        .start(JobSpec::from_file(job.job.path("job.toml")).expect("job"))
        .expect("start");
    // Once the counters hold state, so that their part of the checkpoint is
    // a data file.
    let started = std::time::Instant::now();
    while running.metrics().operators.get(1).is_none_or(|counter| counter.events_in < 1000) {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the counters got no events");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let triggered = running.trigger_checkpoint().expect("a checkpoint on demand");
    let stats = running.checkpoint_stats();
    running.cancel();
    assert_eq!(running.wait().expect("job").status, JobStatus::Cancelled);

    assert!(stats.completed >= 1, "{stats:?}");
    let checkpoint = stats.get(triggered).expect("the triggered checkpoint is in the history");
    assert_eq!(checkpoint.status, CheckpointStatus::Completed);
    assert!(checkpoint.end_to_end_us.is_some_and(|us| us > 0));
    // Two tokenizers and two counters acknowledged; the counters hold state
    // in a data file each.
    assert_eq!(checkpoint.subtasks.len(), 4, "{checkpoint:?}");
    let counters: Vec<_> = checkpoint.subtasks.iter().filter(|s| s.operator == "counter").collect();
    assert_eq!(counters.len(), 2);
    for counter in counters {
        assert!(counter.state_bytes > 0 && counter.checkpointed_bytes > 0, "{counter:?}");
        assert_eq!(counter.files_written, 1);
        assert!(counter.end_to_end_us >= counter.async_us, "{counter:?}");
    }
    assert_eq!(checkpoint.state_bytes, checkpoint.subtasks.iter().map(|s| s.state_bytes).sum::<u64>());

    // In _metadata, as `inspect` shows it.
    let retained = *complete_checkpoints(&job.checkpoint_dir()).last().expect("a retained checkpoint");
    let inspect = weir()
        .args(["checkpoints", "inspect"])
        .arg(job.checkpoint_dir().join(format!("chk-{retained}")))
        .output()
        .expect("inspect");
    assert_success(&inspect);
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("JSON");
    assert_eq!(json["stats"]["id"], retained);
    assert_eq!(json["stats"]["status"], "Completed");
    assert_eq!(json["stats"]["subtasks"].as_array().map(Vec::len), Some(4));

    // A new engine (a restarted host) resuming the job shows the history of
    // the checkpoints on disk before it takes any of its own.
    let mut spec = JobSpec::from_file(job.job.path("job.toml")).expect("job");
    spec.checkpoint.as_mut().expect("checkpoint config").interval = std::time::Duration::from_secs(3600);
    let options = StartOptions { from: StartFrom::Resume, ..Default::default() };
    let resumed = Engine::new().expect("engine").start_with(spec, options).expect("resume");
    let mut history = resumed.checkpoint_stats();
    for _ in 0..200 {
        if history.get(retained).is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        history = resumed.checkpoint_stats();
    }
    resumed.cancel();
    let _ = resumed.wait();
    let old = history.get(retained).expect("the retained checkpoint's statistics after a restart of the host");
    assert_eq!(old.status, CheckpointStatus::Completed);
    assert_eq!(old.subtasks.len(), 4);
}

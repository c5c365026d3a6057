//! Conformance across languages: the word count with the counter written in
//! Python (componentize-py), JavaScript (componentize-js) and C (no SDK,
//! from the specs alone) gives
//! output identical to the Rust run, survives kill -9 and resume, and a
//! checkpoint written by one language's counter restores into another's.
//!
//! Python and JavaScript components take seconds to compile; the
//! compiled-component cache makes that once per machine, not once per run.

use crate::checkpoint_support::*;
use crate::support::*;

/// The counters in other languages, by component name.
const COUNTERS: &[&str] = &["counter-py", "counter-js", "counter-c"];

fn shape(counter: &'static str) -> Shape {
    warm_compiled_cache();
    Shape { counter, lines: 8000, rate: 8000, interval_ms: 50, ..Shape::default() }
}

/// Compiles the other languages' components into the on-disk cache the
/// `weir` processes use, once per test run and before any of them starts:
/// otherwise several tests would each compile an 18 MB Python component at
/// the same time while waiting for checkpoints.
fn warm_compiled_cache() {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        use weir_host::guest::cache::ComponentCache;
        use weir_host::guest::{GuestRuntime, LoadedComponent};
        let dir = ComponentCache::default_dir().expect("a cache directory");
        // The weir binary's engine settings: no fuel, pooling.
        let runtime = GuestRuntime::new(false, true).expect("runtime").with_cache(ComponentCache::new(dir));
        for &counter in COUNTERS {
            LoadedComponent::load(&runtime, counter, &guest(counter)).expect("compile");
        }
    });
}

/// Runs `job` until it has a checkpoint, then kills it hard.
fn run_until_checkpoint_then_kill(job: &CheckpointedJob, args: &[&str]) {
    let mut child = job.spawn(args);
    let newest = complete_checkpoints(&job.checkpoint_dir()).last().copied().unwrap_or(0);
    wait_for_checkpoints(&job.checkpoint_dir(), newest + 2, &mut child);
    kill_hard(child);
}

#[test]
fn each_language_counts_exactly_through_a_crash_and_resume() {
    for &counter in COUNTERS {
        let job = CheckpointedJob::new(&shape(counter));
        run_until_checkpoint_then_kill(&job, &[]);
        let output = job.run(&["--resume"]);
        assert_success(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("restoring from checkpoint"), "{counter}: did not restore:\n{stderr}");
        job.assert_exact();
    }
}

#[test]
fn a_checkpoint_restores_across_languages_both_ways() {
    for &other in COUNTERS {
        for (from, to) in [("counter", other), (other, "counter")] {
            let job = CheckpointedJob::new(&shape(from));
            run_until_checkpoint_then_kill(&job, &[]);
            // The same job, its counter now in the other language.
            job.write_job(&Shape { rate: 1_000_000, interval_ms: 60_000, ..shape(to) });
            let output = job.run(&["--resume"]);
            assert_success(&output);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("restoring from checkpoint"), "{from} -> {to}: did not restore:\n{stderr}");
            job.assert_exact();
        }
    }
}

/// The Python counter with incremental checkpoints: its deltas restore into
/// the Rust counter.
#[test]
fn incremental_checkpoints_of_a_python_counter_restore_into_rust() {
    let incremental = Shape { checkpoint_extra: "incremental = true\nfull_every = 20", ..shape("counter-py") };
    let job = CheckpointedJob::new(&incremental);
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 6, &mut child);
    kill_hard(child);
    job.write_job(&Shape { rate: 1_000_000, interval_ms: 60_000, ..shape("counter") });
    assert_success(&job.run(&["--resume"]));
    job.assert_exact();
}

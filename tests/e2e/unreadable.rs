//! "Could not ask" is not "absent": checkpoint storage that fails a HEAD, a
//! GET or a LIST (through the fault-injecting store of `faulty_store.rs`) stops
//! garbage collection, `--resume` and shared-file release before they
//! delete or skip anything; and a restart whose preparation fails goes
//! through the restart strategy like any failure, falling back past a
//! damaged checkpoint.

use std::time::Duration;

use weir_host::checkpoint::lifecycle::collect_garbage;
use weir_host::checkpoint::storage::CheckpointStorage;
use weir_host::{JobStatus, RestartStrategy, RestoreMode, Retention, StartFrom, StartOptions};

use crate::checkpoint_support::*;
use crate::faulty_store::{FaultyJob, Op, cancel_and_wait};

/// A job of `name` cancelled after two complete checkpoints (kept:
/// retain-on-cancellation); returns it and their ids.
fn job_with_two_checkpoints(name: &str, incremental: bool) -> (FaultyJob, u64, u64) {
    let job = FaultyJob::new(name);
    let mut config = job.config();
    config.incremental = incremental;
    let running = job.start(config);
    let first = running.trigger_checkpoint().expect("checkpoint 1");
    let second = running.trigger_checkpoint().expect("checkpoint 2");
    cancel_and_wait(running);
    for id in [first, second] {
        // (Incremental checkpoints keep their data files in `shared/`.)
        assert!(job.names(id).iter().any(|n| n == "_metadata"), "checkpoint {id} is not complete");
    }
    (job, first, second)
}

fn storage(job: &FaultyJob) -> CheckpointStorage {
    CheckpointStorage::open(&format!("memory://{}", job.name), std::path::Path::new("/")).expect("open storage")
}

#[test]
fn gc_deletes_nothing_when_storage_cannot_be_asked() {
    let (job, first, second) = job_with_two_checkpoints("unreadable-gc", false);
    let name = job.name.clone();
    // Garbage beside them: an aborted checkpoint and an unreferenced file.
    job.put(&format!("{name}/chk-99/op1-0.state"), b"partial");
    job.put(&format!("{name}/chk-{second}/stray.state"), b"stray");
    let before = job.all_objects();
    let storage = storage(&job);

    let faults = [
        (Op::Head, format!("chk-{second}/_metadata")),
        (Op::Get, format!("chk-{first}/_metadata")),
        (Op::ListWithDelimiter, name.clone()),
        (Op::List, "chk-99".to_owned()),
        (Op::Get, "_lease".to_owned()),
    ];
    for (op, path) in &faults {
        job.faults.clear();
        job.faults.fail(*op, path);
        let error = job
            .runtime
            .block_on(collect_garbage(&storage, None, false))
            .expect_err(&format!("gc must stop when {op:?} of {path} fails"))
            .to_string();
        assert!(error.contains("injected") && error.contains(path.as_str()), "{op:?} {path}: {error}");
        assert!(job.all_objects() == before, "gc deleted something although {op:?} of {path} failed");
    }

    job.faults.clear();
    let report = job.runtime.block_on(collect_garbage(&storage, None, false)).expect("gc");
    let removed: Vec<&str> = report.removed.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(removed.iter().any(|r| r.ends_with("/chk-99")) && removed.iter().any(|r| r.ends_with("/stray.state")));
    assert!(job.names(99).is_empty());
    job.assert_complete(first);
    job.assert_complete(second);
    job.assert_restores_exactly(second);
}

#[test]
fn resume_stops_instead_of_falling_back_when_a_checkpoint_cannot_be_read() {
    let (job, first, second) = job_with_two_checkpoints("unreadable-resume", false);
    let before = job.all_objects();
    let resume = StartOptions { from: StartFrom::Resume, ..StartOptions::default() };
    for (op, path) in [
        (Op::Head, format!("chk-{second}/_metadata")),
        (Op::Get, format!("chk-{second}/_metadata")),
        (Op::Head, format!("chk-{second}/op")),
        (Op::ListWithDelimiter, job.name.clone()),
    ] {
        job.faults.clear();
        job.faults.fail(op, &path);
        let error = job
            .engine
            .start_with(job.spec(None, Some(job.config())), resume.clone())
            .err()
            .unwrap_or_else(|| panic!("--resume must fail when {op:?} of {path} fails"))
            .to_string();
        assert!(error.contains("injected") && error.contains(path.as_str()), "{op:?} {path}: {error}");
        assert!(job.all_objects() == before, "a refused resume changed the checkpoints ({op:?} {path})");
    }

    // Healed, the job resumes from its newest checkpoint, not the one before.
    job.faults.clear();
    let running = job.engine.start_with(job.spec(None, Some(job.config())), resume).expect("resume");
    let report = running.wait().expect("resumed job");
    assert_eq!(report.status, JobStatus::Finished);
    let got = output_lines(&job.job.path("out"));
    assert!(got == expected_output(&job.input), "the resumed output is not exact");
    assert!(job.names(first).is_empty() && job.names(second).is_empty(), "a finished job keeps no checkpoint");
}

/// Incremental checkpoints 1 and 2 share files (2 builds on 1). A second
/// run claims checkpoint 1 and subsumes it; while it loads the job's shared
/// file references, the HEAD of checkpoint 2's `_metadata` fails. Taking 2
/// for aborted would free the files it shares with 1 when 1 is subsumed:
/// instead nothing shared is deleted, and checkpoint 2 still restores.
#[test]
fn shared_files_of_a_checkpoint_that_could_not_be_asked_about_are_kept() {
    let (job, first, second) = job_with_two_checkpoints("unreadable-shared", true);
    let mut config = job.config();
    config.incremental = true;
    config.num_retained = 1;
    config.retention = Retention::NoExternalized;
    // The first HEAD of it (choosing the next checkpoint id) goes through;
    // the second (loading the shared file references) fails.
    job.faults.fail_after(Op::Head, &format!("chk-{second}/_metadata"), 1);
    let claim = StartOptions {
        from: StartFrom::Checkpoint {
            path: format!("memory://{}/{}/chk-{first}", job.name, job.name),
            mode: RestoreMode::Claim,
        },
        ..StartOptions::default()
    };
    let running = job.engine.start_with(job.spec(Some(4000), Some(config)), claim).expect("claim checkpoint 1");
    let own = running.trigger_checkpoint().expect("a checkpoint of the second run");
    let own2 = running.trigger_checkpoint().expect("another checkpoint of the second run");
    assert!(own > second && own2 > own);
    assert!(job.faults.injected(Op::Head) >= 1, "the fault never hit the registry's HEAD");
    // Checkpoint 1 (claimed) was subsumed by the run's own.
    crate::faulty_store::wait_for("subsumption of checkpoint 1", || job.names(first).is_empty());
    cancel_and_wait(running);

    job.faults.clear();
    job.assert_restores_exactly(second);
}

/// A job that restarts after each failure, `attempts` times, 20 ms apart.
fn restarting(job: &FaultyJob, rate: u64, config: weir_host::CheckpointConfig, attempts: u32) -> weir_host::JobSpec {
    let mut spec = job.spec(Some(rate), Some(config));
    spec.restart = Some(RestartStrategy::FixedDelay { attempts, delay: Duration::from_millis(20) });
    spec
}

#[test]
fn a_restart_that_cannot_be_prepared_goes_through_the_restart_strategy() {
    let job = FaultyJob::new("unreadable-restart");
    let mut config = job.config();
    config.tolerable_failed = 0;
    config.retention = Retention::DeleteOnCancellation;
    let running = job.engine.start(restarting(&job, 4000, config, 3)).expect("start");
    crate::faulty_store::wait_for("input read", || running.metrics().source_events >= 1000);
    let first = running.trigger_checkpoint().expect("checkpoint 1");
    let kept = job.objects(first);

    // The next checkpoint fails the job; every restart then fails to read
    // the restore point.
    job.faults.fail(Op::Get, &format!("chk-{first}/_metadata"));
    job.faults.fail(Op::Put, ".state");
    let _ = running.trigger_checkpoint();
    let error = running.wait().expect_err("the job must give up").to_string();
    assert!(error.contains("gave up after 3 restart(s)"), "{error}");
    assert!(error.contains("injected Get failure") && error.contains(&format!("chk-{first}/_metadata")), "{error}");
    // "Fails" retention of delete-on-cancellation: kept.
    job.faults.clear();
    assert!(job.objects(first) == kept, "checkpoint {first} changed although the job failed");
    job.assert_restores_exactly(first);
}

#[test]
fn a_restart_falls_back_past_a_damaged_newest_checkpoint() {
    let job = FaultyJob::new("unreadable-fallback");
    let mut config = job.config();
    config.tolerable_failed = 0;
    let running = job.engine.start(restarting(&job, 20_000, config, 1)).expect("start");
    crate::faulty_store::wait_for("input read", || running.metrics().source_events >= 1000);
    let older = running.trigger_checkpoint().expect("checkpoint 1");
    let newest = running.trigger_checkpoint().expect("checkpoint 2");

    // Damage the newest checkpoint's data file, then fail the attempt.
    let (path, _, _, mut bytes) = job
        .objects(newest)
        .into_iter()
        .find(|(path, ..)| path.ends_with(".state"))
        .expect("a data file in the newest checkpoint");
    bytes[0] ^= 0xff;
    job.put(&path, &bytes);
    job.faults.fail(Op::Put, ".state");
    let _ = running.trigger_checkpoint();
    crate::faulty_store::wait_for("the restart", || running.restarts() == 1);
    job.faults.clear();

    let report = running.wait().expect("the restarted job");
    assert_eq!(report.status, JobStatus::Finished);
    assert_eq!(report.restarts, 1);
    let got = output_lines(&job.job.path("out"));
    let expected = expected_output(&job.input);
    assert_eq!(got.len(), expected.len(), "duplicates or losses after falling back to checkpoint {older}");
    assert!(got == expected, "the output after falling back to checkpoint {older} is not exact");
}

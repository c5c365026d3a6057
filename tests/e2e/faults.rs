//! Storage faults while writing checkpoints, through the fault-injecting
//! store of `faulty_store.rs`, and what the coordinator makes of them. An
//! aborted checkpoint leaves nothing behind and never touches a complete
//! one; failures beyond `tolerable_failed` fail the job; a failed cleanup of
//! an old checkpoint is only a warning, retried later.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::faulty_store::*;

#[test]
fn a_failed_data_file_upload_aborts_that_checkpoint_only() {
    let job = FaultyJob::new("faults-data-put");
    let running = job.start(job.config());
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 1"), 1);
    job.assert_complete(1);
    // Its data files and `_metadata` went through the faulty store.
    assert!(job.faults.calls(Op::Put) >= 2, "the job did not write through the faulty store");
    let first = job.objects(1);

    job.faults.fail(Op::Put, ".state");
    let error = running.trigger_checkpoint().expect_err("checkpoint 2 must fail").to_string();
    assert!(error.contains("checkpoint 2 aborted") && error.contains("injected Put failure"), "{error}");
    assert!(job.faults.injected(Op::Put) >= 1);
    // While every data upload fails, nothing of checkpoint 2 can exist.
    assert_eq!(job.names(2), Vec::<String>::new());
    assert!(job.objects(1) == first, "checkpoint 1 changed");

    job.faults.clear();
    // Ids go on after the aborted one; one failure in a row is tolerated.
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 3"), 3);
    job.assert_complete(3);
    assert!(job.objects(1) == first, "checkpoint 1 changed");
    cancel_and_wait(running);

    assert_eq!(job.checkpoints(), BTreeMap::from([(1, true), (3, true)]));
    job.assert_restores_exactly(3);
}

#[test]
fn a_failed_metadata_write_aborts_the_checkpoint_and_leaves_no_metadata() {
    let job = FaultyJob::new("faults-metadata-put");
    let running = job.start(job.config());
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 1"), 1);
    let first = job.objects(1);

    job.faults.fail(Op::Put, "_metadata");
    let error = running.trigger_checkpoint().expect_err("checkpoint 2 must fail").to_string();
    assert!(error.contains("checkpoint 2 aborted") && error.contains("_metadata"), "{error}");
    assert_eq!(job.faults.injected(Op::Put), 1);
    // Its data files were written, then removed with the checkpoint.
    assert!(!job.faults.written("/chk-2/").is_empty(), "checkpoint 2 wrote no data file");
    assert_eq!(job.names(2), Vec::<String>::new());
    assert!(job.objects(1) == first, "checkpoint 1 changed");

    job.faults.clear();
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 3"), 3);
    job.assert_complete(3);
    cancel_and_wait(running);
    assert_eq!(job.checkpoints(), BTreeMap::from([(1, true), (3, true)]));
}

#[test]
fn an_upload_slower_than_the_timeout_aborts_the_checkpoint_and_its_late_file_is_removed() {
    let job = FaultyJob::new("faults-slow-put");
    let mut config = job.config();
    // Generous: checkpoints 1 and 3 must finish in time even on a loaded
    // machine running the whole suite.
    config.timeout = Duration::from_secs(2);
    let delay = Duration::from_secs(5);
    let running = job.start(config);
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 1"), 1);

    job.faults.delay(Op::Put, "/chk-2/", delay);
    let triggered = Instant::now();
    let error = running.trigger_checkpoint().expect_err("checkpoint 2 must time out").to_string();
    assert!(error.contains("checkpoint 2 aborted: timed out"), "{error}");
    assert!(triggered.elapsed() < delay, "aborted only after {:?}", triggered.elapsed());
    job.faults.clear();

    // The delayed uploads land after the abort; the coordinator removes
    // what their late acknowledgements report.
    wait_for("landing of the delayed uploads", || {
        job.faults.in_flight(Op::Put) == 0 && !job.faults.written("/chk-2/").is_empty()
    });
    job.wait_until_gone(2);

    assert_eq!(running.trigger_checkpoint().expect("checkpoint 3"), 3);
    job.assert_complete(3);
    cancel_and_wait(running);
    assert_eq!(job.checkpoints(), BTreeMap::from([(1, true), (3, true)]));
}

#[test]
fn more_failed_uploads_than_tolerated_fail_the_job() {
    let job = FaultyJob::new("faults-intolerable");
    let mut config = job.config();
    config.tolerable_failed = 0;
    let running = job.start(config);
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 1"), 1);

    job.faults.fail(Op::Put, ".state");
    let error = running.trigger_checkpoint().expect_err("checkpoint 2 must fail").to_string();
    assert!(error.contains("checkpoint 2 aborted"), "{error}");
    let error = running.wait().expect_err("the job must fail").to_string();
    assert!(error.contains("1 checkpoint(s) failed in a row"), "{error}");
    assert!(error.contains("tolerable_failed = 0") && error.contains("injected Put failure"), "{error}");
    assert_eq!(job.names(2), Vec::<String>::new());
}

#[test]
fn failed_cleanup_of_subsumed_checkpoints_spares_the_job_and_the_newest_checkpoint() {
    let job = FaultyJob::new("faults-subsume");
    let mut config = job.config();
    config.num_retained = 1;
    config.tolerable_failed = 0;
    let running = job.start(config);
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 1"), 1);

    // Checkpoint 2 subsumes 1, whose deletion fails from its first step.
    job.faults.fail(Op::Delete, "");
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 2"), 2);
    // The trigger returns once the checkpoint is complete; subsumption
    // comes after.
    wait_for("a deletion of checkpoint 1", || job.faults.injected(Op::Delete) >= 1);
    job.assert_complete(2);

    // Checkpoint 3 subsumes 2: its `_metadata` goes, listing its files fails.
    job.faults.clear();
    job.faults.fail(Op::List, "/chk-");
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 3"), 3);
    wait_for("a listing of checkpoint 2", || job.faults.injected(Op::List) >= 1);
    job.assert_complete(3);

    // Once storage heals, the next completion retries every cleanup that
    // failed: nothing is leaked beyond num_retained, no debris stays.
    job.faults.clear();
    assert_eq!(running.trigger_checkpoint().expect("checkpoint 4"), 4);
    wait_for("the retried cleanups", || job.checkpoints().len() == 1);
    let newest = job.objects(4);
    cancel_and_wait(running);
    assert_eq!(job.checkpoints(), BTreeMap::from([(4, true)]));
    assert!(job.objects(4) == newest, "checkpoint 4 changed");
    job.assert_restores_exactly(4);
}

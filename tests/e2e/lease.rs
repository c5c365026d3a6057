//! One writer per job: a second host refuses to run a job another one runs,
//! naming the owner; a host that loses its lease stops.

use std::time::Duration;

use crate::checkpoint_support::*;
use crate::support::*;

#[test]
fn a_second_run_of_the_same_job_is_refused_naming_the_owner() {
    let shape = Shape { lines: 100_000, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let mut first = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 1, &mut first);
    let lease = job.checkpoint_dir().join("_lease");
    assert!(lease.exists(), "no lease while the job runs");

    let second = job.run(&["--resume"]);
    assert_failure(&second, &["already running on", &format!("pid {}", first.id()), "_lease"]);

    // gc leaves a running job alone, even its debris.
    let debris = job.checkpoint_dir().join("chk-999");
    std::fs::create_dir_all(&debris).expect("mkdir");
    std::fs::write(debris.join("op0-0.state"), b"x").expect("write");
    let gc = weir().args(["checkpoints", "gc"]).arg(job.job.path("ckpt")).output().expect("gc");
    assert_success(&gc);
    assert!(String::from_utf8_lossy(&gc.stdout).contains("skipping job wc-test: it is running"));
    assert!(debris.exists(), "gc touched a running job");
    std::fs::remove_dir_all(&debris).expect("clean up");

    assert_success(&cancel(first));
    assert!(!lease.exists(), "the lease outlived its job");
    // Now free: the job resumes.
    job.write_job(&Shape { rate: 1_000_000, ..shape });
    assert_success(&job.run(&["--resume"]));
    job.assert_exact();
}

#[test]
fn a_host_that_loses_its_lease_stops_writing() {
    let shape = Shape { lines: 100_000, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let text = std::fs::read_to_string(job.job.path("job.toml")).expect("job file");
    job.job.write("job.toml", text.replace("[checkpoint]", "[checkpoint]\nlease_ttl_ms = 600"));
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 1, &mut child);
    // Another host takes over (as it would after our lease expired).
    let usurper =
        r#"{"host":"elsewhere","pid":1,"process_start":null,"token":"theirs","expires_at_ms":99999999999999}"#;
    std::fs::write(job.checkpoint_dir().join("_lease"), usurper).expect("write lease");
    let started = std::time::Instant::now();
    let output = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(10), "kept running for {:?}", started.elapsed());
    assert_failure(&output, &["lost the job's lease to elsewhere (pid 1)"]);
    // Its lease is not ours to delete.
    assert!(std::fs::read_to_string(job.checkpoint_dir().join("_lease")).expect("lease").contains("elsewhere"));
}

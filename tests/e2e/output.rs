//! The `files` sink's committed output across runs: named in commit order,
//! exact after restoring an older checkpoint (what was committed after it
//! is moved aside), refused to a fresh run when another run's output is
//! there, and restored from a checkpoint copied under any name.

use std::path::{Path, PathBuf};

use crate::checkpoint_support::*;
use crate::support::*;

/// Runs a slow job until `count` checkpoints exist, then cancels it
/// (retain-on-cancellation keeps them); the job file is then rewritten to
/// read the rest of its input at full speed.
fn cancelled_job(shape: &Shape, count: u64) -> CheckpointedJob {
    let job = CheckpointedJob::new(shape);
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), count, &mut child);
    assert_success(&cancel(child));
    job.write_job(&Shape { rate: 1_000_000, ..shape.clone() });
    job
}

/// The names of the committed files, sorted as `ls` sorts them.
fn committed_names(out: &Path) -> Vec<String> {
    committed_files(out).into_keys().collect()
}

/// `part-<checkpoint>-<subtask>` → (checkpoint, subtask).
fn parse_part(name: &str) -> (u64, u32) {
    let rest = name.strip_prefix("part-").unwrap_or_else(|| panic!("{name} is not a part file"));
    let (checkpoint, subtask) = rest.split_once('-').unwrap_or_else(|| panic!("{name} is not a part file"));
    assert_eq!((checkpoint.len(), subtask.len()), (10, 5), "{name} is not zero-padded");
    (checkpoint.parse().expect("checkpoint id"), subtask.parse().expect("subtask"))
}

#[test]
fn committed_files_sort_in_commit_order_across_resumes() {
    let shape = Shape { lines: 20_000, rate: 8000, num_retained: 1, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 3, &mut child);
    kill_hard(child);
    let before = committed_names(&job.out_dir());
    let newest = *complete_checkpoints(&job.checkpoint_dir()).last().expect("a checkpoint");
    assert!(!before.is_empty(), "nothing was committed before the kill");
    assert!(before.iter().all(|name| parse_part(name).0 <= newest), "{before:?} after checkpoint {newest}");

    let output = job.run(&["--resume"]);
    assert_success(&output);
    job.assert_exact();
    let after = committed_names(&job.out_dir());
    // The first run's files are still there under their names, and the
    // resumed run's sort after them: checkpoint ids went on.
    assert!(after.starts_with(&before), "{before:?} is not a prefix of {after:?}");
    // (The restore itself may commit what checkpoint `newest` staged.)
    let resumed: Vec<u64> = after[before.len()..].iter().map(|name| parse_part(name).0).collect();
    assert!(resumed.iter().all(|&id| id >= newest), "resumed files {resumed:?} before checkpoint {newest}");
    assert!(resumed.iter().any(|&id| id > newest), "the resumed run committed nothing after {newest}");
    let ids: Vec<(u64, u32)> = after.iter().map(|name| parse_part(name)).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "names do not sort by (checkpoint, subtask): {after:?}");
}

#[test]
fn restoring_an_older_checkpoint_of_the_same_job_rolls_back_later_output() {
    let shape = Shape { lines: 100_000, num_retained: 3, ..Shape::default() };
    let job = cancelled_job(&shape, 3);
    let oldest = *complete_checkpoints(&job.checkpoint_dir()).first().expect("a checkpoint");
    let later: Vec<String> =
        committed_names(&job.out_dir()).into_iter().filter(|name| parse_part(name).0 > oldest).collect();
    assert!(!later.is_empty(), "no output committed after checkpoint {oldest}");

    let output = job.run(&["-s", &format!("ckpt/{}/chk-{oldest}", job.job_id)]);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("restored checkpoint {oldest}: moved {} file(s)", later.len())), "{stderr}");
    job.assert_exact();
    let aside = job.out_dir().join("_rolled-back");
    for name in &later {
        assert!(aside.join(name).exists(), "{name} was not moved to _rolled-back/");
    }
}

#[test]
fn a_fresh_run_refuses_an_output_directory_holding_another_runs_output() {
    let shape = Shape { lines: 2000, rate: 1_000_000, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    assert_success(&job.run(&[]));
    job.assert_exact();
    let before = committed_files(&job.out_dir());

    let out = job.out_dir().display().to_string();
    let stderr = assert_failure(&job.run(&[]), &[&out, "already holds another run's committed output", "--resume"]);
    assert!(stderr.contains("part-"), "the message names no file: {stderr}");
    assert_eq!(committed_files(&job.out_dir()), before, "the refused run changed the output");

    // Moving the old output away is one of the ways on.
    std::fs::rename(job.out_dir(), job.job.path("out-before")).expect("move the output away");
    assert_success(&job.run(&[]));
    job.assert_exact();
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

#[test]
fn a_checkpoint_kept_under_any_name_restores_like_chk_n() {
    let shape = Shape { inline_threshold_bytes: 0, lines: 100_000, ..Shape::default() };
    let job = cancelled_job(&shape, 2);
    let newest = *complete_checkpoints(&job.checkpoint_dir()).last().expect("a checkpoint");
    let backup: PathBuf = job.job.path("backups/before-upgrade");
    copy_dir(&job.checkpoint_dir().join(format!("chk-{newest}")), &backup);
    std::fs::remove_dir_all(job.job.path("ckpt")).expect("remove the originals");

    let inspect = weir().args(["checkpoints", "inspect"]).arg(&backup).output().expect("run weir");
    assert_success(&inspect);
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("inspect prints JSON");
    assert_eq!(json["checkpoint_id"], newest);

    let output = job.run(&["-s", "backups/before-upgrade/"]);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("restoring from checkpoint {newest} (")), "{stderr}");
    job.assert_exact();
    // No claim: the copy is left as it was.
    assert!(backup.join("_metadata").exists());
}

//! Incremental checkpoints through the real binary: deltas in `shared/`,
//! chains restored exactly after many of them, shared files kept exactly as
//! long as a retained checkpoint references them, and a full first
//! checkpoint after a restore.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::checkpoint_support::*;
use crate::support::*;

fn incremental_shape() -> Shape {
    Shape {
        lines: 60_000,
        rate: 8000,
        interval_ms: 60,
        num_retained: 3,
        inline_threshold_bytes: 0,
        // Long chains: one full snapshot, then up to 49 deltas on it.
        checkpoint_extra: "incremental = true\nfull_every = 50",
        ..Shape::default()
    }
}

/// Lines of 8 words: 9 in 10 from 50 hot words, the rest from 20,000 cold
/// ones. First every cold word once, so that every key group holds many
/// keys of which few change between two checkpoints: deltas, not full
/// rewrites of a key group (which the SDK writes when most of it changed).
fn skewed_input(lines: usize) -> String {
    let mut text: String = (0..20_000).map(|i| format!("cold{i}{}", if i % 8 == 7 { '\n' } else { ' ' })).collect();
    let mut random = Seeded(42);
    for _ in 0..lines {
        for w in 0..8 {
            let word = match random.below(10) {
                0 => format!("cold{}", random.below(20_000)),
                _ => format!("hot{}", random.below(50)),
            };
            text += &word;
            text.push(if w == 7 { '\n' } else { ' ' });
        }
    }
    text
}

/// `weir checkpoints inspect` of a checkpoint directory, as JSON.
fn inspect(chk: &Path) -> serde_json::Value {
    let output = weir().args(["checkpoints", "inspect"]).arg(chk).output().expect("inspect");
    assert_success(&output);
    serde_json::from_slice(&output.stdout).expect("inspect prints JSON")
}

/// Per (operator, subtask, handle, key group): the chunks of its chain.
fn chains(metadata: &serde_json::Value) -> BTreeMap<String, usize> {
    let mut chains = BTreeMap::new();
    for op in metadata["operators"].as_array().into_iter().flatten() {
        for subtask in op["subtasks"].as_array().into_iter().flatten() {
            for chunk in subtask["chunks"].as_array().into_iter().flatten() {
                let key = format!("{}/{}/{}/{}", op["name"], subtask["subtask"], chunk["handle"], chunk["key_group"]);
                *chains.entry(key).or_insert(0) += 1;
            }
        }
    }
    chains
}

/// The shared files a checkpoint references (names in `shared/`).
fn shared_references(metadata: &serde_json::Value) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for op in metadata["operators"].as_array().into_iter().flatten() {
        for subtask in op["subtasks"].as_array().into_iter().flatten() {
            for chunk in subtask["chunks"].as_array().into_iter().flatten() {
                if let Some(file) = chunk["data"]["file"].as_str().and_then(|f| f.strip_prefix("../shared/")) {
                    files.insert(file.to_owned());
                }
            }
        }
    }
    files
}

fn shared_files(job_dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(job_dir.join("shared")) else { return BTreeSet::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str().map(str::to_owned)).collect()
}

/// Every shared file a retained checkpoint references is on disk.
fn assert_references_resolve(job_dir: &Path) -> BTreeSet<String> {
    let on_disk = shared_files(job_dir);
    let mut referenced = BTreeSet::new();
    for id in complete_checkpoints(job_dir) {
        let metadata = inspect(&job_dir.join(format!("chk-{id}")));
        for file in shared_references(&metadata) {
            assert!(on_disk.contains(&file), "chk-{id} references shared/{file}, which is gone");
            referenced.insert(file);
        }
    }
    referenced
}

#[test]
fn many_deltas_restore_exactly_and_referenced_shared_files_survive() {
    let shape = Shape { lines: 60_000, ..incremental_shape() };
    let job = CheckpointedJob::with_input(&shape, skewed_input(shape.lines));
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 12, &mut child);
    kill_hard(child);

    // The newest checkpoint is a chain: one full chunk and deltas after it
    // for at least some (handle, key group), all in shared/.
    let newest = *complete_checkpoints(&job.checkpoint_dir()).last().expect("a checkpoint");
    let metadata = inspect(&job.checkpoint_dir().join(format!("chk-{newest}")));
    let longest = chains(&metadata).into_values().max().unwrap_or(0);
    assert!(longest >= 5, "checkpoint {newest} holds no real chain of deltas (longest chain: {longest})");
    assert!(!shared_references(&metadata).is_empty(), "incremental state is not in shared/");
    // Subsumption deleted older checkpoints, never a file a retained one uses,
    // and released the files only subsumed ones used.
    let referenced = assert_references_resolve(&job.checkpoint_dir());
    let unreferenced: Vec<String> = shared_files(&job.checkpoint_dir()).difference(&referenced).cloned().collect();
    // A kill -9 may leave the files of the one checkpoint in flight.
    assert!(unreferenced.len() <= 2 * (shape.tokenizers + shape.counters) as usize, "leaked: {unreferenced:?}");

    // gc removes what nothing references and keeps everything referenced.
    std::fs::write(job.checkpoint_dir().join("shared/stray.state"), b"orphan").expect("write");
    let gc = weir().args(["checkpoints", "gc"]).arg(job.job.path("ckpt")).output().expect("gc");
    assert_success(&gc);
    assert!(!job.checkpoint_dir().join("shared/stray.state").exists(), "gc kept an unreferenced shared file");
    assert_eq!(assert_references_resolve(&job.checkpoint_dir()), referenced);
    assert!(shared_files(&job.checkpoint_dir()).is_subset(&referenced), "gc left unreferenced shared files");

    // The oldest retained checkpoint restores too (its chain is shorter and
    // shares files with the newer ones), into another job id, no-claim.
    // Output committed after it is produced again by the replay, so the
    // check is on distinct lines: none missing, none wrong.
    let oldest = *complete_checkpoints(&job.checkpoint_dir()).first().expect("a checkpoint");
    let fast = Shape { rate: 1_000_000, ..shape.clone() };
    job.write_job(&fast);
    let chk = format!("ckpt/{}/chk-{oldest}", job.job_id);
    assert_success(&job.run(&["-s", &chk, "--job-id", "from-oldest"]));
    let expected: BTreeSet<String> = expected_output(&job.input).into_iter().collect();
    let got: BTreeSet<String> = job.output().into_iter().collect();
    assert!(got == expected, "restore from chk-{oldest} does not reproduce the output");
    // no-claim: the restored job left the old checkpoints alone.
    assert_eq!(assert_references_resolve(&job.checkpoint_dir()), referenced);
}

#[test]
fn resume_after_kill_is_exact_and_a_finished_job_leaves_no_shared_files() {
    // Enough retained checkpoints that the first one after each restore is
    // still there to inspect when the run is killed.
    let shape = Shape { num_retained: 20, ..incremental_shape() };
    let job = CheckpointedJob::new(&shape);
    for round in 0..3 {
        let mut child = job.spawn(&["--resume"]);
        let newest = complete_checkpoints(&job.checkpoint_dir()).last().copied().unwrap_or(0);
        wait_for_checkpoints(&job.checkpoint_dir(), newest + 6, &mut child);
        kill_hard(child);
        assert_references_resolve(&job.checkpoint_dir());
        if round > 0 {
            // The first checkpoint after a restore is full: every chain of
            // the restored run's first checkpoint has one chunk.
            let first_after = complete_checkpoints(&job.checkpoint_dir())
                .into_iter()
                .find(|&id| id > newest)
                .expect("a checkpoint after the restore");
            let metadata = inspect(&job.checkpoint_dir().join(format!("chk-{first_after}")));
            assert!(
                chains(&metadata).values().all(|&n| n == 1),
                "chk-{first_after}, the first after a restore, is not full: {:?}",
                chains(&metadata)
            );
        }
    }
    job.write_job(&Shape { rate: 1_000_000, ..shape });
    let output = job.run(&["--resume"]);
    assert_success(&output);
    job.assert_exact();
    // Finished: retention deleted every checkpoint, and with them every
    // shared file.
    assert!(complete_checkpoints(&job.checkpoint_dir()).is_empty());
    assert!(shared_files(&job.checkpoint_dir()).is_empty(), "left: {:?}", shared_files(&job.checkpoint_dir()));
}

#[test]
fn a_no_claim_restore_takes_a_full_first_checkpoint_of_its_own() {
    let shape = incremental_shape();
    let job = CheckpointedJob::new(&shape);
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), 8, &mut child);
    kill_hard(child);
    let restored_from = *complete_checkpoints(&job.checkpoint_dir()).last().expect("a checkpoint");
    let before = shared_files(&job.checkpoint_dir());

    let chk = format!("ckpt/{}/chk-{restored_from}", job.job_id);
    let mut child = job.spawn(&["-s", &chk, "--job-id", "copy"]);
    let copy_dir = job.job.path("ckpt/copy");
    wait_for_checkpoints(&copy_dir, restored_from + 1, &mut child);
    let first = *complete_checkpoints(&copy_dir).first().expect("a checkpoint of the new job");
    let metadata = inspect(&copy_dir.join(format!("chk-{first}")));
    kill_hard(child);
    assert!(chains(&metadata).values().all(|&n| n == 1), "the first checkpoint after a no-claim restore is not full");
    // Its files are its own, in its own shared/ directory.
    assert!(shared_references(&metadata).iter().all(|f| copy_dir.join("shared").join(f).exists()));
    // The restored checkpoint and its files are untouched.
    assert_eq!(shared_files(&job.checkpoint_dir()), before);
    assert_references_resolve(&job.checkpoint_dir());
}

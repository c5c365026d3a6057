//! Damaged or crafted checkpoints are refused with a reason, never a panic
//! or an out-of-memory, and `--resume` falls back past a damaged newest one.

use std::path::PathBuf;

use weir_host::checkpoint::metadata::{CheckpointMetadata, ChunkData, StateFile};

use crate::checkpoint_support::*;
use crate::support::*;

/// A cancelled job with at least `count` checkpoints whose state is all in
/// data files; returns it and its newest checkpoint directory.
fn job_with_files(count: u64) -> (CheckpointedJob, PathBuf, u64) {
    let shape = Shape { lines: 100_000, inline_threshold_bytes: 0, num_retained: 2, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let mut child = job.spawn(&[]);
    wait_for_checkpoints(&job.checkpoint_dir(), count, &mut child);
    assert_success(&cancel(child));
    let newest = *complete_checkpoints(&job.checkpoint_dir()).last().expect("a checkpoint");
    job.write_job(&Shape { rate: 1_000_000, ..shape });
    let chk = job.checkpoint_dir().join(format!("chk-{newest}"));
    (job, chk, newest)
}

fn data_file(chk: &std::path::Path) -> PathBuf {
    std::fs::read_dir(chk)
        .expect("chk dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "state"))
        .expect("a data file")
}

fn restore(job: &CheckpointedJob, chk: &std::path::Path) -> std::process::Output {
    job.run(&["-s", &chk.display().to_string()])
}

fn rewrite_metadata(chk: &std::path::Path, change: impl FnOnce(&mut CheckpointMetadata)) {
    let path = chk.join("_metadata");
    let mut metadata = CheckpointMetadata::decode(&std::fs::read(&path).expect("read")).expect("decode");
    change(&mut metadata);
    std::fs::write(&path, metadata.encode()).expect("write");
}

fn first_file_chunk(metadata: &mut CheckpointMetadata) -> &mut ChunkData {
    metadata
        .operators
        .iter_mut()
        .flat_map(|o| o.subtasks.iter_mut())
        .flat_map(|s| s.chunks.iter_mut())
        .map(|c| &mut c.data)
        .find(|d| matches!(d, ChunkData::File { .. }))
        .expect("a chunk in a file")
}

#[test]
fn damaged_data_files_are_refused_with_a_reason() {
    let (job, chk, _) = job_with_files(1);
    let file = data_file(&chk);
    let original = std::fs::read(&file).expect("read data file");

    std::fs::write(&file, &original[..original.len() / 2]).expect("truncate");
    assert_failure(&restore(&job, &chk), &["is truncated"]);

    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 0x01;
    std::fs::write(&file, &flipped).expect("flip");
    assert_failure(&restore(&job, &chk), &["is damaged", "checksum"]);

    std::fs::remove_file(&file).expect("remove");
    assert_failure(&restore(&job, &chk), &["is missing"]);

    // Nothing of the refused checkpoint reached the output.
    std::fs::write(&file, &original).expect("put back");
    assert_success(&restore(&job, &chk));
    job.assert_exact();
}

#[test]
fn crafted_metadata_is_refused_without_trusting_it() {
    let (job, chk, _) = job_with_files(1);
    let pristine = std::fs::read(chk.join("_metadata")).expect("read");

    for escape in ["../../../etc/passwd", "/etc/passwd", "s3:..other-bucket", "a/b"] {
        std::fs::write(chk.join("_metadata"), &pristine).expect("restore metadata");
        rewrite_metadata(&chk, |m| {
            if let ChunkData::File { file, .. } = first_file_chunk(m) {
                *file = StateFile::Exclusive(escape.into());
            }
        });
        assert_failure(&restore(&job, &chk), &["would leave the job directory"]);
    }

    // An absurd declared length: refused against the file's real size, not
    // allocated.
    std::fs::write(chk.join("_metadata"), &pristine).expect("restore metadata");
    rewrite_metadata(&chk, |m| {
        if let ChunkData::File { len, .. } = first_file_chunk(m) {
            *len = u64::MAX / 2;
        }
    });
    assert_failure(&restore(&job, &chk), &["is truncated"]);

    // Wrong magic and an unknown version, by name.
    let mut bytes = pristine.clone();
    bytes[..8].copy_from_slice(b"NOTWEIR!");
    std::fs::write(chk.join("_metadata"), &bytes).expect("write");
    assert_failure(&restore(&job, &chk), &["bad magic"]);
    let mut bytes = pristine.clone();
    bytes[8] = 99;
    std::fs::write(chk.join("_metadata"), &bytes).expect("write");
    assert_failure(&restore(&job, &chk), &["unknown metadata format version 99"]);
}

#[test]
fn resume_skips_a_damaged_newest_checkpoint() {
    let (job, chk, newest) = job_with_files(2);
    let older = *complete_checkpoints(&job.checkpoint_dir()).first().expect("two checkpoints");
    assert!(older < newest);
    let file = data_file(&chk);
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(&file, bytes).expect("damage");

    let output = job.run(&["--resume"]);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("skipping damaged checkpoint {newest}")), "{stderr}");
    assert!(stderr.contains(&format!("restoring from checkpoint {older}")), "{stderr}");
    // Output the damaged checkpoint committed is moved aside, and the replay
    // from the older one writes it again: exactly once, line for line.
    assert!(stderr.contains(&format!("restored checkpoint {older}: moved")), "{stderr}");
    let rolled_back = job.out_dir().join("_rolled-back");
    assert!(std::fs::read_dir(&rolled_back).is_ok_and(|mut d| d.next().is_some()), "nothing in _rolled-back/");
    job.assert_exact();
}

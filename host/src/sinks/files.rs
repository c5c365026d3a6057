//! The `files` sink: exactly-once files of `key<TAB>value` lines.
//!
//! Each subtask writes its events to a hidden staging file. At checkpoint
//! barrier n the file is flushed, synced and closed ("staged"); its final
//! name goes into the checkpoint. Only when a checkpoint that holds it is
//! complete is it renamed to its final name: committed. Readers skip names
//! starting with `.` or `_`.
//!
//! Final names sort in commit order: `part-<checkpoint>-<subtask>`, both
//! zero-padded (`part-0000000012-00001`), where `<checkpoint>` is the
//! checkpoint that commits the file: the barrier it was staged at, or, for
//! the last file of a finished job, the id after the last barrier (the
//! job's final commit). Checkpoint ids go on across restarts and resumes,
//! so a directory lists its output in the order it was committed.
//!
//! The name is the file's tag, and no tag is used twice in one directory:
//! a job's checkpoint ids start after every tag already there. Each
//! checkpoint records its *lineage*: the ids whose output is part of its
//! history (its own run's, and before that the lineage of the checkpoint
//! that run restored). A restore from checkpoint k commits what k staged
//! (renaming is idempotent), deletes every staging file (output written
//! after k, which the replay writes again) and moves every committed file
//! outside k's lineage into `_rolled-back/` (and back, should a later
//! restore need it again): output committed after k (a damaged newest
//! checkpoint skipped, or `-s` of an older one) would otherwise be written
//! twice.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use weir_wire::batch::EventRef;

use super::{SinkConnector, SinkContext, SinkWriter, Staged, in_lineage};
use crate::error::{Error, Result};

/// Where output committed after a restored checkpoint is moved aside.
pub const ROLLED_BACK_DIR: &str = "_rolled-back";

pub(crate) struct FilesSink {
    dir: PathBuf,
    subtask: u32,
    /// The last barrier this subtask staged for: the file being written
    /// belongs to the checkpoint after it.
    last_barrier: u64,
    /// The file being written: its final name and its writer.
    current: Option<(String, BufWriter<File>)>,
    /// Staged files not yet known to be committed, with the checkpoint
    /// that staged them.
    pending: Vec<(u64, String)>,
}

/// `part-` + 10 digits + `-` + 5 digits.
const PART_NAME_LEN: usize = 5 + 10 + 1 + 5;

/// The final name of `subtask`'s output committed by checkpoint `checkpoint_id`.
fn part_name(checkpoint_id: u64, subtask: u32) -> String {
    format!("part-{checkpoint_id:010}-{subtask:05}")
}

/// `part-<checkpoint>-<subtask>` → the checkpoint; `None` for any other name.
fn part_checkpoint(name: &str) -> Option<u64> {
    let (checkpoint, subtask) = name.strip_prefix("part-")?.split_once('-')?;
    let digits = |s: &str, width: usize| s.len() == width && s.bytes().all(|b| b.is_ascii_digit());
    (digits(checkpoint, 10) && digits(subtask, 5)).then(|| checkpoint.parse().ok()).flatten()
}

fn staging_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.inprogress"))
}

fn is_staging_name(name: &str) -> bool {
    name.starts_with(".part-") && name.ends_with(".inprogress")
}

/// Committed output: what readers read.
fn is_committed_name(name: &str) -> bool {
    !name.starts_with('.') && !name.starts_with('_')
}

fn sink_error(what: impl std::fmt::Display, source: std::io::Error) -> Error {
    Error::SinkIo { what: what.to_string(), source }
}

/// Makes renames in `dir` durable.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

impl FilesSink {
    /// A subtask's writer; `first_checkpoint_id` is the id the job's next
    /// checkpoint will have.
    pub(crate) fn open(dir: &Path, subtask: u32, first_checkpoint_id: u64) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| sink_error(format!("cannot create output directory {}", dir.display()), e))?;
        // Fail now, not at the first event, when the directory is not writable.
        let probe = dir.join(format!(".probe-{subtask}"));
        File::create(&probe).map_err(|e| sink_error(format!("cannot write in {}", dir.display()), e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(FilesSink {
            dir: dir.to_owned(),
            subtask,
            last_barrier: first_checkpoint_id.saturating_sub(1),
            current: None,
            pending: Vec::new(),
        })
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        if self.current.is_none() {
            let name = part_name(self.last_barrier + 1, self.subtask);
            let file = File::create(staging_path(&self.dir, &name))?;
            self.current = Some((name, BufWriter::with_capacity(256 << 10, file)));
        }
        match &mut self.current {
            Some((_, writer)) => Ok(writer),
            None => Err(std::io::Error::other("no staging file")),
        }
    }

    /// Flushes, syncs and closes the current file, if any, as the output
    /// of checkpoint `checkpoint_id`.
    fn stage(&mut self, checkpoint_id: u64) -> Result<()> {
        if let Some((mut name, writer)) = self.current.take() {
            let path = staging_path(&self.dir, &name);
            let fail = |path: &Path, e| sink_error(format!("cannot stage {}", path.display()), e);
            let file = writer.into_inner().map_err(|e| fail(&path, e.into_error()))?;
            file.sync_all().map_err(|e| fail(&path, e))?;
            // Barriers come in order, one id after the other, so the name
            // chosen when the file was opened is right; should an id ever
            // be skipped, the tag must still be the committing checkpoint.
            let wanted = part_name(checkpoint_id, self.subtask);
            if name != wanted {
                let renamed = staging_path(&self.dir, &wanted);
                std::fs::rename(&path, &renamed).map_err(|e| fail(&path, e))?;
                sync_dir(&self.dir);
                name = wanted;
            }
            self.pending.push((checkpoint_id, name));
        }
        self.last_barrier = self.last_barrier.max(checkpoint_id);
        Ok(())
    }

    fn pending_names(&self) -> Vec<String> {
        self.pending.iter().map(|(_, name)| name.clone()).collect()
    }
}

impl SinkWriter for FilesSink {
    fn write(&mut self, event: &EventRef<'_>) -> std::io::Result<()> {
        let writer = self.writer()?;
        writer.write_all(event.key)?;
        writer.write_all(b"\t")?;
        writer.write_all(event.value)?;
        writer.write_all(b"\n")
    }

    fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Vec<String>> {
        self.stage(checkpoint_id)?;
        Ok(self.pending_names())
    }

    fn committed(&mut self, checkpoint_id: u64) {
        self.pending.retain(|(staged_for, _)| *staged_for > checkpoint_id);
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        // The job's final commit comes after the last barrier.
        self.stage(self.last_barrier + 1)?;
        Ok(self.pending_names())
    }

    fn describe(&self) -> String {
        format!("output directory {}", self.dir.display())
    }
}

/// The `files` sink as a connector: the functions below, for one directory.
pub(crate) struct FilesConnector {
    pub(crate) dir: PathBuf,
}

impl SinkConnector for FilesConnector {
    fn describe(&self) -> String {
        format!("output directory {}", self.dir.display())
    }

    fn open(&self, context: SinkContext) -> Result<Box<dyn SinkWriter>> {
        Ok(Box::new(FilesSink::open(&self.dir, context.subtask, context.first_checkpoint_id)?))
    }

    fn commit(&self, checkpoint: &Staged<'_>) -> Result<()> {
        commit(&self.dir, checkpoint.names)
    }

    fn restore(&self, checkpoint: Option<&Staged<'_>>, lineage: &[(u64, u64)]) -> Result<()> {
        restore(&self.dir, checkpoint.map_or(&[], |c| c.names), lineage)
    }

    fn highest_checkpoint_tag(&self) -> Result<u64> {
        highest_checkpoint_tag(&self.dir)
    }

    fn check_unused(&self) -> Result<()> {
        check_unused(&self.dir)
    }
}

/// Makes staged files visible under their final names. Idempotent: a file
/// already committed is skipped; one neither staged nor committed is lost
/// output, an error that lists them.
pub(crate) fn commit(dir: &Path, names: &[String]) -> Result<()> {
    let mut missing = Vec::new();
    for name in names {
        let staged = staging_path(dir, name);
        let committed = dir.join(name);
        match std::fs::rename(&staged, &committed) {
            Ok(()) => {}
            Err(_) if committed.exists() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(name.as_str()),
            Err(e) => return Err(sink_error(format!("cannot commit {}", staged.display()), e)),
        }
    }
    if !missing.is_empty() {
        return Err(Error::Sink(format!(
            "output directory {} lacks {} file(s) that the checkpoint staged and that must be committed \
             now: {}. A restored job must write to the output directory of the job that took the checkpoint \
             (its [sink] path); to start without this output, run the job fresh (without -s or --resume) \
             into an empty directory",
            dir.display(),
            missing.len(),
            missing.iter().map(|name| format!(".{name}.inprogress")).collect::<Vec<_>>().join(", ")
        )));
    }
    if !names.is_empty() {
        sync_dir(dir);
    }
    Ok(())
}

/// After a restore: brings back from `_rolled-back/` output of the
/// restored checkpoint's lineage that an earlier restore moved aside,
/// commits what the checkpoint staged, deletes every other staging file,
/// and moves committed output outside the lineage into `_rolled-back/`.
/// An empty lineage (a restart before any checkpoint) keeps nothing.
pub(crate) fn restore(dir: &Path, staged: &[String], lineage: &[(u64, u64)]) -> Result<()> {
    if !dir.exists() {
        return if staged.is_empty() { Ok(()) } else { commit(dir, staged) };
    }
    let aside = dir.join(ROLLED_BACK_DIR);
    let brought_back = move_between(&aside, dir, |tag| in_lineage(lineage, tag))?;
    if !brought_back.is_empty() {
        tracing::warn!(
            "moved {} file(s) of the restored checkpoint's own history back from {}: {}",
            brought_back.len(),
            aside.display(),
            summary(&brought_back)
        );
    }
    commit(dir, staged)?;
    let entries = std::fs::read_dir(dir).map_err(|e| sink_error(format!("cannot list {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| sink_error(format!("cannot list {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_staging_name(&name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| sink_error(format!("cannot discard {}", path.display()), e))?;
            tracing::debug!("discarded uncommitted output {}", path.display());
        }
    }
    let rolled_back = move_between(dir, &aside, |tag| !in_lineage(lineage, tag))?;
    if !rolled_back.is_empty() {
        let restored = lineage.last().map_or(0, |&(_, last)| last);
        tracing::warn!(
            "restored checkpoint {restored}: moved {} file(s) of output committed outside its history ({}) to \
             {}, so that the replay does not write it twice",
            rolled_back.len(),
            summary(&rolled_back),
            aside.display()
        );
    }
    Ok(())
}

/// `first .. last` of sorted names.
fn summary(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} .. {last}"),
    }
}

/// Moves every committed part file of `from` whose checkpoint tag `wanted`
/// into `to` (created when needed); a name taken in `to` gets a `.1`, `.2`...
/// suffix there. Returns the names moved, sorted.
fn move_between(from: &Path, to: &Path, wanted: impl Fn(u64) -> bool) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(sink_error(format!("cannot list {}", from.display()), e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| sink_error(format!("cannot list {}", from.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if part_checkpoint(&name).is_some_and(&wanted) {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Ok(names);
    }
    std::fs::create_dir_all(to).map_err(|e| sink_error(format!("cannot create {}", to.display()), e))?;
    for name in &names {
        let mut target = to.join(name);
        let mut copy = 1;
        while target.exists() {
            target = to.join(format!("{name}.{copy}"));
            copy += 1;
        }
        let source = from.join(name);
        std::fs::rename(&source, &target)
            .map_err(|e| sink_error(format!("cannot move {} to {}", source.display(), target.display()), e))?;
        tracing::debug!("moved {} to {}", source.display(), target.display());
    }
    sync_dir(from);
    sync_dir(to);
    Ok(names)
}

/// The highest checkpoint tag of any output in `dir`, committed, staged or
/// rolled back (0 for none).
pub(crate) fn highest_checkpoint_tag(dir: &Path) -> Result<u64> {
    let mut highest = 0;
    for dir in [dir.to_owned(), dir.join(ROLLED_BACK_DIR)] {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(sink_error(format!("cannot list {}", dir.display()), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| sink_error(format!("cannot list {}", dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // `part-…`, `.part-….inprogress` and rolled-back `part-….N`.
            let bare = name.strip_prefix('.').unwrap_or(&name);
            let bare = bare.get(..PART_NAME_LEN).unwrap_or(bare);
            if let Some(tag) = part_checkpoint(bare) {
                highest = highest.max(tag);
            }
        }
    }
    Ok(highest)
}

/// Before a fresh (not restored) start: the directory must not hold
/// another run's committed output, which the new run's would mix with.
pub(crate) fn check_unused(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(sink_error(format!("cannot list output directory {}", dir.display()), e)),
    };
    let mut committed: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| sink_error(format!("cannot list {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_committed_name(&name) {
            committed.push(name);
        }
    }
    if committed.is_empty() {
        return Ok(());
    }
    committed.sort();
    Err(Error::Sink(format!(
        "output directory {} already holds another run's committed output ({} file(s): {}{}); a fresh run \
         would mix its output with it. Move or remove those files, set another [sink] path, or continue \
         the run that wrote them (weir run --resume, or -s CHECKPOINT)",
        dir.display(),
        committed.len(),
        committed.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
        if committed.len() > 3 { ", ..." } else { "" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_checkpoint_then_subtask_and_parse_back() {
        assert_eq!(part_name(12, 3), "part-0000000012-00003");
        assert_eq!(part_checkpoint("part-0000000012-00003"), Some(12));
        let mut names = vec![part_name(10, 0), part_name(9, 1), part_name(9, 0), part_name(100, 0)];
        names.sort();
        assert_eq!(names, [part_name(9, 0), part_name(9, 1), part_name(10, 0), part_name(100, 0)]);
        for other in ["part-0-1", "part-000000001-00001", "part-0000000001-0001x", "notes.txt", "part-"] {
            assert_eq!(part_checkpoint(other), None, "{other}");
        }
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_restore_commits_the_checkpoint_discards_staging_and_rolls_back_other_output() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        for (name, contents) in [(part_name(1, 0), "a"), (part_name(2, 0), "b"), (part_name(3, 0), "c")] {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        std::fs::write(staging_path(dir, &part_name(2, 1)), "staged by 2").unwrap();
        std::fs::write(staging_path(dir, &part_name(4, 0)), "after").unwrap();
        std::fs::write(dir.join("notes.txt"), "not ours").unwrap();
        assert_eq!(highest_checkpoint_tag(dir).unwrap(), 4);
        restore(dir, &[part_name(2, 1)], &[(1, 2)]).unwrap();
        let kept = [ROLLED_BACK_DIR.to_owned(), "notes.txt".into(), part_name(1, 0), part_name(2, 0), part_name(2, 1)];
        assert_eq!(names_in(dir), kept);
        assert_eq!(std::fs::read_to_string(dir.join(ROLLED_BACK_DIR).join(part_name(3, 0))).unwrap(), "c");
        assert_eq!(highest_checkpoint_tag(dir).unwrap(), 3, "rolled-back tags count too");

        // Another branch: checkpoint 5 restored from 1 wrote part 5; going
        // back to 3's lineage brings 2 and 3 back and puts 5 aside.
        restore(dir, &[], &[(1, 1)]).unwrap();
        std::fs::write(dir.join(part_name(5, 0)), "e").unwrap();
        restore(dir, &[], &[(1, 3)]).unwrap();
        assert_eq!(
            names_in(dir),
            [
                ROLLED_BACK_DIR.to_owned(),
                "notes.txt".into(),
                part_name(1, 0),
                part_name(2, 0),
                part_name(2, 1),
                part_name(3, 0)
            ]
        );
        assert_eq!(names_in(&dir.join(ROLLED_BACK_DIR)), [part_name(5, 0)]);
        // A restart before any checkpoint keeps nothing.
        restore(dir, &[], &[]).unwrap();
        assert_eq!(names_in(dir), [ROLLED_BACK_DIR.to_owned(), "notes.txt".into()]);
    }

    #[test]
    fn missing_staged_output_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = restore(dir.path(), &[part_name(5, 0)], &[(1, 5)]).unwrap_err().to_string();
        assert!(err.contains(".part-0000000005-00000.inprogress"), "{err}");
        assert!(err.contains("must write to the output directory of the job that took the checkpoint"), "{err}");
    }

    #[test]
    fn a_used_directory_is_refused_for_a_fresh_run() {
        let dir = tempfile::tempdir().unwrap();
        check_unused(&dir.path().join("absent")).unwrap();
        std::fs::write(dir.path().join(".hidden"), "").unwrap();
        std::fs::create_dir(dir.path().join(ROLLED_BACK_DIR)).unwrap();
        check_unused(dir.path()).unwrap();
        std::fs::write(dir.path().join(part_name(1, 0)), "x").unwrap();
        let err = check_unused(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already holds another run's committed output"), "{err}");
        assert!(err.contains(&part_name(1, 0)), "{err}");
    }
}

//! The `files` sink: exactly-once files of `key<TAB>value` lines.
//!
//! Each subtask writes its events to a hidden staging file
//! (`.part-<subtask>-<run>-<n>.inprogress`). At a checkpoint barrier the
//! file is flushed, synced and closed ("staged"); its final name goes into
//! the checkpoint. Only when that checkpoint is complete is it renamed to
//! its final name (`part-<subtask>-<run>-<n>`): committed. A restore commits
//! what the restored checkpoint staged (renaming is idempotent) and deletes
//! every other staging file: output written after the checkpoint is
//! discarded and will be produced again by the replay. Readers must skip
//! names starting with `.` or `_`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use weir_wire::batch::EventRef;

use super::Sink;
use crate::error::{Error, Result};

pub(crate) struct FilesSink {
    dir: PathBuf,
    subtask: u32,
    /// Distinguishes this run's files from those of earlier runs of the job.
    run: String,
    /// Files opened so far, for unique names.
    opened: u64,
    /// The file being written: its final name and its writer.
    current: Option<(String, BufWriter<File>)>,
    /// Staged files not yet known to be committed, with the checkpoint
    /// that staged them.
    pending: Vec<(u64, String)>,
}

fn staging_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.inprogress"))
}

fn sink_error(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::Sink(format!("{what}: {e}"))
}

impl FilesSink {
    pub(crate) fn open(dir: &Path, subtask: u32, run: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| sink_error(format!("cannot create output directory {}", dir.display()), e))?;
        // Fail now, not at the first event, when the directory is not writable.
        let probe = dir.join(format!(".probe-{subtask}-{run}"));
        File::create(&probe).map_err(|e| sink_error(format!("cannot write in {}", dir.display()), e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(FilesSink {
            dir: dir.to_owned(),
            subtask,
            run: run.to_owned(),
            opened: 0,
            current: None,
            pending: Vec::new(),
        })
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        if self.current.is_none() {
            let name = format!("part-{}-{}-{}", self.subtask, self.run, self.opened);
            self.opened += 1;
            let file = File::create(staging_path(&self.dir, &name))?;
            self.current = Some((name, BufWriter::with_capacity(256 << 10, file)));
        }
        match &mut self.current {
            Some((_, writer)) => Ok(writer),
            None => Err(std::io::Error::other("no staging file")),
        }
    }

    /// Flushes, syncs and closes the current file, if any.
    fn stage(&mut self, checkpoint_id: u64) -> Result<()> {
        if let Some((name, writer)) = self.current.take() {
            let path = staging_path(&self.dir, &name);
            let fail = |e| sink_error(format!("cannot stage {}", path.display()), e);
            let file = writer.into_inner().map_err(|e| fail(e.into_error()))?;
            file.sync_all().map_err(fail)?;
            self.pending.push((checkpoint_id, name));
        }
        Ok(())
    }

    fn pending_names(&self) -> Vec<String> {
        self.pending.iter().map(|(_, name)| name.clone()).collect()
    }
}

impl Sink for FilesSink {
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
        self.stage(u64::MAX)?;
        Ok(self.pending_names())
    }

    fn describe(&self) -> String {
        format!("output directory {}", self.dir.display())
    }
}

/// Makes staged files visible under their final names. Idempotent: a file
/// already committed is skipped; one neither staged nor committed is lost
/// output, an error.
pub(crate) fn commit(dir: &Path, names: &[String]) -> Result<()> {
    for name in names {
        let staged = staging_path(dir, name);
        let committed = dir.join(name);
        match std::fs::rename(&staged, &committed) {
            Ok(()) => {}
            Err(_) if committed.exists() => {}
            Err(e) => return Err(sink_error(format!("cannot commit {} (staged output lost?)", staged.display()), e)),
        }
    }
    if !names.is_empty() {
        // Make the renames themselves durable.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// After a restore: commits what the checkpoint staged, then deletes every
/// other staging file (output written after the checkpoint).
pub(crate) fn restore(dir: &Path, staged: &[String]) -> Result<()> {
    if !dir.exists() {
        return if staged.is_empty() {
            Ok(())
        } else {
            Err(Error::Sink(format!("output directory {} is missing: the staged output is lost", dir.display())))
        };
    }
    commit(dir, staged)?;
    let entries = std::fs::read_dir(dir).map_err(|e| sink_error(format!("cannot list {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".part-") && name.ends_with(".inprogress") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| sink_error(format!("cannot discard {}", path.display()), e))?;
            tracing::debug!("discarded uncommitted output {}", path.display());
        }
    }
    Ok(())
}

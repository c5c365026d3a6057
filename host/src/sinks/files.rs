//! The `files` sink: one file per subtask in the output directory, one
//! `key<TAB>value` line per event.
//!
//! A file is written under a hidden name (`.part-<subtask>.inprogress`) and
//! renamed to its final name (`part-<subtask>`) only once complete, so a
//! reader that skips names starting with `.` or `_` never sees partial
//! output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use weir_wire::batch::EventRef;

use super::Sink;
use crate::error::{Error, Result};

pub(crate) struct FilesSink {
    in_progress: PathBuf,
    committed: PathBuf,
    writer: BufWriter<File>,
}

impl FilesSink {
    pub(crate) fn open(dir: &Path, subtask: u32) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Sink(format!(
                "cannot create output directory {}: {e}",
                dir.display()
            ))
        })?;
        let in_progress = dir.join(format!(".part-{subtask}.inprogress"));
        let committed = dir.join(format!("part-{subtask}"));
        let file = File::create(&in_progress)
            .map_err(|e| Error::Sink(format!("cannot create {}: {e}", in_progress.display())))?;
        Ok(FilesSink {
            in_progress,
            committed,
            writer: BufWriter::with_capacity(256 << 10, file),
        })
    }
}

impl Sink for FilesSink {
    fn write(&mut self, event: &EventRef<'_>) -> std::io::Result<()> {
        self.writer.write_all(event.key)?;
        self.writer.write_all(b"\t")?;
        self.writer.write_all(event.value)?;
        self.writer.write_all(b"\n")
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let fail = |e: std::io::Error| {
            Error::Sink(format!(
                "cannot complete {}: {e}",
                self.in_progress.display()
            ))
        };
        let file = self.writer.into_inner().map_err(|e| fail(e.into_error()))?;
        file.sync_all().map_err(fail)?;
        std::fs::rename(&self.in_progress, &self.committed).map_err(fail)?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("file {}", self.in_progress.display())
    }
}

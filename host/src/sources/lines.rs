//! The `lines` source: a UTF-8 text file, one event per line (key empty,
//! value the line without its `\n` or `\r\n`). Position: the byte offset of
//! the next line to read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use weir_wire::batch::NO_TIMESTAMP;

use super::{Emit, Emitted, Source, SourceError};
use crate::error::{Error, Result};

/// Longest line accepted. A file with no newlines must not make the host
/// read it whole into one allocation.
pub(crate) const MAX_LINE_BYTES: usize = 16 << 20;

pub(crate) struct LinesSource {
    path: PathBuf,
    reader: BufReader<File>,
    /// Byte offset of the next line.
    offset: u64,
    /// 1-based number of the last line read, for error messages (counted
    /// from the restored position after a restore).
    line_number: u64,
    line: Vec<u8>,
}

impl LinesSource {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(io(path, "cannot open"))?;
        let metadata = file.metadata().map_err(io(path, "cannot read"))?;
        if !metadata.is_file() {
            return Err(Error::Source(format!("input file {}: is not a regular file", path.display())));
        }
        Ok(LinesSource {
            path: path.to_owned(),
            reader: BufReader::with_capacity(256 << 10, file),
            offset: 0,
            line_number: 0,
            line: Vec::new(),
        })
    }

    fn fail(&self, why: impl std::fmt::Display) -> SourceError {
        SourceError::Failed(Error::Source(format!("input file {}: {why}", self.path.display())))
    }
}

impl Source for LinesSource {
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError> {
        for events in 0..max_events {
            self.line.clear();
            let read = (&mut self.reader).take(MAX_LINE_BYTES as u64 + 2).read_until(b'\n', &mut self.line).map_err(
                |source| {
                    let what = format!("cannot read at byte {}", self.offset);
                    SourceError::Failed(Error::SourceIo { path: self.path.clone(), what, source })
                },
            )?;
            if read == 0 {
                return Ok(Emitted { events, exhausted: true });
            }
            let start = self.offset;
            self.offset += read as u64;
            self.line_number += 1;
            let mut line = self.line.as_slice();
            if let Some(rest) = line.strip_suffix(b"\n") {
                line = rest.strip_suffix(b"\r").unwrap_or(rest);
            }
            if line.len() > MAX_LINE_BYTES {
                return Err(self.fail(format!("line {} is longer than {MAX_LINE_BYTES} bytes", self.line_number)));
            }
            if let Err(e) = std::str::from_utf8(line) {
                let line_number = self.line_number;
                return Err(self.fail(format!("line {line_number} is not valid UTF-8 ({e})")));
            }
            out.push_from(start, NO_TIMESTAMP, b"", line)?;
        }
        Ok(Emitted { events: max_events, exhausted: false })
    }

    fn position(&self) -> u64 {
        self.offset
    }

    fn seek(&mut self, position: u64) -> Result<()> {
        let len = self.reader.get_ref().metadata().map_err(io(&self.path, "cannot read"))?.len();
        if position > len {
            return Err(Error::Source(format!(
                "input file {}: \
                 the checkpoint's position (byte {position}) is past the end of the file ({len} bytes): \
                 is this the same input?",
                self.path.display()
            )));
        }
        self.reader
            .seek(SeekFrom::Start(position))
            .map_err(io(&self.path, format!("cannot seek to byte {position}")))?;
        self.offset = position;
        Ok(())
    }
}

/// `map_err` helper: reading the input file `path` failed while doing `what`.
fn io(path: &Path, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let (path, what) = (path.to_owned(), what.into());
    move |source| Error::SourceIo { path, what, source }
}

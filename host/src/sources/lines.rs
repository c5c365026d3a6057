//! The `lines` source: a UTF-8 text file, one event per line (key empty,
//! value the line without its `\n` or `\r\n`). Position: the byte offset of
//! the next line to read.
//!
//! With `format = "tsv"` a line is `timestamp_ms<TAB>key<TAB>value`: the
//! event's timestamp (ms since the epoch), key and value (the value may hold
//! further TABs).
//!
//! A reader of the split `next..end` reads the lines that start in that
//! range: opened inside a line (a split cut at an arbitrary byte), it skips
//! to the next line start, and it stops before a line starting at `end` or
//! later. A line starts at 0 and after every `\n`, so adjacent splits read
//! every line exactly once.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use weir_wire::batch::NO_TIMESTAMP;

use super::{Emit, Emitted, Source, SourceError, Split};
use crate::error::{Error, Result};

/// Longest line accepted. A file with no newlines must not make the host
/// read it whole into one allocation.
pub(crate) const MAX_LINE_BYTES: usize = 16 << 20;

/// What a line of a `lines` source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineFormat {
    /// The line is the value; the key is empty, there is no timestamp.
    #[default]
    Plain,
    /// `timestamp_ms<TAB>key<TAB>value`.
    Tsv,
}

pub(crate) struct LinesSource {
    path: PathBuf,
    reader: BufReader<File>,
    /// Byte offset of the next line.
    offset: u64,
    /// Lines starting here or later belong to the next split.
    end: u64,
    /// 1-based number of the last line read, for error messages (counted
    /// from the restored position after a restore).
    line_number: u64,
    line: Vec<u8>,
    format: LineFormat,
}

impl LinesSource {
    /// A reader of the lines starting in `split`.
    pub(crate) fn open(path: &Path, split: Split, format: LineFormat) -> Result<Self> {
        let file = File::open(path).map_err(io(path, "cannot open"))?;
        let metadata = file.metadata().map_err(io(path, "cannot read"))?;
        if !metadata.is_file() {
            return Err(Error::Source(format!("input file {}: is not a regular file", path.display())));
        }
        let mut source = LinesSource {
            path: path.to_owned(),
            reader: BufReader::with_capacity(256 << 10, file),
            offset: 0,
            end: split.end,
            line_number: 0,
            line: Vec::new(),
            format,
        };
        source.seek(split.next, metadata.len())?;
        Ok(source)
    }

    /// The file's length in bytes.
    pub(crate) fn length(path: &Path) -> Result<u64> {
        Ok(std::fs::metadata(path).map_err(io(path, "cannot open"))?.len())
    }

    fn fail(&self, why: impl std::fmt::Display) -> SourceError {
        SourceError::Failed(Error::Source(format!("input file {}: {why}", self.path.display())))
    }
}

impl Source for LinesSource {
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError> {
        for events in 0..max_events {
            if self.offset >= self.end {
                return Ok(Emitted { events, exhausted: true });
            }
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
            match self.format {
                LineFormat::Plain => out.push_from(start, NO_TIMESTAMP, b"", line)?,
                LineFormat::Tsv => {
                    let Some((timestamp, key, value)) = split_tsv(line) else {
                        let line_number = self.line_number;
                        return Err(self.fail(format!(
                            "line {line_number} is not `timestamp_ms<TAB>key<TAB>value` (format = \"tsv\")"
                        )));
                    };
                    out.push_from(start, timestamp, key, value)?;
                }
            }
        }
        Ok(Emitted { events: max_events, exhausted: false })
    }

    fn position(&self) -> u64 {
        self.offset
    }
}

impl LinesSource {
    /// Goes to the first line starting at `position` or later.
    fn seek(&mut self, position: u64, len: u64) -> Result<()> {
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
        if position == 0 || position >= self.end {
            return Ok(());
        }
        // Inside a line unless the byte before is a line end: then skip
        // the rest of it (the split before this one reads it).
        self.reader
            .seek(SeekFrom::Start(position - 1))
            .map_err(io(&self.path, format!("cannot seek to byte {}", position - 1)))?;
        self.line.clear();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut self.line)
            .map_err(io(&self.path, format!("cannot read at byte {}", position - 1)))?;
        self.offset = position - 1 + read as u64;
        Ok(())
    }
}

/// `timestamp_ms<TAB>key<TAB>value`, the timestamp a decimal integer.
fn split_tsv(line: &[u8]) -> Option<(i64, &[u8], &[u8])> {
    let tab = line.iter().position(|&b| b == b'\t')?;
    let timestamp = std::str::from_utf8(&line[..tab]).ok()?.parse().ok()?;
    let rest = &line[tab + 1..];
    let tab = rest.iter().position(|&b| b == b'\t')?;
    Some((timestamp, &rest[..tab], &rest[tab + 1..]))
}

/// `map_err` helper: reading the input file `path` failed while doing `what`.
fn io(path: &Path, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let (path, what) = (path.to_owned(), what.into());
    move |source| Error::SourceIo { path, what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<(u64, String)>);

    impl Emit for Collect {
        fn push_from(
            &mut self,
            position: u64,
            _: i64,
            _: &[u8],
            value: &[u8],
        ) -> Result<(), super::super::Disconnected> {
            self.0.push((position, String::from_utf8_lossy(value).into_owned()));
            Ok(())
        }

        fn flush(&mut self) -> Result<(), super::super::Disconnected> {
            Ok(())
        }
    }

    fn read(path: &Path, split: Split) -> Vec<(u64, String)> {
        let mut source = LinesSource::open(path, split, LineFormat::Plain).unwrap();
        let mut out = Collect(Vec::new());
        while !matches!(source.emit(&mut out, 3), Ok(Emitted { exhausted: true, .. })) {}
        out.0
    }

    #[test]
    fn splits_cut_anywhere_read_every_line_once() {
        let dir = std::env::temp_dir().join(format!("weir-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.txt");
        let text: String = (0..50).map(|i| format!("line {i} {}\n", "x".repeat(i % 7))).collect();
        std::fs::write(&path, &text).unwrap();
        let whole = read(&path, Split { next: 0, end: text.len() as u64 });
        assert_eq!(whole.len(), 50);
        for parts in [2, 3, 7, 64] {
            let mut lines: Vec<(u64, String)> = Split { next: 0, end: text.len() as u64 }
                .divide(parts)
                .into_iter()
                .flat_map(|split| read(&path, split))
                .collect();
            lines.sort();
            assert_eq!(lines, whole, "{parts} splits");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

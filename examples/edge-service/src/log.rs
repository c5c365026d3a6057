//! The ingest log: every accepted event, on local disk, in order.
//!
//! This is the service's *durable input*. A checkpoint of the job only
//! records a position ("everything up to event 1200 is in this state"); the
//! events after that position live here and nowhere else. So an event is
//! acknowledged to the client only once it is in this file and synced, and
//! the log can be read again from any position: that is what lets the
//! service honour its replay duty after a restore.
//!
//! Format: one JSON object per line. The first line is a header naming the
//! position of the first record; every other line is a [`Record`], and
//! positions go up by one per line:
//!
//! ```text
//! {"first_position":1}
//! {"position":1,"key":"sensor-1","value":"21.5"}
//! {"position":2,"key":"sensor-2","value":"19.0","timestamp":1700000000000}
//! ```
//!
//! When a job ends for good (a clean shutdown whose retention deletes the
//! checkpoints), its log is archived as `ingest-<first>-<last>.log` and a
//! new one starts at `last + 1`: positions never repeat, so a checkpoint
//! that survived by accident can never make the service skip new events.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The active log's file name inside the data directory.
const LOG_FILE: &str = "ingest.log";

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its place in the log: what the job's checkpoints record.
    pub position: u64,
    pub key: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// An event as a client posts it: the log gives it its position.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub timestamp: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    first_position: u64,
}

/// The log file and an index of where each record starts.
struct LogFile {
    dir: PathBuf,
    /// Opened for appending and reading.
    file: File,
    /// Position of the first record.
    first: u64,
    /// Byte offset of record `first + i`.
    offsets: Vec<u64>,
    /// Bytes in the file.
    len: u64,
}

impl LogFile {
    /// Opens the log in `dir`, creating it when missing. A record cut short
    /// by a crash in the middle of a write (never acknowledged) is dropped.
    fn open(dir: &Path) -> Result<LogFile> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let path = dir.join(LOG_FILE);
        if !path.exists() {
            return LogFile::create(dir, 1);
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = BufReader::new(&mut file);
        let mut line = Vec::new();
        let header_len =
            reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", path.display()))?;
        let header: Header = serde_json::from_slice(&line)
            .with_context(|| format!("{}: the first line is not a log header", path.display()))?;
        let (first, mut offsets, mut len) = (header.first_position, Vec::new(), header_len as u64);
        loop {
            line.clear();
            let read =
                reader.read_until(b'\n', &mut line).with_context(|| format!("cannot read {}", path.display()))?;
            if read == 0 {
                break;
            }
            let expected = first + offsets.len() as u64;
            let record = serde_json::from_slice::<Record>(&line).ok().filter(|r| r.position == expected);
            let complete = line.ends_with(b"\n") && record.is_some();
            if !complete {
                // Only the very last line may be damaged: a crash during an
                // append, before the events were acknowledged.
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest).with_context(|| format!("cannot read {}", path.display()))?;
                if !rest.is_empty() || line.ends_with(b"\n") {
                    bail!("{}: record {expected} (byte {len}) is damaged", path.display());
                }
                tracing::warn!("{}: dropping a record cut short at byte {len} (never acknowledged)", path.display());
                break;
            }
            offsets.push(len);
            len += read as u64;
        }
        drop(reader);
        file.set_len(len).with_context(|| format!("cannot truncate {}", path.display()))?;
        Ok(LogFile { dir: dir.to_owned(), file, first, offsets, len })
    }

    /// Writes a new, empty log whose first record will be `first`.
    fn create(dir: &Path, first: u64) -> Result<LogFile> {
        let path = dir.join(LOG_FILE);
        let mut header = serde_json::to_vec(&Header { first_position: first })?;
        header.push(b'\n');
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(&header)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        sync_dir(dir)?;
        Ok(LogFile { dir: dir.to_owned(), file, first, offsets: Vec::new(), len: header.len() as u64 })
    }

    /// The position of the last record, if there is one.
    fn last(&self) -> Option<u64> {
        (!self.offsets.is_empty()).then(|| self.first + self.offsets.len() as u64 - 1)
    }

    /// Appends `events` and syncs them; returns their first and last positions.
    fn append(&mut self, events: Vec<NewEvent>) -> Result<(u64, u64)> {
        let start = self.first + self.offsets.len() as u64;
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(events.len());
        for (i, NewEvent { key, value, timestamp }) in events.into_iter().enumerate() {
            offsets.push(self.len + bytes.len() as u64);
            serde_json::to_writer(&mut bytes, &Record { position: start + i as u64, key, value, timestamp })?;
            bytes.push(b'\n');
        }
        if let Err(e) = self.file.write_all(&bytes).and_then(|()| self.file.sync_data()) {
            // Leave no half-written records behind: they were not accepted.
            let _ = self.file.set_len(self.len);
            return Err(e).context("cannot append to the ingest log");
        }
        self.len += bytes.len() as u64;
        let count = offsets.len() as u64;
        self.offsets.extend(offsets);
        Ok((start, start + count - 1))
    }

    /// Up to `max` records after position `after`, in order.
    fn read_after(&mut self, after: u64, max: usize) -> Result<Vec<Record>> {
        let from = after.saturating_add(1).saturating_sub(self.first) as usize;
        let to = self.offsets.len().min(from.saturating_add(max));
        if from >= to {
            return Ok(Vec::new());
        }
        let start = self.offsets[from];
        let end = self.offsets.get(to).copied().unwrap_or(self.len);
        let mut bytes = vec![0; (end - start) as usize];
        self.file.seek(SeekFrom::Start(start)).context("cannot seek in the ingest log")?;
        self.file.read_exact(&mut bytes).context("cannot read the ingest log")?;
        bytes
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).context("a record of the ingest log is damaged"))
            .collect()
    }

    /// Renames this log `ingest-<first>-<last>.log` and starts a new one
    /// after it; an empty log stays as it is.
    fn archive(&mut self) -> Result<Option<PathBuf>> {
        let Some(last) = self.last() else { return Ok(None) };
        let archived = self.dir.join(format!("ingest-{}-{last}.log", self.first));
        std::fs::rename(self.dir.join(LOG_FILE), &archived)
            .with_context(|| format!("cannot archive the ingest log as {}", archived.display()))?;
        *self = LogFile::create(&self.dir, last + 1)?;
        Ok(Some(archived))
    }
}

/// Makes a new or renamed file in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// The log shared by the HTTP handlers (appending) and the feeding thread
/// (reading, and waiting for appends).
pub struct IngestLog {
    file: Mutex<LogFile>,
    appended: Condvar,
}

impl IngestLog {
    pub fn open(dir: &Path) -> Result<IngestLog> {
        Ok(IngestLog { file: Mutex::new(LogFile::open(dir)?), appended: Condvar::new() })
    }

    fn lock(&self) -> MutexGuard<'_, LogFile> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends and syncs `events` (blocking: call it off the async runtime);
    /// returns the positions they got.
    pub fn append(&self, events: Vec<NewEvent>) -> Result<(u64, u64)> {
        let positions = self.lock().append(events)?;
        self.appended.notify_all();
        Ok(positions)
    }

    /// The first position of the active log (even when it is empty).
    pub fn first(&self) -> u64 {
        self.lock().first
    }

    /// The position of the last logged event, if there is one.
    pub fn last(&self) -> Option<u64> {
        self.lock().last()
    }

    /// Up to `max` records after `after`; when there are none, waits up to
    /// `timeout` for an append first.
    pub fn wait_after(&self, after: u64, max: usize, timeout: Duration) -> Result<Vec<Record>> {
        let mut file = self.lock();
        if file.last().is_none_or(|last| last <= after) {
            file = self.appended.wait_timeout(file, timeout).unwrap_or_else(|p| p.into_inner()).0;
        }
        file.read_after(after, max)
    }

    pub fn archive(&self) -> Result<Option<PathBuf>> {
        self.lock().archive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str) -> NewEvent {
        NewEvent { key: key.into(), value: "v".into(), timestamp: None }
    }

    #[test]
    fn appends_reads_back_from_any_position_and_reopens() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let log = IngestLog::open(dir.path())?;
        assert_eq!((log.first(), log.last()), (1, None));
        assert_eq!(log.append(vec![event("a"), event("b")])?, (1, 2));
        assert_eq!(log.append(vec![event("c")])?, (3, 3));
        let keys = |records: Vec<Record>| records.into_iter().map(|r| r.key).collect::<Vec<_>>();
        assert_eq!(keys(log.wait_after(1, 10, Duration::ZERO)?), ["b", "c"]);
        assert_eq!(keys(log.wait_after(0, 2, Duration::ZERO)?), ["a", "b"]);
        assert!(log.wait_after(3, 10, Duration::from_millis(1))?.is_empty());
        drop(log);

        // A crash in the middle of an append leaves a partial last line.
        let path = dir.path().join(LOG_FILE);
        OpenOptions::new().append(true).open(&path)?.write_all(b"{\"position\":4,\"ke")?;
        let log = IngestLog::open(dir.path())?;
        assert_eq!(log.last(), Some(3));
        assert_eq!(log.append(vec![event("d")])?, (4, 4));
        assert_eq!(keys(log.wait_after(2, 10, Duration::ZERO)?), ["c", "d"]);
        Ok(())
    }

    #[test]
    fn an_archived_log_is_continued_by_a_new_one() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let log = IngestLog::open(dir.path())?;
        log.append(vec![event("a"), event("b")])?;
        let archived = log.archive()?.context("nothing archived")?;
        assert!(archived.ends_with("ingest-1-2.log"));
        assert_eq!((log.first(), log.last()), (3, None));
        // After the archived positions, whatever a stale checkpoint says.
        assert_eq!(log.append(vec![event("c")])?, (3, 3));
        assert_eq!(log.wait_after(0, 10, Duration::ZERO)?.len(), 1);
        drop(log);
        assert_eq!(IngestLog::open(dir.path())?.last(), Some(3));
        Ok(())
    }

    #[test]
    fn damage_before_the_last_line_is_refused() -> Result<()> {
        let dir = tempfile::tempdir()?;
        IngestLog::open(dir.path())?.append(vec![event("a"), event("b")])?;
        let path = dir.path().join(LOG_FILE);
        let text = std::fs::read_to_string(&path)?.replace("\"position\":1", "\"position\":7");
        std::fs::write(&path, text)?;
        let error = IngestLog::open(dir.path()).err().context("opened a damaged log")?;
        assert!(error.to_string().contains("record 1"), "{error}");
        Ok(())
    }
}

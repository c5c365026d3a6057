//! A custom sink, written against `weir_host::connector`: the newest value
//! of every key, as a table the service serves at `GET /counts` (a
//! materialised view of the running counts) and keeps in
//! `<data-dir>/table/table.json`.
//!
//! It follows the two-phase protocol the host drives:
//!
//! - each writer (one per counter subtask) keeps the newest value per key
//!   since the last barrier; at barrier n it stages them in
//!   `staged-<n>-<subtask>.json` (synced) and names that file;
//! - once checkpoint n is complete, `commit` merges the files it names into
//!   the table and replaces `table.json` atomically, recording n in it;
//!   a commit of n when the table already records n (or later) does
//!   nothing, so the host may repeat it after a crash;
//! - a restore commits the restored checkpoint's files again and deletes
//!   staged files of any other checkpoint (output the replay writes again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use weir_host::connector::{EventRef, SinkConnector, SinkContext, SinkWriter, Staged};
use weir_host::{Error, Result};

const TABLE_FILE: &str = "table.json";

/// What `table.json` holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Table {
    /// The newest checkpoint merged in.
    pub checkpoint: u64,
    pub values: BTreeMap<String, String>,
}

/// The sink, shared by the job (as its connector) and the HTTP handlers.
#[derive(Clone)]
pub struct TableSink {
    dir: PathBuf,
    table: Arc<Mutex<Table>>,
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Sink(format!("{what}: {e}"))
}

impl TableSink {
    /// Opens (or creates) the table in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("cannot create {}", dir.display())))?;
        let path = dir.join(TABLE_FILE);
        let table = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Sink(format!("{}: not a table: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::default(),
            Err(e) => return Err(io_error(format!("cannot read {}", path.display()))(e)),
        };
        Ok(TableSink { dir: dir.to_owned(), table: Arc::new(Mutex::new(table)) })
    }

    /// The committed table, as of the newest complete checkpoint.
    pub fn snapshot(&self) -> Table {
        self.table.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Staged files in the directory: (checkpoint, file name).
    fn staged_files(&self) -> Result<Vec<(u64, String)>> {
        let entries = std::fs::read_dir(&self.dir).map_err(io_error(format!("cannot list {}", self.dir.display())))?;
        let mut staged = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(format!("cannot list {}", self.dir.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let checkpoint = name.strip_prefix("staged-").and_then(|rest| rest.split('-').next()?.parse().ok());
            if let Some(checkpoint) = checkpoint {
                staged.push((checkpoint, name));
            }
        }
        Ok(staged)
    }
}

impl SinkConnector for TableSink {
    fn describe(&self) -> String {
        format!("table in {}", self.dir.display())
    }

    fn open(&self, context: SinkContext) -> Result<Box<dyn SinkWriter>> {
        Ok(Box::new(TableWriter {
            dir: self.dir.clone(),
            subtask: context.subtask,
            last_barrier: context.first_checkpoint_id.saturating_sub(1),
            updates: BTreeMap::new(),
        }))
    }

    fn commit(&self, checkpoint: &Staged<'_>) -> Result<()> {
        let mut table = self.table.lock().map_err(|_| Error::Sink("table lock poisoned".into()))?;
        if table.checkpoint >= checkpoint.checkpoint_id || checkpoint.names.is_empty() {
            return Ok(());
        }
        let mut merged = table.clone();
        for name in checkpoint.names {
            let path = self.dir.join(name);
            let bytes = std::fs::read(&path).map_err(io_error(format!("staged output {}", path.display())))?;
            let updates: BTreeMap<String, String> = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Sink(format!("{}: damaged staged output: {e}", path.display())))?;
            merged.values.extend(updates);
        }
        merged.checkpoint = checkpoint.checkpoint_id;
        // Atomically: a crash leaves the old table or the new one.
        let temporary = self.dir.join(".table.json.new");
        let bytes = serde_json::to_vec(&merged).map_err(|e| Error::Sink(format!("cannot encode the table: {e}")))?;
        std::fs::write(&temporary, bytes).map_err(io_error(format!("cannot write {}", temporary.display())))?;
        std::fs::File::open(&temporary)
            .and_then(|f| f.sync_all())
            .map_err(io_error(format!("cannot sync {}", temporary.display())))?;
        std::fs::rename(&temporary, self.dir.join(TABLE_FILE))
            .map_err(io_error(format!("cannot replace {}", self.dir.join(TABLE_FILE).display())))?;
        *table = merged;
        // Merged for good: the staged files are no longer needed (a repeat
        // of this commit stops at the checkpoint id above).
        for name in checkpoint.names {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        Ok(())
    }

    fn restore(&self, checkpoint: Option<&Staged<'_>>, _lineage: &[(u64, u64)]) -> Result<()> {
        if let Some(checkpoint) = checkpoint {
            self.commit(checkpoint)?;
        }
        let keep = checkpoint.map_or(&[][..], |c| c.names);
        for (_, name) in self.staged_files()? {
            if !keep.contains(&name) {
                let path = self.dir.join(&name);
                std::fs::remove_file(&path).map_err(io_error(format!("cannot discard {}", path.display())))?;
            }
        }
        Ok(())
    }

    fn highest_checkpoint_tag(&self) -> Result<u64> {
        Ok(self.snapshot().checkpoint)
    }
}

/// One counter subtask's writer.
struct TableWriter {
    dir: PathBuf,
    subtask: u32,
    last_barrier: u64,
    /// The newest value per key since the last barrier.
    updates: BTreeMap<String, String>,
}

impl TableWriter {
    fn stage(&mut self, checkpoint_id: u64) -> Result<Vec<String>> {
        self.last_barrier = self.last_barrier.max(checkpoint_id);
        if self.updates.is_empty() {
            return Ok(Vec::new());
        }
        let name = format!("staged-{checkpoint_id}-{}.json", self.subtask);
        let path = self.dir.join(&name);
        let bytes = serde_json::to_vec(&self.updates).map_err(|e| Error::Sink(format!("cannot encode: {e}")))?;
        std::fs::write(&path, bytes)
            .and_then(|()| std::fs::File::open(&path)?.sync_all())
            .map_err(io_error(format!("cannot stage {}", path.display())))?;
        self.updates.clear();
        Ok(vec![name])
    }
}

impl SinkWriter for TableWriter {
    fn write(&mut self, event: &EventRef<'_>) -> std::io::Result<()> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.updates.insert(text(event.key), text(event.value));
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Vec<String>> {
        self.stage(checkpoint_id)
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        // The host's final commit is the id after the last barrier.
        let last = self.last_barrier + 1;
        self.stage(last)
    }

    fn describe(&self) -> String {
        format!("table in {}", self.dir.display())
    }
}

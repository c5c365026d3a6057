//! `weir checkpoints list|inspect|gc`: looking at and cleaning up a
//! checkpoint directory without running a job.

use std::collections::HashSet;

use anyhow::{Context, Result};
use weir_host::checkpoint::metadata::{CheckpointMetadata, ChunkData, StateFile};
use weir_host::checkpoint::storage::{CheckpointLocation, CheckpointStorage, METADATA_FILE};
use weir_host::checkpoint::{lease, restore};

#[derive(clap::Subcommand)]
pub enum Command {
    /// A table of every checkpoint under DIR: job, id, time, size, files.
    List {
        /// The checkpoint root (`dir` of the job file): a path or URL.
        dir: String,
        /// Only this job.
        #[arg(long)]
        job: Option<String>,
    },
    /// Prints a checkpoint's metadata as JSON.
    Inspect {
        /// A `chk-<n>` directory or its `_metadata` file: a path or URL.
        path: String,
    },
    /// Removes aborted checkpoints (no `_metadata`) and files no complete
    /// checkpoint references. Skips jobs that are running (they hold their
    /// lease): their checkpoint in flight would look aborted.
    Gc {
        dir: String,
        #[arg(long)]
        job: Option<String>,
        /// Only print what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(command: Command) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let cwd = std::env::current_dir().unwrap_or_default();
    match command {
        Command::List { dir, job } => {
            let storage = CheckpointStorage::open(&dir, &cwd)?;
            runtime.block_on(list(&storage, job))
        }
        Command::Inspect { path } => {
            let location = CheckpointStorage::locate(&path, &cwd)?;
            let metadata = runtime.block_on(restore::read(&location))?;
            println!("{}", serde_json::to_string_pretty(&to_json(&metadata))?);
            Ok(())
        }
        Command::Gc { dir, job, dry_run } => {
            let storage = CheckpointStorage::open(&dir, &cwd)?;
            runtime.block_on(gc(&storage, job, dry_run))
        }
    }
}

async fn jobs(storage: &CheckpointStorage, job: Option<String>) -> Result<Vec<String>> {
    Ok(match job {
        Some(job) => vec![job],
        None => storage.list_jobs().await?,
    })
}

async fn list(storage: &CheckpointStorage, job: Option<String>) -> Result<()> {
    println!(
        "{:<24} {:>6}  {:<19}  {:>12}  {:>5}  {:>15}  status",
        "job", "id", "completed (UTC)", "state bytes", "files", "inline/external"
    );
    for job in jobs(storage, job).await? {
        for (id, complete) in storage.list_checkpoints(&job).await? {
            if !complete {
                println!(
                    "{job:<24} {id:>6}  {:<19}  {:>12}  {:>5}  {:>15}  aborted (no {METADATA_FILE})",
                    "-", "-", "-", "-"
                );
                continue;
            }
            let location = CheckpointLocation { storage: storage.clone(), job_dir: job.clone(), checkpoint_id: id };
            match restore::read(&location).await {
                Ok(m) => {
                    let inline = m.chunks().filter(|c| matches!(c.data, ChunkData::Inline(_))).count();
                    let external = m.chunks().count() - inline;
                    let status = if m.end_of_input { "complete (end of input)" } else { "complete" };
                    println!(
                        "{job:<24} {id:>6}  {:<19}  {:>12}  {:>5}  {:>15}  {status}",
                        utc(m.completion_time_ms),
                        m.state_size(),
                        m.files().len(),
                        format!("{inline}/{external}")
                    );
                }
                Err(e) => {
                    println!("{job:<24} {id:>6}  {:<19}  {:>12}  {:>5}  {:>15}  damaged: {e}", "-", "-", "-", "-")
                }
            }
        }
    }
    Ok(())
}

async fn gc(storage: &CheckpointStorage, job: Option<String>, dry_run: bool) -> Result<()> {
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut removed = 0usize;
    for job in jobs(storage, job).await? {
        if let Some(holder) = lease::active_holder(storage, &job).await {
            println!("skipping job {job}: it is running on {holder}");
            continue;
        }
        let mut shared_in_use: HashSet<String> = HashSet::new();
        let mut damaged = false;
        for (id, complete) in storage.list_checkpoints(&job).await? {
            let where_ = storage.describe(&job, id);
            if !complete {
                println!("{verb} aborted checkpoint {where_}");
                if !dry_run {
                    storage.delete_checkpoint(&job, id).await.with_context(|| format!("cannot remove {where_}"))?;
                }
                removed += 1;
                continue;
            }
            let location = CheckpointLocation { storage: storage.clone(), job_dir: job.clone(), checkpoint_id: id };
            let metadata = match restore::read(&location).await {
                Ok(metadata) => metadata,
                Err(e) => {
                    // Never delete around a checkpoint we cannot read: its
                    // references are unknown.
                    println!("skipping damaged checkpoint {where_}: {e}");
                    damaged = true;
                    continue;
                }
            };
            let mut referenced: HashSet<String> = HashSet::new();
            for file in metadata.files() {
                match file {
                    StateFile::Exclusive(name) => referenced.insert(name),
                    StateFile::Shared(name) => shared_in_use.insert(name),
                };
            }
            for (path, _) in storage.checkpoint_objects(&job, id).await? {
                let name = path.filename().unwrap_or_default();
                if name != METADATA_FILE && !referenced.contains(name) {
                    println!("{verb} unreferenced file {where_}/{name}");
                    if !dry_run {
                        storage.delete(&path).await?;
                    }
                    removed += 1;
                }
            }
        }
        if damaged {
            continue;
        }
        for (path, _) in storage.shared_objects(&job).await? {
            let name = path.filename().unwrap_or_default();
            if !shared_in_use.contains(name) {
                println!("{verb} unreferenced shared file {path}");
                if !dry_run {
                    storage.delete(&path).await?;
                }
                removed += 1;
            }
        }
    }
    println!("{removed} item(s) {verb}");
    Ok(())
}

/// The metadata as JSON: bytes as sizes, digests as hex.
fn to_json(m: &CheckpointMetadata) -> serde_json::Value {
    use serde_json::json;
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    json!({
        "job_id": m.job_id,
        "job_name": m.job_name,
        "checkpoint_id": m.checkpoint_id,
        "trigger_time": utc(m.trigger_time_ms),
        "completion_time": utc(m.completion_time_ms),
        "trigger_time_ms": m.trigger_time_ms,
        "completion_time_ms": m.completion_time_ms,
        "end_of_input": m.end_of_input,
        "state_bytes": m.state_size(),
        "graph": {
            "max_parallelism": m.graph.max_parallelism,
            "operators": m.graph.operators.iter().map(|o| json!({
                "name": o.name,
                "component_sha256": hex(&o.component_sha256),
                "parallelism": o.parallelism,
                "key_by": o.key_by,
            })).collect::<Vec<_>>(),
        },
        "source": { "position": m.source.position },
        "operators": m.operators.iter().map(|o| json!({
            "name": o.name,
            "subtasks": o.subtasks.iter().map(|s| json!({
                "subtask": s.subtask,
                "chunks": s.chunks.iter().map(|c| {
                    let data = match &c.data {
                        ChunkData::Inline(bytes) => json!({ "inline_bytes": bytes.len() }),
                        ChunkData::File { file, offset, len, crc32c } => json!({
                            "file": match file {
                                StateFile::Exclusive(name) => name.clone(),
                                StateFile::Shared(name) => format!("../shared/{name}"),
                            },
                            "offset": offset,
                            "bytes": len,
                            "crc32c": format!("{crc32c:08x}"),
                        }),
                    };
                    json!({ "handle": c.handle, "kind": format!("{:?}", c.kind), "key_group": c.key_group, "data": data })
                }).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "sink": { "staged": m.sink.staged },
        // Durations in microseconds, sizes in bytes (see `checkpoint::stats`).
        "stats": m.stats,
    })
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of milliseconds since the Unix epoch.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}

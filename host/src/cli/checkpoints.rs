//! `weir checkpoints list|inspect|gc`: looking at and cleaning up a
//! checkpoint directory without running a job.

use anyhow::Result;
use weir_host::checkpoint::metadata::{CheckpointMetadata, ChunkData, StateFile};
use weir_host::checkpoint::storage::{CheckpointStorage, METADATA_FILE};
use weir_host::checkpoint::{lifecycle, restore};

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
            runtime.block_on(list(&storage, job.as_deref()))
        }
        Command::Inspect { path } => {
            let metadata = runtime.block_on(async {
                let location = CheckpointStorage::locate(&path, &cwd).await?;
                restore::read(&location).await
            })?;
            println!("{}", serde_json::to_string_pretty(&to_json(&metadata))?);
            Ok(())
        }
        Command::Gc { dir, job, dry_run } => {
            let storage = CheckpointStorage::open(&dir, &cwd)?;
            let report = runtime.block_on(lifecycle::collect_garbage(&storage, job.as_deref(), dry_run))?;
            let verb = if dry_run { "would remove" } else { "removed" };
            for skipped in &report.skipped {
                println!("skipping {skipped}");
            }
            for removal in &report.removed {
                println!("{verb} {} {}", removal.what, removal.location);
            }
            println!("{} item(s) {verb}", report.removed.len());
            Ok(())
        }
    }
}

async fn list(storage: &CheckpointStorage, job: Option<&str>) -> Result<()> {
    let jobs = lifecycle::jobs(storage, job).await?;
    println!(
        "{:<24} {:>6}  {:<19}  {:>12}  {:>5}  {:>15}  status",
        "job", "id", "completed (UTC)", "state bytes", "files", "inline/external"
    );
    for job in jobs {
        for (id, complete) in storage.list_checkpoints(&job).await? {
            if !complete {
                println!(
                    "{job:<24} {id:>6}  {:<19}  {:>12}  {:>5}  {:>15}  aborted (no {METADATA_FILE})",
                    "-", "-", "-", "-"
                );
                continue;
            }
            match restore::read(&storage.checkpoint(&job, id)).await {
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
                Err(e @ weir_host::Error::Restore(_)) => {
                    println!("{job:<24} {id:>6}  {:<19}  {:>12}  {:>5}  {:>15}  damaged: {e}", "-", "-", "-", "-")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
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
        // What each source subtask had left: ranges of positions.
        "sources": m.sources.iter().map(|source| json!({
            "name": source.name,
            "subtasks": source.subtasks.iter().map(|left| {
                left.iter().map(|split| json!({ "next": split.next, "end": split.end })).collect::<Vec<_>>()
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
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
        "sinks": m.sinks.iter().map(|sink| json!({ "name": sink.name, "staged": sink.staged })).collect::<Vec<_>>(),
        "lineage": m.lineage,
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

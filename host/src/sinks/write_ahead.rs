//! Write-ahead sinks: exactly-once output to a broker that cannot take a
//! transaction over from a crashed process (Kafka through librdkafka, NATS
//! JetStream), after Flink's `GenericWriteAheadSink`.
//!
//! A writer keeps the events of the current checkpoint interval in memory.
//! At barrier n it writes them into the checkpoint itself, as
//! `chk-n/sink-<sink>-<subtask>` (checksummed), before the subtask
//! acknowledges n: the output is as durable as the state. Only when n is
//! complete (`_metadata` written) does the coordinator read the files back
//! and hand them to the [`Publisher`], which publishes them idempotently:
//! Kafka in one transaction that also records "n is published" as a
//! consumer-group offset, NATS with message ids that the server
//! deduplicates. A crash at any instant is repaired by the restore, which
//! publishes the restored checkpoint's output again and relies on that
//! idempotence: before `_metadata` the output is not in any checkpoint
//! (the replay writes it again); after, it is, and the publisher knows
//! whether it went out.
//!
//! Why not Flink's `TwoPhaseCommitSinkFunction` over a Kafka transaction
//! opened at the barrier: a transaction prepared before a crash can only be
//! committed by a producer that resumes it (Flink does so through Kafka
//! client internals); librdkafka aborts it instead (`init_transactions`
//! fences the old producer), which is exactly how peers lose the output of
//! a checkpoint completed just before a crash. The price here is latency
//! (output leaves at the checkpoint's completion, as a read_committed
//! reader of a transactional sink would see it anyway) and writing the
//! output twice.

use std::sync::Arc;

use weir_wire::batch::EventRef;

use super::{CheckpointFiles, SinkConnector, SinkContext, SinkWriter, Staged, StartCheck};
use crate::error::{Error, Result};

/// Ahead of the events of a staged file, and a CRC32C of everything before
/// it at the end.
const MAGIC: &[u8; 8] = b"WEIRSNK1";

/// One event of a checkpoint's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedEvent {
    pub timestamp: i64,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Where the output of a write-ahead sink goes once its checkpoint is
/// complete.
pub trait Publisher: Send + Sync {
    /// Names the destination in messages.
    fn describe(&self) -> String;

    /// At the job's start: refuses settings that could not keep the
    /// promise (a NATS duplicate window shorter than a restart).
    fn check(&self, _start: &StartCheck) -> Result<()> {
        Ok(())
    }

    /// Publishes the output of checkpoint `checkpoint_id`: per writer
    /// subtask, its events in order. Called again for the same checkpoint
    /// after a crash, it must not publish anything twice.
    fn publish(&self, checkpoint_id: u64, parts: &[(u32, Vec<StagedEvent>)]) -> Result<()>;

    /// The newest checkpoint whose output is known published (`None`:
    /// none, or the destination cannot tell).
    fn published_through(&self) -> Result<Option<u64>>;
}

/// A sink connector over a [`Publisher`].
pub struct WriteAheadSink {
    sink: String,
    publisher: Arc<dyn Publisher>,
}

impl WriteAheadSink {
    pub fn new(sink: &str, publisher: impl Publisher + 'static) -> Self {
        WriteAheadSink { sink: sink.to_owned(), publisher: Arc::new(publisher) }
    }

    /// Reads back and publishes what `checkpoint` staged.
    fn publish(&self, checkpoint: &Staged<'_>) -> Result<()> {
        if checkpoint.names.is_empty() {
            return Ok(());
        }
        let Some(files) = checkpoint.files else {
            return Err(Error::Sink(format!("{}: staged output without a checkpoint", self.publisher.describe())));
        };
        let mut parts = Vec::with_capacity(checkpoint.names.len());
        for name in checkpoint.names {
            let Some(subtask) = subtask_of(&self.sink, name) else {
                return Err(Error::Sink(format!(
                    "checkpoint {}: staged output `{name}` is not sink '{}''s",
                    checkpoint.checkpoint_id, self.sink
                )));
            };
            let bytes = files.read(name)?;
            let events = decode(&bytes).map_err(|why| Error::Sink(format!("{}: {why}", files.describe(name))))?;
            parts.push((subtask, events));
        }
        parts.sort_by_key(|(subtask, _)| *subtask);
        let events: usize = parts.iter().map(|(_, e)| e.len()).sum();
        self.publisher.publish(checkpoint.checkpoint_id, &parts)?;
        tracing::debug!(
            "sink '{}': checkpoint {}'s {events} event(s) published to {}",
            self.sink,
            checkpoint.checkpoint_id,
            self.publisher.describe()
        );
        Ok(())
    }
}

impl SinkConnector for WriteAheadSink {
    fn describe(&self) -> String {
        self.publisher.describe()
    }

    fn open(&self, context: SinkContext) -> Result<Box<dyn SinkWriter>> {
        let Some(checkpoints) = context.checkpoints else {
            return Err(Error::Usage(format!(
                "sink '{}' ({}) publishes the output of completed checkpoints: the job needs [checkpoint] \
                 storage",
                self.sink,
                self.publisher.describe()
            )));
        };
        Ok(Box::new(WriteAheadWriter {
            name: staged_name(&self.sink, context.subtask),
            describe: self.publisher.describe(),
            checkpoints,
            last_barrier: context.first_checkpoint_id.saturating_sub(1),
            buffer: Vec::new(),
            events: 0,
        }))
    }

    fn check_start(&self, start: &StartCheck) -> Result<()> {
        self.publisher.check(start)
    }

    fn commit(&self, checkpoint: &Staged<'_>) -> Result<()> {
        self.publish(checkpoint)
    }

    fn restore(&self, checkpoint: Option<&Staged<'_>>, _lineage: &[(u64, u64)]) -> Result<()> {
        // A restart before any checkpoint: this run has published nothing
        // (output goes out only for complete checkpoints), and what an
        // earlier run published stays, as for a fresh start.
        let Some(checkpoint) = checkpoint else { return Ok(()) };
        let restored = checkpoint.checkpoint_id;
        // What went out after the restored checkpoint cannot be taken
        // back: refuse instead of publishing its events a second time.
        if let Some(published) = self.publisher.published_through()?
            && published > restored
        {
            return Err(Error::Sink(format!(
                "{} already holds the output of checkpoint {published}, which is newer than the one to \
                 restore ({restored}); its events would be published twice. Restore checkpoint {published} or a \
                 newer one (weir run --resume picks the newest), or start the job fresh",
                self.publisher.describe(),
            )));
        }
        self.publish(checkpoint)
    }

    fn highest_checkpoint_tag(&self) -> Result<u64> {
        Ok(self.publisher.published_through()?.unwrap_or(0))
    }
}

fn staged_name(sink: &str, subtask: u32) -> String {
    format!("sink-{sink}-{subtask:05}")
}

fn subtask_of(sink: &str, name: &str) -> Option<u32> {
    let digits = name.strip_prefix("sink-")?.strip_prefix(sink)?.strip_prefix('-')?;
    (digits.len() == 5).then(|| digits.parse().ok()).flatten()
}

/// One subtask's writer: the events since the last barrier, encoded.
struct WriteAheadWriter {
    name: String,
    describe: String,
    checkpoints: std::sync::Arc<dyn CheckpointFiles>,
    last_barrier: u64,
    buffer: Vec<u8>,
    events: u64,
}

impl WriteAheadWriter {
    /// Writes the buffered events into checkpoint `checkpoint_id`.
    fn stage(&mut self, checkpoint_id: u64) -> Result<Vec<String>> {
        self.last_barrier = self.last_barrier.max(checkpoint_id);
        if self.events == 0 {
            return Ok(Vec::new());
        }
        let mut bytes = Vec::with_capacity(MAGIC.len() + self.buffer.len() + 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.buffer);
        bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
        self.checkpoints.write(checkpoint_id, &self.name, bytes)?;
        self.buffer.clear();
        self.events = 0;
        Ok(vec![self.name.clone()])
    }
}

impl SinkWriter for WriteAheadWriter {
    fn write(&mut self, event: &EventRef<'_>) -> std::io::Result<()> {
        encode(&mut self.buffer, event.timestamp, event.key, event.value);
        self.events += 1;
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Vec<String>> {
        // Checkpoint n is committed before n + 1 is triggered, and a
        // failed commit fails the job: only this checkpoint's file is
        // still to publish.
        self.stage(checkpoint_id)
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        let last = self.last_barrier + 1;
        self.stage(last)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

fn encode(out: &mut Vec<u8>, timestamp: i64, key: &[u8], value: &[u8]) {
    out.extend_from_slice(&timestamp.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// The events of a staged file; why not, for a damaged one.
fn decode(bytes: &[u8]) -> std::result::Result<Vec<StagedEvent>, String> {
    let body_len =
        bytes.len().checked_sub(4).filter(|&n| n >= MAGIC.len()).ok_or("too short for a staged output file")?;
    let (body, crc) = bytes.split_at(body_len);
    if !body.starts_with(MAGIC) {
        return Err("not a staged output file (bad magic)".into());
    }
    let stored = u32::from_le_bytes(crc.try_into().map_err(|_| "truncated checksum")?);
    if crc32c::crc32c(body) != stored {
        return Err("checksum mismatch: the staged output is damaged".into());
    }
    let mut rest = &body[MAGIC.len()..];
    let mut events = Vec::new();
    while !rest.is_empty() {
        let timestamp = i64::from_le_bytes(take::<8>(&mut rest)?);
        let key_len = u32::from_le_bytes(take::<4>(&mut rest)?) as usize;
        let key = take_slice(&mut rest, key_len)?.to_vec();
        let value_len = u32::from_le_bytes(take::<4>(&mut rest)?) as usize;
        let value = take_slice(&mut rest, value_len)?.to_vec();
        events.push(StagedEvent { timestamp, key, value });
    }
    Ok(events)
}

fn take_slice<'a>(rest: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("truncated event".into());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take<const N: usize>(rest: &mut &[u8]) -> std::result::Result<[u8; N], String> {
    let head = take_slice(rest, N)?;
    head.try_into().map_err(|_| "truncated event".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination that says it holds checkpoint 15's output.
    struct HoldsFifteen;

    impl Publisher for HoldsFifteen {
        fn describe(&self) -> String {
            "a destination".into()
        }

        fn publish(&self, _checkpoint_id: u64, _parts: &[(u32, Vec<StagedEvent>)]) -> Result<()> {
            Ok(())
        }

        fn published_through(&self) -> Result<Option<u64>> {
            Ok(Some(15))
        }
    }

    #[test]
    fn a_restore_older_than_the_published_output_is_refused_a_restart_from_nothing_is_not() {
        let sink = WriteAheadSink::new("out", HoldsFifteen);
        // A fresh run of the job failed before its first checkpoint: what
        // an earlier run published is not this run's to repeat.
        sink.restore(None, &[]).unwrap();
        let staged = |checkpoint_id| Staged { checkpoint_id, names: &[], files: None };
        sink.restore(Some(&staged(15)), &[(1, 15)]).unwrap();
        let err = sink.restore(Some(&staged(10)), &[(1, 10)]).unwrap_err().to_string();
        assert!(err.contains("output of checkpoint 15, which is newer than the one to restore (10)"), "{err}");
    }

    #[test]
    fn staged_files_round_trip_and_damage_is_refused() {
        let mut buffer = Vec::new();
        encode(&mut buffer, 7, b"k", b"value");
        encode(&mut buffer, -1, b"", b"");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&buffer);
        bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
        let events = decode(&bytes).unwrap();
        assert_eq!(events[0], StagedEvent { timestamp: 7, key: b"k".to_vec(), value: b"value".to_vec() });
        assert_eq!(events[1], StagedEvent { timestamp: -1, key: Vec::new(), value: Vec::new() });
        let mut damaged = bytes.clone();
        damaged[10] ^= 1;
        assert!(decode(&damaged).unwrap_err().contains("checksum"));
        assert!(decode(&bytes[..bytes.len() - 3]).is_err());
        assert_eq!(subtask_of("out", &staged_name("out", 3)), Some(3));
        assert_eq!(subtask_of("out", &staged_name("out-2", 3)), None);
    }
}

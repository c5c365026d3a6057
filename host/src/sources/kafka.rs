//! The `kafka` source: a topic's partitions dealt to the source subtasks,
//! each subtask reading all of its partitions at once with librdkafka
//! (`rdkafka`'s synchronous `BaseConsumer`, partitions assigned directly:
//! no consumer-group rebalancing decides who reads what).
//!
//! A partition is a [`Split`] that never ends: position `p << 48 | offset`
//! (the next offset to read of partition `p`) up to `(p + 1) << 48`. The
//! checkpoint holds every partition's next offset, so a restore reads on
//! from exactly there; the consumer group's committed offsets are written
//! at each barrier for lag monitoring only and never read back. Partitions
//! are dealt `p mod parallelism`, at a fresh start and on rescale alike;
//! one that appears while the job runs (partition discovery, every few
//! seconds) is read from its beginning by the subtask it deals to.
//!
//! The consumer reads `read_committed`: the output of an exactly-once
//! producer (Weir's own Kafka sink) is read once, aborted records never.
//! The record timestamp becomes the event timestamp, which watermarks
//! follow.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use weir_wire::batch::NO_TIMESTAMP;

use super::{Assignment, Emit, Emitted, SourceConnector, SourceError, SourceReader, Split};
use crate::error::{Error, Result};

/// Bits of a position that hold the offset; the partition is above them.
const OFFSET_BITS: u32 = 48;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
/// How long a metadata request may take before the job's start fails.
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one `emit` waits when no record has arrived.
const POLL_WAIT: Duration = Duration::from_millis(50);
/// How often a subtask looks for new partitions.
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(5);

/// Where a fresh start begins reading (a restore reads from the
/// checkpoint's offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KafkaStart {
    /// Each partition's first retained record.
    #[default]
    Earliest,
    /// Only records produced after the job started.
    Latest,
}

/// A Kafka topic as a source (`type = "kafka"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: String,
    pub start: KafkaStart,
    pub rate_limit: Option<u64>,
    /// More librdkafka settings (`[sources.kafka]` in a job file), applied
    /// last: security settings, `fetch.min.bytes`...
    pub properties: BTreeMap<String, String>,
}

impl KafkaSource {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSource {
            brokers: brokers.into(),
            topic: topic.into(),
            start: KafkaStart::Earliest,
            rate_limit: None,
            properties: BTreeMap::new(),
        }
    }

    fn consumer(&self, job: &str, source: &str) -> Result<BaseConsumer> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("weir-{job}-{source}"))
            .set("client.id", format!("weir-{job}-{source}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            // An offset the checkpoint holds that retention has since
            // deleted: read on from the oldest record kept.
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config.create().map_err(|e| self.error("cannot create a consumer", e))
    }

    fn error(&self, what: &str, e: KafkaError) -> Error {
        Error::Source(format!("kafka topic {} at {}: {what}: {e}", self.topic, self.brokers))
    }

    /// The topic's partitions, as the brokers know them now.
    fn partitions(&self, consumer: &BaseConsumer) -> Result<Vec<i32>> {
        let metadata = consumer
            .fetch_metadata(Some(&self.topic), METADATA_TIMEOUT)
            .map_err(|e| self.error("cannot read the topic's metadata", e))?;
        let topic = metadata.topics().iter().find(|t| t.name() == self.topic).ok_or_else(|| {
            Error::Source(format!("kafka topic {} at {}: not in the metadata", self.topic, self.brokers))
        })?;
        if let Some(e) = topic.error() {
            return Err(Error::Source(format!(
                "kafka topic {} at {}: {} (create the topic first)",
                self.topic,
                self.brokers,
                rdkafka::types::RDKafkaErrorCode::from(e)
            )));
        }
        let mut partitions: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
        partitions.sort_unstable();
        if partitions.is_empty() {
            return Err(Error::Source(format!("kafka topic {} at {}: has no partitions", self.topic, self.brokers)));
        }
        Ok(partitions)
    }
}

/// The split of partition `partition` from `offset` on.
fn partition_split(partition: i32, offset: u64) -> Split {
    let base = u64::from(partition as u32) << OFFSET_BITS;
    Split { next: base | (offset & OFFSET_MASK), end: base + (1 << OFFSET_BITS) }
}

/// `(partition, offset)` of a position.
fn partition_of(position: u64) -> (i32, u64) {
    ((position >> OFFSET_BITS) as i32, position & OFFSET_MASK)
}

/// Partitions go to subtask `p mod parallelism`.
fn deal_partitions(splits: impl IntoIterator<Item = Split>, parallelism: u32) -> Vec<Vec<Split>> {
    let mut dealt = vec![Vec::new(); parallelism.max(1) as usize];
    for split in splits {
        let (partition, _) = partition_of(split.next);
        let subtasks = dealt.len();
        dealt[partition as usize % subtasks].push(split);
    }
    dealt
}

impl SourceConnector for KafkaSource {
    fn describe(&self) -> String {
        format!("kafka topic {} at {}", self.topic, self.brokers)
    }

    fn initial_splits(&self, job: &str, parallelism: u32) -> Result<Vec<Vec<Split>>> {
        let consumer = self.consumer(job, "start")?;
        let mut splits = Vec::new();
        for partition in self.partitions(&consumer)? {
            let offset = match self.start {
                KafkaStart::Earliest => 0,
                KafkaStart::Latest => {
                    let (_, high) = consumer
                        .fetch_watermarks(&self.topic, partition, METADATA_TIMEOUT)
                        .map_err(|e| self.error(&format!("cannot read partition {partition}'s end"), e))?;
                    high.max(0) as u64
                }
            };
            splits.push(partition_split(partition, offset));
        }
        Ok(deal_partitions(splits, parallelism))
    }

    /// A partition is never cut: it goes whole to `p mod parallelism`.
    fn deal(&self, left: Vec<Split>, parallelism: u32) -> Result<Vec<Vec<Split>>> {
        Ok(deal_partitions(left, parallelism))
    }

    fn open(&self, assignment: Assignment) -> Result<Box<dyn SourceReader>> {
        let consumer = self.consumer(&assignment.job, &assignment.source)?;
        let next: BTreeMap<i32, u64> = assignment.splits.iter().map(|s| partition_of(s.next)).collect();
        let known = assignment.all.iter().map(|s| partition_of(s.next).0).collect();
        let mut reader = KafkaReader {
            spec: self.clone(),
            consumer,
            subtask: assignment.subtask,
            parallelism: assignment.parallelism,
            next,
            known,
            discovered: Instant::now(),
        };
        reader.assign()?;
        tracing::debug!(
            "kafka topic {}: subtask {} reads partitions {:?}",
            self.topic,
            assignment.subtask,
            reader.next.keys().collect::<Vec<_>>()
        );
        Ok(Box::new(reader))
    }

    fn describe_positions(&self, first: u64, last: u64) -> String {
        let ((p1, o1), (p2, o2)) = (partition_of(first), partition_of(last));
        match (p1 == p2, o1 == o2) {
            (true, true) => format!("kafka topic {}, partition {p1} offset {o1}", self.topic),
            (true, false) => format!("kafka topic {}, partition {p1} offsets {o1}..={o2}", self.topic),
            _ => format!("kafka topic {}, partition {p1} offset {o1} .. partition {p2} offset {o2}", self.topic),
        }
    }
}

/// One subtask's consumer.
struct KafkaReader {
    spec: KafkaSource,
    consumer: BaseConsumer,
    subtask: u32,
    parallelism: u32,
    /// Per partition read, the next offset.
    next: BTreeMap<i32, u64>,
    /// Every partition some subtask of this attempt reads.
    known: std::collections::BTreeSet<i32>,
    discovered: Instant,
}

impl KafkaReader {
    fn assign(&mut self) -> Result<()> {
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in &self.next {
            list.add_partition_offset(&self.spec.topic, partition, Offset::Offset(offset as i64))
                .map_err(|e| self.spec.error("cannot assign partitions", e))?;
        }
        self.consumer.assign(&list).map_err(|e| self.spec.error("cannot assign partitions", e))
    }

    /// Claims partitions created since the job started that deal to this
    /// subtask; they are read from their beginning.
    fn discover(&mut self) -> Result<()> {
        self.discovered = Instant::now();
        let partitions = match self.spec.partitions(&self.consumer) {
            Ok(partitions) => partitions,
            // The broker may be restarting: look again next time.
            Err(e) => {
                tracing::debug!("partition discovery: {e}");
                return Ok(());
            }
        };
        let mut claimed = Vec::new();
        for partition in partitions {
            if self.known.insert(partition) && partition as u32 % self.parallelism == self.subtask {
                self.next.insert(partition, 0);
                claimed.push(partition);
            }
        }
        if !claimed.is_empty() {
            tracing::info!(
                "kafka topic {}: subtask {} reads new partition(s) {claimed:?} from their beginning",
                self.spec.topic,
                self.subtask
            );
            self.assign()?;
        }
        Ok(())
    }
}

impl SourceReader for KafkaReader {
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError> {
        if self.discovered.elapsed() >= DISCOVERY_INTERVAL {
            self.discover()?;
        }
        let mut events = 0;
        while events < max_events {
            // Wait only for the first record: what is fetched already
            // comes without waiting.
            let wait = if events == 0 { POLL_WAIT } else { Duration::ZERO };
            if events == 0 {
                // Latency: what the router holds goes downstream before a wait.
                out.flush()?;
            }
            let Some(polled) = self.consumer.poll(wait) else { break };
            let message = match polled {
                Ok(message) => message,
                // Transport errors (a broker restarting) are retried by
                // librdkafka itself; only fatal ones end the job.
                Err(e) if is_fatal(&e) => return Err(self.spec.error("consumer failed", e).into()),
                Err(e) => {
                    tracing::warn!("kafka topic {}: {e} (retrying)", self.spec.topic);
                    break;
                }
            };
            let (partition, offset) = (message.partition(), message.offset().max(0) as u64);
            let timestamp = message.timestamp().to_millis().unwrap_or(NO_TIMESTAMP);
            let position = partition_split(partition, offset).next;
            out.push_from(
                position,
                timestamp,
                message.key().unwrap_or_default(),
                message.payload().unwrap_or_default(),
            )?;
            self.next.insert(partition, offset + 1);
            events += 1;
        }
        Ok(Emitted { events, exhausted: false })
    }

    fn left(&self) -> Vec<Split> {
        self.next.iter().map(|(&partition, &offset)| partition_split(partition, offset)).collect()
    }

    fn barrier(&mut self, _checkpoint_id: u64) {
        // For lag monitoring only: restores read the checkpoint's offsets.
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in &self.next {
            let _ = list.add_partition_offset(&self.spec.topic, partition, Offset::Offset(offset as i64));
        }
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            tracing::debug!("kafka topic {}: monitoring commit: {e}", self.spec.topic);
        }
    }
}

fn is_fatal(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(Code::Fatal | Code::TopicAuthorizationFailed | Code::GroupAuthorizationFailed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_splits_dealt_whole() {
        let split = partition_split(3, 42);
        assert_eq!(partition_of(split.next), (3, 42));
        assert_eq!(partition_of(split.end - 1), (3, OFFSET_MASK));
        assert!(!split.is_empty());
        let splits: Vec<Split> = (0..5).map(|p| partition_split(p, 7)).collect();
        let dealt = deal_partitions(splits.clone(), 2);
        let partitions = |d: &Vec<Split>| d.iter().map(|s| partition_of(s.next).0).collect::<Vec<_>>();
        assert_eq!(partitions(&dealt[0]), [0, 2, 4]);
        assert_eq!(partitions(&dealt[1]), [1, 3]);
        // More subtasks than partitions: some read nothing, none is cut.
        let dealt = deal_partitions(splits, 7);
        assert_eq!(dealt.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1, 1, 1, 0, 0]);
    }
}

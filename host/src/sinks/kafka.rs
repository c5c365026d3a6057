//! The `kafka` sink: a [`Publisher`] for write-ahead output
//! (`write_ahead.rs` says why write-ahead), record key = event key, value
//! = event value, timestamp = event timestamp.
//!
//! Exactly once (the default): the coordinator's producer has the
//! transactional id `weir-<job>-<sink>`, so a new attempt's
//! `init_transactions` fences any producer of an older one still alive (a
//! zombie) and aborts its open transaction. A checkpoint's output goes out
//! in one transaction that also writes a marker record (key: the
//! transactional id, value: the checkpoint id) to partition 0 of the marker
//! topic (`<topic>.weir-markers` unless the job file names another): the
//! durable record that the output is published, visible to a
//! `read_committed` reader exactly when the output is. Publishing
//! checkpoint n again after a crash reads the last marker first and does
//! nothing when it says n. (A transactional consumer-group offset would do
//! the same without a topic, but librdkafka's mock cluster, the only
//! transactional broker the tests have, does not keep those.)
//!
//! `delivery = "at-least-once"` uses an idempotent producer without
//! transactions (for brokers without them): after a crash between publish
//! and the checkpoint's next one, a restore publishes its output again.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use weir_wire::batch::NO_TIMESTAMP;

use super::write_ahead::{Publisher, StagedEvent};
use crate::error::{Error, Result};

/// Broker round trips (init, marker reads, commit) may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What a reader of the topic may see after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KafkaDelivery {
    /// Transactions: a `read_committed` consumer sees every event once.
    #[default]
    ExactlyOnce,
    /// No transactions: events may appear twice after a crash.
    AtLeastOnce,
}

/// A Kafka topic as a sink (`type = "kafka"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSink {
    pub brokers: String,
    pub topic: String,
    pub delivery: KafkaDelivery,
    /// Where the exactly-once sink records what it published (partition 0).
    pub marker_topic: String,
    /// More librdkafka producer settings, applied last.
    pub properties: BTreeMap<String, String>,
}

impl KafkaSink {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        let topic = topic.into();
        KafkaSink {
            brokers: brokers.into(),
            marker_topic: Self::default_marker_topic(&topic),
            topic,
            delivery: KafkaDelivery::ExactlyOnce,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaSink {
    pub fn default_marker_topic(topic: &str) -> String {
        format!("{topic}.weir-markers")
    }
}

/// Counts failed deliveries (librdkafka reports them to the context).
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(e.to_string());
            }
        }
    }
}

struct Clients {
    producer: BaseProducer<Deliveries>,
    /// The newest checkpoint published, read from the marker topic once
    /// (after `init_transactions`) and kept up to date by each commit.
    published: Option<u64>,
}

pub(crate) struct KafkaPublisher {
    spec: KafkaSink,
    /// Transactional id and marker group.
    id: String,
    clients: Mutex<Option<Clients>>,
}

impl KafkaPublisher {
    pub(crate) fn new(spec: &KafkaSink, job: &str, sink: &str) -> Self {
        KafkaPublisher { spec: spec.clone(), id: format!("weir-{job}-{sink}"), clients: Mutex::new(None) }
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Sink(format!("kafka topic {} at {}: {what}: {e}", self.spec.topic, self.spec.brokers))
    }

    fn exactly_once(&self) -> bool {
        self.spec.delivery == KafkaDelivery::ExactlyOnce
    }

    /// The clients, made (and the transactional id initialised, fencing
    /// older producers) on first use.
    fn with_clients<T>(&self, f: impl FnOnce(&mut Clients) -> Result<T>) -> Result<T> {
        let mut clients = self.clients.lock().map_err(|_| Error::Internal("kafka sink lock poisoned".into()))?;
        if clients.is_none() {
            *clients = Some(self.connect()?);
        }
        let Some(ready) = clients.as_mut() else { return Err(Error::Internal("kafka clients missing".into())) };
        let result = f(ready);
        if result.is_err() {
            // A fresh producer (and `init_transactions`) next time: the
            // transaction state of this one is unknown.
            *clients = None;
        }
        result
    }

    fn connect(&self) -> Result<Clients> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.spec.brokers)
            .set("client.id", &self.id)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5");
        if self.exactly_once() {
            config.set("transactional.id", &self.id);
        }
        for (key, value) in &self.spec.properties {
            config.set(key, value);
        }
        let producer: BaseProducer<Deliveries> =
            config.create_with_context(Deliveries::default()).map_err(|e| self.error("cannot create a producer", e))?;
        if !self.exactly_once() {
            return Ok(Clients { producer, published: None });
        }
        producer.init_transactions(REQUEST_TIMEOUT).map_err(|e| self.error("cannot initialise transactions", e))?;
        // Only now: the open transaction of an older producer is aborted,
        // so the last committed marker is the last marker.
        let published = self.read_marker()?;
        Ok(Clients { producer, published })
    }

    /// The checkpoint id of this sink's last committed marker.
    fn read_marker(&self) -> Result<Option<u64>> {
        let topic = &self.spec.marker_topic;
        let fail = |what: &str, e: KafkaError| self.error(&format!("marker topic {topic}: {what}"), e);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.spec.brokers)
            .set("group.id", &self.id)
            .set("client.id", format!("{}-marker", self.id))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()
            .map_err(|e| fail("cannot create a consumer", e))?;
        let (low, high) = match consumer.fetch_watermarks(topic, 0, REQUEST_TIMEOUT) {
            Ok(watermarks) => watermarks,
            Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition)) => return Ok(None),
            Err(e) => return Err(fail("cannot read its end", e)),
        };
        if high <= low {
            return Ok(None);
        }
        // Each transaction adds a marker and a commit record; other sinks
        // may share the topic: look further back until one of ours shows.
        let mut window = 64;
        loop {
            let from = high.saturating_sub(window).max(low);
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(topic, 0, Offset::Offset(from)).map_err(|e| fail("bad offset", e))?;
            consumer.assign(&list).map_err(|e| fail("cannot assign", e))?;
            let mut last = None;
            loop {
                match consumer.poll(REQUEST_TIMEOUT) {
                    Some(Ok(record)) => {
                        if record.key() == Some(self.id.as_bytes()) {
                            let id = record.payload().and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
                            last = id.or(last);
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => break,
                    Some(Err(e)) => return Err(fail("cannot read", e)),
                    None => return Err(self.error(&format!("marker topic {topic}"), "no answer")),
                }
            }
            if last.is_some() || from == low {
                return Ok(last);
            }
            window *= 8;
        }
    }

    fn send_all(&self, producer: &BaseProducer<Deliveries>, parts: &[(u32, Vec<StagedEvent>)]) -> Result<()> {
        for (_, events) in parts {
            for event in events {
                let mut record = BaseRecord::to(&self.spec.topic).key(&event.key[..]).payload(&event.value[..]);
                if event.timestamp != NO_TIMESTAMP {
                    record = record.timestamp(event.timestamp);
                }
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            record = back;
                            producer.poll(Duration::from_millis(10));
                        }
                        Err((e, _)) => return Err(self.error("cannot produce", e)),
                    }
                }
            }
            producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    fn check_deliveries(&self, producer: &BaseProducer<Deliveries>) -> Result<()> {
        let context = producer.context();
        let failed = context.failed.swap(0, Ordering::Relaxed);
        if failed > 0 {
            let last = context.last_error.lock().ok().and_then(|l| l.clone()).unwrap_or_default();
            return Err(self.error(&format!("{failed} record(s) not delivered"), last));
        }
        Ok(())
    }
}

impl Publisher for KafkaPublisher {
    fn describe(&self) -> String {
        format!("kafka topic {} at {}", self.spec.topic, self.spec.brokers)
    }

    fn publish(&self, checkpoint_id: u64, parts: &[(u32, Vec<StagedEvent>)]) -> Result<()> {
        self.with_clients(|clients| {
            let producer = &clients.producer;
            if !self.exactly_once() {
                self.send_all(producer, parts)?;
                producer.flush(REQUEST_TIMEOUT).map_err(|e| self.error("cannot flush", e))?;
                return self.check_deliveries(producer);
            }
            if let Some(published) = clients.published
                && published >= checkpoint_id
            {
                tracing::info!(
                    "kafka topic {}: checkpoint {checkpoint_id}'s output is already published",
                    self.spec.topic
                );
                return Ok(());
            }
            producer.begin_transaction().map_err(|e| self.error("cannot begin a transaction", e))?;
            let result = (|| {
                self.send_all(producer, parts)?;
                let marker = checkpoint_id.to_string();
                let record = BaseRecord::to(&self.spec.marker_topic).partition(0).key(&self.id).payload(&marker);
                producer.send(record).map_err(|(e, _)| self.error("cannot write the marker", e))?;
                crate::util::failpoint("kafka-before-commit");
                producer.commit_transaction(REQUEST_TIMEOUT).map_err(|e| self.error("cannot commit the transaction", e))
            })();
            if result.is_err() {
                let _ = producer.abort_transaction(REQUEST_TIMEOUT);
            }
            result?;
            self.check_deliveries(producer)?;
            clients.published = Some(checkpoint_id);
            Ok(())
        })
    }

    fn published_through(&self) -> Result<Option<u64>> {
        if !self.exactly_once() {
            return Ok(None);
        }
        self.with_clients(|clients| Ok(clients.published))
    }
}

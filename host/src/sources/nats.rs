//! The `nats` source: a NATS JetStream stream read by stream sequence with
//! an ordered consumer (ephemeral, no acknowledgements: the client
//! re-creates it from the last sequence it saw should the server restart).
//!
//! The position is the next stream sequence to read, one [`Split`]
//! `next..u64::MAX`; the checkpoint holds it and a restore reads on from
//! there. The header `Weir-Key` is the event key, the payload its value,
//! and the time the server stored the message its timestamp. One subtask
//! reads a stream: a stream has one order.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures_util::{FutureExt, StreamExt};

use super::{Assignment, Emit, Emitted, SourceConnector, SourceError, SourceReader, Split};
use crate::error::{Error, Result};

/// The header that carries an event's key (DESIGN.md, "NATS JetStream").
pub(crate) const KEY_HEADER: &str = "Weir-Key";
/// How long a connection or a stream lookup may take at the job's start.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one `emit` waits when no message has arrived.
const POLL_WAIT: Duration = Duration::from_millis(50);

/// A JetStream stream as a source (`type = "nats"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSource {
    /// `nats://host:port`.
    pub url: String,
    pub stream: String,
    /// Only messages of these subjects (a filter such as `events.>`).
    pub subject: Option<String>,
    pub rate_limit: Option<u64>,
}

impl NatsSource {
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        NatsSource { url: url.into(), stream: stream.into(), subject: None, rate_limit: None }
    }

    fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::Source(format!("nats stream {} at {}: {what}", self.stream, self.url))
    }
}

/// Connects to `url` within [`CONNECT_TIMEOUT`]; the client reconnects by
/// itself afterwards.
pub(crate) async fn connect(url: &str, name: &str) -> std::result::Result<async_nats::Client, String> {
    let options = async_nats::ConnectOptions::new().name(name).connection_timeout(CONNECT_TIMEOUT);
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect(url)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

impl SourceConnector for NatsSource {
    fn describe(&self) -> String {
        format!("nats stream {} at {}", self.stream, self.url)
    }

    fn initial_splits(&self, _job: &str, parallelism: u32) -> Result<Vec<Vec<Split>>> {
        if parallelism != 1 {
            return Err(self.error(format!("parallelism is {parallelism}; a stream is read by one subtask")));
        }
        Ok(vec![vec![Split { next: 1, end: u64::MAX }]])
    }

    fn deal(&self, left: Vec<Split>, parallelism: u32) -> Result<Vec<Vec<Split>>> {
        if parallelism != 1 {
            return Err(self.error(format!("parallelism is {parallelism}; a stream is read by one subtask")));
        }
        Ok(vec![left])
    }

    fn open(&self, assignment: Assignment) -> Result<Box<dyn SourceReader>> {
        let next = match assignment.splits.as_slice() {
            [] => return Ok(Box::new(Drained)),
            [split] => split.next.max(1),
            _ => return Err(self.error("a checkpoint of this source holds more than one position")),
        };
        let name = format!("weir-{}-{}", assignment.job, assignment.source);
        let runtime = assignment.runtime.clone();
        let messages = runtime.block_on(async {
            let client = connect(&self.url, &name).await.map_err(|e| self.error(e))?;
            let jetstream = async_nats::jetstream::new(client);
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, jetstream.get_stream(&self.stream))
                .await
                .map_err(|_| self.error("no answer to the stream lookup"))?
                .map_err(|e| self.error(format!("cannot find the stream: {e}")))?;
            let config = OrderedConfig {
                filter_subject: self.subject.clone().unwrap_or_default(),
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: next },
                ..Default::default()
            };
            let consumer = stream
                .create_consumer(config)
                .await
                .map_err(|e| self.error(format!("cannot create a consumer: {e}")))?;
            consumer.messages().await.map_err(|e| self.error(format!("cannot read: {e}")))
        })?;
        tracing::debug!("nats stream {}: reading from sequence {next}", self.stream);
        Ok(Box::new(NatsReader { spec: self.clone(), runtime, messages, next, batch: Vec::new() }))
    }

    fn describe_positions(&self, first: u64, last: u64) -> String {
        match first == last {
            true => format!("nats stream {}, sequence {first}", self.stream),
            false => format!("nats stream {}, sequences {first}..={last}", self.stream),
        }
    }
}

/// A restored subtask with nothing left (cannot happen for a stream, whose
/// split never ends, but a custom checkpoint could say so).
struct Drained;

impl SourceReader for Drained {
    fn emit(&mut self, _out: &mut dyn Emit, _max_events: usize) -> Result<Emitted, SourceError> {
        Ok(Emitted { events: 0, exhausted: true })
    }

    fn left(&self) -> Vec<Split> {
        Vec::new()
    }
}

struct NatsReader {
    spec: NatsSource,
    runtime: tokio::runtime::Handle,
    messages: async_nats::jetstream::consumer::pull::Ordered,
    /// The next stream sequence to read.
    next: u64,
    /// (sequence, timestamp, key, value) fetched, not yet pushed.
    batch: Vec<(u64, i64, Vec<u8>, async_nats::Message)>,
}

impl NatsReader {
    /// Fetches up to `max_events` messages on the I/O runtime (pushing,
    /// which may block on backpressure, happens outside it): what has
    /// arrived already, and with `wait` up to [`POLL_WAIT`] for the first.
    fn fetch(&mut self, max_events: usize, wait: bool) -> Result<()> {
        let spec = &self.spec;
        let (messages, batch) = (&mut self.messages, &mut self.batch);
        self.runtime.block_on(async {
            while batch.len() < max_events {
                let next = match wait && batch.is_empty() {
                    true => match tokio::time::timeout(POLL_WAIT, messages.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    },
                    false => match messages.next().now_or_never() {
                        Some(next) => next,
                        None => break,
                    },
                };
                let message = match next {
                    Some(Ok(message)) => message,
                    // The ordered consumer re-creates itself on gaps and
                    // server restarts; an error here is a lasting one.
                    Some(Err(e)) => return Err(spec.error(format!("cannot read: {e}"))),
                    None => return Err(spec.error("the consumer ended")),
                };
                let info = message.info().map_err(|e| spec.error(format!("a message without stream info: {e}")))?;
                let (sequence, published) = (info.stream_sequence, info.published);
                let timestamp = (published.unix_timestamp_nanos() / 1_000_000) as i64;
                let key = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(KEY_HEADER))
                    .map(|k| k.as_str().as_bytes().to_vec())
                    .unwrap_or_default();
                batch.push((sequence, timestamp, key, message.message));
            }
            Ok(())
        })
    }
}

impl SourceReader for NatsReader {
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError> {
        self.fetch(max_events, false)?;
        if self.batch.is_empty() {
            // Latency: what the router holds goes downstream before a wait.
            out.flush()?;
            self.fetch(max_events, true)?;
        }
        let events = self.batch.len();
        for (sequence, timestamp, key, message) in self.batch.drain(..) {
            out.push_from(sequence, timestamp, &key, &message.payload)?;
            self.next = sequence + 1;
        }
        Ok(Emitted { events, exhausted: false })
    }

    fn left(&self) -> Vec<Split> {
        vec![Split { next: self.next, end: u64::MAX }]
    }
}

//! The `nats` sink: a [`Publisher`] for write-ahead output into a subject
//! that a JetStream stream captures. Header `Weir-Key` = event key,
//! payload = event value.
//!
//! Every message carries `Nats-Msg-Id: weir:<job>:<checkpoint>:<subtask>:<seq>`,
//! a name that only that event of that checkpoint has. Publishing a
//! checkpoint's output again after a crash sends the same ids, and the
//! server drops each one it stored within the stream's duplicate window,
//! which the job checks at start against how long a restart can take. The
//! last message on the subject is the marker of what went out: a
//! checkpoint whose last event is there is not published again at all (so
//! a resume long after the window has passed duplicates nothing either).

use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};

use super::StartCheck;
use super::write_ahead::{Publisher, StagedEvent};
use crate::error::{Error, Result};
use crate::sources::nats::{CONNECT_TIMEOUT, KEY_HEADER, connect};

/// How long a re-publish may take beyond the restart delay (restoring
/// state, reading the staged output back).
const RESTART_MARGIN: Duration = Duration::from_secs(30);
/// Publishes awaited together.
const IN_FLIGHT: usize = 1024;

/// A subject captured by a JetStream stream, as a sink (`type = "nats"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSink {
    pub url: String,
    pub subject: String,
}

impl NatsSink {
    pub fn new(url: impl Into<String>, subject: impl Into<String>) -> Self {
        NatsSink { url: url.into(), subject: subject.into() }
    }
}

pub(crate) struct NatsPublisher {
    spec: NatsSink,
    job: String,
    runtime: tokio::runtime::Handle,
    jetstream: Mutex<Option<jetstream::Context>>,
}

/// `weir:<job>:<checkpoint>:<subtask>:<seq>`, parsed.
#[derive(Debug, PartialEq, Eq)]
struct MessageId {
    checkpoint: u64,
    subtask: u32,
    seq: u64,
}

fn message_id(job: &str, checkpoint: u64, subtask: u32, seq: u64) -> String {
    format!("weir:{job}:{checkpoint}:{subtask}:{seq}")
}

fn parse_message_id(job: &str, id: &str) -> Option<MessageId> {
    let rest = id.strip_prefix("weir:")?.strip_prefix(job)?.strip_prefix(':')?;
    let mut parts = rest.split(':');
    let id = MessageId {
        checkpoint: parts.next()?.parse().ok()?,
        subtask: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(id)
}

impl NatsPublisher {
    pub(crate) fn new(spec: &NatsSink, job: &str, runtime: tokio::runtime::Handle) -> Self {
        NatsPublisher { spec: spec.clone(), job: job.to_owned(), runtime, jetstream: Mutex::new(None) }
    }

    fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::Sink(format!("nats subject {} at {}: {what}", self.spec.subject, self.spec.url))
    }

    fn context(&self) -> Result<jetstream::Context> {
        let mut held = self.jetstream.lock().map_err(|_| Error::Internal("nats sink lock poisoned".into()))?;
        if let Some(context) = held.as_ref() {
            return Ok(context.clone());
        }
        let client = self
            .runtime
            .block_on(connect(&self.spec.url, &format!("weir-{}-sink", self.job)))
            .map_err(|e| self.error(e))?;
        // The context spawns its own tasks: on the I/O runtime.
        let _runtime = self.runtime.enter();
        let context = jetstream::new(client);
        *held = Some(context.clone());
        Ok(context)
    }

    /// The stream that captures the subject.
    async fn stream(&self, context: &jetstream::Context) -> Result<jetstream::stream::Stream> {
        let lookup = async {
            let name = context.stream_by_subject(&self.spec.subject).await.map_err(|e| {
                self.error(format!("no stream captures the subject ({e}); create one, e.g. `nats stream add`"))
            })?;
            context.get_stream(&name).await.map_err(|e| self.error(format!("cannot read stream {name}: {e}")))
        };
        tokio::time::timeout(CONNECT_TIMEOUT, lookup).await.map_err(|_| self.error("no answer to the stream lookup"))?
    }

    /// The id of the last message on the subject, if it is this job's.
    async fn last_published(&self, stream: &jetstream::stream::Stream) -> Result<Option<MessageId>> {
        match stream.get_last_raw_message_by_subject(&self.spec.subject).await {
            Ok(message) => Ok(message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .and_then(|id| parse_message_id(&self.job, id.as_str()))),
            Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(self.error(format!("cannot read the subject's last message: {e}"))),
        }
    }
}

impl Publisher for NatsPublisher {
    fn describe(&self) -> String {
        format!("nats subject {} at {}", self.spec.subject, self.spec.url)
    }

    fn check(&self, start: &StartCheck) -> Result<()> {
        let context = self.context()?;
        self.runtime.block_on(async {
            let mut stream = self.stream(&context).await?;
            let info =
                stream.info().await.map_err(|e| self.error(format!("cannot read the stream's settings: {e}")))?;
            let window = info.config.duplicate_window;
            let needed = start.max_restart_delay + RESTART_MARGIN;
            if window < needed {
                return Err(self.error(format!(
                    "stream {}'s duplicate window is {window:?}, shorter than a restart can take ({needed:?}: the \
                     longest restart delay, {:?}, plus {RESTART_MARGIN:?}); a message published before a crash \
                     and again after it would be stored twice. Raise the stream's duplicate_window",
                    info.config.name, start.max_restart_delay
                )));
            }
            Ok(())
        })
    }

    fn publish(&self, checkpoint_id: u64, parts: &[(u32, Vec<StagedEvent>)]) -> Result<()> {
        let context = self.context()?;
        self.runtime.block_on(async {
            let stream = self.stream(&context).await?;
            let last_event = parts.iter().rev().find_map(|(subtask, events)| {
                events.len().checked_sub(1).map(|seq| MessageId {
                    checkpoint: checkpoint_id,
                    subtask: *subtask,
                    seq: seq as u64,
                })
            });
            if let Some(last) = self.last_published(&stream).await?
                && (last.checkpoint > checkpoint_id || Some(&last) == last_event.as_ref())
            {
                tracing::info!(
                    "nats subject {}: checkpoint {checkpoint_id}'s output is already published",
                    self.spec.subject
                );
                return Ok(());
            }
            let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(IN_FLIGHT);
            let halfway = parts.iter().map(|(_, events)| events.len()).sum::<usize>() / 2;
            let mut sent = 0;
            for (subtask, events) in parts {
                for (seq, event) in events.iter().enumerate() {
                    if sent == halfway && halfway > 0 {
                        // Tests: a crash with half the output stored.
                        self.await_acks(&mut acks).await?;
                        crate::util::failpoint("nats-mid-publish");
                    }
                    sent += 1;
                    let key = std::str::from_utf8(&event.key)
                        .ok()
                        .filter(|k| !k.contains(['\r', '\n']))
                        .ok_or_else(|| self.error(format!("event key {:?} cannot be a header value", event.key)))?;
                    let message = PublishMessage::build()
                        .payload(event.value.clone().into())
                        .message_id(message_id(&self.job, checkpoint_id, *subtask, seq as u64))
                        .header(KEY_HEADER, key);
                    let ack = context
                        .send_publish(self.spec.subject.clone(), message)
                        .await
                        .map_err(|e| self.error(format!("cannot publish: {e}")))?;
                    acks.push(ack);
                    if acks.len() >= IN_FLIGHT {
                        self.await_acks(&mut acks).await?;
                    }
                }
            }
            self.await_acks(&mut acks).await
        })
    }

    fn published_through(&self) -> Result<Option<u64>> {
        let context = self.context()?;
        self.runtime.block_on(async {
            let stream = self.stream(&context).await?;
            Ok(self.last_published(&stream).await?.map(|id| id.checkpoint))
        })
    }
}

impl NatsPublisher {
    async fn await_acks(&self, acks: &mut Vec<PublishAckFuture>) -> Result<()> {
        for ack in acks.drain(..) {
            ack.await.map_err(|e| self.error(format!("a publish was not acknowledged: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_name_job_checkpoint_subtask_and_sequence() {
        let id = message_id("wc", 12, 1, 40);
        assert_eq!(id, "weir:wc:12:1:40");
        assert_eq!(parse_message_id("wc", &id), Some(MessageId { checkpoint: 12, subtask: 1, seq: 40 }));
        assert_eq!(parse_message_id("other", &id), None);
        assert_eq!(parse_message_id("wc", "weir:wc:12:1"), None);
        assert_eq!(parse_message_id("wc", "weir:wc:12:1:40:9"), None);
    }
}

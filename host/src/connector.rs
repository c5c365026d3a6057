//! The connector API: what a source or a sink implements to take part in
//! Weir's checkpoints, for embedders who bring their own
//! ([`crate::SourceSpec::custom`], [`crate::SinkSpec::custom`]). The
//! built-in connectors (files, Kafka, NATS JetStream) are written against
//! the same traits.
//!
//! - A **source** ([`SourceConnector`]) cuts its input into [`Split`]s,
//!   ranges of positions it defines; each subtask gets an [`Assignment`]
//!   and reads it through a [`SourceReader`], which says at every barrier
//!   what it has [`left`](SourceReader::left). A restore hands that back
//!   (dealt again on rescale), so a reader must be able to seek to any
//!   position it once reported.
//! - A **sink** ([`SinkConnector`]) commits in two phases: each subtask's
//!   [`SinkWriter`] stages output at the barrier and names it; the
//!   coordinator commits the names once the checkpoint is complete, and a
//!   restore commits them again, so commits must be idempotent. For a
//!   destination that has no staging of its own, [`WriteAheadSink`] stages
//!   the output inside the checkpoint and hands it to a [`Publisher`] once
//!   the checkpoint is complete.
//!
//! `examples/edge-service` shows a custom sink.

pub use weir_wire::batch::EventRef;

pub use crate::sinks::{
    CheckpointFiles, Publisher, SinkConnector, SinkContext, SinkWriter, Staged, StagedEvent, StagedFiles, StartCheck,
    WriteAheadSink,
};
pub use crate::sources::{Assignment, Disconnected, Emit, Emitted, SourceConnector, SourceError, SourceReader, Split};

//! What flows through the channels between subtasks: batches of events
//! (with the source positions they came from), barriers and the end.

/// What flows through a channel.
pub(crate) enum Message {
    /// Events packed as in `wit/FRAMING.md`, and the source positions they
    /// came from (for error messages).
    Batch(Vec<u8>, Option<Origin>),
    /// Checkpoint barrier: everything before it belongs to checkpoint n.
    Barrier(u64),
    /// No later event on this channel has a timestamp at or below this
    /// (ms since the epoch); never lower than the one before.
    Watermark(i64),
    /// The sender has no events for now (`idle_timeout_ms`): the receiver
    /// leaves this channel out of its watermark until it sends again.
    Idle,
    /// The sending subtask has no more events.
    End,
}

/// The source positions a batch's events came from: the first and the last
/// of the source events they were made of (a byte offset for `lines`, a
/// sequence number for `generator`). Only for messages: "which input made
/// the guest fail".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) first: u64,
    pub(crate) last: u64,
}

impl Origin {
    pub(crate) fn union(a: Option<Origin>, b: Option<Origin>) -> Option<Origin> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Origin { first: a.first.min(b.first), last: a.last.max(b.last) }),
            (a, b) => a.or(b),
        }
    }
}

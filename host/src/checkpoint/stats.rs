//! Checkpoint statistics: what each checkpoint cost, per subtask, kept in
//! memory for the last [`HISTORY_LEN`] checkpoints and written into every
//! `_metadata`, so that `weir checkpoints inspect` and a restarted host
//! still show them (Flink loses its history with its JobManager).
//!
//! Times are microseconds; sizes bytes. A subtask's figures:
//!
//! - `alignment_us`: from the first barrier of the checkpoint reaching the
//!   subtask to the last (its inputs were blocked meanwhile);
//! - `sync_us`: the guest's `snapshot` call (processing stops for it);
//! - `async_us`: uploading the snapshot (processing goes on meanwhile);
//! - `end_to_end_us`: from the trigger to the subtask's acknowledgement;
//! - `state_bytes`: the state the checkpoint holds for the subtask (its
//!   whole chain with incremental checkpoints); `checkpointed_bytes`: what
//!   this checkpoint wrote for it (the delta).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Checkpoints whose statistics a running job keeps in memory.
pub const HISTORY_LEN: usize = 100;

/// Where a checkpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointStatus {
    InProgress,
    Completed,
    Failed { reason: String },
}

/// One checkpoint, as a whole and per subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointStats {
    pub id: u64,
    pub status: CheckpointStatus,
    /// Milliseconds since the Unix epoch.
    pub trigger_time_ms: u64,
    /// Trigger to `_metadata` written; `None` until then.
    pub end_to_end_us: Option<u64>,
    pub state_bytes: u64,
    pub checkpointed_bytes: u64,
    pub files_written: u32,
    /// Taken after all input (holds only the sink's last staged output).
    pub end_of_input: bool,
    /// The subtasks that acknowledged, in job order.
    pub subtasks: Vec<SubtaskStats>,
}

/// One subtask's part of a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskStats {
    pub operator: String,
    pub subtask: u32,
    pub end_to_end_us: u64,
    pub alignment_us: u64,
    pub sync_us: u64,
    pub async_us: u64,
    pub state_bytes: u64,
    pub checkpointed_bytes: u64,
    pub files_written: u32,
    /// The snapshot was incremental (a delta on the previous one).
    pub incremental: bool,
}

impl CheckpointStats {
    pub(crate) fn in_progress(id: u64, trigger_time_ms: u64) -> Self {
        CheckpointStats {
            id,
            status: CheckpointStatus::InProgress,
            trigger_time_ms,
            end_to_end_us: None,
            state_bytes: 0,
            checkpointed_bytes: 0,
            files_written: 0,
            end_of_input: false,
            subtasks: Vec::new(),
        }
    }
}

/// Counts and the recent history of a job's checkpoints. Shared by the
/// coordinators of all the job's attempts and its [`crate::RunningJob`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointHistory {
    pub completed: u64,
    pub failed: u64,
    /// Newest last; at most [`HISTORY_LEN`].
    pub checkpoints: VecDeque<CheckpointStats>,
}

impl CheckpointHistory {
    /// The newest completed checkpoint.
    pub fn latest_completed(&self) -> Option<&CheckpointStats> {
        self.checkpoints.iter().rev().find(|c| c.status == CheckpointStatus::Completed)
    }

    pub fn get(&self, id: u64) -> Option<&CheckpointStats> {
        self.checkpoints.iter().find(|c| c.id == id)
    }

    /// The checkpoint in flight, if any.
    pub fn in_progress(&self) -> Option<&CheckpointStats> {
        self.checkpoints.iter().rev().find(|c| c.status == CheckpointStatus::InProgress)
    }

    /// Adds or replaces the entry for `stats.id`, counting it once it ends.
    pub(crate) fn record(&mut self, stats: CheckpointStats) {
        match stats.status {
            CheckpointStatus::Completed => self.completed += 1,
            CheckpointStatus::Failed { .. } => self.failed += 1,
            CheckpointStatus::InProgress => {}
        }
        match self.checkpoints.iter_mut().find(|c| c.id == stats.id) {
            Some(existing) => *existing = stats,
            None => {
                let at = self.checkpoints.iter().position(|c| c.id > stats.id).unwrap_or(self.checkpoints.len());
                self.checkpoints.insert(at, stats);
                while self.checkpoints.len() > HISTORY_LEN {
                    self.checkpoints.pop_front();
                }
            }
        }
    }
}

/// The history behind a lock, cheap to clone.
pub(crate) type SharedHistory = Arc<Mutex<CheckpointHistory>>;

pub(crate) fn update(history: &SharedHistory, stats: CheckpointStats) {
    history.lock().unwrap_or_else(|p| p.into_inner()).record(stats);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_order_counts_and_a_bounded_length() {
        let mut history = CheckpointHistory::default();
        for id in (1..=HISTORY_LEN as u64 + 5).rev() {
            history
                .record(CheckpointStats { status: CheckpointStatus::Completed, ..CheckpointStats::in_progress(id, 0) });
        }
        assert_eq!(history.completed, HISTORY_LEN as u64 + 5);
        assert_eq!(history.checkpoints.len(), HISTORY_LEN);
        assert!(history.checkpoints.iter().zip(history.checkpoints.iter().skip(1)).all(|(a, b)| a.id < b.id));

        let mut history = CheckpointHistory::default();
        history.record(CheckpointStats::in_progress(7, 0));
        assert_eq!(history.in_progress().map(|c| c.id), Some(7));
        history.record(CheckpointStats {
            status: CheckpointStatus::Failed { reason: "timed out".into() },
            ..CheckpointStats::in_progress(7, 0)
        });
        assert_eq!((history.checkpoints.len(), history.failed, history.completed), (1, 1, 0));
        assert!(history.in_progress().is_none() && history.latest_completed().is_none());
    }
}

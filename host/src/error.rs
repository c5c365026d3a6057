//! The library's error type.
//!
//! Every variant names what a user has to look at: the job file, the
//! operator, the subtask, the input file. The `weir` binary adds its own
//! context with `anyhow`; embedders can match on the variants.

use std::path::PathBuf;

/// Errors from building, starting and running a job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job file could not be read or parsed. `message` carries the line,
    /// column and key when the TOML parser knows them.
    #[error("job file {}: {message}", path.display())]
    JobFile { path: PathBuf, message: String },

    /// The job description is inconsistent: `field` names the offending key
    /// as it appears in a job file (for example `operators[1].parallelism`).
    #[error("invalid job: {field}: {message}")]
    InvalidJob { field: String, message: String },

    /// An operator's component could not be loaded, or does not implement
    /// the `weir:operator` world.
    #[error("operator '{operator}': component {}: {reason}", path.display())]
    Component { operator: String, path: PathBuf, reason: String },

    /// A guest trapped or returned an error, or the host could not set up
    /// its sandbox.
    #[error("operator '{operator}' subtask {subtask}: {message}")]
    Guest { operator: String, subtask: u32, message: String },

    /// A source failed (for example an unreadable input file).
    #[error("source: {0}")]
    Source(String),

    /// A sink failed (for example the output directory is not writable).
    #[error("sink: {0}")]
    Sink(String),

    /// Checkpoint storage could not be reached, read or written.
    #[error("checkpoint storage: {0}")]
    Storage(String),

    /// A checkpoint failed, or failed too often in a row.
    #[error("checkpoint: {0}")]
    Checkpoint(String),

    /// A checkpoint cannot be restored into this job.
    #[error("restore: {0}")]
    Restore(String),

    /// Another host runs the job (it holds the job's lease), or this host
    /// lost the lease while running.
    #[error("single writer: {0}")]
    Lease(String),

    /// The job failed, was restarted `restarts` times, and the restart
    /// strategy gave up; `cause` is the last failure.
    #[error("gave up after {restarts} restart(s): {cause}")]
    GaveUp { restarts: u32, cause: Box<Error> },

    /// The job was started twice, or a handle was used after the job ended.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidJob { field: field.into(), message: message.into() }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

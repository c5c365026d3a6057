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

    /// A checkpoint storage operation failed for another reason than the
    /// object's absence: the store could not be asked (network, permissions,
    /// a 503 after retries). Nothing follows from it, least of all that the
    /// object is gone: callers stop and delete nothing.
    #[error("checkpoint storage: cannot {operation} {path}: {source}")]
    Storage {
        /// What was attempted: `read`, `write`, `list`, `delete`...
        operation: &'static str,
        /// The object or prefix, as the store names it.
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// The object does not exist: the only storage answer that means
    /// "absent" (an aborted checkpoint, a missing data file).
    #[error("checkpoint storage: {path} does not exist")]
    NotFound { path: String },

    /// A checkpoint directory, URL or reference that cannot be used.
    #[error("checkpoint storage: {location}: {reason}")]
    StorageLocation { location: String, reason: String },

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
    /// A short, stable name for the kind of failure, for metrics and
    /// dashboards: `limit_memory`, `limit_call_timeout`, `limit_fuel`,
    /// `limit_emit`, `limit_hostcall`, `trap`, `guest_error`, `source`,
    /// `sink`, `storage`, `checkpoint`, `restore`, `lease`, `job`, `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Guest { message, .. } => {
                // The sandbox words its messages in one place
                // (`guest::instance::describe_trap`); these are its prefixes.
                if message.contains("limit memory_mb") {
                    "limit_memory"
                } else if message.contains("limit call_timeout_ms") {
                    "limit_call_timeout"
                } else if message.contains("limit fuel") {
                    "limit_fuel"
                } else if message.contains("limit max_emit") {
                    "limit_emit"
                } else if message.contains("limit max_hostcall_bytes") {
                    "limit_hostcall"
                } else if message.contains("trapped in") || message.contains("panicked") {
                    "trap"
                } else {
                    "guest_error"
                }
            }
            Error::Source(_) => "source",
            Error::Sink(_) => "sink",
            Error::Storage { .. } | Error::NotFound { .. } | Error::StorageLocation { .. } => "storage",
            Error::Checkpoint(_) => "checkpoint",
            Error::Restore(_) => "restore",
            Error::Lease(_) => "lease",
            Error::GaveUp { cause, .. } => cause.kind(),
            Error::JobFile { .. } | Error::InvalidJob { .. } | Error::Component { .. } => "job",
            Error::Usage(_) => "other",
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidJob { field: field.into(), message: message.into() }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

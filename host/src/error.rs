//! The library's error type.
//!
//! Every variant names what a user has to look at: the job file, the
//! operator, the subtask, the input file. The `weir` binary adds its own
//! context with `anyhow`; embedders can match on the variants.

use std::path::PathBuf;

/// Errors from building, starting and running a job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

    /// A guest trapped, hit a limit or returned an error, or the host could
    /// not set up its sandbox: `failure` says which (what metrics count),
    /// `message` says it for a person.
    #[error("operator '{operator}' subtask {subtask}: {message}")]
    Guest { operator: String, subtask: u32, failure: GuestFailure, message: String },

    /// A source failed for another reason than I/O (a line that is not
    /// UTF-8, a position past the end of the input).
    #[error("source: {0}")]
    Source(String),

    /// An input file could not be opened or read: which file, what was
    /// attempted, and the I/O error.
    #[error("source: input file {}: {what}: {source}", path.display())]
    SourceIo {
        path: PathBuf,
        what: String,
        #[source]
        source: std::io::Error,
    },

    /// A sink refused to go on (another run's output in its directory, a
    /// restored checkpoint's output missing).
    #[error("sink: {0}")]
    Sink(String),

    /// The sink's output could not be written, renamed or listed: `what`
    /// names the file or directory and the operation.
    #[error("sink: {what}: {source}")]
    SinkIo {
        what: String,
        #[source]
        source: std::io::Error,
    },

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

    /// The job was started twice, a handle was used after the job ended, or
    /// an option was refused (a non-loopback address without a token).
    #[error("{0}")]
    Usage(String),

    /// The host could not set something of its own up (a thread, a runtime,
    /// the wasmtime engine, a listening socket, a file it was pointed at):
    /// what it tried, and why.
    #[error("cannot {what}: {source}")]
    Host {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A broken invariant of the host itself: a bug, never the user's doing.
    #[error("internal error (a bug in weir, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// A short, stable name for the kind of failure, for metrics and
    /// dashboards: `limit_memory`, `limit_call_timeout`, `limit_fuel`,
    /// `limit_emit`, `limit_hostcall`, `trap`, `guest_error`, `source`,
    /// `sink`, `storage`, `checkpoint`, `restore`, `lease`, `job`, `other`,
    /// `internal`. Guest failures are named by their [`GuestFailure`], never
    /// by what their message says.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Guest { failure, .. } => failure.kind(),
            Error::Source(_) | Error::SourceIo { .. } => "source",
            Error::Sink(_) | Error::SinkIo { .. } => "sink",
            Error::Storage { .. } | Error::NotFound { .. } | Error::StorageLocation { .. } => "storage",
            Error::Checkpoint(_) => "checkpoint",
            Error::Restore(_) => "restore",
            Error::Lease(_) => "lease",
            Error::GaveUp { cause, .. } => cause.kind(),
            Error::JobFile { .. } | Error::InvalidJob { .. } | Error::Component { .. } => "job",
            Error::Usage(_) | Error::Host { .. } => "other",
            Error::Internal(_) => "internal",
        }
    }

    /// A guest's failure, for the instance `operator`/`subtask`.
    pub(crate) fn guest(operator: &str, subtask: u32, failure: GuestFailure, message: impl Into<String>) -> Self {
        Error::Guest { operator: operator.to_owned(), subtask, failure, message: message.into() }
    }

    /// `map_err` helper: the host could not `what` (a setup step).
    pub(crate) fn host<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
        what: impl Into<String>,
    ) -> impl FnOnce(E) -> Self {
        let what = what.into();
        move |source| Error::Host { what, source: source.into() }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidJob { field: field.into(), message: message.into() }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a guest call failed, as data: a guest's own words can never make it
/// count as a trap or a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuestFailure {
    /// The guest returned an error, or emitted output or state the host
    /// cannot decode.
    Returned,
    /// The guest trapped: a panic, an abort, an out-of-bounds access; or it
    /// is called again after one.
    Trap,
    /// The guest hit one of its sandbox limits.
    Limit(Limit),
    /// The host could not set the sandbox or the call up.
    Sandbox,
}

/// The sandbox limits (`[operators.limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    Memory,
    Tables,
    CallTimeout,
    Fuel,
    Emit,
    Hostcall,
}

impl GuestFailure {
    /// The failure kind metrics and dashboards count (see [`Error::kind`]).
    pub fn kind(self) -> &'static str {
        match self {
            GuestFailure::Returned => "guest_error",
            GuestFailure::Trap => "trap",
            GuestFailure::Sandbox => "other",
            GuestFailure::Limit(Limit::Memory | Limit::Tables) => "limit_memory",
            GuestFailure::Limit(Limit::CallTimeout) => "limit_call_timeout",
            GuestFailure::Limit(Limit::Fuel) => "limit_fuel",
            GuestFailure::Limit(Limit::Emit) => "limit_emit",
            GuestFailure::Limit(Limit::Hostcall) => "limit_hostcall",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_comes_from_the_failure_never_from_the_guests_words() {
        // A guest may say anything; its own error stays its own.
        let words = "trapped in process: limit memory_mb = 1 exceeded, it panicked";
        assert_eq!(Error::guest("op", 0, GuestFailure::Returned, words).kind(), "guest_error");
        assert_eq!(Error::guest("op", 0, GuestFailure::Trap, "anything").kind(), "trap");
        assert_eq!(Error::guest("op", 0, GuestFailure::Limit(Limit::Fuel), "x").kind(), "limit_fuel");
        let gave_up = Error::GaveUp { restarts: 3, cause: Box::new(Error::guest("op", 1, GuestFailure::Trap, "x")) };
        assert_eq!(gave_up.kind(), "trap");
        assert_eq!(Error::Internal("a bug".into()).kind(), "internal");
    }
}

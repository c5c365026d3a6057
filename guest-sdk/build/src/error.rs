//! The one error type of the crate: what failed, on which path or command,
//! and what to do about it.

use std::path::PathBuf;

/// Why building, testing or creating an operator project failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A command could not be started (usually: it is not installed).
    #[error("cannot run {command}: {source}{}", help_suffix(help))]
    Spawn {
        command: String,
        help: Option<String>,
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed; its output is kept for the reader.
    #[error("{command} failed ({status}){}\n{output}", help_suffix(help))]
    Command { command: String, status: String, output: String, help: Option<String> },
    /// A tool the build needs is missing or too old, and cannot be installed
    /// from here.
    #[error("{tool} {reason}: {help}")]
    MissingTool { tool: &'static str, reason: String, help: String },
    /// The directory is not an operator project weir can build, or one of its
    /// files says something weir cannot use.
    #[error("{}: {reason}", path.display())]
    Project { path: PathBuf, reason: String },
    /// A tool ran but produced something other than what it promised.
    #[error("{0}")]
    Unexpected(String),
}

fn help_suffix(help: &Option<String>) -> String {
    help.as_ref().map(|help| format!(" ({help})")).unwrap_or_default()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `map_err` helper: an I/O error on `path` while doing `action`.
pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { action, path, source }
}

//! Logging through the host's `log` import: each line lands in the host's
//! log, tagged with the operator and subtask.
//!
//! ```
//! weir_guest::log::info("starting");
//! let words = 3;
//! weir_guest::warn!("skipped {words} words");
//! ```
//!
//! Outside WebAssembly (unit tests, [`Harness`](crate::testing::Harness))
//! lines go to standard error instead.

use std::fmt;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        })
    }
}

/// Writes one line to the host's log.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::__private::bindings::weir::operator::host;
        let level = match level {
            Level::Trace => host::LogLevel::Trace,
            Level::Debug => host::LogLevel::Debug,
            Level::Info => host::LogLevel::Info,
            Level::Warn => host::LogLevel::Warn,
            Level::Error => host::LogLevel::Error,
        };
        host::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level}] {message}");
}

pub fn trace(message: &str) {
    log(Level::Trace, message);
}

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Formats and logs a line at trace level: `weir_guest::trace!("{x}")`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)+))
    };
}

/// Formats and logs a line at debug level: `weir_guest::debug!("{x}")`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Formats and logs a line at info level: `weir_guest::info!("{x}")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+))
    };
}

/// Formats and logs a line at warn level: `weir_guest::warn!("{x}")`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Formats and logs a line at error level: `weir_guest::error!("{x}")`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+))
    };
}

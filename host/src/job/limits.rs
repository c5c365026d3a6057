//! The `[limits]` of an operator: what one sandboxed instance may use.
//! Plain data; `guest::limits` enforces them.

use std::time::Duration;

/// The limits of one operator's instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// All linear memories of an instance together, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time one guest call may take.
    pub call_timeout: Duration,
    /// Fuel one call may burn; `None` for no fuel limit. Needs an engine
    /// created with fuel enabled ([`crate::EngineConfig::consume_fuel`]).
    pub fuel: Option<u64>,
    /// Events one call may emit.
    pub max_emit_events: u64,
    /// Bytes (packed batch) one call may emit.
    pub max_emit_bytes: usize,
    /// Bytes one guest-to-host call (a log line, a write to stdout) may pass.
    pub max_hostcall_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(5),
            fuel: None,
            max_emit_events: 1_000_000,
            max_emit_bytes: 256 << 20,
            max_hostcall_bytes: 16 << 20,
        }
    }
}

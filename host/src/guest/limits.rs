//! What one guest instance may use, and how a breach is told apart from
//! any other trap.
//!
//! - Memory: one cap over *all* of an instance's linear memories together
//!   (wasmtime's `StoreLimits` caps each memory separately, and Python or
//!   JavaScript guests have several). Enforced by [`SandboxLimiter`], whose
//!   refusal traps the guest with a [`LimitBreach`] we can recognise.
//! - Wall-clock time per call: epoch interruption; the engine's ticker
//!   thread advances the epoch every [`EPOCH_TICK`].
//! - Fuel per call (optional, deterministic cut-off; costs ~15% per event).
//! - What one call may emit (events, bytes) and what one guest-to-host call
//!   may pass (wasmtime's hostcall fuel).

use std::time::Duration;

/// How often the epoch advances; the resolution of the call deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub use crate::job::limits::Limits;

/// A limit an instance hit. Carried inside the trap so that the error can
/// name the limit and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitBreach {
    #[error("limit memory_mb = {} exceeded: the instance asked for {} MiB of linear memory", .limit >> 20, .requested.div_ceil(1 << 20))]
    Memory { limit: usize, requested: usize },
    #[error("limit tables: a table asked for {requested} elements (at most {limit})")]
    Table { limit: usize, requested: usize },
}

/// Most elements any table of a guest may have.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The `ResourceLimiter` of a guest's store: sums all linear memories.
#[derive(Debug)]
pub(crate) struct SandboxLimiter {
    memory_limit: usize,
    memory_used: usize,
}

impl SandboxLimiter {
    pub(crate) fn new(memory_limit: usize) -> Self {
        SandboxLimiter { memory_limit, memory_used: 0 }
    }
}

impl wasmtime::ResourceLimiter for SandboxLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let requested = self.memory_used.saturating_sub(current).saturating_add(desired);
        if requested > self.memory_limit {
            // An error, not `Ok(false)`: a refused `memory.grow` makes most
            // guests abort with an anonymous `unreachable` trap, and the
            // user would never learn which limit it was.
            return Err(wasmtime::Error::new(LimitBreach::Memory { limit: self.memory_limit, requested }));
        }
        self.memory_used = requested;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::Error::new(LimitBreach::Table { limit: MAX_TABLE_ELEMENTS, requested: desired }));
        }
        Ok(true)
    }
}

/// Starts the thread that advances `engine`'s epoch every [`EPOCH_TICK`].
/// It holds only a weak reference and ends with the engine.
pub(crate) fn start_epoch_ticker(engine: &wasmtime::Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new().name("weir-epoch".into()).spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    })?;
    Ok(())
}

/// Epoch ticks for a call deadline (at least one).
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_micros().div_ceil(EPOCH_TICK.as_micros()) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn the_memory_cap_covers_all_memories_together() {
        let mut limiter = SandboxLimiter::new(10 << 20);
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        // A third memory of 4 MiB would make 12 MiB over two caps of 10.
        let err = limiter.memory_growing(0, 4 << 20, None).unwrap_err();
        let breach = err.downcast_ref::<LimitBreach>().expect("a LimitBreach");
        assert_eq!(breach, &LimitBreach::Memory { limit: 10 << 20, requested: 12 << 20 });
        assert!(breach.to_string().contains("memory_mb = 10"), "{breach}");
        // Growing the first memory from 4 to 6 MiB fits (6 + 4 = 10).
        assert!(limiter.memory_growing(4 << 20, 6 << 20, None).unwrap());
    }

    #[test]
    fn deadlines_round_up_to_ticks() {
        assert_eq!(deadline_ticks(Duration::from_secs(5)), 500);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 1);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }
}

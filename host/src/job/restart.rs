//! The `[restart]` table of a job: what to do after a failure. Plain data;
//! `exec::restart` counts the restarts and computes the delays.

use std::time::Duration;

/// What to do when a job fails (`[restart]` in the job file).
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// Fail at the first failure.
    None,
    /// Restart up to `attempts` times, waiting `delay` before each.
    FixedDelay { attempts: u32, delay: Duration },
    /// Wait `initial`, then `multiplier` times longer after each failure, up
    /// to `max`, each wait varied by ±`jitter` (a fraction). A job that ran
    /// `reset_after` without failing starts again from `initial`. At most
    /// `attempts` restarts in a row when set. Flink's default since 1.19.
    ExponentialDelay {
        initial: Duration,
        max: Duration,
        multiplier: f64,
        jitter: f64,
        reset_after: Duration,
        attempts: Option<u32>,
    },
}

impl RestartStrategy {
    /// The longest wait before a restart: how long after a failure a
    /// restored job may at most start again (less the restore itself).
    pub fn longest_delay(&self) -> Duration {
        match self {
            RestartStrategy::None => Duration::ZERO,
            RestartStrategy::FixedDelay { delay, .. } => *delay,
            RestartStrategy::ExponentialDelay { max, jitter, .. } => max.mul_f64(1.0 + jitter.max(0.0)),
        }
    }

    /// Flink's defaults for `exponential-delay`.
    pub fn exponential_default() -> Self {
        RestartStrategy::ExponentialDelay {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 1.5,
            jitter: 0.1,
            reset_after: Duration::from_secs(3600),
            attempts: None,
        }
    }
}

//! Restart strategies: after a failure, whether to restart the job from its
//! newest checkpoint and after how long. Flink's three, with its names.

use std::time::{Duration, Instant};

pub use crate::job::restart::RestartStrategy;

/// A strategy's memory across the restarts of one job.
#[derive(Debug)]
pub(crate) struct Restarts {
    strategy: RestartStrategy,
    /// Restarts since the start or the last reset.
    count: u32,
    /// Restarts in all.
    total: u32,
    backoff: Duration,
}

impl Restarts {
    pub(crate) fn new(strategy: RestartStrategy) -> Self {
        let backoff = match &strategy {
            RestartStrategy::ExponentialDelay { initial, .. } => *initial,
            _ => Duration::ZERO,
        };
        Restarts { strategy, count: 0, total: 0, backoff }
    }

    pub(crate) fn total(&self) -> u32 {
        self.total
    }

    /// After an attempt that started at `attempt_started` failed: the wait
    /// before the next attempt, or `None` to give up.
    pub(crate) fn next_delay(&mut self, attempt_started: Instant) -> Option<Duration> {
        let delay = match &self.strategy {
            RestartStrategy::None => return None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                if self.count >= *attempts {
                    return None;
                }
                *delay
            }
            RestartStrategy::ExponentialDelay { initial, max, multiplier, jitter, reset_after, attempts } => {
                if attempt_started.elapsed() >= *reset_after {
                    self.count = 0;
                    self.backoff = *initial;
                }
                if attempts.is_some_and(|attempts| self.count >= attempts) {
                    return None;
                }
                let delay = self.backoff;
                self.backoff = (*max).min(Duration::from_secs_f64(delay.as_secs_f64() * multiplier));
                let spread = (random_unit() * 2.0 - 1.0) * jitter;
                Duration::from_secs_f64((delay.as_secs_f64() * (1.0 + spread)).max(0.0))
            }
        };
        self.count += 1;
        self.total += 1;
        Some(delay)
    }
}

/// A number in [0, 1) from the standard library's random hasher keys.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_never_restarts() {
        assert_eq!(Restarts::new(RestartStrategy::None).next_delay(Instant::now()), None);
    }

    #[test]
    fn fixed_delay_gives_up_after_its_attempts() {
        let mut restarts = Restarts::new(RestartStrategy::FixedDelay { attempts: 2, delay: Duration::from_millis(5) });
        assert_eq!(restarts.next_delay(Instant::now()), Some(Duration::from_millis(5)));
        assert_eq!(restarts.next_delay(Instant::now()), Some(Duration::from_millis(5)));
        assert_eq!(restarts.next_delay(Instant::now()), None);
        assert_eq!(restarts.total(), 2);
    }

    #[test]
    fn exponential_delay_grows_caps_jitters_and_resets() {
        let strategy = RestartStrategy::ExponentialDelay {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            multiplier: 2.0,
            jitter: 0.1,
            reset_after: Duration::from_millis(50),
            attempts: Some(10),
        };
        let mut restarts = Restarts::new(strategy);
        let now = Instant::now();
        let delays: Vec<f64> = (0..5).map(|_| restarts.next_delay(now).unwrap().as_secs_f64() * 1000.0).collect();
        for (delay, base) in delays.iter().zip([100.0, 200.0, 400.0, 500.0, 500.0]) {
            assert!((delay - base).abs() <= base * 0.1 + 1e-6, "{delay} ms is not {base} ms ±10%");
        }
        // A healthy attempt (longer than reset_after) starts the backoff over.
        std::thread::sleep(Duration::from_millis(60));
        let after_reset = restarts.next_delay(now).unwrap().as_secs_f64() * 1000.0;
        assert!((after_reset - 100.0).abs() <= 10.0 + 1e-6, "{after_reset}");
    }

    #[test]
    fn exponential_delay_honours_attempts() {
        let mut strategy = RestartStrategy::exponential_default();
        if let RestartStrategy::ExponentialDelay { attempts, .. } = &mut strategy {
            *attempts = Some(1);
        }
        let mut restarts = Restarts::new(strategy);
        assert!(restarts.next_delay(Instant::now()).is_some());
        assert_eq!(restarts.next_delay(Instant::now()), None);
    }
}

//! Stopping an attempt. Every task of a job polls one flag between
//! batches; a cancel or the first failure raises it, and the first failure
//! is kept as the attempt's error (later ones are its echoes: a downstream
//! task that lost its input). Once the tasks have ended, the flags say how
//! the attempt ended ([`Shutdown::end`]). Like mini-redis's `shutdown.rs`:
//! one small type that every task holds a reference to.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;

/// How an attempt's tasks ended.
pub(crate) enum AttemptEnd {
    Finished,
    Cancelled,
    Failed(Error),
}

#[derive(Default)]
pub(crate) struct Shutdown {
    /// Raised by `cancel` or by the first failure; tasks poll it.
    stopping: AtomicBool,
    /// Raised only by `cancel`: tells a cancelled attempt from a failed one.
    cancelled: AtomicBool,
    failure: Mutex<Option<Error>>,
}

impl Shutdown {
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Records `error` if it is the first, logs it, and stops the tasks.
    pub(crate) fn fail(&self, error: Error) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if failure.is_none() {
            tracing::error!("{error}");
            *failure = Some(error);
        }
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// How the attempt ended, once its tasks are gone: a cancel wins over
    /// the failures it caused.
    pub(crate) fn end(&self) -> AttemptEnd {
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (self.cancelled.load(Ordering::SeqCst), failure) {
            (true, _) => AttemptEnd::Cancelled,
            (false, Some(error)) => AttemptEnd::Failed(error),
            (false, None) => AttemptEnd::Finished,
        }
    }
}

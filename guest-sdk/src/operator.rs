//! The [`Operator`] trait: what an operator author implements.

use crate::{Context, Event, OpenContext, Result, Timer};

/// A stream operator. Export one per component with
/// [`export_operator!`](crate::export_operator).
///
/// The host creates one instance per subtask: [`open`](Operator::open) once,
/// then [`process`](Operator::process) for every input event, and
/// [`finish`](Operator::finish) once at the end of bounded input; between
/// them, [`on_timer`](Operator::on_timer) for every timer that fires when
/// time moves. Checkpoints need no code: the SDK snapshots every declared
/// state handle, and the timers, itself.
///
/// An `Err` from any method fails the job with its message.
pub trait Operator: Sized + 'static {
    /// Called once per instance, after restore data (if any) is loaded;
    /// declares state handles.
    fn open(ctx: &mut OpenContext) -> Result<Self>;

    /// Handles one input event, of any input ([`Event::input`] says which).
    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()>;

    /// Called for every timer that fires (registered with
    /// [`Context::register_event_timer`] or
    /// [`Context::register_processing_timer`], or by a
    /// [`Windows`](crate::window::Windows) handle), with the timer's key
    /// current: keyed state reads and writes that key's state, and more
    /// timers may be registered. What it emits gets the timer's timestamp
    /// (event time) or none (processing time) unless given one. The default
    /// does nothing.
    ///
    /// Timers fire when the host calls `advance`: event-time timers once
    /// the watermark reaches their timestamp, processing-time ones once the
    /// clock does; in timestamp order across keys, event time first at
    /// equal timestamps. At the end of the input the watermark becomes
    /// `i64::MAX`, so every event-time timer fires before `finish`.
    fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
        let _ = (ctx, timer);
        Ok(())
    }

    /// Called once when all input has been processed; may emit last events.
    /// There is no current key here, so only operator and broadcast state
    /// are usable (and keyed state walked whole, with `iter_all_keys`).
    fn finish(&mut self, ctx: &mut Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

//! The [`Operator`] trait: what an operator author implements.

use crate::{Context, Event, OpenContext, Result};

/// A stream operator. Export one per component with
/// [`export_operator!`](crate::export_operator).
///
/// The host creates one instance per subtask: [`open`](Operator::open) once,
/// then [`process`](Operator::process) for every input event, and
/// [`finish`](Operator::finish) once at the end of bounded input. Checkpoints
/// need no code: the SDK snapshots every declared state handle itself.
///
/// An `Err` from any method fails the job with its message.
pub trait Operator: Sized + 'static {
    /// Called once per instance, after restore data (if any) is loaded;
    /// declares state handles.
    fn open(ctx: &mut OpenContext) -> Result<Self>;

    /// Handles one input event, of any input ([`Event::input`] says which).
    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()>;

    /// Called once when all input has been processed; may emit last events.
    /// There is no current key here, so only operator and broadcast state
    /// are usable (and keyed state walked whole, with `iter_all_keys`).
    fn finish(&mut self, ctx: &mut Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

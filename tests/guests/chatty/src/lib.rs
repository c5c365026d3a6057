//! Test guest: passes every event through unchanged and, for each, writes
//! a line to stdout, one to stderr and one through the SDK's logger, so the
//! tests can check that all three reach the host log tagged with the
//! operator and subtask.

use weir_guest::{Context, Event, OpenContext, Operator, Result};

pub struct Chatty;

impl Operator for Chatty {
    fn open(_ctx: &mut OpenContext) -> Result<Self> {
        Ok(Chatty)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let value = event.value_str()?;
        println!("to stdout: {value}");
        eprintln!("to stderr: {value}");
        weir_guest::info!("to the log: {value}");
        ctx.emit(event.key(), event.value());
        Ok(())
    }
}

weir_guest::export_operator!(Chatty);

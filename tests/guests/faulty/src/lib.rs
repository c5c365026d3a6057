//! Test guest: splits values into words like `examples/tokenizer`, but the
//! word `PANIC` makes it panic, which traps the instance and fails the job.
//! Lets tests fail a job at a chosen point of its input.

use weir_guest::{Context, Event, OpenContext, Operator, Result};

pub struct Faulty;

impl Operator for Faulty {
    fn open(_ctx: &mut OpenContext) -> Result<Self> {
        Ok(Faulty)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        for word in event.value_str()?.split_whitespace() {
            if word == "PANIC" {
                panic!("faulty operator: asked to panic by the input");
            }
            ctx.emit(word, "1");
        }
        Ok(())
    }
}

weir_guest::export_operator!(Faulty);

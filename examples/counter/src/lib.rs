//! Weir example operator `counter`: a keyed running count. For each event it
//! emits the event's key with the number of events seen so far for that key,
//! in decimal. The count lives in a keyed `ValueState<u64>` named `"count"`,
//! so it survives checkpoints, restores and rescaling.
//!
//! The operator's input must be keyed (`key_by = true` in the job file).

use weir_guest::{Context, Event, OpenContext, Operator, Result, ValueState};

pub struct Counter {
    count: ValueState<u64>,
}

impl Operator for Counter {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Counter { count: ctx.keyed_value("count")? })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        // One lookup of the key's count on the path every event but a
        // key's first takes; the second only to create it.
        let n = match self.count.get_mut(ctx) {
            Some(count) => {
                *count += 1;
                *count
            }
            None => {
                self.count.set(ctx, 1);
                1
            }
        };
        // itoa writes into a buffer on the stack: `n.to_string()` would
        // allocate and go through the formatter, per event.
        ctx.emit(event.key(), itoa::Buffer::new().format(n));
        Ok(())
    }
}

weir_guest::export_operator!(Counter);

#[cfg(test)]
mod tests {
    use weir_guest::testing::Harness;

    use super::*;

    #[test]
    fn counts_per_key_across_a_restore() {
        let mut harness = Harness::<Counter>::new().unwrap();
        let out = harness.process_all([("a", "1", 5), ("b", "1", 9), ("a", "1", 5)]).unwrap();
        assert_eq!(out, [("a", "1"), ("b", "1"), ("a", "2")]);

        let mut restored = Harness::<Counter>::restore(harness.snapshot().unwrap()).unwrap();
        assert_eq!(restored.process("a", "1", 5).unwrap(), [("a", "3")]);
        assert_eq!(restored.process("c", "1", 5).unwrap(), [("c", "1")]);
    }
}

//! `{{name}}`: a keyed Weir operator. For every event it adds to its key's
//! total (events seen, value bytes seen) and emits `KEY<TAB>EVENTS BYTES`.
//!
//! The total lives in keyed state (`ValueState<Total>`): the host snapshots it
//! at every checkpoint and restores it after a crash or a rescale, so the
//! counts continue exactly. The input must be keyed (`key_by = true`).

use serde::{Deserialize, Serialize};
use weir_guest::{Context, Error, Event, OpenContext, Operator, Result, ValueState};

/// A key's total. State types need `Serialize` and `Deserialize`.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
pub struct Total {
    events: u64,
    bytes: u64,
}

pub struct Totals {
    total: ValueState<Total>,
}

impl Operator for Totals {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Totals { total: ctx.keyed_value("total")? })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        // An error fails the job with this message, naming the operator and
        // the input; the job restarts from its newest checkpoint.
        if event.value().is_empty() {
            return Err(Error::msg("an event without a value"));
        }
        let mut total = self.total.get(ctx).copied().unwrap_or_default();
        total.events += 1;
        total.bytes += event.value().len() as u64;
        self.total.set(ctx, total);
        ctx.emit(event.key(), format!("{} {}", total.events, total.bytes));
        Ok(())
    }
}

weir_guest::export_operator!(Totals);

#[cfg(test)]
mod tests {
    use weir_guest::testing::Harness;

    use super::*;

    #[test]
    fn totals_per_key_continue_across_a_restore() {
        let mut harness = Harness::<Totals>::new().unwrap();
        let out = harness.process_all([("a", "xy", 5), ("b", "xyz", 9), ("a", "x", 5)]).unwrap();
        assert_eq!(out, [("a", "1 2"), ("b", "1 3"), ("a", "2 3")]);

        let mut restored = Harness::<Totals>::restore(harness.snapshot().unwrap()).unwrap();
        assert_eq!(restored.process("a", "xyzw", 5).unwrap(), [("a", "3 7")]);
    }

    #[test]
    fn an_event_without_a_value_is_an_error() {
        let mut harness = Harness::<Totals>::new().unwrap();
        assert!(harness.process("a", "", 5).is_err());
    }
}

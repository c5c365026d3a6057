//! Weir example operator `tokenizer`: splits each event's value (UTF-8) into
//! words with `str::split_whitespace` and emits one event per word, keyed by
//! the word, with value `"1"`. A value that is not UTF-8 fails the job.
//!
//! Stateless; the first half of the word-count demo (`counter` is the second).

use weir_guest::{Context, Event, OpenContext, Operator, Result};

pub struct Tokenizer;

impl Operator for Tokenizer {
    fn open(_ctx: &mut OpenContext) -> Result<Self> {
        Ok(Tokenizer)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        for word in event.value_str()?.split_whitespace() {
            ctx.emit(word, "1");
        }
        Ok(())
    }
}

weir_guest::export_operator!(Tokenizer);

#[cfg(test)]
mod tests {
    use weir_guest::testing::{Harness, NO_KEY_GROUP};

    use super::*;

    #[test]
    fn emits_one_event_per_word() {
        let mut harness = Harness::<Tokenizer>::new().unwrap();
        let out = harness.process("line-1", "  the quick\tthe\n fox ", NO_KEY_GROUP).unwrap();
        assert_eq!(out, [("the", "1"), ("quick", "1"), ("the", "1"), ("fox", "1")]);
        assert!(harness.process("line-2", "   ", NO_KEY_GROUP).unwrap().is_empty());
    }

    #[test]
    fn a_value_that_is_not_utf8_is_an_error() {
        let mut harness = Harness::<Tokenizer>::new().unwrap();
        let err = harness.process("line", [b'a', 0xff], NO_KEY_GROUP).unwrap_err();
        assert!(err.to_string().starts_with("event value is not UTF-8"), "{err}");
    }
}

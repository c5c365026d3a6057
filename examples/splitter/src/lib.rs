//! Weir example operator `splitter`: passes well-formed lines on and sends
//! the others to side output `bad`, so that a malformed line neither fails
//! the job nor vanishes. Stateless; its input need not be keyed.
//!
//! A line (an event's value) is **valid** when it is not empty and holds
//! only ASCII letters, ASCII digits and spaces (`' '`). A valid line goes to
//! the main output with key = its first word (the text up to the first
//! space after any leading spaces; empty for a line of spaces only) and
//! value = the line. Any other line goes to side output `bad` (which the job
//! file must declare) with an empty key and value = the line, byte for byte.

use weir_guest::{Context, Error, Event, OpenContext, Operator, Result};

/// Side output for lines that are not valid.
pub const BAD: &str = "bad";

pub struct Splitter;

impl Operator for Splitter {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        let info = ctx.info();
        if info.side_output_index(BAD).is_none() {
            return Err(Error::msg(format!(
                "operator '{}' (splitter) emits to side output `{BAD}`: declare it in its side_outputs",
                info.name()
            )));
        }
        Ok(Splitter)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let line = event.value();
        if is_valid(line) {
            let first_word = line.split(|&b| b == b' ').find(|word| !word.is_empty()).unwrap_or_default();
            ctx.emit(first_word, line);
            Ok(())
        } else {
            ctx.emit_to(BAD, "", line)
        }
    }
}

/// Not empty; only ASCII alphanumerics and spaces.
pub fn is_valid(line: &[u8]) -> bool {
    !line.is_empty() && line.iter().all(|&b| b.is_ascii_alphanumeric() || b == b' ')
}

weir_guest::export_operator!(Splitter);

#[cfg(test)]
mod tests {
    use weir_guest::OperatorInfo;
    use weir_guest::testing::{Harness, NO_KEY_GROUP};

    use super::*;

    fn harness() -> Harness<Splitter> {
        Harness::with_info(OperatorInfo::new("splitter").with_key_groups(None).with_side_outputs([BAD])).unwrap()
    }

    #[test]
    fn valid_lines_go_to_the_main_output_keyed_by_their_first_word() {
        let mut h = harness();
        assert_eq!(h.process("", "apple 3", NO_KEY_GROUP).unwrap(), [("apple", "apple 3")]);
        assert_eq!(h.process("ignored", "  Pear  2 x", NO_KEY_GROUP).unwrap(), [("Pear", "  Pear  2 x")]);
        assert_eq!(h.process("", "42", NO_KEY_GROUP).unwrap(), [("42", "42")]);
        assert_eq!(h.process("", "   ", NO_KEY_GROUP).unwrap(), [("", "   ")]);
        assert!(h.side_output(BAD).is_empty());
    }

    #[test]
    fn every_other_line_goes_to_bad_with_an_empty_key() {
        let mut h = harness();
        let out = h
            .process_all([
                ("k", &b""[..], NO_KEY_GROUP),
                ("k", b"a\tb", NO_KEY_GROUP),
                ("k", b"ok line", NO_KEY_GROUP),
                ("k", b"caf\xc3\xa9", NO_KEY_GROUP),
                ("k", b"x-y", NO_KEY_GROUP),
                ("k", b"\xff", NO_KEY_GROUP),
                ("k", b"line\n", NO_KEY_GROUP),
            ])
            .unwrap();
        assert_eq!(out, [("ok", "ok line")]);
        let bad: Vec<(Vec<u8>, Vec<u8>)> = h.side_output(BAD).into_iter().map(|o| (o.key, o.value)).collect();
        let lines: [&[u8]; 6] = [b"", b"a\tb", b"caf\xc3\xa9", b"x-y", b"\xff", b"line\n"];
        assert_eq!(bad, lines.map(|line| (Vec::new(), line.to_vec())));
    }

    #[test]
    fn it_keeps_no_state() {
        let mut h = harness();
        h.process("", "a b", NO_KEY_GROUP).unwrap();
        assert!(h.snapshot().unwrap().is_empty());
        assert!(h.finish().unwrap().is_empty());
    }

    #[test]
    fn the_job_must_declare_the_bad_side_output() {
        let err = Harness::<Splitter>::new().err().unwrap().to_string();
        assert_eq!(err, "operator 'test' (splitter) emits to side output `bad`: declare it in its side_outputs");
    }
}

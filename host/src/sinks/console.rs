//! The `stdout` sink: `key<TAB>value` lines on standard output. Not
//! transactional: after a restore, events since the checkpoint appear again.

use std::io::Write;

use weir_wire::batch::EventRef;

use super::SinkWriter;
use crate::error::Result;

/// Lines of one batch are written with a single locked write, so that the
/// subtasks sharing stdout never interleave inside a line.
#[derive(Default)]
pub(crate) struct StdoutSink {
    pending: Vec<u8>,
}

impl SinkWriter for StdoutSink {
    fn write(&mut self, event: &EventRef<'_>) -> std::io::Result<()> {
        write_line(&mut self.pending, event);
        Ok(())
    }

    fn end_batch(&mut self) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&self.pending)?;
        stdout.flush()?;
        self.pending.clear();
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn describe(&self) -> String {
        "stdout".into()
    }
}

/// `key<TAB>value<LF>`: the line format of the `files` and `stdout` sinks.
fn write_line(out: &mut Vec<u8>, event: &EventRef<'_>) {
    out.reserve(event.key.len() + event.value.len() + 2);
    out.extend_from_slice(event.key);
    out.push(b'\t');
    out.extend_from_slice(event.value);
    out.push(b'\n');
}

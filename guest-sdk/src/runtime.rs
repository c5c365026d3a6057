//! [`Runtime`]: one operator instance driven through the four calls of the
//! WIT `operator` interface, with plain Rust types and no wit-bindgen.
//!
//! The export glue ([`export_operator!`](crate::export_operator)) keeps one
//! `Runtime` per component instance and forwards the WIT calls to it;
//! [`testing::Harness`](crate::testing::Harness) drives one natively.

use weir_wire::batch::BatchReader;

use crate::state::Chunk;
pub use crate::state::{Snapshot, SnapshotMode};
use crate::{Context, Error, Event, OpenContext, Operator, OperatorInfo, Result};

/// An operator instance and its [`Context`].
pub struct Runtime<O> {
    operator: O,
    ctx: Context,
}

impl<O: Operator> Runtime<O> {
    /// The WIT `init`: runs [`Operator::open`] with the restored chunks
    /// (empty for a fresh start).
    pub fn init(info: OperatorInfo, restored: Vec<Chunk>) -> Result<Self> {
        let mut open = OpenContext::new(info, restored);
        let operator = O::open(&mut open)?;
        Ok(Runtime { operator, ctx: open.into_context() })
    }

    /// The WIT `process`: runs [`Operator::process`] on every event of a
    /// packed batch (`wit/FRAMING.md`) and returns the packed output.
    ///
    /// A malformed batch is an error. Events before the damage have been
    /// processed by then (the error fails the job anyway); on any error the
    /// output of the batch is discarded.
    pub fn process(&mut self, batch: &[u8]) -> Result<Vec<u8>> {
        let result = self.process_events(batch);
        self.ctx.leave();
        match result {
            Ok(()) => Ok(self.ctx.take_output()),
            Err(error) => {
                self.ctx.discard_output();
                Err(error)
            }
        }
    }

    fn process_events(&mut self, batch: &[u8]) -> Result<()> {
        let malformed = |e| Error::msg(format!("malformed input batch: {e}"));
        for event in BatchReader::new(batch).map_err(malformed)? {
            let event = event.map_err(malformed)?;
            self.ctx.enter(&event);
            self.operator.process(&mut self.ctx, Event::new(event))?;
        }
        Ok(())
    }

    /// The WIT `snapshot`: the state of every handle as chunks
    /// (`wit/STATE.md`).
    ///
    /// [`SnapshotMode::Full`]: the complete state, plus the restored chunks
    /// `open` did not claim ([`Snapshot::incremental`] is false).
    /// [`SnapshotMode::Incremental`]: what changed since the previous call,
    /// full or not ([`Snapshot::incremental`] is true): a delta chunk per
    /// keyed (handle, key group) that changed, a complete chunk per
    /// operator-scope handle. The first call of an instance (and the one after
    /// a failed call) has no previous state to be relative to and answers in
    /// full, with `incremental` false.
    ///
    /// Either way, the next incremental snapshot is relative to this one.
    /// `checkpoint_id` is not used.
    pub fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<Snapshot> {
        let _ = checkpoint_id;
        self.ctx.snapshot(mode)
    }

    /// The WIT `finish`: runs [`Operator::finish`] and returns its output.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        self.ctx.leave();
        match self.operator.finish(&mut self.ctx) {
            Ok(()) => Ok(self.ctx.take_output()),
            Err(error) => {
                self.ctx.discard_output();
                Err(error)
            }
        }
    }

    /// The operator instance.
    pub fn operator(&self) -> &O {
        &self.operator
    }

    /// The instance's context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

#[cfg(test)]
mod tests {
    use weir_wire::batch::{BatchWriter, NO_KEY_GROUP, NO_TIMESTAMP};

    use super::*;
    use crate::testing::Harness;

    /// Echoes events; "fail" emits first, then fails; "late" emits with a
    /// timestamp of its own.
    struct Echo;

    impl Operator for Echo {
        fn open(_ctx: &mut OpenContext) -> Result<Self> {
            Ok(Echo)
        }

        fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
            ctx.emit(event.key(), event.value());
            match event.value() {
                b"fail" => Err(Error::msg("asked to fail")),
                b"late" => {
                    ctx.emit_with_timestamp("late", "", 99);
                    Ok(())
                }
                _ => Ok(()),
            }
        }

        fn finish(&mut self, ctx: &mut Context) -> Result<()> {
            ctx.emit("done", "");
            Ok(())
        }
    }

    #[test]
    fn a_malformed_batch_is_an_error() {
        let mut runtime = Runtime::<Echo>::init(OperatorInfo::new("t"), Vec::new()).unwrap();
        let mut writer = BatchWriter::new();
        writer.push(1, NO_TIMESTAMP, b"key", b"value");
        let good = writer.finish();

        let err = runtime.process(&good[..good.len() - 1]).unwrap_err().to_string();
        assert_eq!(err, "malformed input batch: truncated while reading event value");
        let err = runtime.process(b"XX\x01\x00\x00\x00\x00\x00").unwrap_err().to_string();
        assert_eq!(err, "malformed input batch: bad magic (not a Weir batch)");
        // The partial output of a failed batch is not carried into the next one.
        assert_eq!(runtime.process(&good).unwrap(), good_output(b"key", b"value", NO_TIMESTAMP));
    }

    fn good_output(key: &[u8], value: &[u8], timestamp: i64) -> Vec<u8> {
        let mut writer = BatchWriter::new();
        writer.push(NO_KEY_GROUP, timestamp, key, value);
        writer.finish()
    }

    #[test]
    fn empty_input_gives_empty_output() {
        let mut runtime = Runtime::<Echo>::init(OperatorInfo::new("t"), Vec::new()).unwrap();
        assert_eq!(runtime.process(&[]).unwrap(), Vec::<u8>::new());
        assert_eq!(runtime.process(BatchWriter::new().as_bytes()).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn output_carries_the_input_timestamp_unless_given_one() {
        let mut harness = Harness::<Echo>::new().unwrap();
        let out = harness.process_at("k", "late", 3, 1234).unwrap();
        assert_eq!(out, [("k", "late"), ("late", "")]);
        assert_eq!((out[0].timestamp, out[1].timestamp), (Some(1234), Some(99)));
        let out = harness.process("k", "v", 3).unwrap();
        assert_eq!(out[0].timestamp, None);
        let out = harness.finish().unwrap();
        assert_eq!((out[0].key_str().unwrap(), out[0].timestamp), ("done", None));
    }

    #[test]
    fn an_operator_error_fails_the_batch_and_drops_its_output() {
        let mut harness = Harness::<Echo>::new().unwrap();
        let err = harness.process_all([("a", "ok", 1), ("b", "fail", 1)]).unwrap_err();
        assert_eq!(err.to_string(), "asked to fail");
        assert_eq!(harness.process("c", "ok", 1).unwrap(), [("c", "ok")]);
    }
}

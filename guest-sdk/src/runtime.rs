//! [`Runtime`]: one operator instance driven through the four calls of the
//! WIT `operator` interface, with plain Rust types and no wit-bindgen.
//!
//! The export glue ([`export_operator!`](crate::export_operator)) keeps one
//! `Runtime` per component instance and forwards the WIT calls to it;
//! [`testing::Harness`](crate::testing::Harness) drives one natively.

use weir_wire::batch::BatchReader;

use crate::state::Chunk;
pub use crate::state::{Snapshot, SnapshotMode};
use crate::{Context, Error, Event, InputInfo, OpenContext, Operator, OperatorInfo, Result};

/// An operator instance and its [`Context`].
pub struct Runtime<O> {
    operator: O,
    ctx: Context,
    /// The info's inputs, kept apart from the context so that an [`Event`]
    /// can borrow its input's description while the operator borrows the
    /// context mutably.
    inputs: Vec<InputInfo>,
    /// The wake-up time last requested from the host (`wake-at`).
    wake_at: Option<i64>,
}

impl<O: Operator> Runtime<O> {
    /// The WIT `init`: runs [`Operator::open`] with the restored chunks
    /// (empty for a fresh start).
    ///
    /// Restored timers are loaded before `open`; when there is a
    /// processing-time timer among them, the instance asks the host to wake
    /// it ([`Runtime::wake_at`]).
    pub fn init(info: OperatorInfo, restored: Vec<Chunk>) -> Result<Self> {
        let inputs = info.inputs().to_vec();
        let mut open = OpenContext::new(info, restored)?;
        let operator = O::open(&mut open)?;
        let mut runtime = Runtime { operator, ctx: open.into_context(), inputs, wake_at: None };
        runtime.sync_wake_at();
        Ok(runtime)
    }

    /// The WIT `process`: runs [`Operator::process`] on every event of a
    /// packed batch (`wit/FRAMING.md`, version 1) that came from input
    /// `input`, an index into [`OperatorInfo::inputs`], and returns the
    /// packed output: version 1 while the operator emits to its main output
    /// only, version 2 once it has used a side output.
    ///
    /// A malformed batch, or an input the info does not list, is an error.
    /// Events before the damage have been processed by then (the error fails
    /// the job anyway); on any error the output of the batch is discarded.
    pub fn process(&mut self, input: u32, batch: &[u8]) -> Result<Vec<u8>> {
        let result = self.process_events(input, batch);
        self.ctx.leave();
        self.sync_wake_at();
        match result {
            Ok(()) => Ok(self.ctx.take_output()),
            Err(error) => {
                self.ctx.discard_output();
                Err(error)
            }
        }
    }

    fn process_events(&mut self, input: u32, batch: &[u8]) -> Result<()> {
        let Some(input_info) = self.inputs.get(input as usize) else {
            return Err(Error::msg(format!(
                "`process` was called for input {input}, but operator '{}' has {} input(s)",
                self.ctx.info().name(),
                self.inputs.len()
            )));
        };
        let broadcast = input_info.is_broadcast();
        let malformed = |e| Error::msg(format!("malformed input batch: {e}"));
        let reader = BatchReader::new(batch).map_err(malformed)?;
        if reader.version() != weir_wire::batch::VERSION {
            // Version 2 is for output: its first field is an output tag, not
            // a key group.
            return Err(Error::msg(format!(
                "malformed input batch: framing version {} is for output batches only",
                reader.version()
            )));
        }
        for event in reader {
            let event = event.map_err(malformed)?;
            self.ctx.enter(&event, broadcast);
            self.operator.process(&mut self.ctx, Event::new(event, input, input_info))?;
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

    /// The WIT `advance`: time moved. Raises the watermark to `watermark`
    /// (it never goes back: a lower one is ignored) and sets the processing
    /// time to `now`, then fires every due timer (event-time ones at or
    /// before the watermark, processing-time ones at or before `now`) in
    /// timestamp order, event time first at equal timestamps, across keys,
    /// each with [`Operator::on_timer`] and its key current. Timers that a
    /// callback registers and that are due already fire in the same call.
    /// Returns what the callbacks emitted, packed as by
    /// [`Runtime::process`].
    pub fn advance(&mut self, watermark: i64, now: i64) -> Result<Vec<u8>> {
        self.ctx.advance_time(watermark, now);
        let result = self.fire_timers();
        self.ctx.leave();
        self.sync_wake_at();
        match result {
            Ok(()) => Ok(self.ctx.take_output()),
            Err(error) => {
                self.ctx.discard_output();
                Err(error)
            }
        }
    }

    fn fire_timers(&mut self) -> Result<()> {
        while let Some(timer) = self.ctx.next_due_timer() {
            self.operator.on_timer(&mut self.ctx, timer)?;
        }
        Ok(())
    }

    /// When the instance wants the host to call [`Runtime::advance`] by the
    /// clock: its earliest processing-time timer, as of the end of the last
    /// call (`None`: no processing-time timer). In a WebAssembly component
    /// the SDK also calls the host import `wake-at` whenever this changes
    /// (and in `init` when restored timers set it); a native host reads it
    /// after each call instead.
    pub fn wake_at(&self) -> Option<i64> {
        self.wake_at
    }

    /// Tells the host (`wake-at`) when the earliest processing-time timer
    /// changed.
    fn sync_wake_at(&mut self) {
        let earliest = self.ctx.earliest_processing_timer();
        if earliest != self.wake_at {
            self.wake_at = earliest;
            #[cfg(target_arch = "wasm32")]
            crate::__private::bindings::weir::operator::host::wake_at(earliest);
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

        let err = runtime.process(0, &good[..good.len() - 1]).unwrap_err().to_string();
        assert_eq!(err, "malformed input batch: truncated while reading event value");
        let err = runtime.process(0, b"XX\x01\x00\x00\x00\x00\x00").unwrap_err().to_string();
        assert_eq!(err, "malformed input batch: bad magic (not a Weir batch)");
        // The partial output of a failed batch is not carried into the next one.
        assert_eq!(runtime.process(0, &good).unwrap(), good_output(b"key", b"value", NO_TIMESTAMP));
    }

    fn good_output(key: &[u8], value: &[u8], timestamp: i64) -> Vec<u8> {
        let mut writer = BatchWriter::new();
        writer.push(NO_KEY_GROUP, timestamp, key, value);
        writer.finish()
    }

    #[test]
    fn empty_input_gives_empty_output() {
        let mut runtime = Runtime::<Echo>::init(OperatorInfo::new("t"), Vec::new()).unwrap();
        assert_eq!(runtime.process(0, &[]).unwrap(), Vec::<u8>::new());
        assert_eq!(runtime.process(0, BatchWriter::new().as_bytes()).unwrap(), Vec::<u8>::new());
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

#[cfg(test)]
mod input_and_output_tests {
    use weir_wire::batch::{BatchReader, BatchWriter, MAIN_OUTPUT, NO_KEY_GROUP, NO_TIMESTAMP, TAGGED_VERSION};

    use super::*;
    use crate::ValueState;
    use crate::testing::Harness;

    /// Emits `input-name:value` to the main output; a value naming a side
    /// output ("late", "bad") goes there instead; "count" bumps a keyed
    /// counter (which a broadcast event may not use).
    struct Route {
        count: ValueState<u32>,
    }

    impl Operator for Route {
        fn open(ctx: &mut OpenContext) -> Result<Self> {
            Ok(Route { count: ctx.keyed_value("count")? })
        }

        fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
            let text = format!("{}:{}:{}", event.input(), event.input_name(), event.value_str()?);
            match event.value() {
                b"late" | b"bad" | b"nowhere" => ctx.emit_to(event.value_str()?, event.key(), text)?,
                b"count" => {
                    let n = self.count.get(ctx).copied().unwrap_or(0) + 1;
                    self.count.set(ctx, n);
                }
                _ => ctx.emit(event.key(), text),
            }
            Ok(())
        }

        fn finish(&mut self, ctx: &mut Context) -> Result<()> {
            ctx.emit_to("late", "finish", "")?;
            ctx.emit("finish", "");
            Ok(())
        }
    }

    fn info() -> OperatorInfo {
        OperatorInfo::new("route")
            .with_inputs([InputInfo::new("events"), InputInfo::broadcast("rules")])
            .with_side_outputs(["late", "bad"])
    }

    fn batch(events: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = BatchWriter::new();
        for (key, value) in events {
            writer.push(NO_KEY_GROUP, NO_TIMESTAMP, key.as_bytes(), value.as_bytes());
        }
        writer.finish()
    }

    /// (output tag, key, value) of every event of an output batch.
    fn tagged(batch: &[u8]) -> (u8, Vec<(u16, String, String)>) {
        let reader = BatchReader::new(batch).unwrap();
        let version = reader.version();
        let events = reader
            .map(|e| e.unwrap())
            .map(|e| {
                let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
                (e.key_group, text(e.key), text(e.value))
            })
            .collect();
        (version, events)
    }

    #[test]
    fn events_know_their_input() {
        let mut harness = Harness::<Route>::with_info(info()).unwrap();
        assert_eq!(harness.process("k", "x", 3).unwrap(), [("k", "0:events:x")]);
        assert_eq!(harness.process_input(1, "k", "y", NO_KEY_GROUP).unwrap(), [("k", "1:rules:y")]);
    }

    #[test]
    fn an_unknown_input_is_an_error() {
        let mut runtime = Runtime::<Route>::init(info(), Vec::new()).unwrap();
        let err = runtime.process(2, &batch(&[("k", "x")])).unwrap_err().to_string();
        assert_eq!(err, "`process` was called for input 2, but operator 'route' has 2 input(s)");
    }

    #[test]
    fn a_tagged_input_batch_is_an_error() {
        let mut runtime = Runtime::<Route>::init(info(), Vec::new()).unwrap();
        let mut writer = BatchWriter::new();
        writer.tag_outputs();
        writer.push(MAIN_OUTPUT, NO_TIMESTAMP, b"k", b"x");
        let err = runtime.process(0, &writer.finish()).unwrap_err().to_string();
        assert_eq!(err, "malformed input batch: framing version 2 is for output batches only");
    }

    #[test]
    fn side_outputs_make_a_version_2_batch_in_emission_order() {
        let mut runtime = Runtime::<Route>::init(info(), Vec::new()).unwrap();
        // Main output only: version 1, as before side outputs existed.
        let (version, events) = tagged(&runtime.process(0, &batch(&[("a", "x")])).unwrap());
        assert_eq!((version, events), (1, vec![(NO_KEY_GROUP, "a".into(), "0:events:x".into())]));

        let out = runtime.process(0, &batch(&[("a", "x"), ("b", "bad"), ("c", "y"), ("d", "late")])).unwrap();
        let (version, events) = tagged(&out);
        assert_eq!(version, TAGGED_VERSION);
        assert_eq!(
            events,
            [
                (MAIN_OUTPUT, "a".into(), "0:events:x".into()),
                (1, "b".into(), "0:events:bad".into()),
                (MAIN_OUTPUT, "c".into(), "0:events:y".into()),
                (0, "d".into(), "0:events:late".into()),
            ]
        );
        let (version, events) = tagged(&runtime.finish().unwrap());
        assert_eq!(version, TAGGED_VERSION);
        assert_eq!(events, [(0, "finish".into(), "".into()), (MAIN_OUTPUT, "finish".into(), "".into())]);
    }

    #[test]
    fn an_undeclared_side_output_is_an_error_naming_the_declared_ones() {
        let mut harness = Harness::<Route>::with_info(info()).unwrap();
        let err = harness.process("k", "nowhere", 3).unwrap_err().to_string();
        assert_eq!(
            err,
            "operator 'route' emitted to side output `nowhere`, which the job file does not declare for it \
             (it declares `late`, `bad`): add it to the operator's side_outputs"
        );
        let mut harness = Harness::<Route>::new().unwrap();
        let err = harness.process("k", "late", 3).unwrap_err().to_string();
        assert!(err.contains("(it declares none)"), "{err}");
    }

    #[test]
    fn the_harness_keeps_side_outputs_apart() {
        let mut harness = Harness::<Route>::with_info(info()).unwrap();
        let out = harness.process_all([("a", "bad", 1), ("b", "x", 1), ("c", "bad", 1), ("d", "late", 1)]).unwrap();
        assert_eq!(out, [("b", "0:events:x")]);
        assert_eq!(harness.finish().unwrap(), [("finish", "")]);
        assert_eq!(harness.side_output("bad"), [("a", "0:events:bad"), ("c", "0:events:bad")]);
        assert_eq!(harness.side_output("late"), [("d", "0:events:late"), ("finish", "")]);
        assert!(harness.side_output("bad").is_empty());
    }

    #[test]
    #[should_panic(expected = "side output `typo` is not declared")]
    fn the_harness_refuses_an_undeclared_side_output_name() {
        Harness::<Route>::with_info(info()).unwrap().side_output("typo");
    }

    #[test]
    fn the_harness_refuses_a_key_group_on_a_broadcast_input() {
        let mut harness = Harness::<Route>::with_info(info()).unwrap();
        let err = harness.process_input(1, "k", "x", 4).unwrap_err().to_string();
        assert_eq!(err, "input 1 (`rules`) is broadcast: its events carry no key group (pass NO_KEY_GROUP, not 4)");
    }

    #[test]
    #[should_panic(expected = "keyed state `count` was used for an event of a broadcast input")]
    fn keyed_state_is_not_available_for_broadcast_events() {
        let mut harness = Harness::<Route>::with_info(info()).unwrap();
        harness.process("k", "count", 3).unwrap();
        let _ = harness.process_input(1, "k", "count", NO_KEY_GROUP);
    }
}

//! Native operators: the example operators compiled natively and registered
//! with the engine run behind the same abstraction as their components,
//! and a checkpoint of one restores into the other, both ways.

use weir_guest::{Context, Event, OpenContext, Operator};
use weir_host::checkpoint::{RestoreMode, StartFrom, StartOptions};
use weir_host::operator::NativeOperator;
use weir_host::{Engine, JobSpec, JobStatus, OperatorCode};

use crate::checkpoint_support::*;

fn engine() -> Engine {
    Engine::new()
        .expect("engine")
        .with_native(NativeOperator::sdk::<tokenizer::Tokenizer>("tokenizer"))
        .with_native(NativeOperator::sdk::<counter::Counter>("counter"))
}

/// The job file of `job`, with the named operators switched to native code.
fn spec_with_native(job: &CheckpointedJob, native: &[&str]) -> JobSpec {
    let mut spec = JobSpec::from_file(job.job.path("job.toml")).expect("job file");
    for op in &mut spec.operators {
        if native.contains(&op.name.as_str()) {
            op.code = OperatorCode::Native(op.name.clone());
        }
    }
    spec
}

#[test]
fn the_word_count_with_native_operators_is_exact() {
    let shape = Shape { rate: 1_000_000, ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let report = engine()
        .start(spec_with_native(&job, &["tokenizer", "counter"]))
        .expect("start")
        .wait()
        .expect("the job failed");
    assert_eq!(report.status, JobStatus::Finished);
    job.assert_exact();
}

/// Runs `job` until it has a checkpoint, cancels it (its checkpoints are
/// retained), and returns the newest checkpoint's path.
fn checkpointed_then_cancelled(job: &CheckpointedJob, spec: JobSpec) -> String {
    let running = engine().start(spec).expect("start");
    wait_until(|| !complete_checkpoints(&job.checkpoint_dir()).is_empty() || running.is_finished());
    running.cancel_handle().cancel();
    assert_eq!(running.wait().expect("the job failed").status, JobStatus::Cancelled);
    let newest = *complete_checkpoints(&job.checkpoint_dir()).last().expect("a checkpoint");
    job.checkpoint_dir().join(format!("chk-{newest}")).display().to_string()
}

fn wait_until(done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "timed out");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn restore_and_finish(job: &CheckpointedJob, spec: JobSpec, path: String) {
    let options =
        StartOptions { from: StartFrom::Checkpoint { path, mode: RestoreMode::NoClaim }, ..Default::default() };
    let report = engine().start_with(spec, options).expect("restore").wait().expect("the restored job failed");
    assert_eq!(report.status, JobStatus::Finished);
    job.assert_exact();
}

#[test]
fn a_component_checkpoint_restores_into_native_code_and_back() {
    let shape = Shape { lines: 20_000, rate: 20_000, ..Shape::default() };

    // Component counter -> native counter.
    let job = CheckpointedJob::new(&shape);
    let path = checkpointed_then_cancelled(&job, spec_with_native(&job, &[]));
    job.write_job(&Shape { rate: 1_000_000, ..shape.clone() });
    restore_and_finish(&job, spec_with_native(&job, &["counter"]), path);

    // Native counter -> component counter.
    let job = CheckpointedJob::new(&shape);
    let path = checkpointed_then_cancelled(&job, spec_with_native(&job, &["counter"]));
    job.write_job(&Shape { rate: 1_000_000, ..shape });
    restore_and_finish(&job, spec_with_native(&job, &[]), path);
}

#[test]
fn an_unknown_native_operator_is_refused_by_name() {
    let job = CheckpointedJob::new(&Shape::default());
    let mut spec = spec_with_native(&job, &[]);
    spec.operators[1].code = OperatorCode::Native("no-such-thing".into());
    let error = engine().start(spec).err().expect("an unknown native operator must be refused").to_string();
    for needle in ["operators[1].native", "no-such-thing", "registered: counter, tokenizer"] {
        assert!(error.contains(needle), "{needle:?} missing from: {error}");
    }
}

/// Native code that panics on the word "w7" (the tokenizer's event key).
struct Panicky;

impl Operator for Panicky {
    fn open(_: &mut OpenContext) -> weir_guest::Result<Self> {
        Ok(Panicky)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> weir_guest::Result<()> {
        assert_ne!(event.key(), b"w7", "native operator gave up");
        ctx.emit(event.key(), event.value());
        Ok(())
    }
}

#[test]
fn a_panic_in_native_code_fails_the_job_with_the_operator_named() {
    let job = CheckpointedJob::new(&Shape { rate: 1_000_000, ..Shape::default() });
    let mut spec = spec_with_native(&job, &["tokenizer"]);
    spec.operators[1].code = OperatorCode::Native("panicky".into());
    spec.operators[1].key_by = false;
    let engine = engine().with_native(NativeOperator::sdk::<Panicky>("panicky"));
    let error = engine.start(spec).expect("start").wait().expect_err("the job must fail").to_string();
    for needle in ["operator 'counter'", "native code panicked in process", "native operator gave up"] {
        assert!(error.contains(needle), "{needle:?} missing from: {error}");
    }
}

/// Native code speaking the batch format itself: it answers every batch
/// with one event tagged for output `tag` (FRAMING.md version 2).
struct Tagging {
    tag: u16,
}

impl weir_host::operator::OperatorInstance for Tagging {
    fn process(&mut self, _input: u32, _batch: &Vec<u8>) -> weir_host::Result<Vec<u8>> {
        let mut writer = weir_wire::batch::BatchWriter::new();
        writer.tag_outputs();
        writer.push(self.tag, weir_wire::batch::NO_TIMESTAMP, b"k", b"v");
        Ok(writer.finish())
    }

    fn snapshot(
        &mut self,
        _checkpoint_id: u64,
        _mode: weir_host::operator::SnapshotMode,
    ) -> weir_host::Result<weir_host::operator::Snapshot> {
        Ok(Default::default())
    }

    fn finish(&mut self) -> weir_host::Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

fn tagging(tag: u16) -> NativeOperator {
    NativeOperator::new(format!("tag-{tag}"), move |_, _| Ok(Box::new(Tagging { tag })))
}

/// An event tagged for a side output reaches that output's sink; one
/// tagged for an output nobody declared fails the job, naming the operator
/// and the tag, instead of being dropped.
#[test]
fn output_tags_route_to_declared_side_outputs_and_others_fail_the_job() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\nb\n").expect("write input");
    let spec = |tag: u16| {
        JobSpec::graph("tags")
            .source(weir_host::SourceNode::new("in", weir_host::SourceSpec::lines(&input)))
            .operator(weir_host::OperatorSpec::native("op", format!("tag-{tag}")).side_outputs(["late"]))
            .sink(weir_host::SinkNode::new("main", weir_host::SinkSpec::files(dir.path().join(format!("main-{tag}")))))
            .sink(
                weir_host::SinkNode::new("late", weir_host::SinkSpec::files(dir.path().join(format!("late-{tag}"))))
                    .inputs(["op.late"]),
            )
    };
    let engine = Engine::new().expect("engine").with_native(tagging(0)).with_native(tagging(1));
    let report = engine.run(spec(0)).expect("the job runs");
    assert_eq!(report.status, JobStatus::Finished);
    let late = output_lines(&dir.path().join("late-0"));
    assert!(!late.is_empty() && late.iter().all(|line| line == "k\tv"), "{late:?}");
    assert!(output_lines(&dir.path().join("main-0")).is_empty());

    let message = engine.run(spec(1)).map(|r| r.status).expect_err("an undeclared output fails the job").to_string();
    assert!(message.contains("operator 'op'") && message.contains("output 1") && message.contains("late"), "{message}");
}

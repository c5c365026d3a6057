//! Weir's host: runs stream operators compiled to WebAssembly components,
//! each subtask in its own sandbox, on a parallel, keyed dataflow.
//!
//! This crate is the product; the `weir` binary is a thin command line over
//! it, and an edge service can embed the same API:
//!
//! ```no_run
//! use weir_host::{Engine, JobSpec, OperatorSpec, SinkSpec, SourceSpec};
//!
//! let job = JobSpec::new("wordcount", SourceSpec::lines("input.txt"), SinkSpec::files("out"))
//!     .operator(OperatorSpec::new("tokenizer", "tokenizer.wasm").parallelism(2))
//!     .operator(OperatorSpec::new("counter", "counter.wasm").parallelism(2).key_by(true));
//! let running = Engine::new()?.start(job)?;
//! let report = running.wait()?;
//! println!("{} events in {:?}", report.metrics.source_events, report.metrics.elapsed);
//! # Ok::<(), weir_host::Error>(())
//! ```
//!
//! A complete job that runs as it is (a doc test): generated events, an
//! operator compiled into the host ([`operator::NativeOperator`], the same
//! abstraction a component runs behind), checkpoints in memory taken on
//! demand, and the statistics of one.
//!
//! ```
//! use std::time::Duration;
//! use weir_guest::{Context, Event, OpenContext, Operator, ValueState};
//! use weir_host::operator::NativeOperator;
//! use weir_host::{CheckpointConfig, Engine, GeneratorSpec, JobSpec, JobStatus, OperatorSpec, SinkSpec, SourceSpec};
//!
//! /// Counts events per key, like `examples/counter`.
//! struct Count(ValueState<u64>);
//!
//! impl Operator for Count {
//!     fn open(ctx: &mut OpenContext) -> weir_guest::Result<Self> {
//!         Ok(Count(ctx.keyed_value("count")?))
//!     }
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> weir_guest::Result<()> {
//!         let n = self.0.get(ctx).copied().unwrap_or(0) + 1;
//!         self.0.set(ctx, n);
//!         ctx.emit(event.key(), n.to_string());
//!         Ok(())
//!     }
//! }
//!
//! let source = SourceSpec::Generator(GeneratorSpec { count: 200_000, keys: 1_000, rate_limit: Some(400_000), ..Default::default() });
//! let job = JobSpec::new("count", source, SinkSpec::Discard)
//!     .operator(OperatorSpec::native("count", "count").parallelism(2).key_by(true))
//!     .checkpoint(CheckpointConfig::new("memory://doc-example", Duration::from_secs(3600)));
//! let engine = Engine::new()?.with_native(NativeOperator::sdk::<Count>("count"));
//! let running = engine.start(job)?;
//! let checkpoint = running.trigger_checkpoint()?;
//! let stats = running.checkpoint_stats();
//! assert_eq!(stats.latest_completed().map(|c| c.id), Some(checkpoint));
//! let report = running.wait()?;
//! assert_eq!(report.status, JobStatus::Finished);
//! assert_eq!(report.metrics.sink_events, 200_000);
//! # Ok::<(), weir_host::Error>(())
//! ```
//!
//! # Layout
//!
//! Layers, bottom-up; a module imports only from the layers below it
//! (`layering.rs` is the test that holds this):
//!
//! - [`error`] and `util`: the [`Error`] type (every variant names the
//!   file, field, operator or subtask at fault) and small helpers. Leaves.
//! - `sources`: the source half of the connector API and one file per
//!   kind of reader (`lines`, `generator`, `kafka`, `nats`,
//!   [`EmbeddedSource`], which an embedder feeds: see
//!   `examples/edge-service`); they hand events to an `Emit`, not to the
//!   executor. Below `job` because a job spec can hold an embedded source.
//! - `sinks`: the sink half (two-phase commit, write-ahead staging into
//!   the checkpoint through a `CheckpointFiles` it is handed) and one file
//!   per kind: `files` (commit, roll-back, lineage), `kafka`, `nats`.
//! - [`job`]: what a job *is*, as plain data: [`JobSpec`], the TOML job
//!   file, [`CheckpointConfig`], [`Retention`], [`RestartStrategy`],
//!   [`Limits`], the job graph and key groups.
//! - [`operator`]: what the executor drives: [`operator::OperatorInstance`]
//!   and its types, and [`operator::NativeOperator`] (trusted Rust code
//!   registered with [`Engine::with_native`]).
//! - [`guest`]: everything wasmtime: the engine, loading and checking
//!   components, one sandboxed `Store` per subtask under its [`Limits`];
//!   it implements `OperatorInstance`.
//! - [`checkpoint`]: the coordinator, the `_metadata` format, storage on
//!   any object store, restore, retention, lifecycle (gc) and the
//!   single-writer lease.
//! - [`connector`]: the public face of the connector traits, for embedders.
//! - `exec`: how a job *runs*: a thread per subtask, bounded channels,
//!   routing by key group; the supervisor that restarts failed attempts
//!   per the [`RestartStrategy`]; the [`RunningJob`] handle.
//! - [`engine`]: the embedding entry point, [`Engine`], which checks,
//!   prepares and starts jobs.
//! - [`http`]: the REST API, the web dashboard and the Prometheus
//!   endpoint of `weir run --http`, for embedders too: [`http::serve`]
//!   shows the jobs of an [`http::Jobs`] registry, to the clients an
//!   [`http::Access`] admits.
//!
//! The `weir` binary (`src/cli`) sits on top and uses only the public API.
//!
//! The guest side of the boundary is specified in `wit/` (the
//! `weir:operator` world, `FRAMING.md`, `STATE.md`) and implemented for
//! Rust by the `weir-guest` crate.

pub mod checkpoint;
pub mod connector;
pub mod engine;
pub mod error;
mod exec;
pub mod guest;
pub mod http;
pub mod job;
#[cfg(test)]
mod layering;
pub mod operator;
mod sinks;
mod sources;
mod util;

pub use checkpoint::{RestoreMode, StartFrom, StartOptions};
pub use engine::{Engine, EngineConfig};
pub use error::{Error, Result};
pub use exec::{
    CancelHandle, JobMetrics, JobObserver, JobOutcome, JobReport, JobStatus, OperatorMetrics, Restarting, RunningJob,
};
pub use job::{
    CheckpointConfig, EmbeddedSource, ExecutionConfig, FeedError, Feeder, GeneratorSpec, JobSpec, Limits, LineFormat,
    OperatorCode, OperatorSpec, RestartStrategy, Retention, Rewind, SinkNode, SinkSpec, SourceNode, SourceSpec,
    Watermarks,
};

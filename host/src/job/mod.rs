//! What a job *is*: its sources, its operators (a chain, or a graph wired
//! by `inputs`), its sinks and its execution settings, plus the checks that
//! make it runnable (`graph.rs` resolves and checks the wiring).
//!
//! A [`JobSpec`] is built in code (the embedding API) or read from a TOML
//! job file ([`JobSpec::from_file`], see `file.rs`). Either way it goes
//! through [`JobSpec::validate`] before anything runs. This module only
//! describes jobs; running them is `exec`'s business.

pub mod checkpointing;
mod file;
#[cfg(test)]
mod file_props;
pub mod graph;
pub mod key_groups;
pub mod limits;
pub mod restart;
pub mod retention;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use checkpointing::CheckpointConfig;
pub use limits::Limits;
pub use restart::RestartStrategy;
pub use retention::Retention;

use crate::error::{Error, Result};
pub use crate::sinks::{
    CheckpointFiles, CustomSink, KafkaDelivery, KafkaSink, NatsSink, Publisher, SinkConnector, SinkContext, SinkWriter,
    Staged, StagedEvent, StagedFiles, StartCheck, WriteAheadSink,
};
pub use crate::sources::{
    Assignment, CustomSource, KafkaSource, KafkaStart, LineFormat, NatsSource, SourceConnector, SourceReader, Split,
};
pub use crate::sources::{EmbeddedSource, FeedError, Feeder, GeneratorSpec, Rewind};
use crate::sources::{GeneratorSource, InOrder, LinesSource, Source};

/// Key groups when a job does not say: Flink's default too. It bounds the
/// parallelism a job can ever be rescaled to.
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;
/// The most key groups a job may declare: key groups travel as `u16` in the
/// batch framing and 0xFFFF means "not keyed".
pub const MAX_MAX_PARALLELISM: u32 = 32_768;
/// Events per batch when a job does not say. Every guest call costs a fixed
/// ~0.3 µs, so batches amortise it; past a few hundred events the gain is
/// small and latency grows (BENCHMARKS.md).
pub const DEFAULT_BATCH_SIZE: usize = 256;
/// Batches a channel buffers before its sender blocks (backpressure).
pub const DEFAULT_CHANNEL_CAPACITY: usize = 8;

/// A complete job description.
///
/// A chain (one source, operators in order, one sink):
///
/// ```
/// use weir_host::{JobSpec, OperatorSpec, SinkSpec, SourceSpec};
///
/// let job = JobSpec::new("wordcount", SourceSpec::lines("input.txt"), SinkSpec::Discard)
///     .operator(OperatorSpec::new("tokenizer", "tokenizer.wasm").parallelism(2))
///     .operator(OperatorSpec::new("counter", "counter.wasm").parallelism(2).key_by(true));
/// assert!(job.validate().is_ok());
/// ```
///
/// A graph: nodes wired by name, the same as `[[sources]]`, `inputs` and
/// `[[sinks]]` in a job file.
///
/// ```
/// use weir_host::{JobSpec, OperatorSpec, SinkNode, SinkSpec, SourceNode, SourceSpec};
///
/// let job = JobSpec::graph("split")
///     .source(SourceNode::new("lines", SourceSpec::lines("input.txt")).parallelism(2))
///     .operator(OperatorSpec::new("splitter", "splitter.wasm").parallelism(2).side_outputs(["bad"]))
///     .sink(SinkNode::new("good", SinkSpec::files("good")).inputs(["splitter"]))
///     .sink(SinkNode::new("bad", SinkSpec::files("bad")).inputs(["splitter.bad"]));
/// assert!(job.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// A human-readable name, used in logs.
    pub name: String,
    /// A stable id; `None` gives every run a fresh one.
    pub id: Option<String>,
    /// Where events come from; a chain's one source is named `source`.
    pub sources: Vec<SourceNode>,
    /// The operators. One without `inputs` reads the previous entry's main
    /// output (the first one: the job's only source).
    pub operators: Vec<OperatorSpec>,
    /// Where events go; a chain's one sink is named `sink` and reads the
    /// last operator.
    pub sinks: Vec<SinkNode>,
    pub execution: ExecutionConfig,
    /// Periodic checkpoints; `None` takes none.
    pub checkpoint: Option<CheckpointConfig>,
    /// What to do when the job fails; `None` for the default: Flink's,
    /// `exponential-delay` when the job takes checkpoints, else `none`.
    pub restart: Option<RestartStrategy>,
}

/// A named source of a job, run as `parallelism` subtasks that each read a
/// part of it (a byte range of a file, a range of a generator's sequence).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceNode {
    /// Unique among the job's nodes; what `inputs` name.
    pub name: String,
    pub spec: SourceSpec,
    pub parallelism: u32,
    /// Event-time watermarks: none, or what each subtask emits.
    pub watermarks: Option<Watermarks>,
}

/// How a source subtask makes watermarks from its events' timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// Bounded out-of-orderness: the watermark is the highest timestamp
    /// seen minus this (`watermark_delay_ms`).
    pub delay_ms: u64,
    /// A subtask with no event for this long stops holding its
    /// downstream's watermark back until its next event
    /// (`idle_timeout_ms`).
    pub idle_timeout_ms: Option<u64>,
    /// A watermark goes out when it enters a new interval of this many ms
    /// of event time (`watermark_interval_ms`, default
    /// [`DEFAULT_WATERMARK_INTERVAL_MS`]).
    pub interval_ms: u64,
}

/// Event-time ms between two watermarks of a source subtask by default.
pub const DEFAULT_WATERMARK_INTERVAL_MS: u64 = 200;

impl Watermarks {
    /// Bounded out-of-orderness `delay_ms`, no idle timeout.
    pub fn bounded(delay_ms: u64) -> Self {
        Watermarks { delay_ms, idle_timeout_ms: None, interval_ms: DEFAULT_WATERMARK_INTERVAL_MS }
    }
}

impl SourceNode {
    pub fn new(name: impl Into<String>, spec: SourceSpec) -> Self {
        SourceNode { name: name.into(), spec, parallelism: 1, watermarks: None }
    }

    pub fn watermarks(mut self, watermarks: Watermarks) -> Self {
        self.watermarks = Some(watermarks);
        self
    }

    pub fn parallelism(mut self, parallelism: u32) -> Self {
        self.parallelism = parallelism;
        self
    }
}

/// A named sink of a job. Every sink is exactly-once (files) on the same
/// checkpoints; `inputs` are operator outputs (`op` or `op.SIDE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkNode {
    pub name: String,
    pub spec: SinkSpec,
    /// Empty: the last operator's main output.
    pub inputs: Vec<String>,
}

impl SinkNode {
    pub fn new(name: impl Into<String>, spec: SinkSpec) -> Self {
        SinkNode { name: name.into(), spec, inputs: Vec::new() }
    }

    pub fn inputs<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.inputs = inputs.into_iter().map(Into::into).collect();
        self
    }
}

/// The name a chain's source gets (what its checkpoints record).
pub const CHAIN_SOURCE: &str = "source";
/// The name a chain's sink gets.
pub const CHAIN_SINK: &str = "sink";

/// Where events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A UTF-8 text file read line by line: each line is one event with an
    /// empty key and the line (without its line ending) as value. Its
    /// position is the byte offset of the next line.
    Lines {
        path: PathBuf,
        /// At most this many events per second.
        rate_limit: Option<u64>,
        /// What a line holds.
        format: LineFormat,
    },
    /// Deterministic synthetic events, for tests and benchmarks.
    Generator(GeneratorSpec),
    /// Events handed over in process by the embedding program through the
    /// [`Feeder`] created with the handle; positions are the embedder's,
    /// and so is the duty to replay after a restore (see
    /// [`EmbeddedSource`]). Job files cannot name it.
    Embedded(EmbeddedSource),
    /// A Kafka topic, its partitions dealt to the subtasks.
    Kafka(KafkaSource),
    /// A NATS JetStream stream, read by stream sequence.
    Nats(NatsSource),
    /// An embedder's own connector. Job files cannot name it.
    Custom(CustomSource),
}

impl SourceSpec {
    /// A `lines` source without a rate limit.
    pub fn lines(path: impl Into<PathBuf>) -> Self {
        SourceSpec::Lines { path: path.into(), rate_limit: None, format: LineFormat::Plain }
    }

    /// An embedder's connector.
    pub fn custom(connector: impl SourceConnector + 'static) -> Self {
        SourceSpec::Custom(CustomSource(std::sync::Arc::new(connector)))
    }
}

impl From<EmbeddedSource> for SourceSpec {
    fn from(source: EmbeddedSource) -> Self {
        SourceSpec::Embedded(source)
    }
}

/// What the executor asks of a source spec. Here rather than in `sources`,
/// which knows its readers but not the job: a spec names one of them.
impl SourceSpec {
    /// The splits of each of `parallelism` subtasks: a fresh start's, or
    /// what a checkpoint's subtasks had `left`, dealt again when the
    /// parallelism changed.
    pub(crate) fn assign(&self, job: &str, parallelism: u32, left: Option<Vec<Vec<Split>>>) -> Result<Vec<Vec<Split>>> {
        let left = match left {
            None => return self.initial_splits(job, parallelism),
            Some(left) if left.len() == parallelism as usize => return Ok(left),
            Some(left) => left,
        };
        let left: Vec<Split> = left.into_iter().flatten().collect();
        match self {
            SourceSpec::Kafka(kafka) => kafka.deal(left, parallelism),
            SourceSpec::Nats(nats) => nats.deal(left, parallelism),
            SourceSpec::Custom(custom) => custom.0.deal(left, parallelism),
            _ => {
                // Splits of a checkpoint taken before the file's end was
                // recorded run to "the end": cut them at the file's length.
                let end = self.end()?;
                let left = left.into_iter().map(|split| Split { next: split.next, end: split.end.min(end) });
                Ok(Split::deal(left, parallelism))
            }
        }
    }

    fn initial_splits(&self, job: &str, parallelism: u32) -> Result<Vec<Vec<Split>>> {
        match self {
            SourceSpec::Kafka(kafka) => kafka.initial_splits(job, parallelism),
            SourceSpec::Nats(nats) => nats.initial_splits(job, parallelism),
            SourceSpec::Custom(custom) => custom.0.initial_splits(job, parallelism),
            // A file by bytes, a generator by sequence: `parallelism`
            // splits of about the same size.
            _ => Ok(Split { next: 0, end: self.end()? }.divide(parallelism).into_iter().map(|s| vec![s]).collect()),
        }
    }

    /// Opens one subtask's reader. Errors (a missing input file, a broker
    /// that does not answer) are reported here, before any task starts.
    pub(crate) fn open(&self, assignment: Assignment) -> Result<Box<dyn SourceReader>> {
        let restored = assignment.restored;
        Ok(match self {
            SourceSpec::Lines { path, format, .. } => {
                let (path, format) = (path.clone(), *format);
                Box::new(InOrder::new(
                    assignment.splits,
                    Box::new(move |split| Ok(Box::new(LinesSource::open(&path, split, format)?) as Box<dyn Source>)),
                )?)
            }
            SourceSpec::Generator(g) => {
                let g = g.clone();
                Box::new(InOrder::new(
                    assignment.splits,
                    Box::new(move |split| Ok(Box::new(GeneratorSource::new(g.clone(), split)?) as Box<dyn Source>)),
                )?)
            }
            // A rewind to the start of the embedder's input, and on a
            // restore a seek to the checkpoint's position.
            SourceSpec::Embedded(source) => {
                let source = source.clone();
                Box::new(InOrder::new(
                    assignment.splits,
                    Box::new(move |split| {
                        let mut reader = source.open();
                        if restored {
                            reader.seek(split.next)?;
                        }
                        Ok(Box::new(reader) as Box<dyn Source>)
                    }),
                )?)
            }
            SourceSpec::Kafka(kafka) => kafka.open(assignment)?,
            SourceSpec::Nats(nats) => nats.open(assignment)?,
            SourceSpec::Custom(custom) => custom.0.open(assignment)?,
        })
    }

    /// One past the last position: the file's length, the generator's
    /// count; unbounded for the others.
    pub(crate) fn end(&self) -> Result<u64> {
        Ok(match self {
            SourceSpec::Lines { path, .. } => LinesSource::length(path)?,
            SourceSpec::Generator(g) => g.count,
            _ => u64::MAX,
        })
    }

    /// Where the source events `first..=last` (positions as
    /// [`Source::position`] counts them) came from, for a person: "which
    /// input made this fail".
    pub(crate) fn describe_positions(&self, first: u64, last: u64) -> String {
        let range = |unit: &str| match first == last {
            true => format!("{unit} {first}"),
            false => format!("{unit}s {first}..={last}"),
        };
        match self {
            SourceSpec::Lines { path, .. } => {
                format!("{}, the line(s) starting at {}", path.display(), range("byte"))
            }
            SourceSpec::Generator(_) => format!("the generator's {}", range("event")),
            SourceSpec::Embedded(_) => format!("the embedded source's {}", range("position")),
            SourceSpec::Kafka(kafka) => kafka.describe_positions(first, last),
            SourceSpec::Nats(nats) => nats.describe_positions(first, last),
            SourceSpec::Custom(custom) => custom.0.describe_positions(first, last),
        }
    }

    /// The source's rate limit, in events per second.
    pub(crate) fn rate_limit(&self) -> Option<u64> {
        match self {
            SourceSpec::Lines { rate_limit, .. } => *rate_limit,
            SourceSpec::Generator(g) => g.rate_limit,
            SourceSpec::Kafka(kafka) => kafka.rate_limit,
            SourceSpec::Nats(nats) => nats.rate_limit,
            SourceSpec::Embedded(_) | SourceSpec::Custom(_) => None,
        }
    }
}

/// One operator: its code run as `parallelism` subtasks.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorSpec {
    /// Unique within the job; names the operator in logs, errors and
    /// checkpoints.
    pub name: String,
    pub code: OperatorCode,
    pub parallelism: u32,
    /// Hash-partition this operator's input by event key: every event with
    /// a given key reaches the same subtask, and keyed state is available.
    pub key_by: bool,
    /// Passed to the guest's `init` as `operator-context.config`.
    pub config: BTreeMap<String, String>,
    /// What each of its instances may use.
    pub limits: Limits,
    /// The outputs it reads (`node` or `op.SIDE`), input 0 first; empty:
    /// the previous entry's main output.
    pub inputs: Vec<String>,
    /// Inputs delivered whole to every subtask instead of partitioned.
    pub broadcast: Vec<String>,
    /// Side outputs it may emit to, readable as `name.SIDE`.
    pub side_outputs: Vec<String>,
}

/// What runs an operator's subtasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorCode {
    /// A WebAssembly component (`.wasm`), each subtask in its own sandbox.
    Component(PathBuf),
    /// A native operator registered with the engine under this name
    /// ([`crate::Engine::with_native`]): trusted code, no sandbox.
    Native(String),
}

impl OperatorSpec {
    /// A component operator with parallelism 1 and a forward (unkeyed) input.
    pub fn new(name: impl Into<String>, component: impl Into<PathBuf>) -> Self {
        Self::with_code(name, OperatorCode::Component(component.into()))
    }

    /// An operator run by the native operator registered as `native`.
    pub fn native(name: impl Into<String>, native: impl Into<String>) -> Self {
        Self::with_code(name, OperatorCode::Native(native.into()))
    }

    fn with_code(name: impl Into<String>, code: OperatorCode) -> Self {
        OperatorSpec {
            name: name.into(),
            code,
            parallelism: 1,
            key_by: false,
            config: BTreeMap::new(),
            limits: Limits::default(),
            inputs: Vec::new(),
            broadcast: Vec::new(),
            side_outputs: Vec::new(),
        }
    }

    pub fn inputs<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.inputs = inputs.into_iter().map(Into::into).collect();
        self
    }

    pub fn broadcast<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.broadcast = inputs.into_iter().map(Into::into).collect();
        self
    }

    pub fn side_outputs<S: Into<String>>(mut self, outputs: impl IntoIterator<Item = S>) -> Self {
        self.side_outputs = outputs.into_iter().map(Into::into).collect();
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn parallelism(mut self, parallelism: u32) -> Self {
        self.parallelism = parallelism;
        self
    }

    pub fn key_by(mut self, key_by: bool) -> Self {
        self.key_by = key_by;
        self
    }

    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }
}

/// Where events go after the last operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// One file per subtask of the last operator in directory `path`, one
    /// line per event: `key<TAB>value`. Files being written have names
    /// starting with `.`; finished files do not.
    Files { path: PathBuf },
    /// `key<TAB>value` lines on standard output.
    Stdout,
    /// Counts events and drops them (benchmarks).
    Discard,
    /// A Kafka topic, exactly once by default (`sinks/kafka.rs`).
    Kafka(KafkaSink),
    /// A subject captured by a NATS JetStream stream, exactly once.
    Nats(NatsSink),
    /// An embedder's own connector. Job files cannot name it.
    Custom(CustomSink),
}

impl SinkSpec {
    pub fn files(path: impl Into<PathBuf>) -> Self {
        SinkSpec::Files { path: path.into() }
    }

    /// An embedder's connector.
    pub fn custom(connector: impl SinkConnector + 'static) -> Self {
        SinkSpec::Custom(CustomSink(std::sync::Arc::new(connector)))
    }

    /// The sink's connector for one attempt of job `job`: the files sink's
    /// directory, the Kafka or NATS publisher behind a write-ahead sink...
    pub(crate) fn connector(
        &self,
        job: &str,
        sink: &str,
        runtime: &tokio::runtime::Handle,
    ) -> std::sync::Arc<dyn SinkConnector> {
        use crate::sinks::{FilesConnector, KafkaPublisher, NatsPublisher, Unstaged};
        use std::sync::Arc;
        match self {
            SinkSpec::Files { path } => Arc::new(FilesConnector { dir: path.clone() }),
            SinkSpec::Stdout => Arc::new(Unstaged { stdout: true }),
            SinkSpec::Discard => Arc::new(Unstaged { stdout: false }),
            SinkSpec::Kafka(kafka) => Arc::new(WriteAheadSink::new(sink, KafkaPublisher::new(kafka, job, sink))),
            SinkSpec::Nats(nats) => Arc::new(WriteAheadSink::new(sink, NatsPublisher::new(nats, job, runtime.clone()))),
            SinkSpec::Custom(custom) => custom.0.clone(),
        }
    }
}

/// How the job runs, independent of what it computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionConfig {
    /// Most events per batch handed to a guest.
    pub batch_size: usize,
    /// Batches buffered per channel before the sender blocks.
    pub channel_capacity: usize,
    /// Number of key groups.
    pub max_parallelism: u32,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
        }
    }
}

impl JobSpec {
    /// A chain: `source` (named [`CHAIN_SOURCE`]), then the operators added
    /// with [`JobSpec::operator`] in order, then `sink` (named
    /// [`CHAIN_SINK`]); default execution settings.
    pub fn new(name: impl Into<String>, source: SourceSpec, sink: SinkSpec) -> Self {
        JobSpec::graph(name).source(SourceNode::new(CHAIN_SOURCE, source)).sink(SinkNode::new(CHAIN_SINK, sink))
    }

    /// A job with no nodes yet: add them with [`JobSpec::source`],
    /// [`JobSpec::operator`] and [`JobSpec::sink`].
    pub fn graph(name: impl Into<String>) -> Self {
        JobSpec {
            name: name.into(),
            id: None,
            sources: Vec::new(),
            operators: Vec::new(),
            sinks: Vec::new(),
            execution: ExecutionConfig::default(),
            checkpoint: None,
            restart: None,
        }
    }

    /// Adds a source node.
    pub fn source(mut self, source: SourceNode) -> Self {
        self.sources.push(source);
        self
    }

    /// Adds a sink node.
    pub fn sink(mut self, sink: SinkNode) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The restart strategy in force (the default when none was set).
    pub fn restart_strategy(&self) -> RestartStrategy {
        match (&self.restart, &self.checkpoint) {
            (Some(strategy), _) => strategy.clone(),
            (None, Some(_)) => RestartStrategy::exponential_default(),
            (None, None) => RestartStrategy::None,
        }
    }

    /// Takes checkpoints as `config` says.
    pub fn checkpoint(mut self, config: CheckpointConfig) -> Self {
        self.checkpoint = Some(config);
        self
    }

    /// Appends an operator to the chain.
    pub fn operator(mut self, operator: OperatorSpec) -> Self {
        self.operators.push(operator);
        self
    }

    /// Reads and validates a TOML job file. Relative paths in it are
    /// resolved against the file's directory.
    pub fn from_file(path: impl Into<PathBuf>) -> Result<Self> {
        file::read(&path.into())
    }

    /// Parses and validates a job file's text; relative paths are resolved
    /// against `base_dir`. Errors name the line, column and key.
    pub fn from_toml_str(text: &str, base_dir: &std::path::Path) -> Result<Self> {
        file::parse(text, base_dir).map_err(|message| Error::JobFile { path: PathBuf::from("<text>"), message })
    }

    /// Checks everything that can be checked without touching files:
    /// names, parallelism, sizes. Errors name the field as a job file
    /// spells it.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid("job.name", "must not be empty"));
        }
        if let Some(id) = &self.id {
            let valid = !id.is_empty()
                && id.len() <= 128
                && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !id.starts_with('.');
            if !valid {
                return Err(Error::invalid(
                    "job.id",
                    format!("{id:?} must be 1-128 characters of A-Z a-z 0-9 - _ . (it names a directory)"),
                ));
            }
        }
        let exec = &self.execution;
        if !(1..=MAX_MAX_PARALLELISM).contains(&exec.max_parallelism) {
            return Err(Error::invalid(
                "job.max_parallelism",
                format!("{} is out of range 1..={MAX_MAX_PARALLELISM}", exec.max_parallelism),
            ));
        }
        if !(1..=1 << 20).contains(&exec.batch_size) {
            return Err(Error::invalid("job.batch_size", format!("{} is out of range 1..=1048576", exec.batch_size)));
        }
        if !(1..=4096).contains(&exec.channel_capacity) {
            return Err(Error::invalid(
                "job.channel_capacity",
                format!("{} is out of range 1..=4096", exec.channel_capacity),
            ));
        }
        for (index, source) in self.sources.iter().enumerate() {
            // A chain's one source is the file's `[source]`.
            let table = match self.sources.len() == 1 && source.name == CHAIN_SOURCE {
                true => "source".to_owned(),
                false => format!("sources[{index}]"),
            };
            source.validate(&table, exec.max_parallelism)?;
        }
        if let Some(checkpoint) = &self.checkpoint {
            if checkpoint.dir.trim().is_empty() {
                return Err(Error::invalid("checkpoint.dir", "must not be empty"));
            }
            if checkpoint.interval < std::time::Duration::from_millis(10) {
                return Err(Error::invalid("checkpoint.interval_ms", "must be at least 10"));
            }
            if checkpoint.timeout.is_zero() {
                return Err(Error::invalid("checkpoint.timeout_ms", "must be at least 1"));
            }
            if checkpoint.full_every == 0 {
                return Err(Error::invalid("checkpoint.full_every", "must be at least 1"));
            }
            if checkpoint.num_retained == 0 {
                return Err(Error::invalid("checkpoint.num_retained", "must be at least 1"));
            }
        }
        if self.operators.is_empty() {
            return Err(Error::invalid("operators", "a job needs at least one [[operators]] entry"));
        }
        let mut seen = std::collections::HashSet::new();
        for (index, op) in self.operators.iter().enumerate() {
            let field = |key: &str| format!("operators[{index}].{key}");
            if op.name.trim().is_empty() {
                return Err(Error::invalid(field("name"), "must not be empty"));
            }
            if !seen.insert(op.name.as_str()) {
                return Err(Error::invalid(field("name"), format!("operator name '{}' is used twice", op.name)));
            }
            let limits = &op.limits;
            if limits.memory_bytes < 1 << 20 {
                return Err(Error::invalid(field("limits.memory_mb"), "must be at least 1"));
            }
            if limits.call_timeout < std::time::Duration::from_millis(1) {
                return Err(Error::invalid(field("limits.call_timeout_ms"), "must be at least 1"));
            }
            if limits.fuel == Some(0) || limits.max_emit_events == 0 || limits.max_emit_bytes == 0 {
                return Err(Error::invalid(
                    field("limits"),
                    "fuel, max_emit_events and max_emit_bytes must be at least 1",
                ));
            }
            if op.parallelism == 0 || op.parallelism > exec.max_parallelism {
                return Err(Error::invalid(
                    field("parallelism"),
                    format!(
                        "operator '{}': parallelism {} is invalid: it must be between 1 and the job's \
                         max_parallelism ({})",
                        op.name, op.parallelism, exec.max_parallelism
                    ),
                ));
            }
        }
        graph::JobGraph::resolve(self).map(drop)
    }
}

impl SourceNode {
    fn validate(&self, table: &str, max_parallelism: u32) -> Result<()> {
        let field = |key: &str| format!("{table}.{key}");
        if let SourceSpec::Generator(g) = &self.spec {
            if g.keys == 0 {
                return Err(Error::invalid(field("keys"), "must be at least 1"));
            }
            if g.value_size > 16 << 20 {
                return Err(Error::invalid(field("value_size"), "must be at most 16 MiB"));
            }
        }
        if let SourceSpec::Embedded(source) = &self.spec {
            if source.capacity() == 0 {
                return Err(Error::invalid(field("capacity"), "must be at least 1 (events queued before send blocks)"));
            }
            if self.parallelism != 1 {
                return Err(Error::invalid(
                    field("parallelism"),
                    "an embedded source runs at parallelism 1 (its positions are the embedder's)",
                ));
            }
        }
        if self.spec.rate_limit() == Some(0) {
            return Err(Error::invalid(field("rate_limit"), "must be at least 1 event per second"));
        }
        if self.parallelism == 0 || self.parallelism > max_parallelism {
            return Err(Error::invalid(
                field("parallelism"),
                format!(
                    "source '{}': parallelism {} is invalid: it must be between 1 and the job's max_parallelism ({})",
                    self.name, self.parallelism, max_parallelism
                ),
            ));
        }
        Ok(())
    }
}

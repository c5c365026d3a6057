//! The TOML job file: its schema (unknown keys are refused) and its
//! translation into a [`JobSpec`].
//!
//! The serde structs here mirror the file one to one; they are private so
//! that the file format and the library's types can evolve separately.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::retention::Retention;
use super::{CheckpointConfig, Limits, RestartStrategy};
use super::{
    ExecutionConfig, GeneratorSpec, JobSpec, KafkaDelivery, KafkaSink, KafkaSource, KafkaStart, LineFormat, NatsSink,
    NatsSource, OperatorCode, OperatorSpec, SinkNode, SinkSpec, SourceNode, SourceSpec, Watermarks,
};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    job: JobSection,
    /// A chain's one source, or a graph's `[[sources]]`.
    source: Option<SourceSection>,
    #[serde(default)]
    sources: Vec<SourceSection>,
    #[serde(default)]
    operators: Vec<OperatorSection>,
    sink: Option<SinkSection>,
    #[serde(default)]
    sinks: Vec<SinkSection>,
    checkpoint: Option<CheckpointSection>,
    limits: Option<LimitsSection>,
    restart: Option<RestartSection>,
}

#[derive(Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case", deny_unknown_fields)]
enum RestartSection {
    None,
    FixedDelay {
        attempts: u32,
        delay_ms: u64,
    },
    ExponentialDelay {
        initial_delay_ms: Option<u64>,
        max_delay_ms: Option<u64>,
        multiplier: Option<f64>,
        jitter: Option<f64>,
        reset_after_ms: Option<u64>,
        attempts: Option<u32>,
    },
}

impl RestartSection {
    fn into_strategy(self) -> std::result::Result<RestartStrategy, String> {
        Ok(match self {
            RestartSection::None => RestartStrategy::None,
            RestartSection::FixedDelay { attempts, delay_ms } => {
                RestartStrategy::FixedDelay { attempts, delay: Duration::from_millis(delay_ms) }
            }
            RestartSection::ExponentialDelay {
                initial_delay_ms,
                max_delay_ms,
                multiplier,
                jitter,
                reset_after_ms,
                attempts,
            } => {
                let RestartStrategy::ExponentialDelay { initial, max, multiplier: m, jitter: j, reset_after, .. } =
                    RestartStrategy::exponential_default()
                else {
                    unreachable!("the default is exponential")
                };
                let multiplier = multiplier.unwrap_or(m);
                let jitter = jitter.unwrap_or(j);
                if !(multiplier >= 1.0 && multiplier.is_finite()) {
                    return Err(format!("restart.multiplier: {multiplier} must be at least 1"));
                }
                if !(0.0..=1.0).contains(&jitter) {
                    return Err(format!("restart.jitter: {jitter} must be between 0 and 1"));
                }
                RestartStrategy::ExponentialDelay {
                    initial: initial_delay_ms.map_or(initial, Duration::from_millis),
                    max: max_delay_ms.map_or(max, Duration::from_millis),
                    multiplier,
                    jitter,
                    reset_after: reset_after_ms.map_or(reset_after, Duration::from_millis),
                    attempts,
                }
            }
        })
    }
}

/// `[limits]` (every operator) and `limits = { ... }` (one operator).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    memory_mb: Option<u64>,
    call_timeout_ms: Option<u64>,
    fuel: Option<u64>,
    max_emit_events: Option<u64>,
    max_emit_bytes: Option<u64>,
    max_hostcall_bytes: Option<u64>,
}

impl LimitsSection {
    /// `limits` with the values this section sets.
    fn apply(&self, mut limits: Limits) -> Limits {
        if let Some(mb) = self.memory_mb {
            limits.memory_bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        }
        if let Some(ms) = self.call_timeout_ms {
            limits.call_timeout = Duration::from_millis(ms);
        }
        if let Some(fuel) = self.fuel {
            limits.fuel = Some(fuel);
        }
        if let Some(events) = self.max_emit_events {
            limits.max_emit_events = events;
        }
        if let Some(bytes) = self.max_emit_bytes {
            limits.max_emit_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
        if let Some(bytes) = self.max_hostcall_bytes {
            limits.max_hostcall_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
        limits
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointSection {
    dir: String,
    interval_ms: u64,
    timeout_ms: Option<u64>,
    min_pause_ms: Option<u64>,
    tolerable_failed: Option<u32>,
    retention: Option<String>,
    num_retained: Option<u32>,
    inline_threshold_bytes: Option<usize>,
    lease_ttl_ms: Option<u64>,
    #[serde(default)]
    incremental: bool,
    full_every: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobSection {
    name: String,
    id: Option<String>,
    batch_size: Option<usize>,
    channel_capacity: Option<usize>,
    max_parallelism: Option<u32>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
enum SourceSection {
    Lines {
        name: Option<String>,
        parallelism: Option<i64>,
        watermark_delay_ms: Option<u64>,
        watermark_interval_ms: Option<u64>,
        idle_timeout_ms: Option<u64>,
        path: PathBuf,
        rate_limit: Option<u64>,
        format: Option<String>,
    },
    Generator {
        name: Option<String>,
        parallelism: Option<i64>,
        watermark_delay_ms: Option<u64>,
        watermark_interval_ms: Option<u64>,
        idle_timeout_ms: Option<u64>,
        count: u64,
        keys: Option<u64>,
        value_size: Option<usize>,
        seed: Option<u64>,
        rate_limit: Option<u64>,
    },
    Kafka {
        name: Option<String>,
        parallelism: Option<i64>,
        watermark_delay_ms: Option<u64>,
        watermark_interval_ms: Option<u64>,
        idle_timeout_ms: Option<u64>,
        brokers: String,
        topic: String,
        start: Option<String>,
        rate_limit: Option<u64>,
        /// More librdkafka settings.
        #[serde(default)]
        properties: BTreeMap<String, String>,
    },
    Nats {
        name: Option<String>,
        parallelism: Option<i64>,
        watermark_delay_ms: Option<u64>,
        watermark_interval_ms: Option<u64>,
        idle_timeout_ms: Option<u64>,
        url: String,
        stream: String,
        subject: Option<String>,
        rate_limit: Option<u64>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorSection {
    name: String,
    component: Option<PathBuf>,
    native: Option<String>,
    parallelism: Option<i64>,
    #[serde(default)]
    key_by: bool,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    broadcast: Vec<String>,
    #[serde(default)]
    side_outputs: Vec<String>,
    #[serde(default)]
    config: BTreeMap<String, ConfigValue>,
    limits: Option<LimitsSection>,
}

/// Operator config values reach the guest as strings; the file may spell
/// them as any TOML scalar.
#[derive(Deserialize)]
#[serde(untagged)]
enum ConfigValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl ConfigValue {
    fn into_string(self) -> String {
        match self {
            ConfigValue::String(s) => s,
            ConfigValue::Integer(i) => i.to_string(),
            ConfigValue::Float(f) => f.to_string(),
            ConfigValue::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
enum SinkSection {
    Files {
        name: Option<String>,
        #[serde(default)]
        inputs: Vec<String>,
        path: PathBuf,
    },
    Stdout {
        name: Option<String>,
        #[serde(default)]
        inputs: Vec<String>,
    },
    Discard {
        name: Option<String>,
        #[serde(default)]
        inputs: Vec<String>,
    },
    Kafka {
        name: Option<String>,
        #[serde(default)]
        inputs: Vec<String>,
        brokers: String,
        topic: String,
        delivery: Option<String>,
        marker_topic: Option<String>,
        #[serde(default)]
        properties: BTreeMap<String, String>,
    },
    Nats {
        name: Option<String>,
        #[serde(default)]
        inputs: Vec<String>,
        url: String,
        subject: String,
    },
}

/// A chain's `[what]` table or a graph's `[[whats]]` entries (exactly one
/// of the two), with the key they were given under.
fn chain_or_graph<T>(
    single: Option<T>,
    entries: Vec<T>,
    (what, whats): (&'static str, &'static str),
) -> std::result::Result<(Vec<T>, &'static str), String> {
    match (single, entries.is_empty()) {
        (Some(single), true) => Ok((vec![single], what)),
        (None, false) => Ok((entries, whats)),
        (None, true) => Err(format!("the job needs a {what}: a [{what}] table, or [[{whats}]] entries")),
        (Some(_), false) => Err(format!("give either [{what}] (a chain) or [[{whats}]] (a graph), not both")),
    }
}

/// `parallelism` as written: parsed as i64 so that `parallelism = -1` gets
/// the same clear message as 0 instead of a type error.
fn parallelism(value: Option<i64>, field: &str, what: &str, max_parallelism: u32) -> std::result::Result<u32, String> {
    match value {
        None => Ok(1),
        Some(p) => u32::try_from(p).map_err(|_| {
            format!(
                "{field}: {what}: parallelism {p} is invalid: it must be between 1 and the job's max_parallelism \
                 ({max_parallelism})"
            )
        }),
    }
}

pub(super) fn read(path: &Path) -> Result<JobSpec> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::JobFile { path: path.to_owned(), message: format!("cannot read: {e}") })?;
    // Absolute, so that every path resolved from the file (and every
    // message naming one) says where it really is.
    // `job.toml`'s parent is "", which `absolute` refuses: that is ".".
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_owned());
    parse(&text, &base).map_err(|message| Error::JobFile { path: path.to_owned(), message })
}

/// Parses a job file's text; relative paths are resolved against `base`.
/// Errors are messages that the caller prefixes with the file's path.
pub(super) fn parse(text: &str, base: &Path) -> std::result::Result<JobSpec, String> {
    let file: JobFile = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { crate::util::normalize_lexically(&base.join(p)) };

    let defaults = ExecutionConfig::default();
    let execution = ExecutionConfig {
        batch_size: file.job.batch_size.unwrap_or(defaults.batch_size),
        channel_capacity: file.job.channel_capacity.unwrap_or(defaults.channel_capacity),
        max_parallelism: file.job.max_parallelism.unwrap_or(defaults.max_parallelism),
    };
    let (sources, source_key) = chain_or_graph(file.source, file.sources, ("source", "sources"))?;
    let mut source_nodes = Vec::with_capacity(sources.len());
    for (index, source) in sources.into_iter().enumerate() {
        let field = if source_key == "source" { "source".to_owned() } else { format!("sources[{index}]") };
        let (name, p, (delay, interval, idle), spec) = match source {
            SourceSection::Lines {
                name,
                parallelism,
                watermark_delay_ms,
                watermark_interval_ms,
                idle_timeout_ms,
                path,
                rate_limit,
                format,
            } => {
                let format = match format.as_deref() {
                    None | Some("lines") => LineFormat::Plain,
                    Some("tsv") => LineFormat::Tsv,
                    Some(other) => {
                        return Err(format!("{field}.format: unknown format {other:?}; expected \"lines\" or \"tsv\""));
                    }
                };
                let spec = SourceSpec::Lines { path: resolve(path), rate_limit, format };
                (name, parallelism, (watermark_delay_ms, watermark_interval_ms, idle_timeout_ms), spec)
            }
            SourceSection::Generator {
                name,
                parallelism,
                watermark_delay_ms,
                watermark_interval_ms,
                idle_timeout_ms,
                count,
                keys,
                value_size,
                seed,
                rate_limit,
            } => {
                let d = GeneratorSpec::default();
                let spec = SourceSpec::Generator(GeneratorSpec {
                    count,
                    keys: keys.unwrap_or(d.keys),
                    value_size: value_size.unwrap_or(d.value_size),
                    seed: seed.unwrap_or(d.seed),
                    rate_limit,
                });
                (name, parallelism, (watermark_delay_ms, watermark_interval_ms, idle_timeout_ms), spec)
            }
            SourceSection::Kafka {
                name,
                parallelism,
                watermark_delay_ms,
                watermark_interval_ms,
                idle_timeout_ms,
                brokers,
                topic,
                start,
                rate_limit,
                properties,
            } => {
                let start = match start.as_deref() {
                    None | Some("earliest") => KafkaStart::Earliest,
                    Some("latest") => KafkaStart::Latest,
                    Some(other) => {
                        return Err(format!(
                            "{field}.start: unknown start {other:?}; expected \"earliest\" or \"latest\""
                        ));
                    }
                };
                let spec = SourceSpec::Kafka(KafkaSource { brokers, topic, start, rate_limit, properties });
                (name, parallelism, (watermark_delay_ms, watermark_interval_ms, idle_timeout_ms), spec)
            }
            SourceSection::Nats {
                name,
                parallelism,
                watermark_delay_ms,
                watermark_interval_ms,
                idle_timeout_ms,
                url,
                stream,
                subject,
                rate_limit,
            } => {
                if parallelism.is_some_and(|p| p != 1) {
                    return Err(format!(
                        "{field}.parallelism: a nats source reads its stream in order, with one subtask"
                    ));
                }
                let spec = SourceSpec::Nats(NatsSource { url, stream, subject, rate_limit });
                (name, parallelism, (watermark_delay_ms, watermark_interval_ms, idle_timeout_ms), spec)
            }
        };
        let name = match (name, source_key) {
            (Some(name), _) => name,
            (None, "source") => super::CHAIN_SOURCE.to_owned(),
            (None, _) => return Err(format!("{field}.name: every [[sources]] entry needs a name")),
        };
        let what = format!("source '{name}'");
        let parallelism = parallelism(p, &format!("{field}.parallelism"), &what, execution.max_parallelism)?;
        let watermarks = match (delay, interval, idle) {
            (Some(delay_ms), interval, idle_timeout_ms) => Some(Watermarks {
                delay_ms,
                idle_timeout_ms,
                interval_ms: interval.unwrap_or(super::DEFAULT_WATERMARK_INTERVAL_MS),
            }),
            (None, None, None) => None,
            (None, _, _) => {
                return Err(format!(
                    "{field}: source '{name}' makes no watermarks without watermark_delay_ms: set it to use \
                     idle_timeout_ms or watermark_interval_ms"
                ));
            }
        };
        source_nodes.push(SourceNode { name, spec, parallelism, watermarks });
    }
    let job_limits = file.limits.unwrap_or_default().apply(Limits::default());
    let mut operators = Vec::with_capacity(file.operators.len());
    for (index, op) in file.operators.into_iter().enumerate() {
        let parallelism = parallelism(
            op.parallelism,
            &format!("operators[{index}].parallelism"),
            &format!("operator '{}'", op.name),
            execution.max_parallelism,
        )?;
        let code = match (op.component, op.native) {
            (Some(component), None) => OperatorCode::Component(resolve(component)),
            (None, Some(native)) => OperatorCode::Native(native),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "operators[{index}]: operator '{}' has both `component` and `native`: give one",
                    op.name
                ));
            }
            (None, None) => {
                return Err(format!(
                    "operators[{index}]: operator '{}' needs `component = \"path.wasm\"` (or `native = \"name\"` \
                     for an operator the embedding host registered)",
                    op.name
                ));
            }
        };
        operators.push(OperatorSpec {
            name: op.name,
            code,
            parallelism,
            key_by: op.key_by,
            config: op.config.into_iter().map(|(k, v)| (k, v.into_string())).collect(),
            limits: op.limits.unwrap_or_default().apply(job_limits.clone()),
            inputs: op.inputs,
            broadcast: op.broadcast,
            side_outputs: op.side_outputs,
        });
    }
    let (sinks, sink_key) = chain_or_graph(file.sink, file.sinks, ("sink", "sinks"))?;
    let mut sink_nodes = Vec::with_capacity(sinks.len());
    for (index, sink) in sinks.into_iter().enumerate() {
        let (name, inputs, spec) = match sink {
            SinkSection::Files { name, inputs, path } => (name, inputs, SinkSpec::Files { path: resolve(path) }),
            SinkSection::Stdout { name, inputs } => (name, inputs, SinkSpec::Stdout),
            SinkSection::Discard { name, inputs } => (name, inputs, SinkSpec::Discard),
            SinkSection::Kafka { name, inputs, brokers, topic, delivery, marker_topic, properties } => {
                let delivery = match delivery.as_deref() {
                    None | Some("exactly-once") => KafkaDelivery::ExactlyOnce,
                    Some("at-least-once") => KafkaDelivery::AtLeastOnce,
                    Some(other) => {
                        return Err(format!(
                            "sinks[{index}].delivery: unknown delivery {other:?}; expected \"exactly-once\" or \
                             \"at-least-once\""
                        ));
                    }
                };
                let marker_topic = marker_topic.unwrap_or_else(|| KafkaSink::default_marker_topic(&topic));
                (name, inputs, SinkSpec::Kafka(KafkaSink { brokers, topic, delivery, marker_topic, properties }))
            }
            SinkSection::Nats { name, inputs, url, subject } => {
                (name, inputs, SinkSpec::Nats(NatsSink { url, subject }))
            }
        };
        let name = match (name, sink_key) {
            (Some(name), _) => name,
            (None, "sink") => super::CHAIN_SINK.to_owned(),
            (None, _) => return Err(format!("sinks[{index}].name: every [[sinks]] entry needs a name")),
        };
        sink_nodes.push(SinkNode { name, spec, inputs });
    }
    let checkpoint = match file.checkpoint {
        None => None,
        Some(c) => {
            let retention = match c.retention.as_deref() {
                None => Retention::default(),
                Some(name) => Retention::parse(name).ok_or_else(|| {
                    format!(
                        "checkpoint.retention: unknown policy {name:?}; expected one of {}",
                        Retention::NAMES.join(", ")
                    )
                })?,
            };
            // A relative directory is relative to the job file, like every
            // other path in it; URLs are taken as they are.
            let dir = if c.dir.contains("://") || Path::new(&c.dir).is_absolute() {
                c.dir
            } else {
                base.join(&c.dir).to_string_lossy().into_owned()
            };
            let mut config = CheckpointConfig::new(dir, Duration::from_millis(c.interval_ms));
            config.retention = retention;
            if let Some(ms) = c.timeout_ms {
                config.timeout = Duration::from_millis(ms);
            }
            if let Some(ms) = c.min_pause_ms {
                config.min_pause = Duration::from_millis(ms);
            }
            config.tolerable_failed = c.tolerable_failed.unwrap_or(config.tolerable_failed);
            config.num_retained = c.num_retained.unwrap_or(config.num_retained);
            config.inline_threshold_bytes = c.inline_threshold_bytes.unwrap_or(config.inline_threshold_bytes);
            config.incremental = c.incremental;
            config.full_every = c.full_every.unwrap_or(config.full_every);
            if let Some(ms) = c.lease_ttl_ms {
                config.lease_ttl = Duration::from_millis(ms.max(300));
            }
            Some(config)
        }
    };
    let restart = file.restart.map(RestartSection::into_strategy).transpose()?;
    let spec = JobSpec {
        name: file.job.name,
        id: file.job.id,
        sources: source_nodes,
        operators,
        sinks: sink_nodes,
        execution,
        checkpoint,
        restart,
    };
    spec.validate().map_err(|e| match e {
        Error::InvalidJob { field, message } => format!("{field}: {message}"),
        other => other.to_string(),
    })?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDCOUNT: &str = r#"
        [job]
        name = "wordcount"
        id = "wc-1"

        [source]
        type = "lines"
        path = "input.txt"
        rate_limit = 100

        [[operators]]
        name = "tokenizer"
        component = "tok.wasm"
        parallelism = 2
        config = { lowercase = true, min = 3 }

        [[operators]]
        name = "counter"
        component = "/abs/counter.wasm"
        key_by = true

        [sink]
        type = "files"
        path = "out"

        [checkpoint]
        dir = "ckpt"
        interval_ms = 500
        retention = "retain-on-cancellation"
        num_retained = 3
    "#;

    #[test]
    fn parses_the_wordcount_job() {
        let spec = parse(WORDCOUNT, Path::new("/jobs")).unwrap();
        assert_eq!(spec.name, "wordcount");
        assert_eq!(spec.id.as_deref(), Some("wc-1"));
        assert_eq!(
            spec.sources[0].spec,
            SourceSpec::Lines { path: "/jobs/input.txt".into(), rate_limit: Some(100), format: LineFormat::Plain }
        );
        assert_eq!(spec.operators[0].code, OperatorCode::Component("/jobs/tok.wasm".into()));
        assert_eq!(spec.operators[0].parallelism, 2);
        assert_eq!(spec.operators[0].config["lowercase"], "true");
        assert_eq!(spec.operators[0].config["min"], "3");
        assert_eq!(spec.operators[1].code, OperatorCode::Component("/abs/counter.wasm".into()));
        assert_eq!(spec.operators[1].parallelism, 1);
        assert!(spec.operators[1].key_by);
        assert_eq!(spec.sinks[0].spec, SinkSpec::Files { path: "/jobs/out".into() });
        assert_eq!(spec.execution, ExecutionConfig::default());
        let checkpoint = spec.checkpoint.unwrap();
        assert_eq!(checkpoint.dir, "/jobs/ckpt");
        assert_eq!(checkpoint.interval, Duration::from_millis(500));
        assert_eq!(checkpoint.retention, Retention::RetainOnCancellation);
        assert_eq!(checkpoint.num_retained, 3);
        assert_eq!(checkpoint.inline_threshold_bytes, crate::job::checkpointing::DEFAULT_INLINE_THRESHOLD);
    }

    #[test]
    fn limits_apply_job_wide_and_per_operator() {
        let text = WORDCOUNT
            .replace("[sink]", "[limits]\nmemory_mb = 64\ncall_timeout_ms = 200\n\n[sink]")
            .replace("key_by = true", "key_by = true\nlimits = { memory_mb = 32, fuel = 1000000 }");
        let spec = parse(&text, Path::new("/")).unwrap();
        let (tokenizer, counter) = (&spec.operators[0].limits, &spec.operators[1].limits);
        assert_eq!(
            (tokenizer.memory_bytes, tokenizer.call_timeout, tokenizer.fuel),
            (64 << 20, Duration::from_millis(200), None)
        );
        assert_eq!(
            (counter.memory_bytes, counter.call_timeout, counter.fuel),
            (32 << 20, Duration::from_millis(200), Some(1_000_000))
        );
        let err = parse(&text.replace("memory_mb = 32", "memory_gb = 32"), Path::new("/")).unwrap_err();
        assert!(err.contains("unknown field `memory_gb`"), "{err}");
        let err = parse(&text.replace("memory_mb = 32", "memory_mb = 0"), Path::new("/")).unwrap_err();
        assert!(err.contains("operators[1].limits.memory_mb"), "{err}");
    }

    #[test]
    fn restart_strategies_parse_with_flink_defaults() {
        let spec = parse(WORDCOUNT, Path::new("/")).unwrap();
        assert_eq!(spec.restart_strategy(), RestartStrategy::exponential_default());
        let fixed =
            WORDCOUNT.replace("[sink]", "[restart]\nstrategy = \"fixed-delay\"\nattempts = 3\ndelay_ms = 10\n\n[sink]");
        assert_eq!(
            parse(&fixed, Path::new("/")).unwrap().restart_strategy(),
            RestartStrategy::FixedDelay { attempts: 3, delay: Duration::from_millis(10) }
        );
        let none = WORDCOUNT.replace("[sink]", "[restart]\nstrategy = \"none\"\n\n[sink]");
        assert_eq!(parse(&none, Path::new("/")).unwrap().restart_strategy(), RestartStrategy::None);
        let bad = WORDCOUNT.replace("[sink]", "[restart]\nstrategy = \"exponential-delay\"\njitter = 2.0\n\n[sink]");
        assert!(parse(&bad, Path::new("/")).unwrap_err().contains("restart.jitter"));
        let unknown = WORDCOUNT.replace("[sink]", "[restart]\nstrategy = \"forever\"\n\n[sink]");
        assert!(parse(&unknown, Path::new("/")).unwrap_err().contains("forever"));
    }

    #[test]
    fn checkpoint_settings_are_checked() {
        let err = parse(&WORDCOUNT.replace("retain-on-cancellation", "keep-forever"), Path::new("/")).unwrap_err();
        assert!(err.contains("checkpoint.retention") && err.contains("retain-on-cancellation"), "{err}");
        let err = parse(&WORDCOUNT.replace("num_retained = 3", "num_retained = 0"), Path::new("/")).unwrap_err();
        assert!(err.contains("checkpoint.num_retained"), "{err}");
        let err = parse(&WORDCOUNT.replace("interval_ms = 500", "interval_ms = 0"), Path::new("/")).unwrap_err();
        assert!(err.contains("checkpoint.interval_ms"), "{err}");
        let spec = parse(&WORDCOUNT.replace("dir = \"ckpt\"", "dir = \"s3://bucket/prefix\""), Path::new("/")).unwrap();
        assert_eq!(spec.checkpoint.unwrap().dir, "s3://bucket/prefix");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let text = WORDCOUNT.replace("key_by = true", "key_by = true\nparalelism = 3");
        let err = parse(&text, Path::new("/")).unwrap_err();
        assert!(err.contains("unknown field `paralelism`"), "{err}");
        assert!(err.contains("line 21"), "{err}");

        let err = parse(&WORDCOUNT.replace("rate_limit = 100", "rate = 100"), Path::new("/")).unwrap_err();
        assert!(err.contains("unknown field `rate`"), "{err}");
    }

    #[test]
    fn invalid_parallelism_names_the_operator() {
        for bad in ["0", "-1", "100000"] {
            let text = WORDCOUNT.replace("parallelism = 2", &format!("parallelism = {bad}"));
            let err = parse(&text, Path::new("/")).unwrap_err();
            assert!(err.contains("operators[0].parallelism"), "{err}");
            assert!(err.contains("'tokenizer'"), "{err}");
        }
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("[job]\nname = \"x\n", Path::new("/")).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn graph_files_parse_and_chains_and_graphs_do_not_mix() {
        let graph = r#"
            [job]
            name = "g"
            [[sources]]
            name = "orders"
            type = "lines"
            format = "tsv"
            path = "o.tsv"
            parallelism = 2
            [[sources]]
            name = "prices"
            type = "lines"
            path = "p.txt"
            [[operators]]
            name = "join"
            component = "j.wasm"
            inputs = ["orders", "prices"]
            broadcast = ["prices"]
            side_outputs = ["late"]
            key_by = true
            [[sinks]]
            name = "out"
            type = "files"
            path = "out"
            [[sinks]]
            name = "late"
            type = "stdout"
            inputs = ["join.late"]
        "#;
        let spec = parse(graph, Path::new("/jobs")).unwrap();
        assert_eq!(spec.sources[0].parallelism, 2);
        assert!(matches!(spec.sources[0].spec, SourceSpec::Lines { format: LineFormat::Tsv, .. }));
        assert_eq!(spec.operators[0].broadcast, ["prices"]);
        assert_eq!(spec.sinks[1].inputs, ["join.late"]);

        let both = format!("[source]\ntype = \"lines\"\npath = \"x\"\n{graph}");
        assert!(parse(&both, Path::new("/")).unwrap_err().contains("either [source] (a chain) or [[sources]]"));
        let bad_format = graph.replace("\"tsv\"", "\"csv\"");
        assert!(parse(&bad_format, Path::new("/")).unwrap_err().contains("sources[0].format: unknown format \"csv\""));
        let unnamed = graph.replace("name = \"prices\"\n", "");
        assert!(
            parse(&unnamed, Path::new("/"))
                .unwrap_err()
                .contains("sources[1].name: every [[sources]] entry needs a name")
        );
    }

    #[test]
    fn generator_defaults_and_other_sinks() {
        let text = r#"
            [job]
            name = "bench"
            max_parallelism = 256
            [source]
            type = "generator"
            count = 10
            [[operators]]
            name = "c"
            component = "c.wasm"
            parallelism = 200
            [sink]
            type = "discard"
        "#;
        let spec = parse(text, Path::new("/")).unwrap();
        let SourceSpec::Generator(g) = spec.sources[0].spec.clone() else { panic!("not a generator") };
        assert_eq!((g.count, g.keys), (10, GeneratorSpec::default().keys));
        assert_eq!(spec.sinks[0].spec, SinkSpec::Discard);
        assert_eq!(spec.execution.max_parallelism, 256);
    }
}

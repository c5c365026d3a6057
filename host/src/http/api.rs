//! The JSON answers of the REST API, built from a [`Snapshot`] of a job.
//! Field names and units follow `host/openapi.json` (times in ms or µs as
//! their suffix says, sizes in bytes, rates in events per second).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::util::now_ms;

use serde::Serialize;

use super::Snapshot;
use crate::checkpoint::stats::{CheckpointHistory, CheckpointStats, CheckpointStatus, SubtaskStats};
use crate::exec::JobMetrics;
use crate::job::graph::{Edge, JobGraph};

/// Rates need at least this much time between two samples; before that the
/// average since the attempt's start is given.
const MIN_RATE_SPAN: Duration = Duration::from_millis(500);

#[derive(Serialize)]
pub(crate) struct JobList {
    pub(crate) jobs: Vec<JobSummary>,
}

#[derive(Serialize)]
pub(crate) struct JobSummary {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: &'static str,
}

impl JobSummary {
    pub(crate) fn of(job: &Snapshot) -> Self {
        JobSummary { id: job.id.clone(), name: job.name.clone(), status: job.status }
    }
}

/// Events per second: of the source, into and out of each operator (in job
/// order), of the sink.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rates {
    pub(crate) source: f64,
    pub(crate) operators: Vec<(f64, f64)>,
    pub(crate) sink: f64,
}

impl Rates {
    /// Rates from `base` (an earlier sample, if any) to `current` (taken at
    /// `now`). Without a usable base (none, too recent, or from an earlier
    /// attempt whose counters were higher) the averages since the start of
    /// the attempt.
    pub(crate) fn between(base: Option<(Instant, JobMetrics)>, now: Instant, current: &JobMetrics) -> Rates {
        let usable = base.filter(|(at, old)| {
            now.saturating_duration_since(*at) >= MIN_RATE_SPAN
                && old.operators.len() == current.operators.len()
                && old.source_events <= current.source_events
                && old.sink_events <= current.sink_events
        });
        let (span, old) = match usable {
            Some((at, old)) => (now.saturating_duration_since(at), old),
            None => (current.elapsed, JobMetrics::default()),
        };
        let seconds = span.as_secs_f64();
        let rate = |new: u64, old: u64| {
            if seconds <= 0.0 { 0.0 } else { round1(new.saturating_sub(old) as f64 / seconds) }
        };
        let old_op = |i: usize| old.operators.get(i).map(|o| (o.events_in, o.events_out)).unwrap_or((0, 0));
        Rates {
            source: rate(current.source_events, old.source_events),
            operators: current
                .operators
                .iter()
                .enumerate()
                .map(|(i, op)| (rate(op.events_in, old_op(i).0), rate(op.events_out, old_op(i).1)))
                .collect(),
            sink: rate(current.sink_events, old.sink_events),
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Serialize)]
pub(crate) struct JobDetails {
    id: String,
    name: String,
    status: &'static str,
    /// Why the job failed (status `FAILED`).
    error: Option<String>,
    /// When this answer was made, ms since the Unix epoch.
    timestamp_ms: u64,
    /// Time since the current attempt started.
    elapsed_ms: u64,
    restarts: u32,
    /// Failed attempts by kind (`trap`, `limit_memory`, `storage`...).
    failures: BTreeMap<&'static str, u64>,
    max_parallelism: Option<u32>,
    /// Events read by every source subtask together.
    source: Stage,
    vertices: Vec<Vertex>,
    /// Events written by every sink together.
    sink: Stage,
    /// The graph's sources and sinks (the operators are `vertices`).
    sources: Vec<Node>,
    sinks: Vec<Node>,
    checkpoints: CheckpointCounts,
}

#[derive(Serialize)]
struct Stage {
    events: u64,
    rate: f64,
}

#[derive(Serialize)]
struct Vertex {
    index: usize,
    name: String,
    /// Unknown when the job was registered without its graph.
    parallelism: Option<u32>,
    /// How its input arrives: `forward`, `rebalance` or `key_by`.
    /// How input 0 arrives (kept for clients of a chain).
    input: Option<&'static str>,
    /// Every input: what feeds it and how.
    inputs: Vec<VertexInput>,
    side_outputs: Vec<String>,
    events_in: u64,
    events_out: u64,
    rate_in: f64,
    rate_out: f64,
}

/// One input of an operator, for the dashboard's graph.
#[derive(Serialize)]
pub(crate) struct VertexInput {
    /// `node` or `op.SIDE`.
    from: String,
    edge: &'static str,
}

/// A source or sink node, for the dashboard's graph.
#[derive(Serialize)]
pub(crate) struct Node {
    name: String,
    parallelism: Option<u32>,
    /// A sink's inputs (`op` or `op.SIDE`); none for a source.
    inputs: Vec<String>,
}

fn edge_name(edge: Edge) -> &'static str {
    match edge {
        Edge::Forward => "forward",
        Edge::Rebalance => "rebalance",
        Edge::KeyBy => "key_by",
        Edge::Broadcast => "broadcast",
    }
}

impl JobDetails {
    pub(crate) fn of(job: &Snapshot, rates: &Rates) -> Self {
        let m = &job.metrics;
        let graph_vertices = job.graph.as_ref().map(|g| g.vertices.as_slice()).unwrap_or_default();
        // Between attempts there are no counters: show the graph's
        // operators with none.
        let count = m.operators.len().max(graph_vertices.len());
        let vertices = (0..count)
            .map(|index| {
                let counters = m.operators.get(index);
                let graph = graph_vertices.get(index);
                let (rate_in, rate_out) = rates.operators.get(index).copied().unwrap_or((0.0, 0.0));
                Vertex {
                    index,
                    name: counters
                        .map(|c| c.name.clone())
                        .or_else(|| graph.map(|g| g.name.clone()))
                        .unwrap_or_default(),
                    parallelism: graph.map(|g| g.parallelism),
                    input: graph.and_then(|g| g.inputs.first()).map(|i| edge_name(i.edge)),
                    inputs: graph
                        .map(|g| {
                            g.inputs
                                .iter()
                                .map(|i| VertexInput { from: i.name.clone(), edge: edge_name(i.edge) })
                                .collect()
                        })
                        .unwrap_or_default(),
                    side_outputs: graph.map(|g| g.side_outputs.clone()).unwrap_or_default(),
                    events_in: counters.map_or(0, |c| c.events_in),
                    events_out: counters.map_or(0, |c| c.events_out),
                    rate_in,
                    rate_out,
                }
            })
            .collect();
        JobDetails {
            id: job.id.clone(),
            name: job.name.clone(),
            status: job.status,
            error: job.error.clone(),
            timestamp_ms: now_ms(),
            elapsed_ms: m.elapsed.as_millis() as u64,
            restarts: job.restarts,
            failures: job.failures.clone(),
            max_parallelism: job.graph.as_ref().map(|g| g.max_parallelism),
            source: Stage { events: m.source_events, rate: rates.source },
            vertices,
            sink: Stage { events: m.sink_events, rate: rates.sink },
            sources: job
                .graph
                .iter()
                .flat_map(|g| &g.sources)
                .map(|s| Node { name: s.name.clone(), parallelism: Some(s.parallelism), inputs: Vec::new() })
                .collect(),
            sinks: job
                .graph
                .iter()
                .flat_map(|g| &g.sinks)
                .map(|s| Node {
                    name: s.name.clone(),
                    parallelism: None,
                    inputs: s.inputs.iter().map(|(name, _)| name.clone()).collect(),
                })
                .collect(),
            checkpoints: CheckpointCounts::of(&job.checkpoints),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CheckpointCounts {
    completed: u64,
    failed: u64,
    in_progress: u64,
    total: u64,
}

impl CheckpointCounts {
    fn of(history: &CheckpointHistory) -> Self {
        let in_progress =
            history.checkpoints.iter().filter(|c| c.status == CheckpointStatus::InProgress).count() as u64;
        CheckpointCounts {
            completed: history.completed,
            failed: history.failed,
            in_progress,
            total: history.completed + history.failed + in_progress,
        }
    }
}

/// One checkpoint without its subtasks.
#[derive(Serialize)]
pub(crate) struct CheckpointEntry {
    id: u64,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    status: &'static str,
    failure_reason: Option<String>,
    trigger_time_ms: u64,
    end_to_end_us: Option<u64>,
    state_bytes: u64,
    checkpointed_bytes: u64,
    files_written: u32,
    end_of_input: bool,
    /// Some subtask's snapshot was a delta.
    incremental: bool,
    acknowledged_subtasks: usize,
    /// The slowest subtask's figures.
    alignment_us_max: u64,
    sync_us_max: u64,
    async_us_max: u64,
}

impl CheckpointEntry {
    pub(crate) fn of(c: &CheckpointStats) -> Self {
        let (status, failure_reason) = match &c.status {
            CheckpointStatus::InProgress => ("IN_PROGRESS", None),
            CheckpointStatus::Completed => ("COMPLETED", None),
            CheckpointStatus::Failed { reason } => ("FAILED", Some(reason.clone())),
        };
        let max = |f: fn(&SubtaskStats) -> u64| c.subtasks.iter().map(f).max().unwrap_or(0);
        CheckpointEntry {
            id: c.id,
            status,
            failure_reason,
            trigger_time_ms: c.trigger_time_ms,
            end_to_end_us: c.end_to_end_us,
            state_bytes: c.state_bytes,
            checkpointed_bytes: c.checkpointed_bytes,
            files_written: c.files_written,
            end_of_input: c.end_of_input,
            incremental: c.subtasks.iter().any(|s| s.incremental),
            acknowledged_subtasks: c.subtasks.len(),
            alignment_us_max: max(|s| s.alignment_us),
            sync_us_max: max(|s| s.sync_us),
            async_us_max: max(|s| s.async_us),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CheckpointsOverview {
    counts: CheckpointCounts,
    summary: Summary,
    latest: Latest,
    /// Newest first.
    history: Vec<CheckpointEntry>,
}

/// Over the completed checkpoints of the history.
#[derive(Serialize)]
struct Summary {
    end_to_end_us: MinAvgMax,
    state_bytes: MinAvgMax,
    checkpointed_bytes: MinAvgMax,
}

#[derive(Serialize, Debug, PartialEq)]
pub(crate) struct MinAvgMax {
    count: usize,
    min: Option<u64>,
    avg: Option<f64>,
    max: Option<u64>,
}

impl MinAvgMax {
    pub(crate) fn of(values: impl Iterator<Item = u64>) -> Self {
        let values: Vec<u64> = values.collect();
        let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
        MinAvgMax {
            count: values.len(),
            min: values.iter().copied().min(),
            avg: (!values.is_empty()).then(|| round1(sum as f64 / values.len() as f64)),
            max: values.iter().copied().max(),
        }
    }
}

#[derive(Serialize)]
struct Latest {
    completed: Option<CheckpointEntry>,
    failed: Option<CheckpointEntry>,
    in_progress: Option<CheckpointEntry>,
}

impl CheckpointsOverview {
    pub(crate) fn of(history: &CheckpointHistory) -> Self {
        let completed = || super::completed(history);
        let latest_failed =
            history.checkpoints.iter().rev().find(|c| matches!(c.status, CheckpointStatus::Failed { .. }));
        CheckpointsOverview {
            counts: CheckpointCounts::of(history),
            summary: Summary {
                end_to_end_us: MinAvgMax::of(completed().filter_map(|c| c.end_to_end_us)),
                state_bytes: MinAvgMax::of(completed().map(|c| c.state_bytes)),
                checkpointed_bytes: MinAvgMax::of(completed().map(|c| c.checkpointed_bytes)),
            },
            latest: Latest {
                completed: history.latest_completed().map(CheckpointEntry::of),
                failed: latest_failed.map(CheckpointEntry::of),
                in_progress: history.in_progress().map(CheckpointEntry::of),
            },
            history: history.checkpoints.iter().rev().map(CheckpointEntry::of).collect(),
        }
    }
}

/// One checkpoint with its figures per operator and subtask.
#[derive(Serialize)]
pub(crate) struct CheckpointDetails {
    #[serde(flatten)]
    checkpoint: CheckpointEntry,
    /// Per operator: in job order when the graph is known, then any other
    /// name the subtasks report (in the order they acknowledged).
    operators: Vec<OperatorCheckpoint>,
}

#[derive(Serialize)]
struct OperatorCheckpoint {
    name: String,
    parallelism: Option<u32>,
    acknowledged_subtasks: usize,
    state_bytes: u64,
    checkpointed_bytes: u64,
    files_written: u32,
    /// The slowest subtask's figures.
    end_to_end_us: u64,
    alignment_us: u64,
    sync_us: u64,
    async_us: u64,
    subtasks: Vec<SubtaskStats>,
}

impl CheckpointDetails {
    pub(crate) fn of(c: &CheckpointStats, graph: Option<&JobGraph>) -> Self {
        let mut names: Vec<&str> = Vec::new();
        if let Some(graph) = graph {
            names.extend(graph.vertices.iter().map(|v| v.name.as_str()));
        }
        for subtask in &c.subtasks {
            if !names.contains(&subtask.operator.as_str()) {
                names.push(&subtask.operator);
            }
        }
        let operators = names
            .into_iter()
            .map(|name| {
                let mut subtasks: Vec<SubtaskStats> =
                    c.subtasks.iter().filter(|s| s.operator == name).cloned().collect();
                subtasks.sort_by_key(|s| s.subtask);
                let max = |f: fn(&SubtaskStats) -> u64| subtasks.iter().map(f).max().unwrap_or(0);
                OperatorCheckpoint {
                    name: name.to_owned(),
                    parallelism: graph.and_then(|g| g.vertices.iter().find(|v| v.name == name)).map(|v| v.parallelism),
                    acknowledged_subtasks: subtasks.len(),
                    state_bytes: subtasks.iter().map(|s| s.state_bytes).sum(),
                    checkpointed_bytes: subtasks.iter().map(|s| s.checkpointed_bytes).sum(),
                    files_written: subtasks.iter().map(|s| s.files_written).sum(),
                    end_to_end_us: max(|s| s.end_to_end_us),
                    alignment_us: max(|s| s.alignment_us),
                    sync_us: max(|s| s.sync_us),
                    async_us: max(|s| s.async_us),
                    subtasks,
                }
            })
            .collect();
        CheckpointDetails { checkpoint: CheckpointEntry::of(c), operators }
    }
}

/// The answer to `POST /jobs/{id}/checkpoints`.
#[derive(Serialize)]
pub(crate) struct Triggered {
    pub(crate) id: u64,
    pub(crate) status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::OperatorMetrics;

    fn metrics(elapsed_ms: u64, source: u64, op: (u64, u64), sink: u64) -> JobMetrics {
        JobMetrics {
            elapsed: Duration::from_millis(elapsed_ms),
            source_events: source,
            operators: vec![OperatorMetrics { name: "op".into(), events_in: op.0, events_out: op.1 }],
            sink_events: sink,
        }
    }

    #[test]
    fn rates_come_from_the_recent_sample_or_the_average() {
        let now = Instant::now();
        let current = metrics(10_000, 1000, (1000, 3000), 3000);
        // No sample: averages over the attempt's 10 s.
        let average = Rates::between(None, now, &current);
        assert_eq!(average, Rates { source: 100.0, operators: vec![(100.0, 300.0)], sink: 300.0 });
        // A sample 2 s old.
        let base = (now - Duration::from_secs(2), metrics(8000, 800, (800, 2000), 2000));
        let recent = Rates::between(Some(base), now, &current);
        assert_eq!(recent, Rates { source: 100.0, operators: vec![(100.0, 500.0)], sink: 500.0 });
        // A sample from before a restart (higher counters): the average.
        let stale = (now - Duration::from_secs(2), metrics(50_000, 5000, (5000, 9000), 9000));
        assert_eq!(Rates::between(Some(stale), now, &current), average);
    }

    #[test]
    fn summaries_and_overview() {
        assert_eq!(MinAvgMax::of([].into_iter()), MinAvgMax { count: 0, min: None, avg: None, max: None });
        assert_eq!(
            MinAvgMax::of([3, 1, 2, 5].into_iter()),
            MinAvgMax { count: 4, min: Some(1), avg: Some(2.8), max: Some(5) }
        );
        let mut history = CheckpointHistory::default();
        for id in 1..=3 {
            history.record(CheckpointStats {
                status: CheckpointStatus::Completed,
                end_to_end_us: Some(id * 1000),
                state_bytes: id * 10,
                ..CheckpointStats::in_progress(id, 0)
            });
        }
        history.record(CheckpointStats {
            status: CheckpointStatus::Failed { reason: "timed out".into() },
            ..CheckpointStats::in_progress(4, 0)
        });
        history.record(CheckpointStats::in_progress(5, 0));
        let value = serde_json::to_value(CheckpointsOverview::of(&history)).expect("serializes");
        assert_eq!(value["counts"], serde_json::json!({"completed": 3, "failed": 1, "in_progress": 1, "total": 5}));
        assert_eq!(
            value["summary"]["end_to_end_us"],
            serde_json::json!({"count": 3, "min": 1000, "avg": 2000.0, "max": 3000})
        );
        assert_eq!(value["latest"]["completed"]["id"], 3);
        assert_eq!(value["latest"]["failed"]["failure_reason"], "timed out");
        assert_eq!(value["latest"]["in_progress"]["id"], 5);
        let ids: Vec<u64> =
            value["history"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_u64()).collect();
        assert_eq!(ids, [5, 4, 3, 2, 1]);
    }

    #[test]
    fn details_group_subtasks_by_operator_in_job_order() {
        let spec = crate::JobSpec::new("j", crate::SourceSpec::lines("x"), crate::SinkSpec::Discard)
            .operator(crate::OperatorSpec::new("a", "a.wasm").parallelism(2))
            .operator(crate::OperatorSpec::new("b", "b.wasm").key_by(true));
        let graph = JobGraph::resolve(&spec).unwrap();
        let subtask = |operator: &str, subtask, sync_us| SubtaskStats {
            operator: operator.into(),
            subtask,
            sync_us,
            state_bytes: 5,
            ..SubtaskStats::default()
        };
        let stats = CheckpointStats {
            status: CheckpointStatus::Completed,
            subtasks: vec![subtask("b", 0, 7), subtask("a", 1, 3), subtask("a", 0, 9)],
            ..CheckpointStats::in_progress(9, 0)
        };
        let value = serde_json::to_value(CheckpointDetails::of(&stats, Some(&graph))).expect("serializes");
        assert_eq!(value["id"], 9);
        assert_eq!(value["acknowledged_subtasks"], 3);
        assert_eq!(value["operators"][0]["name"], "a");
        assert_eq!(value["operators"][0]["parallelism"], 2);
        assert_eq!(value["operators"][0]["sync_us"], 9);
        assert_eq!(value["operators"][0]["state_bytes"], 10);
        assert_eq!(value["operators"][0]["subtasks"][0]["subtask"], 0);
        assert_eq!(value["operators"][1]["name"], "b");
        assert_eq!(value["operators"][1]["acknowledged_subtasks"], 1);
    }
}

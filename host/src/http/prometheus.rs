//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Every metric is named `weir_*` and labelled with `job` (the job id);
//! per-operator metrics also with `operator`. Event counters count the
//! current attempt (they restart from zero after a restart, which
//! Prometheus treats as a counter reset). The checkpoint histograms are
//! kept by the server: each completed checkpoint is counted once, when the
//! server first sees it in the job's history.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use super::Snapshot;
use crate::checkpoint::stats::{CheckpointHistory, SubtaskStats};

pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the checkpoint duration buckets, seconds.
const DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Upper bounds of the checkpoint size buckets, bytes (1 KiB to 4 GiB).
const SIZE_BUCKETS: &[f64] = &[
    1024.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];

/// A cumulative histogram.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); one more for `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, value: f64) {
        let bucket = self.bounds.iter().position(|&bound| value <= bound).unwrap_or(self.bounds.len());
        self.counts[bucket] += 1;
        self.sum += value;
        self.count += 1;
    }
}

/// One job's checkpoint histograms.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointHistograms {
    /// Checkpoints already counted (those still in the history).
    seen: BTreeSet<u64>,
    duration: Histogram,
    size: Histogram,
}

impl Default for CheckpointHistograms {
    fn default() -> Self {
        CheckpointHistograms {
            seen: BTreeSet::new(),
            duration: Histogram::new(DURATION_BUCKETS),
            size: Histogram::new(SIZE_BUCKETS),
        }
    }
}

impl CheckpointHistograms {
    /// Counts the completed checkpoints of `history` not counted yet.
    pub(crate) fn ingest(&mut self, history: &CheckpointHistory) {
        super::prune(&mut self.seen, history);
        for checkpoint in super::completed(history) {
            if self.seen.insert(checkpoint.id) {
                if let Some(us) = checkpoint.end_to_end_us {
                    self.duration.observe(us as f64 / 1e6);
                }
                self.size.observe(checkpoint.checkpointed_bytes as f64);
            }
        }
    }
}

/// Escapes a label value: backslash, double quote and line feed.
pub(crate) fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out += "\\\\",
            '"' => out += "\\\"",
            '\n' => out += "\\n",
            c => out.push(c),
        }
    }
    out
}

/// The exposition, family by family (a family's samples must be together).
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // HELP text escapes backslash and line feed; ours has neither.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0 += name;
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape_label(value));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn histogram(&mut self, name: &str, job: &str, histogram: &Histogram) {
        let mut cumulative = 0;
        for (i, count) in histogram.counts.iter().enumerate() {
            cumulative += count;
            let le = histogram.bounds.get(i).map_or("+Inf".to_owned(), |bound| bound.to_string());
            self.sample(&format!("{name}_bucket"), &[("job", job), ("le", &le)], cumulative);
        }
        self.sample(&format!("{name}_sum"), &[("job", job)], histogram.sum);
        self.sample(&format!("{name}_count"), &[("job", job)], histogram.count);
    }
}

/// A subtask's duration of one checkpoint phase, µs.
type Phase = fn(&SubtaskStats) -> u64;

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

pub(crate) fn render(jobs: &[Snapshot], histograms: &HashMap<String, CheckpointHistograms>) -> String {
    let mut out = Out(String::new());

    out.family("weir_job_info", "gauge", "Always 1; the labels name the job and its status.");
    for j in jobs {
        out.sample("weir_job_info", &[("job", &j.id), ("name", &j.name), ("status", j.status)], 1);
    }
    out.family("weir_job_running", "gauge", "1 while the job runs (or restarts), 0 once it has ended.");
    for j in jobs {
        out.sample("weir_job_running", &[("job", &j.id)], u8::from(j.running));
    }
    out.family("weir_job_elapsed_seconds", "gauge", "Time since the job's current attempt started.");
    for j in jobs {
        out.sample("weir_job_elapsed_seconds", &[("job", &j.id)], j.metrics.elapsed.as_secs_f64());
    }
    out.family("weir_job_restarts_total", "counter", "Restarts after failures.");
    for j in jobs {
        out.sample("weir_job_restarts_total", &[("job", &j.id)], j.restarts);
    }
    out.family(
        "weir_job_failures_total",
        "counter",
        "Failed attempts by kind (trap: a guest trapped or panicked; limit_*: a sandbox limit; storage, source, sink...).",
    );
    for j in jobs {
        for (kind, count) in &j.failures {
            out.sample("weir_job_failures_total", &[("job", &j.id), ("kind", kind)], count);
        }
    }

    out.family("weir_source_events_total", "counter", "Events the source emitted (current attempt).");
    for j in jobs {
        out.sample("weir_source_events_total", &[("job", &j.id)], j.metrics.source_events);
    }
    out.family("weir_sink_events_total", "counter", "Events the sink received (current attempt).");
    for j in jobs {
        out.sample("weir_sink_events_total", &[("job", &j.id)], j.metrics.sink_events);
    }
    out.family("weir_operator_events_in_total", "counter", "Events into an operator, all subtasks (current attempt).");
    for j in jobs {
        for op in &j.metrics.operators {
            out.sample("weir_operator_events_in_total", &[("job", &j.id), ("operator", &op.name)], op.events_in);
        }
    }
    out.family(
        "weir_operator_events_out_total",
        "counter",
        "Events out of an operator, all subtasks (current attempt).",
    );
    for j in jobs {
        for op in &j.metrics.operators {
            out.sample("weir_operator_events_out_total", &[("job", &j.id), ("operator", &op.name)], op.events_out);
        }
    }
    out.family("weir_operator_parallelism", "gauge", "Subtasks of an operator.");
    for j in jobs {
        for vertex in j.graph.iter().flat_map(|g| &g.vertices) {
            out.sample("weir_operator_parallelism", &[("job", &j.id), ("operator", &vertex.name)], vertex.parallelism);
        }
    }

    out.family("weir_checkpoints_total", "counter", "Checkpoints that completed or failed.");
    for j in jobs {
        out.sample("weir_checkpoints_total", &[("job", &j.id), ("status", "completed")], j.checkpoints.completed);
        out.sample("weir_checkpoints_total", &[("job", &j.id), ("status", "failed")], j.checkpoints.failed);
    }
    out.family("weir_checkpoints_in_progress", "gauge", "Checkpoints in flight.");
    for j in jobs {
        out.sample("weir_checkpoints_in_progress", &[("job", &j.id)], u8::from(j.checkpoints.in_progress().is_some()));
    }

    let latest: Vec<_> = jobs.iter().filter_map(|j| Some((j, j.checkpoints.latest_completed()?))).collect();
    out.family("weir_checkpoint_last_id", "gauge", "Id of the newest completed checkpoint.");
    for (j, c) in &latest {
        out.sample("weir_checkpoint_last_id", &[("job", &j.id)], c.id);
    }
    out.family(
        "weir_checkpoint_last_duration_seconds",
        "gauge",
        "Trigger to _metadata written, of the newest completed checkpoint.",
    );
    for (j, c) in &latest {
        if let Some(us) = c.end_to_end_us {
            out.sample("weir_checkpoint_last_duration_seconds", &[("job", &j.id)], seconds(us));
        }
    }
    out.family("weir_checkpoint_last_state_bytes", "gauge", "State held by the newest completed checkpoint.");
    for (j, c) in &latest {
        out.sample("weir_checkpoint_last_state_bytes", &[("job", &j.id)], c.state_bytes);
    }
    out.family(
        "weir_checkpoint_last_checkpointed_bytes",
        "gauge",
        "Bytes the newest completed checkpoint wrote (its delta, with incremental checkpoints).",
    );
    for (j, c) in &latest {
        out.sample("weir_checkpoint_last_checkpointed_bytes", &[("job", &j.id)], c.checkpointed_bytes);
    }
    let phases: [(&str, &str, Phase); 3] = [
        ("alignment", "waiting for barriers on all inputs", |s| s.alignment_us),
        ("sync", "the guest's snapshot call", |s| s.sync_us),
        ("async", "uploading the snapshot", |s| s.async_us),
    ];
    for (phase, what, value) in phases {
        let name = format!("weir_checkpoint_last_{phase}_seconds");
        out.family(
            &name,
            "gauge",
            &format!("Slowest subtask of an operator, {what}, in the newest completed checkpoint."),
        );
        for (j, c) in &latest {
            let mut operators: Vec<&str> = Vec::new();
            for s in &c.subtasks {
                if !operators.contains(&s.operator.as_str()) {
                    operators.push(&s.operator);
                }
            }
            for operator in operators {
                let slowest = c.subtasks.iter().filter(|s| s.operator == operator).map(value).max().unwrap_or(0);
                out.sample(&name, &[("job", &j.id), ("operator", operator)], seconds(slowest));
            }
        }
    }

    out.family(
        "weir_checkpoint_duration_seconds",
        "histogram",
        "Trigger to _metadata written, of completed checkpoints.",
    );
    for j in jobs {
        if let Some(h) = histograms.get(&j.id) {
            out.histogram("weir_checkpoint_duration_seconds", &j.id, &h.duration);
        }
    }
    out.family("weir_checkpoint_size_bytes", "histogram", "Bytes each completed checkpoint wrote.");
    for j in jobs {
        if let Some(h) = histograms.get(&j.id) {
            out.histogram("weir_checkpoint_size_bytes", &j.id, &h.size);
        }
    }
    out.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::checkpoint::stats::{CheckpointStats, CheckpointStatus};
    use crate::exec::{JobMetrics, OperatorMetrics};

    fn completed(id: u64, us: u64, bytes: u64) -> CheckpointStats {
        CheckpointStats {
            status: CheckpointStatus::Completed,
            end_to_end_us: Some(us),
            checkpointed_bytes: bytes,
            state_bytes: bytes * 2,
            subtasks: vec![
                SubtaskStats { operator: "op".into(), subtask: 0, sync_us: 1500, ..SubtaskStats::default() },
                SubtaskStats { operator: "op".into(), subtask: 1, sync_us: 2500, ..SubtaskStats::default() },
            ],
            ..CheckpointStats::in_progress(id, 0)
        }
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
    }

    #[test]
    fn histograms_count_each_checkpoint_once() {
        let mut history = CheckpointHistory::default();
        history.record(completed(1, 20_000, 500));
        let mut h = CheckpointHistograms::default();
        h.ingest(&history);
        history.record(completed(2, 2_000_000, 5_000_000));
        history.record(CheckpointStats::in_progress(3, 0));
        h.ingest(&history);
        h.ingest(&history);
        assert_eq!((h.duration.count, h.size.count), (2, 2));
        assert!((h.duration.sum - 2.02).abs() < 1e-9);
        // 0.02 s falls in the 0.025 bucket, 2 s in the 2.5 one.
        assert_eq!(h.duration.counts[2], 1);
        assert_eq!(h.duration.counts[8], 1);
    }

    #[test]
    fn renders_families_once_with_escaped_labels() {
        let mut history = CheckpointHistory::default();
        history.record(completed(4, 30_000, 1000));
        history.record(CheckpointStats {
            status: CheckpointStatus::Failed { reason: "x".into() },
            ..CheckpointStats::in_progress(5, 0)
        });
        let job = Snapshot {
            id: "job \"1\"".into(),
            name: "wc".into(),
            status: "RUNNING",
            running: true,
            error: None,
            metrics: JobMetrics {
                elapsed: Duration::from_secs(3),
                source_events: 10,
                operators: vec![OperatorMetrics { name: "op\\x".into(), events_in: 10, events_out: 30 }],
                sink_events: 30,
            },
            graph: None,
            restarts: 1,
            failures: [("trap", 1)].into_iter().collect(),
            checkpoints: history,
        };
        let mut histograms = HashMap::new();
        histograms.entry(job.id.clone()).or_insert_with(CheckpointHistograms::default).ingest(&job.checkpoints);
        let text = render(&[job], &histograms);
        for line in [
            r#"weir_operator_events_in_total{job="job \"1\"",operator="op\\x"} 10"#,
            r#"weir_job_failures_total{job="job \"1\"",kind="trap"} 1"#,
            r#"weir_checkpoints_total{job="job \"1\"",status="failed"} 1"#,
            r#"weir_checkpoint_last_id{job="job \"1\""} 4"#,
            r#"weir_checkpoint_last_duration_seconds{job="job \"1\""} 0.03"#,
            r#"weir_checkpoint_last_sync_seconds{job="job \"1\"",operator="op"} 0.0025"#,
            r#"weir_checkpoint_duration_seconds_bucket{job="job \"1\"",le="0.05"} 1"#,
            r#"weir_checkpoint_duration_seconds_bucket{job="job \"1\"",le="+Inf"} 1"#,
            r#"weir_checkpoint_size_bytes_count{job="job \"1\""} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut unique = types.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(types.len(), unique.len(), "a family appears twice");
        assert!(text.lines().all(|l| l.starts_with('#') || l.starts_with("weir_")));
    }
}

//! The Kafka connectors (DESIGN.md, "Kafka"), against what runs here:
//!
//! - the source and plain (at-least-once) produce against nisshi, a real
//!   Kafka-protocol broker without transactions: kill -9 and `--resume`
//!   cycles at 2, 4 and 1 subtasks over 3 partitions (more and fewer
//!   subtasks than partitions), a broker restart while the job runs;
//! - the exactly-once sink's transactions against librdkafka's mock
//!   cluster (no installable broker implements them): 20+ kill -9 cycles at
//!   random instants, crashes injected between `_metadata` and the commit
//!   and inside the transaction, then a `read_committed` reader must see
//!   every running count once.
//!
//! The job is the word count: the counter's output for a word is 1, 2, ...
//! n, so the output is exact exactly when each word's counts are 1..=n
//! once each, whatever the interleaving.

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use crate::brokers::{
    MockCluster, assert_exact_running_counts, consume, create_topic, delete_topic, file_records, nisshi, produce,
    run_until, word_counts, word_lines,
};
use crate::checkpoint_support::{Seeded, kill_hard};
use crate::support::{JobDir, assert_success, guest, output_within, spawn_weir_run, weir_run};

/// A word-count job directory: `source` and `sink` are job-file tables
/// (the NATS tests use it too).
pub struct Job {
    pub dir: JobDir,
}

impl Job {
    pub fn new() -> Self {
        Job { dir: JobDir::new() }
    }

    pub fn write(&self, source: &str, sink: &str, tokenizers: u32) {
        let job = format!(
            r#"
[job]
name = "kafka-wc"
id = "kafka-wc"

[checkpoint]
interval_ms = 150
dir = "ckpt"

[restart]
strategy = "fixed-delay"
attempts = 10
delay_ms = 200

{source}

[[operators]]
name = "tokenizer"
component = "{tokenizer}"
parallelism = {tokenizers}

[[operators]]
name = "counter"
component = "{counter}"
parallelism = 2
key_by = true

{sink}
"#,
            tokenizer = guest("tokenizer").display(),
            counter = guest("counter").display(),
        );
        self.dir.write("job.toml", job);
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        spawn_weir_run(self.dir.dir.path(), args)
    }

    fn out(&self) -> PathBuf {
        self.dir.path("out")
    }
}

fn kafka_source(brokers: &str, parallelism: u32, rate_limit: u64) -> String {
    format!(
        "[[sources]]\nname = \"in\"\ntype = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"lines\"\nparallelism = \
         {parallelism}\nrate_limit = {rate_limit}\n"
    )
}

const FILES_SINK: &str = "[[sinks]]\nname = \"out\"\ntype = \"files\"\npath = \"out\"\ninputs = [\"counter\"]\n";

/// Kafka source → word count → files, over 3 partitions: kill -9 at random
/// moments and resume at 2, 4 and 1 subtasks; then a broker restart while
/// the job runs and more input after it. Exact, with nothing lost or
/// duplicated.
#[test]
fn the_kafka_source_survives_kill_9_rescaling_and_a_broker_restart_exactly() {
    let mut broker = nisshi();
    let brokers = broker.address();
    create_topic(&brokers, "lines", 3);
    let first = word_lines(3000);
    produce(&brokers, "lines", 3, &first);

    let job = Job::new();
    let mut random = Seeded(16);
    let mut resume: &[&str] = &[];
    for (cycle, parallelism) in [2, 4, 1, 2, 4, 1].into_iter().enumerate() {
        job.write(&kafka_source(&brokers, parallelism, 150), FILES_SINK, 2);
        let child = job.spawn(resume);
        std::thread::sleep(Duration::from_millis(600 + random.below(900)));
        kill_hard(child);
        resume = &["--resume"];
        let _ = cycle;
    }
    assert!(!file_records(&job.out()).is_empty(), "the killed runs committed nothing");
    // The broker restarts under a running job; input produced after it
    // is read too.
    job.write(&kafka_source(&brokers, 2, 20_000), FILES_SINK, 2);
    let child = job.spawn(&["--resume"]);
    std::thread::sleep(Duration::from_millis(800));
    broker.restart();
    let second = word_lines(1500);
    produce(&brokers, "lines", 3, &second);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = word_counts(&all);
    let total: u64 = expected.values().sum();
    run_until(child, Duration::from_secs(60), "all input counted", || file_records(&job.out()).len() as u64 >= total);
    assert_exact_running_counts(&file_records(&job.out()), &expected, "kafka source after kill -9 cycles");
}

/// Partitions that appear after a checkpoint are found by the restored
/// job (within its 5 s discovery interval) and read from their beginning
/// by the subtask they deal to, while the partition it knew goes on from
/// the checkpoint's offset. Neither broker here can add partitions to a
/// topic (no CreatePartitions in nisshi or the mock cluster): the topic is
/// recreated with 3 partitions, its partition 0 written again record for
/// record, so that the checkpoint's offsets of partition 0 still hold.
#[test]
fn partitions_that_appear_later_are_read() {
    let broker = nisshi();
    let brokers = broker.address();
    create_topic(&brokers, "lines", 1);
    let first = word_lines(500);
    produce(&brokers, "lines", 1, &first);
    let job = Job::new();
    job.write(&kafka_source(&brokers, 2, 100_000), FILES_SINK, 1);
    let out = job.out();
    let counted = |n: u64| {
        let out = out.clone();
        move || file_records(&out).len() as u64 >= n
    };
    let mut child = job.spawn(&[]);
    let first_total: u64 = word_counts(&first).values().sum();
    crate::brokers::wait_for(Duration::from_secs(30), "the first partition counted", counted(first_total));
    crate::checkpoint_support::wait_for_checkpoints(&job.dir.path("ckpt").join("kafka-wc"), 3, &mut child);
    kill_hard(child);

    delete_topic(&brokers, "lines");
    create_topic(&brokers, "lines", 3);
    produce(&brokers, "lines", 1, &first);
    let second = word_lines(600);
    crate::brokers::produce_to(&brokers, "lines", &[1, 2], &second);
    let child = job.spawn(&["--resume"]);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = word_counts(&all);
    let total: u64 = expected.values().sum();
    let output = run_until(child, Duration::from_secs(60), "the new partitions counted", counted(total));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("reads new partition(s)"), "no partition discovery in the log:\n{log}");
    assert_exact_running_counts(&file_records(&job.out()), &expected, "input of partitions that appeared later");
}

fn kafka_sink(brokers: &str, delivery: &str) -> String {
    format!(
        "[[sinks]]\nname = \"out\"\ntype = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"counts\"\ndelivery = \
         \"{delivery}\"\ninputs = [\"counter\"]\n"
    )
}

const LINES_SOURCE: &str =
    "[[sources]]\nname = \"in\"\ntype = \"lines\"\npath = \"input.txt\"\nparallelism = 2\nrate_limit = 300\n";

/// Plain produce against the real broker: a failure-free run writes
/// every running count once.
#[test]
fn the_kafka_sink_produces_to_a_real_broker() {
    let broker = nisshi();
    let brokers = broker.address();
    create_topic(&brokers, "counts", 2);
    let lines = word_lines(2000);
    let job = Job::new();
    job.dir.write("input.txt", lines.join("\n") + "\n");
    job.write(
        &LINES_SOURCE.replace("rate_limit = 300\n", "rate_limit = 100000\n"),
        &kafka_sink(&brokers, "at-least-once"),
        2,
    );
    assert_success(&weir_run(job.dir.dir.path(), &[]).output().expect("run weir"));
    let records = consume(&brokers, "counts", Duration::from_secs(2));
    assert_exact_running_counts(&records, &word_counts(&lines), "at-least-once sink, no failure");
}

/// The exactly-once sink against the mock cluster: 22 kill -9 at random
/// instants, a crash between `_metadata` and the commit, one inside the
/// transaction; the read_committed view is exact.
#[test]
fn the_exactly_once_kafka_sink_survives_kill_9_and_crashes_in_the_commit_window() {
    let cluster = MockCluster::start(&[("counts", 3), ("counts.weir-markers", 1)]);
    let lines = word_lines(12_000);
    let job = Job::new();
    job.dir.write("input.txt", lines.join("\n") + "\n");
    job.write(LINES_SOURCE, &kafka_sink(&cluster.bootstrap, "exactly-once"), 2);
    let mut random = Seeded(42);
    let mut resume: &[&str] = &[];
    for cycle in 0..22 {
        let child = job.spawn(resume);
        std::thread::sleep(Duration::from_millis(400 + random.below(700)));
        kill_hard(child);
        resume = &["--resume"];
        // The crashes that a signal cannot aim at: after `_metadata`
        // before the commit, and inside the open transaction.
        if cycle == 5 || cycle == 12 {
            let failpoint = if cycle == 5 { "after-metadata" } else { "kafka-before-commit" };
            let mut command = weir_run(job.dir.dir.path(), resume);
            command.env("WEIR_FAILPOINT", failpoint);
            let output = output_within(command, Duration::from_secs(60), "the run with a failpoint");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(&format!("failpoint {failpoint}")), "failpoint {failpoint} not reached: {stderr}");
            // The unpublished output staged in the newest checkpoint is
            // referenced: gc must keep it for the resume to publish.
            let gc = crate::support::weir().args(["checkpoints", "gc"]).arg(job.dir.path("ckpt")).output().expect("gc");
            assert_success(&gc);
        }
    }
    let before = consume(&cluster.bootstrap, "counts", Duration::from_secs(1)).len();
    let total = word_counts(&lines).values().sum::<u64>() as usize;
    assert!(before > 0 && before < total, "the killed runs published {before} of {total} records");
    assert_success(&weir_run(job.dir.dir.path(), &["--resume"]).output().expect("run weir"));
    let records = consume(&cluster.bootstrap, "counts", Duration::from_secs(2));
    assert_exact_running_counts(&records, &word_counts(&lines), "exactly-once sink after 22 kill -9 and 2 failpoints");
}

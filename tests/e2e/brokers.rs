//! Real brokers for the connector tests, each started by the test that
//! needs it on a free loopback port, and clients to feed and read them:
//!
//! - `nisshi`, a Kafka-protocol broker (no transactions), installed by
//!   `cargo xtask test` and named by `WEIR_NISSHI`;
//! - librdkafka's mock cluster (which does implement transactions) in a
//!   process of its own (`tests/tools/kafka_mock_cluster.rs`);
//! - `nats-server -js`, named by `WEIR_NATS_SERVER`.
//!
//! A server whose binary is missing fails the test with what to run: the
//! tests never skip.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::{example, free_port};

fn tool(var: &str, what: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) => PathBuf::from(path),
        None => panic!("{var} is not set: run the tests with `cargo xtask test`, which installs {what}"),
    }
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} ended ({status}) before accepting connections");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{what} does not accept connections on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A server process that can be restarted on the same port and data.
pub struct Server {
    what: &'static str,
    command: Box<dyn Fn() -> Command + Send>,
    pub port: u16,
    child: Child,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(what: &'static str, port: u16, data: tempfile::TempDir, command: Box<dyn Fn() -> Command + Send>) -> Self {
        let mut child = command().stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start server");
        wait_for_port(port, &mut child, what);
        Server { what, command, port, child, _data: data }
    }

    /// Kills the server (SIGKILL) and starts it again on its data.
    pub fn restart(&mut self) {
        stop(&mut self.child);
        self.child = (self.command)().stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("restart server");
        wait_for_port(self.port, &mut self.child, self.what);
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// nisshi on sqlite storage (which a restart keeps).
pub fn nisshi() -> Server {
    let binary = tool("WEIR_NISSHI", "the nisshi Kafka broker");
    let data = tempfile::tempdir().expect("temporary directory");
    let dir = data.path().to_owned();
    let port = free_port();
    Server::start(
        "nisshi",
        port,
        data,
        Box::new(move || {
            let url = format!("tcp://127.0.0.1:{port}");
            let mut command = Command::new(&binary);
            command
                .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "sqlite://nisshi.db"])
                .current_dir(&dir);
            command
        }),
    )
}

/// `nats-server -js` with its store in a temporary directory.
pub fn nats_server() -> Server {
    let binary = tool("WEIR_NATS_SERVER", "nats-server");
    let data = tempfile::tempdir().expect("temporary directory");
    let dir = data.path().to_owned();
    let port = free_port();
    Server::start(
        "nats-server",
        port,
        data,
        Box::new(move || {
            let mut command = Command::new(&binary);
            command.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]).arg(&dir);
            command
        }),
    )
}

/// librdkafka's mock cluster, serving until dropped.
pub struct MockCluster {
    pub bootstrap: String,
    child: Child,
    _stdin: ChildStdin,
}

impl MockCluster {
    /// `topics`: (name, partitions).
    pub fn start(topics: &[(&str, i32)]) -> Self {
        let mut child = example("kafka-mock-cluster")
            .args(topics.iter().map(|(name, partitions)| format!("{name}:{partitions}")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kafka-mock-cluster (built by `cargo test` as an example)");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read bootstrap");
        let bootstrap = line.trim().strip_prefix("bootstrap ").expect("bootstrap line").to_owned();
        MockCluster { bootstrap, child, _stdin: stdin }
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Creates `topic` with `partitions` partitions (nisshi: through the admin API).
pub fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("create topics");
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("cannot create topic {topic}: {e:?}"));
    }
}

/// Deletes `topic`.
pub fn delete_topic(brokers: &str, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let results = runtime.block_on(admin.delete_topics(&[topic], &AdminOptions::new())).expect("delete topics");
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("cannot delete topic {topic}: {e:?}"));
    }
}

/// Produces `values` (empty keys), value i to partition i mod `partitions`.
pub fn produce(brokers: &str, topic: &str, partitions: i32, values: &[String]) {
    produce_to(brokers, topic, &(0..partitions).collect::<Vec<_>>(), values);
}

/// Produces `values` (empty keys) round-robin to `partitions`.
pub fn produce_to(brokers: &str, topic: &str, partitions: &[i32], values: &[String]) {
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create().expect("producer");
    for (i, value) in values.iter().enumerate() {
        let partition = partitions[i % partitions.len()];
        let mut record = BaseRecord::<(), str>::to(topic).payload(value.as_str()).partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Every (key, value) of `topic` as a `read_committed` consumer sees it,
/// reading until nothing more arrives for `quiet`.
pub fn consume(brokers: &str, topic: &str, quiet: Duration) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "weir-test-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        list.add_partition_offset(topic, partition.id(), Offset::Beginning).expect("assign");
    }
    consumer.assign(&list).expect("assign");
    let mut records = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            records.push((text(message.key()), text(message.payload())));
            last = Instant::now();
        }
    }
    records
}

/// Input lines of words: line i holds words `w<j>` for a few j, so that
/// each word occurs many times.
pub fn word_lines(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("w{} w{} w{}", i % 7, i % 13, (i * 31) % 17)).collect()
}

/// Every word's number of occurrences in `lines`.
pub fn word_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts.entry(word.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The running counts of a word count are exact when, for every word, its
/// records carry the counts 1..=n once each: none lost, none twice.
pub fn assert_exact_running_counts(records: &[(String, String)], expected: &BTreeMap<String, u64>, what: &str) {
    let mut seen: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (word, count) in records {
        let count: u64 = count.trim().parse().unwrap_or_else(|_| panic!("{what}: count {count:?} of {word:?}"));
        seen.entry(word.as_str()).or_default().push(count);
    }
    let mut problems = Vec::new();
    for (word, &n) in expected {
        let mut counts = seen.remove(word.as_str()).unwrap_or_default();
        counts.sort_unstable();
        if counts != (1..=n).collect::<Vec<_>>() {
            let duplicates = counts.windows(2).filter(|w| w[0] == w[1]).count();
            problems.push(format!("{word}: {} record(s) for {n} occurrences, {duplicates} duplicate(s)", counts.len()));
        }
    }
    problems.extend(seen.keys().map(|w| format!("unexpected word {w}")));
    assert!(problems.is_empty(), "{what}: output is not exact: {}", problems.join("; "));
}

/// The running counts in a `files` sink's committed output.
pub fn file_records(out: &Path) -> Vec<(String, String)> {
    if !out.exists() {
        return Vec::new();
    }
    crate::support::committed_files(out)
        .values()
        .flat_map(|text| text.lines().map(|l| l.split_once('\t').expect("key<TAB>value")))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Waits until `ready` says so, for at most `limit`.
pub fn wait_for(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `ready` says so, for at most `limit`; then stops the job
/// (SIGTERM) and returns its output, which must be a success.
pub fn run_until(child: Child, limit: Duration, what: &str, mut ready: impl FnMut() -> bool) -> std::process::Output {
    let started = Instant::now();
    let mut done = ready();
    while !done && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(100));
        done = ready();
    }
    // Two more checkpoints: nothing beyond the input may appear.
    std::thread::sleep(Duration::from_millis(500));
    let output = crate::checkpoint_support::cancel(child);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(done, "{what}: not after {limit:?}; the job's log:\n{stderr}");
    assert!(output.status.success(), "{what}: weir failed: {stderr}");
    output
}

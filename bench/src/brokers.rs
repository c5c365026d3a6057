//! `brokers`: broker → counter → broker, through Weir and through a plain
//! consume-count-produce loop with the same client, against the same server
//! in the same run (issue 16). The ratio Weir ÷ loop is the figure.
//!
//! - Kafka: nisshi (memory storage) on loopback, topics of 2 partitions;
//!   Weir reads with the `kafka` source ×2, counts with the `counter`
//!   component ×2 (key_by) and writes with the `kafka` sink at-least-once
//!   (nisshi has no transactions); the loop is one rdkafka consumer and one
//!   producer, counting in a `HashMap`.
//! - NATS: `nats-server -js`; Weir reads stream IN with the `nats` source,
//!   counts ×2 and publishes to OUT with the exactly-once `nats` sink; the
//!   loop is one async-nats ordered consumer and JetStream publishes with
//!   acks, counting in a `HashMap`.
//!
//! Each run's time is from the start (the job's or the loop's) until the
//! output holds one record per input event. Checkpoints every 200 ms: the
//! Weir sinks publish at checkpoint completion, so output lags by up to one
//! interval; runs are long enough for ten checkpoints or more.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use weir_host::job::{KafkaDelivery, KafkaSink, KafkaSource, NatsSink, NatsSource};
use weir_host::{JobSpec, SinkSpec, SourceSpec};

use crate::harness::{Bench, Code, checkpoints, emit, median, progress, with_fields};

const KEYS: u64 = 10_000;
const INTERVAL: Duration = Duration::from_millis(200);

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn tool(var: &str) -> Result<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .with_context(|| format!("{var} is not set: `cargo xtask bench` installs the broker and sets it"))
}

fn start(mut command: Command, port: u16, data: PathBuf, what: &str) -> Result<Server> {
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().with_context(|| format!("start {what}"))?;
    let mut server = Server { child, port, _data: data };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.child.try_wait()? {
            bail!("{what} ended ({status}) before accepting connections");
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!("{what} does not accept connections on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

fn key(i: u64) -> String {
    format!("k{}", i.wrapping_mul(2654435761) % KEYS)
}

pub fn brokers(bench: &Bench) -> Result<()> {
    kafka(bench)?;
    nats(bench)
}

/// Runs `measure(weir, run)` for Weir and for the loop, `--runs` times,
/// alternating which goes first; each returns events/s and (Weir) the
/// checkpoints completed. Medians, with the common fields.
fn alternate(bench: &Bench, mut measure: impl FnMut(bool, usize) -> Result<(f64, u64)>) -> Result<serde_json::Value> {
    let runs = bench.runs.max(1);
    let (mut weir, mut plain, mut ratio, mut taken) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let mut round = [0.0; 2];
        for is_weir in [run % 2 == 0, run % 2 != 0] {
            let (rate, checkpoints) = measure(is_weir, run)?;
            round[usize::from(!is_weir)] = rate;
            if is_weir {
                taken.push(checkpoints as f64);
            }
        }
        weir.push(round[0]);
        plain.push(round[1]);
        ratio.push(round[0] / round[1]);
    }
    Ok(json!({
        "scenario": "brokers", "keys": KEYS, "runs": runs, "weir_eps": median(&weir), "loop_eps": median(&plain),
        "ratio": median(&ratio), "checkpoints": median(&taken), "checkpoint_interval_ms": INTERVAL.as_millis() as u64,
    }))
}

// ---------------------------------------------------------------- Kafka

fn kafka(bench: &Bench) -> Result<()> {
    let events: u64 = bench.size(3_000_000, 20_000);
    progress(&format!("kafka (nisshi): topic → counter ×2 → topic, {events} events, Weir and a plain loop"));
    let port = free_port()?;
    let data = bench.scratch("nisshi")?;
    let url = format!("tcp://127.0.0.1:{port}");
    let mut command = Command::new(tool("WEIR_NISSHI")?);
    command
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://nisshi/"])
        .current_dir(&data);
    let server = start(command, port, data, "nisshi")?;
    let brokers = format!("127.0.0.1:{}", server.port);
    create_topics(&brokers, &["in", "weir-out", "loop-out"])?;
    fill_topic(&brokers, "in", events)?;

    let figures = alternate(bench, |weir, run| {
        // Each run writes a topic of its own.
        let out = format!("{}-{run}", if weir { "weir-out" } else { "loop-out" });
        create_topics(&brokers, &[&out])?;
        if weir {
            let (seconds, checkpoints) = kafka_weir(bench, &brokers, &out, events, run)?;
            Ok((events as f64 / seconds, checkpoints))
        } else {
            Ok((events as f64 / kafka_loop(&brokers, &out, events)?, 0))
        }
    })?;
    emit(with_fields(
        figures,
        json!({ "broker": "kafka (nisshi 0.8.1, memory storage)", "events": events, "weir_sink": "kafka at-least-once" }),
    ));
    Ok(())
}

fn create_topics(brokers: &str, topics: &[&str]) -> Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let new: Vec<NewTopic> = topics.iter().map(|t| NewTopic::new(t, 2, TopicReplication::Fixed(1))).collect();
    for result in runtime.block_on(admin.create_topics(&new, &AdminOptions::new()))? {
        result.map_err(|(topic, e)| anyhow::anyhow!("cannot create topic {topic}: {e}"))?;
    }
    Ok(())
}

fn fill_topic(brokers: &str, topic: &str, events: u64) -> Result<()> {
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "20").create()?;
    let value = [b'v'; 16];
    for i in 0..events {
        let key = key(i);
        let mut record = BaseRecord::to(topic).key(key.as_str()).payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(())
}

/// Records in `topic`, by its partitions' end offsets.
fn topic_records(consumer: &BaseConsumer, topic: &str) -> Result<u64> {
    let mut total = 0;
    for partition in 0..2 {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        total += (high - low).max(0) as u64;
    }
    Ok(total)
}

fn kafka_weir(bench: &Bench, brokers: &str, out: &str, events: u64, run: usize) -> Result<(f64, u64)> {
    let dir = bench.scratch("brokers-kafka-checkpoints")?;
    let mut sink = KafkaSink::new(brokers, out);
    sink.delivery = KafkaDelivery::AtLeastOnce;
    let source = SourceSpec::Kafka(KafkaSource::new(brokers, "in"));
    let mut spec = JobSpec::new("bench-kafka", source, SinkSpec::Kafka(sink))
        .operator(bench.operator("counter", Code::Wasm)?.parallelism(2).key_by(true))
        .checkpoint(checkpoints(&dir, INTERVAL, false));
    spec.sources[0].parallelism = 2;
    spec.id = Some(format!("bench-kafka-{run}"));
    let watcher: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    run_weir(bench, spec, events, || topic_records(&watcher, out))
}

/// Starts the job, waits until `output()` counts `events` records, cancels
/// it; seconds taken and checkpoints completed.
fn run_weir(bench: &Bench, spec: JobSpec, events: u64, mut output: impl FnMut() -> Result<u64>) -> Result<(f64, u64)> {
    let started = Instant::now();
    let job = bench.engine.start(spec).context("the broker job failed to start")?;
    let observer = job.observer();
    loop {
        if output()? >= events {
            break;
        }
        if !observer.is_running() {
            bail!("the broker job stopped before its output was complete");
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the broker job's output is not complete after 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let seconds = started.elapsed().as_secs_f64();
    let checkpoints = observer.checkpoint_stats().completed;
    job.cancel();
    let _ = job.wait();
    Ok((seconds, checkpoints))
}

/// The plain loop: consume every partition from the start, count, produce
/// (key, count) until `events` are delivered.
fn kafka_loop(brokers: &str, out: &str, events: u64) -> Result<f64> {
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-loop")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut list = TopicPartitionList::new();
    for partition in 0..2 {
        list.add_partition_offset("in", partition, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create()?;
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut seen = 0;
    while seen < events {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = message?;
        let key = message.key().unwrap_or_default();
        let count = counts.entry(key.to_vec()).or_default();
        *count += 1;
        let value = count.to_string();
        let mut record = BaseRecord::to(out).key(key).payload(value.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        producer.poll(Duration::ZERO);
        seen += 1;
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(started.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------- NATS

fn nats(bench: &Bench) -> Result<()> {
    let events: u64 = bench.size(1_000_000, 10_000);
    progress(&format!("nats (nats-server -js): stream → counter ×2 → stream, {events} events, Weir and a plain loop"));
    let port = free_port()?;
    let data = bench.scratch("nats-data")?;
    let mut command = Command::new(tool("WEIR_NATS_SERVER")?);
    command.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]).arg(&data);
    let server = start(command, port, data, "nats-server")?;
    let url = format!("nats://127.0.0.1:{}", server.port);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&url).await?);
        let stream = |name: &str, subject: &str| async_nats::jetstream::stream::Config {
            name: name.into(),
            subjects: vec![subject.into()],
            ..Default::default()
        };
        js.create_stream(stream("IN", "in")).await?;
        let mut acks = Vec::new();
        for i in 0..events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Weir-Key", key(i).as_str());
            acks.push(js.publish_with_headers("in", headers, vec![b'v'; 16].into()).await?);
            if acks.len() >= 4096 {
                for ack in acks.drain(..) {
                    ack.await?;
                }
            }
        }
        for ack in acks {
            ack.await?;
        }
        anyhow::Ok(())
    })?;

    let figures = alternate(bench, |weir, run| {
        let (stream, subject) = (format!("OUT{}R{run}", u8::from(weir)), format!("out.{}.{run}", u8::from(weir)));
        runtime.block_on(async {
            let js = async_nats::jetstream::new(async_nats::connect(&url).await?);
            let config = async_nats::jetstream::stream::Config {
                name: stream.clone(),
                subjects: vec![subject.clone()],
                ..Default::default()
            };
            js.create_stream(config).await?;
            anyhow::Ok(())
        })?;
        if !weir {
            return Ok((events as f64 / runtime.block_on(nats_loop(&url, &subject, events))?, 0));
        }
        let dir = bench.scratch("brokers-nats-checkpoints")?;
        let source = SourceSpec::Nats(NatsSource::new(&url, "IN"));
        let sink = SinkSpec::Nats(NatsSink::new(&url, &subject));
        let mut spec = JobSpec::new("bench-nats", source, sink)
            .operator(bench.operator("counter", Code::Wasm)?.parallelism(2).key_by(true))
            .checkpoint(checkpoints(&dir, INTERVAL, false));
        spec.id = Some(format!("bench-nats-{run}"));
        let stored = || -> Result<u64> {
            runtime.block_on(async {
                let js = async_nats::jetstream::new(async_nats::connect(&url).await?);
                let mut stream = js.get_stream(&stream).await?;
                anyhow::Ok(stream.info().await?.state.messages)
            })
        };
        let (seconds, checkpoints) = run_weir(bench, spec, events, stored)?;
        Ok((events as f64 / seconds, checkpoints))
    })?;
    emit(with_fields(
        figures,
        json!({ "broker": "nats (nats-server 2.9 -js)", "events": events, "weir_sink": "nats exactly-once (message ids)" }),
    ));
    Ok(())
}

/// The plain loop: an ordered consumer of IN, a count per key, a
/// JetStream publish per event, acks awaited in windows of 4096.
async fn nats_loop(url: &str, subject: &str, events: u64) -> Result<f64> {
    use futures_util::StreamExt;
    let started = Instant::now();
    let js = async_nats::jetstream::new(async_nats::connect(url).await?);
    let stream = js.get_stream("IN").await?;
    let consumer = stream.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut acks = Vec::new();
    for _ in 0..events {
        let message = messages.next().await.context("the consumer ended")??;
        let key = message.headers.as_ref().and_then(|h| h.get("Weir-Key")).map(|k| k.to_string()).unwrap_or_default();
        let count = counts.entry(key.clone()).or_default();
        *count += 1;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Weir-Key", key.as_str());
        acks.push(js.publish_with_headers(subject.to_owned(), headers, count.to_string().into()).await?);
        if acks.len() >= 4096 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

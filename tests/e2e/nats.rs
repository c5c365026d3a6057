//! The NATS JetStream connectors (DESIGN.md, "NATS JetStream") against a
//! real `nats-server -js`: a stream read by sequence, a sink that
//! publishes completed checkpoints with deterministic `Nats-Msg-Id`s. The
//! word count again (see `kafka.rs`): exact means each word's running
//! counts 1..=n once each in the output stream.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull::OrderedConfig, stream::Config as StreamConfig};
use futures_util::StreamExt;

use crate::brokers::{Server, assert_exact_running_counts, nats_server, run_until, word_counts, word_lines};
use crate::checkpoint_support::{Seeded, kill_hard};
use crate::kafka::Job;
use crate::support::{assert_failure, output_within, weir_run};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

async fn context(server: &Server) -> jetstream::Context {
    let client = async_nats::connect(server.address()).await.expect("connect to nats-server");
    jetstream::new(client)
}

/// Streams EVENTS (`events.>`) and COUNTS (`counts`, with `window` of
/// duplicate detection).
fn create_streams(server: &Server, window: Duration) {
    runtime().block_on(async {
        let js = context(server).await;
        js.create_stream(StreamConfig {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await
        .expect("create EVENTS");
        js.create_stream(StreamConfig {
            name: "COUNTS".into(),
            subjects: vec!["counts".into()],
            duplicate_window: window,
            ..Default::default()
        })
        .await
        .expect("create COUNTS");
    });
}

fn publish(server: &Server, lines: &[String]) {
    runtime().block_on(async {
        let js = context(server).await;
        let mut acks = Vec::new();
        for line in lines {
            acks.push(js.publish("events.in", line.clone().into()).await.expect("publish"));
        }
        for ack in acks {
            ack.await.expect("publish ack");
        }
    });
}

/// Every (Weir-Key, payload) in stream COUNTS, in order.
fn counts(server: &Server) -> Vec<(String, String)> {
    runtime().block_on(async {
        let js = context(server).await;
        let mut stream = js.get_stream("COUNTS").await.expect("COUNTS");
        let stored = stream.info().await.expect("info").state.messages;
        let mut records = Vec::new();
        if stored == 0 {
            return records;
        }
        let consumer = stream.create_consumer(OrderedConfig::default()).await.expect("consumer");
        let mut messages = consumer.messages().await.expect("messages");
        while (records.len() as u64) < stored {
            let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), messages.next()).await else {
                break;
            };
            let key =
                message.headers.as_ref().and_then(|h| h.get("Weir-Key")).map(|k| k.to_string()).unwrap_or_default();
            records.push((key, String::from_utf8_lossy(&message.payload).into_owned()));
        }
        records
    })
}

fn nats_source(server: &Server, rate_limit: u64) -> String {
    format!(
        "[[sources]]\nname = \"in\"\ntype = \"nats\"\nurl = \"nats://{}\"\nstream = \"EVENTS\"\nsubject = \
         \"events.>\"\nrate_limit = {rate_limit}\n",
        server.address()
    )
}

fn nats_sink(server: &Server) -> String {
    format!(
        "[[sinks]]\nname = \"out\"\ntype = \"nats\"\nurl = \"nats://{}\"\nsubject = \"counts\"\ninputs = \
         [\"counter\"]\n",
        server.address()
    )
}

/// 22 kill -9 at random instants (some while a checkpoint's output is
/// being published: one completes every 150 ms), a crash injected with half
/// a checkpoint's output published, then a server restart under the
/// running job: the output stream holds every count once.
#[test]
fn nats_source_and_sink_survive_kill_9_and_a_server_restart_exactly() {
    let mut server = nats_server();
    create_streams(&server, Duration::from_secs(120));
    let first = word_lines(4000);
    publish(&server, &first);
    let job = Job::new();
    job.write(&nats_source(&server, 400), &nats_sink(&server), 2);
    let mut random = Seeded(7);
    let mut resume: &[&str] = &[];
    for cycle in 0..22 {
        let child = job.spawn(resume);
        std::thread::sleep(Duration::from_millis(300 + random.below(800)));
        kill_hard(child);
        resume = &["--resume"];
        // A crash that a signal cannot aim at: half a checkpoint's output
        // stored, the rest not (the resume publishes it all again, and the
        // server drops the half it has).
        if cycle == 3 {
            let mut command = weir_run(job.dir.dir.path(), resume);
            command.env("WEIR_FAILPOINT", "nats-mid-publish");
            let output = output_within(command, Duration::from_secs(60), "the run with a failpoint");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("failpoint nats-mid-publish"), "failpoint not reached: {stderr}");
        }
    }
    assert!(!counts(&server).is_empty(), "the killed runs published nothing");
    job.write(&nats_source(&server, 50_000), &nats_sink(&server), 2);
    let child = job.spawn(&["--resume"]);
    std::thread::sleep(Duration::from_millis(800));
    server.restart();
    let second = word_lines(1000);
    publish(&server, &second);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let expected = word_counts(&all);
    let total: u64 = expected.values().sum();
    run_until(child, Duration::from_secs(90), "all input counted", || counts(&server).len() as u64 >= total);
    assert_exact_running_counts(&counts(&server), &expected, "nats after 22 kill -9 and a server restart");
}

/// A duplicate window shorter than a restart can take is refused at start.
#[test]
fn a_duplicate_window_too_short_for_a_restart_is_refused() {
    let server = nats_server();
    create_streams(&server, Duration::from_secs(5));
    let job = Job::new();
    job.write(&nats_source(&server, 100), &nats_sink(&server), 1);
    let output = weir_run(job.dir.dir.path(), &[]).output().expect("run weir");
    assert_failure(&output, &["stream COUNTS's duplicate window is 5s", "Raise the stream's duplicate_window"]);
}

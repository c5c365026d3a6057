//! The edge service end to end, against moto (an S3 server) on loopback:
//! events posted over HTTP, a checkpoint in the bucket, kill -9, a restart
//! that resumes from S3 and replays the ingest log, more events, a clean
//! shutdown. The committed output must be the exact running counts of
//! every posted event (no loss, no duplicate), and the retention policy
//! (`delete-on-cancellation`) must have emptied the bucket.
//!
//! `cargo xtask test` sets `WEIR_MOTO_SERVER` (moto's `moto_server`) and
//! `WEIR_GUEST_DIR` (the components); as with the host's S3 tests, the test
//! fails without moto.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One plain HTTP/1.1 request to 127.0.0.1:`port`; the status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not HTTP: {response:?}"));
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// A `moto_server` on 127.0.0.1 (as in tests/e2e/s3.rs), killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let Some(server) = std::env::var_os("WEIR_MOTO_SERVER") else {
            panic!(
                "WEIR_MOTO_SERVER is not set: this test needs moto's `moto_server`. Run it with `cargo xtask test` \
                 (or `WEIR_MOTO_SERVER=$(cargo xtask moto-server) cargo test -p edge-service`)"
            )
        };
        for _ in 0..3 {
            // A port that was free a moment ago; moto exits if it is taken.
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.to_string_lossy()));
            let mut moto = Moto { child, port };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if moto.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if http(port, "GET", "/", "").is_ok() {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto did not start");
    }

    fn create_bucket(&self, bucket: &str) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}"), "").expect("PUT bucket");
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }

    /// The keys of every object under `prefix` in `bucket`.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (status, body) = http(self.port, "GET", &format!("/{bucket}?prefix={prefix}"), "").expect("list bucket");
        assert_eq!(status, 200, "listing {bucket}: {body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>"))
            .map(|(key, _)| key.to_owned())
            .collect()
    }

    /// The `AWS_*` settings that point object_store at this server.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false".into()),
            ("AWS_ACCESS_KEY_ID", "weir-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "weir-test-secret".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counter component: `WEIR_GUEST_DIR` or the documented build location.
fn counter_component() -> PathBuf {
    let dir = std::env::var_os("WEIR_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/release"));
    let path = dir.join("counter.wasm");
    assert!(path.exists(), "{} is missing: run `cargo xtask build-guests`", path.display());
    path
}

/// One run of the service binary.
struct Service {
    child: Child,
    port: u16,
    /// Its stderr (the log), shown when something fails.
    log: tempfile::NamedTempFile,
}

impl Service {
    /// Starts the service and waits for the address it prints.
    fn start(args: &[String], env: &[(&'static str, String)]) -> Service {
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_edge-service"))
            .args(args)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("the log file"))
            .spawn()
            .expect("start edge-service");
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let Some(address) = line.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            panic!("edge-service did not start (stdout {line:?}):\n{}", read(log.path()));
        };
        let port = address.parse::<SocketAddr>().map(|a| a.port()).expect("a socket address");
        Service { child, port, log }
    }

    fn log_text(&self) -> String {
        read(self.log.path())
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        http(self.port, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\nservice log:\n{}", self.log_text()))
    }

    /// Posts events; checks that they were logged at the next positions.
    fn post(&self, body: &str, count: usize, first: u64) {
        let (status, answer) = self.request("POST", "/events", body);
        assert_eq!(status, 200, "POST /events: {answer}\nservice log:\n{}", self.log_text());
        let answer: Value = serde_json::from_str(&answer).expect("JSON");
        assert_eq!((answer["count"].as_u64(), answer["first"].as_u64()), (Some(count as u64), Some(first)), "{answer}");
    }

    fn status(&self) -> Value {
        let (status, body) = self.request("GET", "/status", "");
        assert_eq!(status, 200, "GET /status: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Polls `/status` until `done` holds for it.
    fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let status = self.status();
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {what} after 60 s; status: {status}\nservice log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Events `from..to`: keys from a small set, so that counts grow.
fn events(from: usize, to: usize) -> Vec<(String, String)> {
    (from..to).map(|i| (format!("sensor-{}", (i * 7 + i / 3) % 11), format!("reading-{i}"))).collect()
}

fn json_array(events: &[(String, String)]) -> String {
    let items: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, (key, value))| serde_json::json!({ "key": key, "value": value, "timestamp": i }))
        .collect();
    Value::Array(items).to_string()
}

fn ndjson(events: &[(String, String)]) -> String {
    events.iter().map(|(key, value)| format!("{}\n", serde_json::json!({ "key": key, "value": value }))).collect()
}

/// The committed output's lines, sorted (hidden files are not committed).
fn committed_lines(out: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(out).unwrap_or_else(|e| panic!("cannot list {}: {e}", out.display())) {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        lines.extend(read(&path).lines().map(str::to_owned));
    }
    lines.sort();
    lines
}

/// The counter's exact output for `events`: per key, counts 1..=n.
fn expected_lines(events: &[(String, String)]) -> Vec<String> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut lines: Vec<String> = events
        .iter()
        .map(|(key, _)| {
            let count = counts.entry(key).or_default();
            *count += 1;
            format!("{key}\t{count}")
        })
        .collect();
    lines.sort();
    lines
}

/// The position `resumed at position N` in a service log names.
fn resumed_at(log: &str) -> u64 {
    assert!(log.contains("restoring from checkpoint"), "the service did not restore a checkpoint:\n{log}");
    log.split("resumed at position ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the service did not say where it resumed:\n{log}"))
}

/// Waits for the service to exit after `POST /shutdown`; asserts success
/// and returns its log.
fn shut_down(mut service: Service) -> String {
    let (status, body) = service.request("POST", "/shutdown", "");
    assert_eq!(status, 202, "POST /shutdown: {body}");
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = service.child.try_wait().expect("wait for edge-service") {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no exit 60 s after /shutdown:\n{}", service.log_text());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "edge-service exited with {exit}:\n{}", service.log_text());
    service.log_text()
}

/// Starts moto with a bucket; the service's flags for it and a temporary
/// directory (`data/`, `out/`).
fn setup(bucket: &str, job_id: &str, retention: &str) -> (Moto, Vec<String>, tempfile::TempDir) {
    let moto = Moto::start();
    moto.create_bucket(bucket);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let args = vec![
        "--listen=127.0.0.1:0".to_owned(),
        format!("--data-dir={}", dir.path().join("data").display()),
        format!("--output={}", dir.path().join("out").display()),
        format!("--checkpoints=s3://{bucket}/checkpoints"),
        "--checkpoint-interval-ms=200".to_owned(),
        format!("--retention={retention}"),
        format!("--component={}", counter_component().display()),
        format!("--job-id={job_id}"),
    ];
    (moto, args, dir)
}

#[test]
fn events_survive_kill_9_and_a_restart_exactly_once_and_shutdown_applies_retention() {
    let (bucket, job_id) = ("edge", "edge-test");
    let (moto, args, dir) = setup(bucket, job_id, "delete-on-cancellation");
    let env = moto.env();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    let all = events(0, 1100);

    // First run: two requests, then a checkpoint that covers them.
    let first = Service::start(&args, &env);
    first.post(&json_array(&all[..300]), 300, 1);
    first.post(&ndjson(&all[300..600]), 300, 301);
    let status = first.wait_for("emitted event 600", |s| s["ingest"]["emitted"] == 600);
    let completed = status["checkpoints"]["completed"].as_u64().unwrap_or_default();
    // Two more completions: the second was surely triggered after event 600.
    first.wait_for("two more checkpoints", |s| s["checkpoints"]["completed"].as_u64() >= Some(completed + 2));
    let keys = moto.keys(bucket, "checkpoints/");
    assert!(
        keys.iter().any(|key| key.starts_with(&format!("checkpoints/{job_id}/chk-")) && key.ends_with("/_metadata")),
        "no checkpoint in the bucket: {keys:?}"
    );
    // More events, acknowledged, then a crash: they are only in the log.
    first.post(&ndjson(&all[600..800]), 200, 601);
    drop(first); // kill -9

    // Second run: resumes from S3 and replays the log after the checkpoint.
    let second = Service::start(&args, &env);
    second.wait_for("replay up to 800", |s| s["ingest"]["emitted"] == 800);
    let resumed = resumed_at(&second.log_text());
    eprintln!("resumed at position {resumed}: {} events replayed from the log", 800 - resumed);
    assert!(resumed >= 600, "resumed at {resumed}, before the checkpoint covering 600:\n{}", second.log_text());
    second.post(&json_array(&all[800..950]), 150, 801);
    second.post(&ndjson(&all[950..1100]), 150, 951);

    // The custom sink's table, served while the job runs, and on disk
    // after the final checkpoint, holding every key's last count.
    let (status, body) = second.request("GET", "/counts", "");
    let served: Value = serde_json::from_str(&body).expect("GET /counts is JSON");
    assert!(status == 200 && served["checkpoint"].as_u64().is_some_and(|c| c > 0), "GET /counts: {status} {body}");
    let log = shut_down(second);
    let table: Value = serde_json::from_slice(&std::fs::read(data.join("table/table.json")).expect("table.json"))
        .expect("table.json is JSON");
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for line in expected_lines(&all) {
        let (key, count) = line.split_once('\t').expect("key<TAB>count");
        let newer = last.get(key).is_none_or(|c| c.parse::<u64>().ok() < count.parse::<u64>().ok());
        if newer {
            last.insert(key.to_owned(), count.to_owned());
        }
    }
    assert_eq!(table["values"], serde_json::to_value(&last).expect("json"), "the table sink's committed table");
    let got = committed_lines(&out);
    let want = expected_lines(&all);
    assert_eq!(got.len(), want.len(), "committed {} lines for {} events:\n{log}", got.len(), want.len());
    assert!(got == want, "the committed output is not the exact running counts:\n{log}");
    let left = moto.keys(bucket, "checkpoints/");
    assert!(left.is_empty(), "delete-on-cancellation left objects in the bucket: {left:?}");
    // The job is over: its input is archived, a new log goes on after it.
    assert!(data.join("ingest-1-1100.log").exists(), "the ingest log was not archived");
}

/// With `retain-on-cancellation` a clean shutdown keeps the checkpoints and
/// the log: the next start resumes where the first stopped (nothing to
/// replay, the final checkpoint held every event) and counts go on.
#[test]
fn retained_checkpoints_let_the_next_start_continue_the_counts() {
    let (bucket, job_id) = ("edge-retained", "edge-retained");
    let (moto, args, dir) = setup(bucket, job_id, "retain-on-cancellation");
    let env = moto.env();
    let all = events(0, 300);

    let first = Service::start(&args, &env);
    first.post(&ndjson(&all[..200]), 200, 1);
    shut_down(first);
    let keys = moto.keys(bucket, "checkpoints/");
    assert!(keys.iter().any(|key| key.ends_with("/_metadata")), "retain-on-cancellation kept nothing: {keys:?}");
    assert!(!keys.iter().any(|key| key.ends_with("/_lease")), "the lease outlived the job: {keys:?}");

    let second = Service::start(&args, &env);
    assert_eq!(resumed_at(&second.log_text()), 200);
    second.post(&json_array(&all[200..]), 100, 201);
    shut_down(second);
    assert!(committed_lines(&dir.path().join("out")) == expected_lines(&all), "the counts did not go on exactly");
    assert!(!dir.path().join("data/ingest-1-300.log").exists(), "a retained job's log was archived");
}

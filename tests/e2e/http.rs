//! The REST API, the dashboard and the metrics of `weir run --http` and
//! `weir_host::http`: the server is checked against its OpenAPI document
//! (`host/openapi.json`: every documented operation answers with a
//! documented status and a body that has the documented shape), the
//! dashboard is loaded in headless Chromium, and the library's registry is
//! served for an embedded job. The client and the schema check are in
//! `http_support.rs`; the CLI's own output is tested in `cli_output.rs`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_host::{
    CheckpointConfig, Engine, GeneratorSpec, JobSpec, JobStatus, OperatorSpec, SinkSpec, SourceSpec, http,
};

use crate::checkpoint_support::*;
use crate::http_support::*;
use crate::support::*;

/// The OpenAPI document the server must follow.
fn openapi() -> Value {
    serde_json::from_str(http::OPENAPI_JSON).expect("host/openapi.json is JSON")
}

// ---- weir run --http ---------------------------------------------------------

/// `weir run --http ADDR ...` with its stderr collected in the background.
struct Served {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// On `127.0.0.1:0`.
    fn start(job: &CheckpointedJob, extra: &[&str]) -> Served {
        Served::start_on(job, "127.0.0.1:0", extra)
    }

    fn start_on(job: &CheckpointedJob, listen: &str, extra: &[&str]) -> Served {
        let mut args = vec!["--http", listen];
        args.extend_from_slice(extra);
        let mut child = job.spawn(&args);
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let collected = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = collected.lock().unwrap_or_else(|p| p.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        });
        let started = Instant::now();
        let addr = loop {
            let text = stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(addr) = served_address(&text) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let _ = reader.join();
                panic!("weir ended ({status}) before serving:\n{}", stderr.lock().unwrap_or_else(|p| p.into_inner()));
            }
            assert!(started.elapsed() < Duration::from_secs(60), "weir printed no address in 60 s:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Served { child, addr, stderr, reader: Some(reader) }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until the job has a completed checkpoint; returns its id.
    fn wait_for_completed_checkpoint(&mut self, job_id: &str) -> u64 {
        let started = Instant::now();
        loop {
            if let Ok(response) = request(self.addr, "GET", &format!("/jobs/{job_id}/checkpoints"))
                && response.status == 200
                && let Some(id) = response.json()["latest"]["completed"]["id"].as_u64()
            {
                return id;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("weir ended ({status}) before a checkpoint completed:\n{}", self.stderr());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no completed checkpoint in 60 s:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (cancels the job), then [`Served::wait`].
    fn terminate(self) -> (bool, String) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "cannot send SIGTERM");
        self.wait()
    }

    /// Waits for weir to exit; returns whether it succeeded, and its stderr.
    fn wait(mut self) -> (bool, String) {
        let started = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("weir did not exit within 60 s:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status.success(), self.stderr())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `http://HOST:PORT/` weir logs once it serves (`0.0.0.0` is
/// reached on loopback).
fn served_address(stderr: &str) -> Option<SocketAddr> {
    let start = stderr.find("metrics on http://")? + "metrics on http://".len();
    let rest = &stderr[start..];
    let mut addr: SocketAddr = rest[..rest.find('/')?].parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Some(addr)
}

/// A checkpointed word count that runs for about a minute unless cancelled.
fn long_job(interval_ms: u64) -> CheckpointedJob {
    CheckpointedJob::new(&Shape { lines: 120_000, rate: 2000, interval_ms, ..Shape::default() })
}

#[test]
fn rest_api_and_metrics_follow_the_openapi_document() {
    let spec = openapi();
    let job = long_job(200);
    let mut served = Served::start(&job, &[]);
    let addr = served.addr;
    let id = job.job_id.clone();
    let completed = served.wait_for_completed_checkpoint(&id);

    // Every documented operation, with the job's id and a completed
    // checkpoint; the two that change the job last (cancel at the very end).
    let mut operations: Vec<(String, String)> = Vec::new();
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item[method].is_object() {
                operations.push((template.clone(), method.to_owned()));
            }
        }
    }
    operations.sort_by_key(|(template, method)| (method == "post", template.ends_with("/cancel"), template.clone()));
    assert!(operations.len() >= 10, "the document lists too few operations: {operations:?}");
    let mut answered = BTreeSet::new();
    for (template, method) in &operations {
        let path = template.replace("{id}", &id).replace("{n}", &completed.to_string());
        let response = request(addr, &method.to_uppercase(), &path).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!((200..300).contains(&response.status), "{method} {path}: {} {}", response.status, response.body);
        let body = check_response(&spec, template, method, &response);
        match (method.as_str(), template.as_str()) {
            ("get", "/jobs") => {
                assert_eq!(body["jobs"], serde_json::json!([{"id": id, "name": "wordcount", "status": "RUNNING"}]));
            }
            ("get", "/jobs/{id}") => {
                assert_eq!(body["status"], "RUNNING");
                let vertices = body["vertices"].as_array().expect("vertices");
                let shape: Vec<(&str, u64, &str)> = vertices
                    .iter()
                    .map(|v| {
                        (
                            v["name"].as_str().unwrap_or_default(),
                            v["parallelism"].as_u64().unwrap_or_default(),
                            v["input"].as_str().unwrap_or_default(),
                        )
                    })
                    .collect();
                assert_eq!(shape, [("tokenizer", 2, "rebalance"), ("counter", 2, "key_by")]);
                assert!(vertices.iter().all(|v| v["events_in"].as_u64() > Some(0)), "{body:#}");
                assert!(body["source"]["rate"].as_f64() > Some(0.0), "{body:#}");
                assert!(body["checkpoints"]["completed"].as_u64() >= Some(1), "{body:#}");
            }
            ("get", "/jobs/{id}/checkpoints") => {
                assert!(body["counts"]["completed"].as_u64() >= Some(1), "{body:#}");
                assert!(body["summary"]["end_to_end_us"]["max"].as_u64() > Some(0), "{body:#}");
                let history = body["history"].as_array().expect("history");
                assert!(history.iter().any(|c| c["id"] == completed && c["status"] == "COMPLETED"), "{body:#}");
                let ids: Vec<u64> = history.iter().filter_map(|c| c["id"].as_u64()).collect();
                assert!(ids.windows(2).all(|w| w[0] > w[1]), "history is not newest first: {ids:?}");
            }
            ("get", "/jobs/{id}/checkpoints/{n}") => {
                assert_eq!(body["id"], completed);
                assert_eq!(body["status"], "COMPLETED");
                let operators: Vec<(&str, usize)> = body["operators"]
                    .as_array()
                    .expect("operators")
                    .iter()
                    .map(|o| (o["name"].as_str().unwrap_or_default(), o["subtasks"].as_array().map_or(0, Vec::len)))
                    .collect();
                assert!(operators.starts_with(&[("tokenizer", 2), ("counter", 2)]), "{operators:?}");
            }
            ("post", "/jobs/{id}/checkpoints") => {
                assert_eq!(response.status, 201);
                let n = body["id"].as_u64().expect("id");
                assert!(n > completed, "a new checkpoint: {n}");
                assert_eq!(response.header("location"), Some(format!("/jobs/{id}/checkpoints/{n}").as_str()));
                let details = get(addr, &format!("/jobs/{id}/checkpoints/{n}"));
                let details = check_response(&spec, "/jobs/{id}/checkpoints/{n}", "get", &details);
                assert_eq!(details["status"], "COMPLETED");
            }
            ("post", "/jobs/{id}/cancel") => {
                assert_eq!(response.status, 202);
                assert_eq!(body["status"], "CANCELLING");
            }
            ("get", "/metrics") => check_metrics(&response.body, &id),
            // The script is inlined (a page opened as `/?token=` could
            // not fetch it).
            ("get", "/") => assert!(response.body.contains("setInterval(refresh"), "{}", response.body),
            ("get", "/openapi.json") => assert_eq!(body, spec),
            _ => {}
        }
        answered.insert((template.clone(), method.clone()));
        // Errors are documented and JSON too (asked while the job runs).
        if template == "/metrics" {
            check_errors(&spec, addr, &id);
        }
    }
    assert_eq!(answered.len(), operations.len());

    // Cancelled through the API: weir exits 0 and stops serving.
    let (success, stderr) = served.wait();
    assert!(success, "weir failed after the API cancelled it:\n{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(request(addr, "GET", "/jobs").is_err(), "the server still answers after the job ended");
}

/// Error answers: documented status, `{"error": ...}` body.
fn check_errors(spec: &Value, addr: SocketAddr, id: &str) {
    let cases = [
        ("get", "/jobs/{id}", "/jobs/no-such-job".to_owned(), 404),
        ("get", "/jobs/{id}/checkpoints", "/jobs/no-such-job/checkpoints".to_owned(), 404),
        ("get", "/jobs/{id}/checkpoints/{n}", format!("/jobs/{id}/checkpoints/987654321"), 404),
        ("get", "/jobs/{id}/checkpoints/{n}", format!("/jobs/{id}/checkpoints/latest"), 400),
        ("post", "/jobs/{id}/checkpoints", "/jobs/no-such-job/checkpoints".to_owned(), 404),
        ("post", "/jobs/{id}/cancel", "/jobs/no-such-job/cancel".to_owned(), 404),
    ];
    for (method, template, path, status) in cases {
        let response = request(addr, &method.to_uppercase(), &path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(response.status, status, "{method} {path}: {}", response.body);
        let body = check_response(spec, template, method, &response);
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
    // What another web site's page would send from a browser: refused.
    for (name, value) in [("Sec-Fetch-Site", "cross-site"), ("Origin", "null")] {
        for (template, suffix) in [("/jobs/{id}/cancel", "/cancel"), ("/jobs/{id}/checkpoints", "/checkpoints")] {
            let path = format!("/jobs/{id}{suffix}");
            let response =
                request_with(addr, "POST", &path, &[(name, value)]).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(response.status, 403, "POST {path} with {name}: {value}: {}", response.body);
            check_response(spec, template, "post", &response);
        }
    }
    assert_eq!(get(addr, &format!("/jobs/{id}")).json()["status"], "RUNNING");

    // Undocumented paths and methods: 404 and 405 with the same body.
    for (method, path, status) in [("GET", "/nowhere", 404), ("DELETE", "/jobs", 405), ("GET", "/jobs/x/y/z/w", 404)] {
        let response = request(addr, method, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(response.status, status, "{method} {path}: {}", response.body);
        let mut errors = Vec::new();
        check_schema(
            spec,
            &serde_json::json!({"$ref": "#/components/schemas/Error"}),
            &response.json(),
            "body",
            &mut errors,
        );
        assert!(errors.is_empty(), "{method} {path}: {errors:?}");
    }
}

/// The Prometheus text: every line parses, every sample's family is
/// declared once, the names are `weir_*`, and the figures of a running
/// checkpointed word count are there.
fn check_metrics(text: &str, id: &str) {
    let mut declared = BTreeSet::new();
    let mut samples: Vec<Sample> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let name = words.next().expect("a name").to_owned();
            let kind = words.next().expect("a type");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            assert!(declared.insert(name.clone()), "family {name} declared twice");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        samples.push(parse_sample(line));
    }
    for (name, _, _) in &samples {
        assert!(name.starts_with("weir_"), "{name}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|base| declared.contains(*base)))
            .unwrap_or(name);
        assert!(declared.contains(family), "{name} has no # TYPE line");
    }
    let value = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in\n{text}"))
    };
    assert!(value("weir_operator_events_in_total", &[("job", id), ("operator", "tokenizer")]) > 0.0);
    assert!(value("weir_operator_events_out_total", &[("job", id), ("operator", "counter")]) > 0.0);
    assert_eq!(value("weir_operator_parallelism", &[("job", id), ("operator", "counter")]), 2.0);
    assert!(value("weir_checkpoints_total", &[("job", id), ("status", "completed")]) >= 1.0);
    assert!(value("weir_checkpoint_last_duration_seconds", &[("job", id)]) > 0.0);
    assert!(value("weir_checkpoint_last_state_bytes", &[("job", id)]) > 0.0);
    assert!(value("weir_checkpoint_last_sync_seconds", &[("job", id), ("operator", "counter")]) >= 0.0);
    assert!(value("weir_checkpoint_duration_seconds_count", &[("job", id)]) >= 1.0);
    assert!(value("weir_checkpoint_duration_seconds_bucket", &[("job", id), ("le", "+Inf")]) >= 1.0);
    assert!(value("weir_checkpoint_size_bytes_sum", &[("job", id)]) > 0.0);
    assert_eq!(value("weir_job_restarts_total", &[("job", id)]), 0.0);
    assert_eq!(value("weir_job_running", &[("job", id)]), 1.0);
    assert_eq!(value("weir_job_info", &[("job", id), ("name", "wordcount"), ("status", "RUNNING")]), 1.0);
}

/// A Prometheus sample: name, labels (unescaped), value.
type Sample = (String, Vec<(String, String)>, f64);

/// `name{a="x",b="y\"z"} 1.5` → (name, labels unescaped, value).
fn parse_sample(line: &str) -> Sample {
    let (name, mut rest) = match line.find(['{', ' ']) {
        Some(i) => (line[..i].to_owned(), &line[i..]),
        None => panic!("no value: {line}"),
    };
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            rest = rest.strip_prefix(',').unwrap_or(rest);
            let eq = rest.find("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
            let label = rest[..eq].to_owned();
            assert!(label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break eq + 2 + i + 1,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        other => panic!("bad escape {other:?} in {line}"),
                    },
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value in {line}"),
                }
            };
            labels.push((label, value));
            rest = &rest[end..];
        }
    }
    let value = rest.trim();
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?} in {line}")),
    };
    (name, labels, value)
}

// ---- a token for addresses other than loopback ---------------------------------

/// The token of the tests (with the newline an editor leaves, which is no
/// part of it).
const TOKEN: &str = "s3cret-token-0123456789";

/// `Authorization: Bearer TOKEN`.
fn bearer(token: &str) -> [(&'static str, String); 1] {
    [("Authorization", format!("Bearer {token}"))]
}

fn request_as(addr: SocketAddr, method: &str, path: &str, token: &str) -> Response {
    let [(name, value)] = bearer(token);
    request_with(addr, method, path, &[(name, &value)]).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A refused request: 401, the documented body, a Bearer challenge.
fn assert_unauthorized(response: &Response, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.body);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer realm=\"weir\""), "{what}: WWW-Authenticate {challenge:?}");
    assert!(response.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {}", response.body);
}

#[test]
fn without_a_token_only_loopback_is_served() {
    let job = long_job(500);
    // Refused before the job starts, naming the address and the way out.
    let output = job.run(&["--http", "0.0.0.0:0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "weir served 0.0.0.0 without a token:\n{stderr}");
    for part in ["0.0.0.0:0", "without a token", "--http-token-file"] {
        assert!(stderr.contains(part), "the refusal lacks {part:?}:\n{stderr}");
    }
    assert!(!stderr.contains("running;"), "the job started:\n{stderr}");

    // An empty token file is no token; the error names the file.
    let empty = job.job.write("empty-token", " \n");
    let output = job.run(&["--http", "0.0.0.0:0", "--http-token-file", &empty.display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "weir took an empty token:\n{stderr}");
    assert!(stderr.contains(&empty.display().to_string()) && stderr.contains("empty"), "{stderr}");
    // Opting /metrics in means nothing without a token: refused.
    let output = job.run(&["--http", "127.0.0.1:0", "--http-metrics-need-token"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("--http-token-file"), "{stderr}");

    // Embedders: the same rule.
    let refused = http::serve("0.0.0.0:0", http::Jobs::new()).map(|s| s.local_addr());
    let message = refused.expect_err("serve on 0.0.0.0 without a token").to_string();
    assert!(message.contains("0.0.0.0:0") && message.contains("without a token"), "{message}");
    let access = http::Access::with_token(TOKEN).expect("a token");
    let server = http::serve_with("0.0.0.0:0", http::Jobs::new(), access).expect("serve with a token");
    let addr = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, server.local_addr().port()));
    assert_unauthorized(&get(addr, "/jobs"), "GET /jobs without the token");
    assert_eq!(request_as(addr, "GET", "/jobs", TOKEN).json(), serde_json::json!({"jobs": []}));
    server.shutdown();
}

#[test]
fn a_token_guards_every_endpoint_but_metrics() {
    let spec = openapi();
    let job = long_job(200);
    let token_file = job.job.write("http-token", format!("{TOKEN}\n"));
    let token_file = token_file.display().to_string();
    let mut served = Served::start_on(&job, "0.0.0.0:0", &["--http-token-file", &token_file]);
    let addr = served.addr;
    let id = job.job_id.clone();
    assert!(served.stderr().contains("token required"), "{}", served.stderr());
    assert!(!served.stderr().contains(TOKEN), "the token is in the log:\n{}", served.stderr());

    // Without the token, and with a wrong one: every documented operation
    // answers the documented 401, /metrics alone answers.
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post"] {
            if !item[method].is_object() {
                continue;
            }
            let path = template.replace("{id}", &id).replace("{n}", "1");
            let what = format!("{method} {path}");
            let without = request(addr, &method.to_uppercase(), &path).unwrap_or_else(|e| panic!("{what}: {e}"));
            let wrong = request_as(addr, &method.to_uppercase(), &path, "s3cret-token-0123456788");
            if template == "/metrics" {
                assert_eq!(without.status, 200, "{what} without the token: {}", without.body);
                assert!(without.body.contains("weir_job_running"), "{}", without.body);
                continue;
            }
            assert_unauthorized(&without, &format!("{what} without the token"));
            check_response(&spec, template, method, &without);
            assert_unauthorized(&wrong, &format!("{what} with a wrong token"));
            check_response(&spec, template, method, &wrong);
            let challenge = wrong.header("www-authenticate").unwrap_or_default();
            assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
        }
    }
    // Nothing is learnt without it, not even which paths exist; a token of
    // another length, another scheme, a token in the query of the API: no.
    assert_unauthorized(&get(addr, "/nowhere"), "GET /nowhere");
    assert_unauthorized(&request_as(addr, "GET", "/jobs", "s3cret"), "a shorter token");
    assert_unauthorized(&request_as(addr, "GET", "/jobs", &format!("{TOKEN}x")), "a longer token");
    let basic = request_with(addr, "GET", "/jobs", &[("Authorization", &format!("Basic {TOKEN}"))]).expect("GET");
    assert_unauthorized(&basic, "Basic instead of Bearer");
    assert_unauthorized(&get(addr, &format!("/jobs?token={TOKEN}")), "the token in the API's query");

    // With the token (the scheme in any case): as without one on loopback.
    let listed = request_as(addr, "GET", "/jobs", TOKEN);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = check_response(&spec, "/jobs", "get", &listed);
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
    let lower = request_with(addr, "GET", &format!("/jobs/{id}"), &[("authorization", &format!("bearer {TOKEN}"))]);
    assert_eq!(lower.expect("GET").status, 200);
    // The page also takes it from its address (what a browser opens).
    let page = get(addr, &format!("/?token={TOKEN}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_unauthorized(&get(addr, "/?token=wrong"), "the page with a wrong token");

    // A cancel without the token changes nothing: the job keeps running
    // and counting.
    let events = |addr| request_as(addr, "GET", &format!("/jobs/{id}"), TOKEN).json()["source"]["events"].as_u64();
    let before = events(addr);
    assert_unauthorized(&post(addr, &format!("/jobs/{id}/cancel")), "POST cancel without the token");
    assert_unauthorized(&request_as(addr, "POST", &format!("/jobs/{id}/cancel"), "wrong"), "POST cancel, wrong token");
    std::thread::sleep(Duration::from_millis(800));
    let details = request_as(addr, "GET", &format!("/jobs/{id}"), TOKEN).json();
    assert_eq!(details["status"], "RUNNING", "{details:#}");
    assert!(details["source"]["events"].as_u64() > before, "the job stopped counting: {details:#}");
    assert!(served.child.try_wait().is_ok_and(|status| status.is_none()), "weir ended:\n{}", served.stderr());

    // With the token: cancelled; weir exits as after Ctrl-C.
    let cancelled = request_as(addr, "POST", &format!("/jobs/{id}/cancel"), TOKEN);
    assert_eq!(cancelled.status, 202, "{}", cancelled.body);
    let (success, stderr) = served.wait();
    assert!(success, "weir failed after the API cancelled it:\n{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
}

#[test]
fn metrics_need_the_token_when_asked() {
    let job = long_job(500);
    let token_file = job.job.write("http-token", TOKEN);
    let token_file = token_file.display().to_string();
    // On loopback too, a token given is a token required.
    let served = Served::start(&job, &["--http-token-file", &token_file, "--http-metrics-need-token"]);
    let addr = served.addr;
    assert_unauthorized(&get(addr, "/metrics"), "GET /metrics without the token");
    check_response(&openapi(), "/metrics", "get", &get(addr, "/metrics"));
    assert_unauthorized(&get(addr, "/jobs"), "GET /jobs without the token");
    let metrics = request_as(addr, "GET", "/metrics", TOKEN);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(metrics.body.contains(&format!("weir_job_running{{job=\"{}\"}} 1", job.job_id)), "{}", metrics.body);
    let (success, stderr) = served.terminate();
    assert!(success, "weir failed after SIGTERM:\n{stderr}");
}

// ---- the dashboard in a real browser -----------------------------------------

/// Debian's chromium: `WEIR_CHROMIUM` (set by `cargo xtask test`, which
/// installs it) or `chromium` on PATH. Without it the test fails, saying
/// why; only outside CI, and only when `WEIR_SKIP_BROWSER_TESTS=1`, does it
/// skip instead.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("WEIR_CHROMIUM").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
            .find(|candidate| candidate.is_file())
    });
    if let Some(path) = found {
        assert!(path.is_file(), "WEIR_CHROMIUM={} does not exist", path.display());
        return Some(path);
    }
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    if !in_ci && std::env::var("WEIR_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: no chromium, and WEIR_SKIP_BROWSER_TESTS=1");
        return None;
    }
    let why = std::env::var("WEIR_CHROMIUM_SETUP_ERROR")
        .map(|e| format!("`cargo xtask test` could not install it: {e}"))
        .unwrap_or_else(|_| "it is not on PATH and WEIR_CHROMIUM is not set".into());
    panic!(
        "the dashboard test needs Debian's chromium, and {why}. Run the tests with `cargo xtask test` (which \
         installs it with apt-get), or `apt-get install chromium`, or set WEIR_CHROMIUM; outside CI, \
         WEIR_SKIP_BROWSER_TESTS=1 skips this test"
    );
}

/// Where test runs keep artifacts: `<target dir>/test-artifacts`.
fn artifacts_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_weir"));
    let target = binary.parent().and_then(Path::parent).expect("the binary is in <target>/<profile>/");
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Runs headless chromium on `url` with `args`; returns its stdout. Kills it
/// after 90 s.
fn run_chromium(chromium: &Path, profile: &Path, args: &[String], url: &str) -> String {
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .args(["--hide-scrollbars", "--window-size=1280,900", "--virtual-time-budget=5000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish in 90 s:\n{}", err.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    assert!(status.success(), "chromium {args:?} failed ({status}):\n{stderr}");
    stdout
}

#[test]
fn the_dashboard_shows_a_completed_checkpoint_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let job = long_job(500);
    let mut served = Served::start(&job, &[]);
    let completed = served.wait_for_completed_checkpoint(&job.job_id);
    let url = format!("http://{}/", served.addr);
    let profile = tempfile::tempdir().expect("a chromium profile directory");

    let dom = run_chromium(&chromium, profile.path(), &["--dump-dom".into()], &url);
    // The figures and the history table come from the API: the page ran
    // its script and drew the job's state.
    let latest = attribute_after(&dom, "id=\"latest-completed\"", "data-checkpoint-id")
        .unwrap_or_else(|| panic!("no latest completed checkpoint on the page:\n{dom}"));
    assert!(latest >= completed, "the page shows checkpoint {latest}, the API had {completed} already");
    assert!(
        dom.contains(&format!("data-checkpoint-id=\"{latest}\" data-status=\"COMPLETED\"")),
        "the history table lacks checkpoint {latest}:\n{dom}"
    );
    for text in ["wordcount", "tokenizer  ×2", "counter  ×2", "key_by", "checkpoint id", "RUNNING"] {
        assert!(dom.contains(text), "the page lacks {text:?}:\n{dom}");
    }
    assert!(!offline_banner(&dom).contains("Cannot reach the server ("), "the page could not read the API:\n{dom}");

    let screenshot = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(&chromium, profile.path(), &[format!("--screenshot={}", screenshot.display())], &url);
    let png = std::fs::read(&screenshot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", screenshot.display());
    let (width, height) = (
        u32::from_be_bytes(png[16..20].try_into().expect("4 bytes")),
        u32::from_be_bytes(png[20..24].try_into().expect("4 bytes")),
    );
    assert_eq!((width, height), (1280, 900), "screenshot size");
    // A blank page compresses to a few KB; the dashboard has text and charts.
    assert!(png.len() > 20_000, "the screenshot is suspiciously small ({} bytes)", png.len());
    eprintln!("dashboard screenshot: {}", screenshot.display());

    let (success, stderr) = served.terminate();
    assert!(success, "weir failed after SIGTERM:\n{stderr}");
}

#[test]
fn the_dashboard_takes_its_token_from_its_address_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let job = long_job(500);
    // Characters a URL must escape: the server and the page's script have
    // to decode them alike.
    let token = "s3cret+token/=%";
    let token_file = job.job.write("http-token", format!("{token}\n"));
    let token_file = token_file.display().to_string();
    let served = Served::start_on(&job, "0.0.0.0:0", &["--http-token-file", &token_file]);
    let profile = tempfile::tempdir().expect("a chromium profile directory");

    // With the token in its address, the page reads the API (which takes
    // the token only as a header): it draws the job.
    let url = format!("http://{}/?token=s3cret%2Btoken%2F%3D%25", served.addr);
    let dom = run_chromium(&chromium, profile.path(), &["--dump-dom".into()], &url);
    for text in ["wordcount", "tokenizer  ×2", "RUNNING"] {
        assert!(dom.contains(text), "the page lacks {text:?}:\n{dom}");
    }
    assert!(!offline_banner(&dom).contains("Cannot reach the server ("), "the page could not read the API:\n{dom}");

    // Without it there is no page, only the refusal.
    let url = format!("http://{}/", served.addr);
    let dom = run_chromium(&chromium, profile.path(), &["--dump-dom".into()], &url);
    assert!(dom.contains("needs a token") && !dom.contains("Checkpoint now"), "{dom}");

    let (success, stderr) = served.terminate();
    assert!(success, "weir failed after SIGTERM:\n{stderr}");
}

/// The element the page shows when it cannot read the API (looked up, not
/// searched for: the inlined script holds the same words).
fn offline_banner(dom: &str) -> &str {
    let start = dom.find("<div id=\"offline\"").unwrap_or_else(|| panic!("no offline banner in\n{dom}"));
    let end = dom[start..].find("</div>").map_or(dom.len(), |end| start + end);
    &dom[start..end]
}

/// The numeric value of `attribute` in the element whose tag contains
/// `marker`.
fn attribute_after(dom: &str, marker: &str, attribute: &str) -> Option<u64> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let value = tag.split(&format!("{attribute}=\"")).nth(1)?;
    value[..value.find('"')?].parse().ok()
}

// ---- the library API -----------------------------------------------------------

#[test]
fn embedders_serve_a_registry_of_jobs() {
    // A quote and a backslash in the name: escaped in the metrics' labels.
    let name = "gen \"quoted\" \\ name";
    let mut spec = JobSpec::new(
        name,
        SourceSpec::Generator(GeneratorSpec {
            count: 10_000_000,
            rate_limit: Some(20_000),
            ..GeneratorSpec::default()
        }),
        SinkSpec::Discard,
    )
    .operator(OperatorSpec::new("counter", guest("counter")).parallelism(2).key_by(true))
    .checkpoint(CheckpointConfig::new("memory://http-embedded", Duration::from_millis(200)));
    spec.id = Some("embedded-1".into());

    let jobs = http::Jobs::new();
    let server = http::serve("127.0.0.1:0", jobs.clone()).expect("serve");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(get(addr, "/jobs").json(), serde_json::json!({"jobs": []}));

    let running = Engine::new().expect("engine").start(spec).expect("start");
    jobs.add(running.observer());
    assert_eq!(jobs.ids(), ["embedded-1"]);
    let listed = get(addr, "/jobs").json();
    assert_eq!(listed["jobs"][0]["name"], name);
    let triggered = post(addr, "/jobs/embedded-1/checkpoints");
    assert_eq!(triggered.status, 201, "{}", triggered.body);
    let n = triggered.json()["id"].as_u64().expect("a checkpoint id");
    assert_eq!(get(addr, &format!("/jobs/embedded-1/checkpoints/{n}")).status, 200);

    let metrics = get(addr, "/metrics").body;
    let info = r#"weir_job_info{job="embedded-1",name="gen \"quoted\" \\ name",status="RUNNING"} 1"#;
    assert!(metrics.lines().any(|l| l == info), "no {info} in\n{metrics}");
    let parsed = metrics.lines().find(|l| l.starts_with("weir_job_info")).map(parse_sample).expect("job info");
    assert!(parsed.1.contains(&("name".into(), name.into())), "{parsed:?}");

    // Removed: gone from the API; added again: back.
    assert!(jobs.remove("embedded-1"));
    assert_eq!(get(addr, "/jobs/embedded-1").status, 404);
    assert!(!get(addr, "/metrics").body.contains("embedded-1"));
    jobs.add(running.observer());
    assert_eq!(get(addr, "/jobs/embedded-1").json()["vertices"][0]["parallelism"], 2);

    // Cancelled through the API: the API says so once the job has ended.
    assert_eq!(post(addr, "/jobs/embedded-1/cancel").status, 202);
    let result = running.wait();
    assert_eq!(result.as_ref().map(|r| r.status).ok(), Some(JobStatus::Cancelled));
    let details = get(addr, "/jobs/embedded-1").json();
    assert_eq!(details["status"], "CANCELED");
    assert!(details["source"]["events"].as_u64() > Some(0), "{details:#}");
    let after = post(addr, "/jobs/embedded-1/checkpoints");
    assert_eq!(after.status, 409, "{}", after.body);
    assert_eq!(post(addr, "/jobs/embedded-1/cancel").status, 409);

    server.shutdown();
    assert!(request(addr, "GET", "/jobs").is_err(), "the server still answers after shutdown");
}

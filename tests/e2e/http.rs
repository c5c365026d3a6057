//! The REST API, the dashboard and the metrics of `weir run --http` and
//! `weir_host::http`: the server is checked against its OpenAPI document
//! (`host/openapi.json`: every documented operation answers with a
//! documented status and a body that has the documented shape), the
//! dashboard is loaded in headless Chromium, and the library's registry is
//! served for an embedded job. The token is tested in `http_auth.rs`, the
//! dashboard in `dashboard.rs`; the client and the schema check are in
//! `http_support.rs`; the CLI's own output is tested in `cli_output.rs`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use weir_host::{
    CheckpointConfig, Engine, GeneratorSpec, JobSpec, JobStatus, OperatorSpec, SinkSpec, SourceSpec, http,
};

use crate::http_support::*;
use crate::support::*;

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

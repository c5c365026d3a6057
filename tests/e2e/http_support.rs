//! What the HTTP tests (`http.rs`, `http_auth.rs`, `dashboard.rs`) share:
//! `weir run --http` in the background ([`Served`]), the token helpers, a
//! tiny HTTP/1.1 client and a minimal OpenAPI 3.0 schema check (no
//! dependency for either).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_host::http;

use crate::checkpoint_support::{CheckpointedJob, Shape};

// ---- a tiny HTTP/1.1 client ------------------------------------------------

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One request without a body on a fresh connection.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<Response> {
    request_with(addr, method, path, &[])
}

/// [`request`] with more headers.
pub fn request_with(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {raw:?}"));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
    let status = status.ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    let body = String::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
    Ok(Response { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

pub fn post(addr: SocketAddr, path: &str) -> Response {
    request(addr, "POST", path).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

// ---- a minimal OpenAPI 3.0 schema check -------------------------------------

/// Checks `value` against an OpenAPI schema (type, required, properties,
/// additionalProperties, items, enum, minimum, nullable, allOf, $ref);
/// returns every mismatch.
pub fn check_schema(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.strip_prefix("#/components/schemas/").expect("local schema references only");
        let target = &spec["components"]["schemas"][name];
        assert!(target.is_object(), "{at}: dangling $ref {reference}");
        return check_schema(spec, target, value, at, errors);
    }
    if value.is_null() {
        if schema["nullable"] != true {
            errors.push(format!("{at}: null, but not nullable"));
        }
        return;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check_schema(spec, part, value, at, errors);
    }
    let ok = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_u64() || value.is_i64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => panic!("{at}: unknown schema type {other}"),
    };
    if !ok {
        errors.push(format!("{at}: expected {}, got {value}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64())
        && number < minimum
    {
        errors.push(format!("{at}: {number} < minimum {minimum}"));
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().expect("required names are strings");
            if !object.contains_key(name) {
                errors.push(format!("{at}: missing required field '{name}'"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => check_schema(spec, field_schema, field, &format!("{at}.{name}"), errors),
                None if schema["additionalProperties"].is_object() => {
                    check_schema(spec, &schema["additionalProperties"], field, &format!("{at}.{name}"), errors)
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            check_schema(spec, &schema["items"], item, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Checks an answer against the operation's documented responses: its
/// status must be documented, its content type too, and a JSON body must
/// match the schema. Returns the JSON body (Null for other media types).
pub fn check_response(spec: &Value, template: &str, method: &str, response: &Response) -> Value {
    let operation = &spec["paths"][template][method];
    assert!(operation.is_object(), "{method} {template} is not documented");
    let mut documented = &operation["responses"][response.status.to_string()];
    if let Some(reference) = documented["$ref"].as_str() {
        let name = reference.strip_prefix("#/components/responses/").expect("local response references only");
        documented = &spec["components"]["responses"][name];
        assert!(documented.is_object(), "{method} {template}: dangling $ref {reference}");
    }
    assert!(
        documented.is_object(),
        "{method} {template} answered {}, which is not documented: {}",
        response.status,
        response.body
    );
    let content_type = response.header("content-type").unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let Some(content) = documented["content"][media].as_object() else {
        panic!("{method} {template} {}: content type {content_type:?} is not documented", response.status);
    };
    if media != "application/json" {
        assert!(!response.body.is_empty(), "{method} {template}: empty body");
        return Value::Null;
    }
    let body = response.json();
    let mut errors = Vec::new();
    check_schema(spec, &content["schema"], &body, "body", &mut errors);
    assert!(errors.is_empty(), "{method} {template} {}: {errors:#?}\n{body:#}", response.status);
    body
}

// ---- weir run --http, shared by the HTTP tests ---------------------------------

/// The OpenAPI document the server must follow.
pub fn openapi() -> Value {
    serde_json::from_str(http::OPENAPI_JSON).expect("host/openapi.json is JSON")
}

/// `weir run --http ADDR ...` with its stderr collected in the background.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// On `127.0.0.1:0`.
    pub fn start(job: &CheckpointedJob, extra: &[&str]) -> Served {
        Served::start_on(job, "127.0.0.1:0", extra)
    }

    pub fn start_on(job: &CheckpointedJob, listen: &str, extra: &[&str]) -> Served {
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

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until the job has a completed checkpoint; returns its id.
    pub fn wait_for_completed_checkpoint(&mut self, job_id: &str) -> u64 {
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
    pub fn terminate(self) -> (bool, String) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "cannot send SIGTERM");
        self.wait()
    }

    /// Waits for weir to exit; returns whether it succeeded, and its stderr.
    pub fn wait(mut self) -> (bool, String) {
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
pub fn served_address(stderr: &str) -> Option<SocketAddr> {
    let start = stderr.find("metrics on http://")? + "metrics on http://".len();
    let rest = &stderr[start..];
    let mut addr: SocketAddr = rest[..rest.find('/')?].parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Some(addr)
}

/// A checkpointed word count that runs for about a minute unless cancelled.
pub fn long_job(interval_ms: u64) -> CheckpointedJob {
    CheckpointedJob::new(&Shape { lines: 120_000, rate: 2000, interval_ms, ..Shape::default() })
}

// ---- a token for addresses other than loopback ---------------------------------

/// The token of the tests (with the newline an editor leaves, which is no
/// part of it).
pub const TOKEN: &str = "s3cret-token-0123456789";

/// `Authorization: Bearer TOKEN`.
pub fn bearer(token: &str) -> [(&'static str, String); 1] {
    [("Authorization", format!("Bearer {token}"))]
}

pub fn request_as(addr: SocketAddr, method: &str, path: &str, token: &str) -> Response {
    let [(name, value)] = bearer(token);
    request_with(addr, method, path, &[(name, &value)]).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A refused request: 401, the documented body, a Bearer challenge.
pub fn assert_unauthorized(response: &Response, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.body);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer realm=\"weir\""), "{what}: WWW-Authenticate {challenge:?}");
    assert!(response.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {}", response.body);
}

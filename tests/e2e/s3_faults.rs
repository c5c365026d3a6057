//! "Could not ask" is not "absent", on real S3: moto on loopback behind a
//! small HTTP proxy that answers chosen requests with `503 Slow Down`.
//! `weir checkpoints gc` and `weir run --resume` stop with the path and the
//! cause, and delete or skip nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::checkpoint_support::*;
use crate::s3::Moto;
use crate::support::*;

/// A forwarding proxy in front of an S3 server. Each request is forwarded
/// on a connection of its own (`Connection: close` both ways), unless a
/// rule selects it: then it gets a 503 without reaching the server.
struct FaultProxy {
    port: u16,
    /// (method, path substring) of the requests to refuse.
    rules: Arc<Mutex<Vec<(String, String)>>>,
    /// Requests refused so far.
    refused: Arc<Mutex<u64>>,
}

impl FaultProxy {
    fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let rules: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let refused: Arc<Mutex<u64>> = Arc::default();
        let (thread_rules, thread_refused) = (rules.clone(), refused.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (rules, refused) = (thread_rules.clone(), thread_refused.clone());
                std::thread::spawn(move || {
                    // A broken connection only fails that request.
                    let _ = serve(client, upstream, &rules, &refused);
                });
            }
        });
        FaultProxy { port, rules, refused }
    }

    fn refuse(&self, method: &str, path_contains: &str) {
        self.rules.lock().expect("rules").push((method.into(), path_contains.into()));
    }

    fn clear(&self) {
        self.rules.lock().expect("rules").clear();
    }

    fn refused(&self) -> u64 {
        *self.refused.lock().expect("count")
    }

    /// Moto's `AWS_*` settings, pointed at the proxy, with one retry.
    fn env(&self, moto: &Moto) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> =
            moto.env().into_iter().filter(|(name, _)| name != "AWS_ENDPOINT").collect();
        env.push(("AWS_ENDPOINT".into(), format!("http://127.0.0.1:{}", self.port)));
        env.push(("WEIR_STORAGE_MAX_RETRIES".into(), "1".into()));
        env
    }
}

/// One request: read it, refuse it or forward it, answer, close.
fn serve(
    client: TcpStream,
    upstream: u16,
    rules: &Mutex<Vec<(String, String)>>,
    refused: &Mutex<u64>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let mut client = client;
    let refuse = rules.lock().expect("rules").iter().any(|(m, p)| m == method && path.contains(p.as_str()));
    if refuse {
        *refused.lock().expect("count") += 1;
        let body =
            "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>injected by the test proxy</Message></Error>";
        let body = if method == "HEAD" { "" } else { body };
        write!(
            client,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return client.flush();
    }
    let mut server = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    for line in &head {
        server.write_all(line.as_bytes())?;
    }
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.flush()
}

/// `weir checkpoints ARGS...` with `env`.
fn checkpoints(env: &[(String, String)], args: &[&str]) -> std::process::Output {
    weir().arg("checkpoints").args(args).envs(env.iter().map(|(k, v)| (k, v))).output().expect("run weir checkpoints")
}

/// A word count whose checkpoints are in `bucket` through the proxy,
/// cancelled after two checkpoints (kept: retain-on-cancellation); returns
/// the job and the checkpoint ids in the bucket.
fn job_with_checkpoints(moto: &Moto, proxy: &FaultProxy, bucket: &str) -> (CheckpointedJob, String, Vec<u64>) {
    moto.create_bucket(bucket);
    let env = proxy.env(moto);
    let root = format!("s3://{bucket}/checkpoints");
    let shape = Shape { lines: 100_000, rate: 5000, interval_ms: 100, dir: root.clone(), ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let mut child = job.spawn_with_env(&[], &env);
    let ids = loop {
        let ids = listed(&env, &root);
        if ids.len() >= 2 {
            break ids;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("weir ended ({status}) before two checkpoints");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!ids.is_empty());
    assert_success(&cancel(child));
    job.write_job(&Shape { rate: 1_000_000, ..shape });
    let ids = listed(&env, &root);
    assert_eq!(ids.len(), 2, "num_retained = 2 keeps two checkpoints: {ids:?}");
    (job, root, ids)
}

/// Complete checkpoints that `weir checkpoints list` shows.
fn listed(env: &[(String, String)], root: &str) -> Vec<u64> {
    let list = checkpoints(env, &["list", root]);
    if !list.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .skip(1)
        .filter(|line| line.ends_with("complete"))
        .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

#[test]
fn s3_gc_deletes_nothing_when_a_head_answers_503() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port());
    let (job, root, ids) = job_with_checkpoints(&moto, &proxy, "weir-gc-503");
    let env = proxy.env(&moto);
    let newest = ids[ids.len() - 1];
    let metadata = format!("/{}/chk-{newest}/_metadata", job.job_id);

    proxy.refuse("HEAD", &metadata);
    let output = checkpoints(&env, &["gc", &root]);
    assert_failure(&output, &[&format!("chk-{newest}/_metadata"), "503"]);
    assert!(proxy.refused() >= 1, "the proxy refused nothing");
    proxy.clear();
    assert_eq!(listed(&env, &root), ids, "gc changed the checkpoints although it could not read one");

    // Healed: nothing to collect, both still restore.
    assert_success(&checkpoints(&env, &["gc", &root]));
    assert_eq!(listed(&env, &root), ids);
}

#[test]
fn s3_resume_stops_when_the_newest_metadata_answers_503() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port());
    let (job, root, ids) = job_with_checkpoints(&moto, &proxy, "weir-resume-503");
    let env = proxy.env(&moto);
    let newest = ids[ids.len() - 1];
    let before = job.output();

    proxy.refuse("GET", &format!("/{}/chk-{newest}/_metadata", job.job_id));
    let stderr = assert_failure(&job.run_with_env(&["--resume"], &env), &[&format!("chk-{newest}/_metadata"), "503"]);
    assert!(!stderr.contains("restoring from checkpoint"), "it fell back instead of stopping:\n{stderr}");
    proxy.clear();
    assert_eq!(listed(&env, &root), ids, "a refused resume changed the checkpoints");
    assert_eq!(job.output(), before, "a refused resume changed the output");

    let output = job.run_with_env(&["--resume"], &env);
    assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("restoring from checkpoint {newest} (")));
    job.assert_exact();
}

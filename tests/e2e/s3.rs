//! Checkpoints in `s3://` storage, against moto (a Python S3 server) on
//! loopback: kill -9 and resume through S3, retention after the end, and
//! `weir checkpoints list|inspect` on S3 URLs.
//!
//! `cargo xtask test` installs moto in the target directory and passes the
//! path of `moto_server` in `WEIR_MOTO_SERVER`. Each test starts its own
//! server (moto keeps its state in memory) on a free port.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::checkpoint_support::*;
use crate::support::*;

/// How long moto may take to answer after its start.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// A `moto_server` child process on 127.0.0.1, killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
    /// moto's stdout and stderr, shown when it fails.
    log: tempfile::NamedTempFile,
}

/// The `moto_server` executable: `WEIR_MOTO_SERVER`, which `cargo xtask
/// test` sets. The S3 tests are part of the suite: without it they fail.
fn moto_server() -> PathBuf {
    let Some(path) = std::env::var_os("WEIR_MOTO_SERVER") else {
        panic!(
            "WEIR_MOTO_SERVER is not set: the S3 tests need moto's `moto_server`. Run the tests with \
             `cargo xtask test`, which installs moto and sets it (or set it yourself: \
             `WEIR_MOTO_SERVER=$(cargo xtask moto-server) cargo test ...`)"
        )
    };
    let path = PathBuf::from(path);
    assert!(path.exists(), "WEIR_MOTO_SERVER={} does not exist: run `cargo xtask test`", path.display());
    path
}

impl Moto {
    /// Starts moto and waits until it answers HTTP.
    pub fn start() -> Moto {
        let server = moto_server();
        // The port may be taken between its choice and moto's bind: then
        // moto exits, and another port is tried.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().expect("create moto's log file");
            let child = Command::new(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.reopen().expect("open moto's log"))
                .stderr(log.reopen().expect("open moto's log"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let mut moto = Moto { child, port, log };
            match moto.wait_until_ready() {
                Ok(()) => return moto,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("moto did not start:\n{}", failures.join("\n\n"));
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto_server on port {} ended ({status}):\n{}", self.port, self.log_text()));
            }
            // ListBuckets: any HTTP answer means moto is serving.
            if self.request("GET", "/").is_ok() {
                return Ok(());
            }
            if started.elapsed() > STARTUP_LIMIT {
                return Err(format!(
                    "moto_server on port {} did not answer within {STARTUP_LIMIT:?}:\n{}",
                    self.port,
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP/1.1 request without a body; returns the status code
    /// and the body.
    fn request(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let response = String::from_utf8_lossy(&response);
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not HTTP: {response:?}"));
        let (head, body) = response.split_once("\r\n\r\n").ok_or_else(bad)?;
        let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or_else(bad)?;
        Ok((status, body.to_owned()))
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) =
            self.request("PUT", &format!("/{bucket}")).unwrap_or_else(|e| panic!("PUT /{bucket} to moto: {e}"));
        assert_eq!(status, 200, "PUT /{bucket} to moto answered {status}:\n{body}");
    }

    /// The `AWS_*` settings that point `object_store` at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint().as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
            ("AWS_ACCESS_KEY_ID", "weir-test"),
            ("AWS_SECRET_ACCESS_KEY", "weir-test-secret"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `weir checkpoints ARGS...` with the S3 settings.
fn checkpoints_command(env: &[(String, String)], args: &[&str]) -> Output {
    weir()
        .arg("checkpoints")
        .args(args)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .expect("run weir checkpoints")
}

/// Ids of the complete checkpoints of job `job` under `root`, from the
/// table of `weir checkpoints list`, sorted.
fn listed_complete_checkpoints(env: &[(String, String)], root: &str, job: &str) -> Vec<u64> {
    let list = checkpoints_command(env, &["list", root]);
    // An S3 prefix with no object in it does not exist (yet, or any more).
    if String::from_utf8_lossy(&list.stderr).contains(&format!("{root}: does not exist")) {
        return Vec::new();
    }
    assert_success(&list);
    let table = String::from_utf8_lossy(&list.stdout);
    let mut ids: Vec<u64> = table
        .lines()
        .skip(1)
        .filter(|line| line.contains("complete"))
        .filter_map(|line| {
            let mut columns = line.split_whitespace();
            (columns.next()? == job).then_some(())?;
            columns.next()?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Panics with weir's stderr if it has ended.
fn assert_running(child: &mut Child, what: &str) {
    if let Ok(Some(status)) = child.try_wait() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        panic!("weir ended by itself ({status}) {what}; make the input longer\nstderr:\n{stderr}");
    }
}

/// Waits until `weir checkpoints list` shows a complete checkpoint of the
/// job with an id of at least `min_id`; returns that id.
fn wait_for_listed_checkpoint(env: &[(String, String)], root: &str, job: &str, min_id: u64, child: &mut Child) -> u64 {
    let started = Instant::now();
    loop {
        if let Some(&id) = listed_complete_checkpoints(env, root, job).iter().find(|&&id| id >= min_id) {
            return id;
        }
        assert_running(child, &format!("before checkpoint {min_id} appeared in {root}"));
        assert!(started.elapsed() < Duration::from_secs(30), "no checkpoint {min_id} in {root} after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kill -9 at seeded moments (each after a checkpoint of that run
/// completed), resume from S3, three times; then resume to the end. The
/// committed output equals the failure-free run, and the finished job
/// leaves no checkpoint in the bucket.
#[test]
fn s3_checkpoints_survive_kill_9_and_resume_exactly() {
    let moto = Moto::start();
    let bucket = "weir-test";
    moto.create_bucket(bucket);
    let env = moto.env();
    let root = format!("s3://{bucket}/checkpoints");
    // The input lasts 12 s at this rate: enough for three restores and
    // three kills on a loaded machine (an S3 restore alone can take
    // seconds there); the last run goes at full speed.
    let shape = Shape {
        lines: 96_000,
        rate: 8000,
        interval_ms: 100,
        // Every subtask's state in its own object: restore reads ranges of them.
        inline_threshold_bytes: 0,
        dir: root.clone(),
        ..Shape::default()
    };
    let job = CheckpointedJob::new(&shape);
    let seed = std::env::var("WEIR_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut random = Seeded(seed);

    let mut restored_from = 0;
    for cycle in 0..3 {
        let mut child = job.spawn_with_env(&["--resume"], &env);
        // Ids continue after the restored checkpoint: this run's first is
        // `restored_from + 1`.
        let first = wait_for_listed_checkpoint(&env, &root, &job.job_id, restored_from + 1, &mut child);
        let moment = Duration::from_millis(random.below(400));
        let started = Instant::now();
        while started.elapsed() < moment {
            assert_running(&mut child, &format!("in cycle {cycle} before the crash"));
            std::thread::sleep(Duration::from_millis(5));
        }
        kill_hard(child);

        let complete = listed_complete_checkpoints(&env, &root, &job.job_id);
        let newest = *complete.last().unwrap_or_else(|| panic!("cycle {cycle}: no complete checkpoint after the kill"));
        assert!(newest >= first, "cycle {cycle}: checkpoint {first} vanished after the kill: {complete:?}");
        // A kill in the instant between a completion and the subsumption of
        // the oldest leaves num_retained + 1 (a crash deletes nothing); the
        // resumed run owns them all and subsumes the extra one.
        assert!(
            complete.len() <= shape.num_retained as usize + 1,
            "cycle {cycle}: {complete:?} exceeds num_retained + 1"
        );

        let chk = format!("{root}/{}/chk-{newest}", job.job_id);
        let inspect = checkpoints_command(&env, &["inspect", &chk]);
        assert_success(&inspect);
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(text.contains("\"checkpoint_id\""), "inspect {chk} printed no checkpoint_id:\n{text}");
        let json: serde_json::Value = serde_json::from_str(&text).expect("inspect prints JSON");
        assert_eq!(json["checkpoint_id"], newest, "{chk}");
        assert_eq!(json["job_id"], job.job_id.as_str(), "{chk}");
        restored_from = newest;
    }

    job.write_job(&Shape { rate: 1_000_000, ..shape.clone() });
    let output = job.run_with_env(&["--resume"], &env);
    assert_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("restoring from checkpoint {restored_from} (")),
        "the last run did not restore from checkpoint {restored_from}:\n{stderr}"
    );
    job.assert_exact();
    let left = listed_complete_checkpoints(&env, &root, &job.job_id);
    assert!(left.is_empty(), "the finished job left complete checkpoints {left:?} in {root}");
}

/// One writer per job on S3 too: while a job runs with its checkpoints in a
/// bucket, a second run of it is refused, naming the first; once the first
/// ends, its lease is gone and the job can resume.
#[test]
fn s3_a_second_writer_is_refused_by_the_lease() {
    let moto = Moto::start();
    let bucket = "weir-lease";
    moto.create_bucket(bucket);
    let env = moto.env();
    let root = format!("s3://{bucket}/checkpoints");
    let shape = Shape { lines: 100_000, rate: 5000, interval_ms: 100, dir: root.clone(), ..Shape::default() };
    let job = CheckpointedJob::new(&shape);
    let mut first = job.spawn_with_env(&[], &env);
    wait_for_listed_checkpoint(&env, &root, &job.job_id, 1, &mut first);

    let second = job.run_with_env(&["--resume"], &env);
    assert_failure(&second, &["already running on", &format!("pid {}", first.id()), "_lease"]);

    assert_success(&cancel(first));
    job.write_job(&Shape { rate: 1_000_000, ..shape });
    let resumed = job.run_with_env(&["--resume"], &env);
    assert_success(&resumed);
    job.assert_exact();
}

//! Helpers shared by the end-to-end tests: where the binary and the guest
//! components are, temporary job directories, and reading sink output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `weir` binary cargo built for these tests.
pub fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

/// A binary example of the host package (built by `cargo test`).
pub fn example(name: &str) -> Command {
    let dir = Path::new(env!("CARGO_BIN_EXE_weir")).parent().expect("binary has a directory");
    Command::new(dir.join("examples").join(name))
}

/// Directory of the guest components: `WEIR_GUEST_DIR` (set by `cargo xtask
/// test`) or the documented build location.
pub fn guest_dir() -> PathBuf {
    std::env::var_os("WEIR_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"))
}

/// Path of a guest component; panics with what to do when it is missing.
pub fn guest(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `cargo xtask build-guests` (or `cargo xtask test`)", path.display());
    path
}

/// `weir run DIR/job.toml ARGS...` with DIR as the working directory.
pub fn weir_run(dir: &Path, args: &[&str]) -> Command {
    let mut command = weir();
    command.arg("run").arg(dir.join("job.toml")).args(args).current_dir(dir);
    command
}

/// [`weir_run`] started, stdout discarded, stderr piped (to read if it fails).
pub fn spawn_weir_run(dir: &Path, args: &[&str]) -> std::process::Child {
    weir_run(dir, args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start weir")
}

/// A temporary directory holding a job file, its input and its output.
pub struct JobDir {
    pub dir: tempfile::TempDir,
}

impl JobDir {
    pub fn new() -> Self {
        JobDir { dir: tempfile::tempdir().expect("cannot create a temporary directory") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("cannot write test file");
        path
    }

    /// Runs `weir run` on a job file in this directory.
    pub fn run(&self, job_file: &str) -> Output {
        weir().arg("run").arg(self.path(job_file)).output().expect("cannot run weir")
    }
}

/// The word-count job file with the given parallelism, reading `input.txt`
/// and writing to `out/`.
pub fn wordcount_job(tokenizers: u32, counters: u32) -> String {
    format!(
        r#"
[job]
name = "wordcount"

[source]
type = "lines"
path = "input.txt"

[[operators]]
name = "tokenizer"
component = "{tokenizer}"
parallelism = {tokenizers}

[[operators]]
name = "counter"
component = "{counter}"
parallelism = {counters}
key_by = true

[sink]
type = "files"
path = "out"
"#,
        tokenizer = guest("tokenizer").display(),
        counter = guest("counter").display(),
    )
}

/// The committed files of a `files` sink (names not starting with `.` or
/// `_`), name → contents.
pub fn committed_files(out: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap_or_else(|e| panic!("cannot list {}: {e}", out.display())) {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        files.insert(name, std::fs::read_to_string(&path).expect("committed file is UTF-8"));
    }
    files
}

/// Asserts that a command succeeded, showing its output if not.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "command failed ({})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts that a command failed cleanly (no panic) and that its stderr
/// contains every one of `needles`. Returns stderr.
pub fn assert_failure(output: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "expected failure, got success\nstderr:\n{stderr}");
    // A guest's panic message reaches the log tagged `guest=`; any other
    // panic is the host's.
    let host_panic = stderr.lines().any(|line| line.contains("panicked") && !line.contains("guest="));
    assert!(!host_panic, "the host panicked:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}:\n{stderr}");
    }
    stderr
}

/// Runs `command` to its end, killing it (and failing) after `limit`. Its
/// output goes to files, so that a full pipe cannot stall it.
pub fn output_within(
    mut command: std::process::Command,
    limit: std::time::Duration,
    what: &str,
) -> std::process::Output {
    let logs = tempfile::tempdir().expect("temporary directory");
    let (stdout, stderr) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let file = |path: &std::path::Path| std::fs::File::create(path).expect("create a log file");
    let mut child = command.stdout(file(&stdout)).stderr(file(&stderr)).spawn().expect("cannot run weir");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for weir") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&stderr).unwrap_or_default();
            panic!("{what} did not end within {limit:?}:\n{log}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let read = |path: &std::path::Path| std::fs::read(path).expect("read a log file");
    std::process::Output { status, stdout: read(&stdout), stderr: read(&stderr) }
}

/// A loopback port that was free a moment ago (a server started on it may
/// still lose a race for it).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

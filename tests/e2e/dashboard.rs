//! The dashboard in a real browser (Debian's headless chromium): it shows a
//! completed checkpoint, and takes its token from its address.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::http_support::*;

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

/// A graph job's page draws its graph: every source, operator and sink as a
/// node, every input as an edge labelled with how events travel, side
/// outputs named.
#[test]
fn the_dashboard_draws_a_graph_job_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let job = long_job(500);
    let guests = crate::support::guest_dir().display().to_string();
    job.job.write(
        "job.toml",
        format!(
            "[job]\nname = \"split\"\nid = \"{id}\"\n\n[[sources]]\nname = \"lines\"\ntype = \"lines\"\n\
             path = \"input.txt\"\nparallelism = 2\nrate_limit = 1000\n\n[[operators]]\nname = \"splitter\"\n\
             component = \"{guests}/splitter.wasm\"\nside_outputs = [\"bad\"]\nparallelism = 2\n\n[[operators]]\n\
             name = \"counter\"\ncomponent = \"{guests}/counter.wasm\"\ninputs = [\"splitter\"]\nkey_by = true\n\n\
             [[sinks]]\nname = \"valid\"\ntype = \"files\"\npath = \"valid\"\ninputs = [\"splitter\"]\n\n\
             [[sinks]]\nname = \"rejects\"\ntype = \"files\"\npath = \"rejects\"\ninputs = [\"splitter.bad\"]\n\n\
             [[sinks]]\nname = \"counts\"\ntype = \"files\"\npath = \"out\"\ninputs = [\"counter\"]\n\n\
             [checkpoint]\ndir = \"ckpt\"\ninterval_ms = 500\n",
            id = job.job_id
        ),
    );
    let mut served = Served::start(&job, &[]);
    served.wait_for_completed_checkpoint(&job.job_id);
    let profile = tempfile::tempdir().expect("a chromium profile directory");
    let dom = run_chromium(&chromium, profile.path(), &["--dump-dom".into()], &format!("http://{}/", served.addr));
    for node in ["lines", "splitter", "counter", "valid", "rejects", "counts"] {
        assert!(dom.contains(&format!("data-node=\"{node}\"")), "the graph lacks node {node}:\n{dom}");
    }
    for (from, to) in
        [("lines", "splitter"), ("splitter", "counter"), ("splitter", "valid"), ("splitter.bad", "rejects")]
    {
        assert!(
            dom.contains(&format!("data-from=\"{from}\" data-to=\"{to}\"")),
            "the graph lacks the edge {from} → {to}:\n{dom}"
        );
    }
    for text in ["lines  ×2", "key_by", "forward", "(bad)"] {
        assert!(dom.contains(text), "the page lacks {text:?}:\n{dom}");
    }
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

//! `weir new`, `weir test`, `weir build`, then `weir run` with checkpoints,
//! kill -9 and `--resume`, for a project of each language, created in a
//! temporary directory outside the checkout as an operator author would.
//!
//! The Weir home is the target directory, so `weir build` finds the tools
//! (componentize-py, componentize-js, jco, esbuild) that `cargo xtask
//! build-guests` installed there, and Rust projects build into a shared
//! directory beside it that later runs reuse; the SDKs come from the binary
//! itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::checkpoint_support::{complete_checkpoints, kill_hard, output_lines, wait_for_checkpoints};
use crate::support::{assert_failure, assert_success, weir};

/// `<target dir>/<name>`, from where cargo put the `weir` binary.
fn in_target_dir(name: &str) -> PathBuf {
    let release = Path::new(env!("CARGO_BIN_EXE_weir")).parent().expect("the binary has a directory");
    release.parent().expect("the profile directory has a parent").join(name)
}

/// `weir ARGS...` as an operator author runs it: in `dir`, with the test's
/// Weir home and project target directory.
fn weir_in(dir: &Path, args: &[&str]) -> Command {
    let mut command = weir();
    command
        .args(args)
        .current_dir(dir)
        // The target directory as the Weir home: its tools/ are the ones
        // `cargo xtask build-guests` installed, so nothing installs twice.
        .env("WEIR_HOME", in_target_dir(""))
        .env("CARGO_TARGET_DIR", in_target_dir("operator-projects"))
        // Whatever venv the test runner has active is not the author's.
        .env_remove("VIRTUAL_ENV");
    command
}

fn output_of(mut command: Command) -> Output {
    command.output().expect("run weir")
}

/// The single job directory under `<project>/checkpoints`.
fn job_checkpoints(project: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(project.join("checkpoints")).ok()?;
    entries.flatten().map(|entry| entry.path()).find(|path| path.is_dir())
}

fn new_build_run_kill_resume(lang: &str) {
    let outside = tempfile::tempdir().expect("a temporary directory");
    let name = format!("totals-{lang}");
    let created = output_of(weir_in(outside.path(), &["new", &name, "--lang", lang]));
    assert_success(&created);
    let project = outside.path().join(&name);
    for file in ["job.toml", "README.md", ".gitignore"] {
        assert!(project.join(file).exists(), "weir new wrote no {file}");
    }
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README.md");
    for command in ["weir test", "weir build", "weir run job.toml"] {
        assert!(readme.contains(command), "the README lacks `{command}`:\n{readme}");
    }

    let tested = output_of(weir_in(&project, &["test"]));
    assert_success(&tested);

    let built = output_of(weir_in(&project, &["build"]));
    assert_success(&built);
    let stdout = String::from_utf8_lossy(&built.stdout);
    let component = PathBuf::from(stdout.trim());
    assert_eq!(component, project.join("build").join(format!("{name}.wasm")), "weir build printed {stdout:?}");
    assert!(component.exists(), "{} is missing after weir build", component.display());

    // The failure-free output: the same project, run to its end unthrottled.
    let reference = tempfile::tempdir().expect("a temporary directory");
    let job = std::fs::read_to_string(project.join("job.toml")).expect("job.toml");
    assert!(job.contains("rate_limit = 40000"), "the template's job.toml changed its rate:\n{job}");
    std::fs::create_dir_all(reference.path().join("build")).expect("create build/");
    std::fs::copy(&component, reference.path().join("build").join(format!("{name}.wasm"))).expect("copy component");
    std::fs::write(reference.path().join("job.toml"), job.replace("rate_limit = 40000", "rate_limit = 10000000"))
        .expect("write the reference job");
    assert_success(&output_of(weir_in(reference.path(), &["run", "job.toml"])));
    let expected = output_lines(&reference.path().join("out"));
    // 200 000 events, each emitting one line with its key's running total.
    assert_eq!(expected.len(), 200_000, "the reference run's output");
    assert!(expected.iter().all(|line| line.starts_with("key-")), "unexpected lines: {:?}", &expected[..3]);

    // kill -9 after the second checkpoint, then resume to the end.
    let mut child = weir_in(&project, &["run", "job.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weir run");
    let started = std::time::Instant::now();
    let job_dir = loop {
        if let Some(dir) = job_checkpoints(&project) {
            break dir;
        }
        assert!(started.elapsed().as_secs() < 60, "no checkpoint directory after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    wait_for_checkpoints(&job_dir, 2, &mut child);
    kill_hard(child);
    assert!(!complete_checkpoints(&job_dir).is_empty(), "no complete checkpoint after the kill");
    let resumed = output_of(weir_in(&project, &["run", "job.toml", "--resume"]));
    assert_success(&resumed);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("restoring from checkpoint"), "the resumed run did not restore:\n{stderr}");

    let got = output_lines(&project.join("out"));
    assert_eq!(got.len(), expected.len(), "{lang}: lines lost or duplicated by the kill and resume");
    assert!(got == expected, "{lang}: the output differs from the failure-free run's");
}

#[test]
fn a_new_rust_project_builds_runs_and_resumes_exactly() {
    new_build_run_kill_resume("rust");
}

#[test]
fn a_new_python_project_builds_runs_and_resumes_exactly() {
    new_build_run_kill_resume("python");
}

#[test]
fn a_new_js_project_builds_runs_and_resumes_exactly() {
    new_build_run_kill_resume("js");
}

#[test]
fn weir_new_and_build_refuse_what_they_cannot_use() {
    let outside = tempfile::tempdir().expect("a temporary directory");
    let unknown = output_of(weir_in(outside.path(), &["new", "op", "--lang", "cobol"]));
    assert_failure(&unknown, &["--lang cobol", "rust, python or js"]);
    let bad_name = output_of(weir_in(outside.path(), &["new", "My Op", "--lang", "rust"]));
    assert_failure(&bad_name, &["`My Op` cannot name an operator project"]);
    let not_a_project = output_of(weir_in(outside.path(), &["build"]));
    assert_failure(&not_a_project, &["is not an operator project", "weir new"]);
    std::fs::create_dir(outside.path().join("taken")).expect("create a directory");
    std::fs::write(outside.path().join("taken/file"), "").expect("write a file");
    let taken = output_of(weir_in(outside.path(), &["new", "taken", "--lang", "js"]));
    assert_failure(&taken, &["taken", "exists and is not empty"]);
}

//! Every bad input of `weir run` gives a clear error that names the file,
//! field or operator, a non-zero exit, and no panic.

use crate::support::*;

/// The word-count job with `from` replaced by `to` in its text.
fn broken_job(from: &str, to: &str) -> JobDir {
    let job = JobDir::new();
    job.write("input.txt", "a b c\n");
    let text = wordcount_job(1, 1);
    assert!(text.contains(from), "test bug: {from:?} not in the job file");
    job.write("job.toml", text.replacen(from, to, 1));
    job
}

/// The word-count job whose tokenizer component is the given bytes.
fn job_with_tokenizer_bytes(bytes: &[u8]) -> JobDir {
    let job = JobDir::new();
    let component = job.write("tokenizer.wasm", bytes);
    job.write("input.txt", "a b c\n");
    let text = wordcount_job(1, 1).replace(&guest("tokenizer").display().to_string(), &component.display().to_string());
    job.write("job.toml", text);
    job
}

#[test]
fn missing_component_file() {
    let job = broken_job(&guest("counter").display().to_string(), "/nonexistent/counter.wasm");
    assert_failure(&job.run("job.toml"), &["operator 'counter'", "/nonexistent/counter.wasm", "cannot read"]);
}

#[test]
fn a_missing_relative_component_path_is_shown_resolved_from_the_job_file() {
    let job = broken_job(&guest("counter").display().to_string(), "../elsewhere/./counter.wasm");
    let parent = job.dir.path().parent().expect("the temporary directory has a parent");
    let resolved = parent.join("elsewhere").join("counter.wasm");
    let stderr = assert_failure(&job.run("job.toml"), &["operator 'counter'", &resolved.display().to_string()]);
    assert!(!stderr.contains(".."), "the path is not resolved: {stderr}");
}

#[test]
fn checkpoint_commands_on_a_directory_that_does_not_exist_say_so() {
    let job = JobDir::new();
    let missing = job.path("no-such-dir").display().to_string();
    for command in ["list", "gc"] {
        let output = weir().args(["checkpoints", command, &missing]).output().expect("run weir");
        assert_failure(&output, &[&missing, "does not exist"]);
    }
    std::fs::create_dir_all(job.path("ckpt/some-job/chk-1")).expect("create a job directory");
    let root = job.path("ckpt").display().to_string();
    for command in ["list", "gc"] {
        let output = weir().args(["checkpoints", command, &root, "--job", "other"]).output().expect("run weir");
        assert_failure(&output, &["holds no job 'other'", "some-job"]);
    }
}

#[test]
fn garbage_instead_of_a_component() {
    let job = job_with_tokenizer_bytes(b"this is not wasm at all");
    assert_failure(&job.run("job.toml"), &["operator 'tokenizer'", "tokenizer.wasm", "not a WebAssembly file"]);
}

#[test]
fn a_core_module_instead_of_a_component() {
    // The smallest valid core module: magic and version 1.
    let job = job_with_tokenizer_bytes(b"\0asm\x01\0\0\0");
    assert_failure(&job.run("job.toml"), &["operator 'tokenizer'", "core WebAssembly module", "wasm32-wasip2"]);
}

#[test]
fn a_truncated_component() {
    let bytes = std::fs::read(guest("tokenizer")).expect("read tokenizer");
    let job = job_with_tokenizer_bytes(&bytes[..bytes.len() / 2]);
    assert_failure(&job.run("job.toml"), &["operator 'tokenizer'", "cannot compile"]);
}

#[test]
fn a_component_for_another_world() {
    let job = broken_job(&guest("tokenizer").display().to_string(), &guest("cli-command").display().to_string());
    assert_failure(
        &job.run("job.toml"),
        &["operator 'tokenizer'", "cli-command.wasm", "does not implement the weir:operator world", "wasi:cli/run"],
    );
}

#[test]
fn invalid_toml_names_the_file_and_line() {
    let job = broken_job("parallelism = 1\nkey_by", "parallelism = \nkey_by");
    let stderr = assert_failure(&job.run("job.toml"), &["job.toml", "line "]);
    assert!(stderr.contains("parallelism"), "{stderr}");
}

#[test]
fn unknown_keys_are_refused() {
    let job = broken_job("key_by = true", "key_by = true\nkeyby = true");
    assert_failure(&job.run("job.toml"), &["job.toml", "unknown field `keyby`", "line "]);
    let job = broken_job("[sink]", "[sinkk]\ntype = \"stdout\"\n[sink]");
    assert_failure(&job.run("job.toml"), &["job.toml", "unknown field `sinkk`"]);
}

#[test]
fn zero_parallelism_names_the_operator() {
    let job = broken_job("parallelism = 1\nkey_by", "parallelism = 0\nkey_by");
    assert_failure(
        &job.run("job.toml"),
        &["job.toml", "operators[1].parallelism", "operator 'counter'", "parallelism 0"],
    );
}

#[test]
fn absurd_parallelism_names_the_operator() {
    let job = broken_job("parallelism = 1", "parallelism = 1000000");
    assert_failure(
        &job.run("job.toml"),
        &["operators[0].parallelism", "operator 'tokenizer'", "max_parallelism (128)"],
    );
}

#[test]
fn missing_input_file() {
    let job = broken_job("path = \"input.txt\"", "path = \"no-such-input.txt\"");
    assert_failure(&job.run("job.toml"), &["input file", "no-such-input.txt", "cannot open"]);
}

#[test]
fn input_that_is_a_directory() {
    let job = broken_job("path = \"input.txt\"", "path = \".\"");
    assert_failure(&job.run("job.toml"), &["input file", "not a regular file"]);
}

#[test]
fn input_that_is_not_utf8_names_the_line() {
    let job = broken_job("path = \"input.txt\"", "path = \"latin1.txt\"");
    job.write("latin1.txt", b"fine\nalso fine\ncaf\xe9\n");
    assert_failure(&job.run("job.toml"), &["latin1.txt", "line 3 is not valid UTF-8"]);
}

#[test]
fn missing_job_file() {
    let output = weir().args(["run", "/nonexistent/job.toml"]).output().expect("run weir");
    assert_failure(&output, &["/nonexistent/job.toml", "cannot read"]);
}

#[test]
fn keyed_state_without_key_by_fails_init_naming_the_handle() {
    // The counter of every SDK declares keyed state `count`; with `key_by =
    // false` the host passes no key groups, and `init` must say what to fix
    // (it used to panic or fail at the first event instead).
    for counter in ["counter", "counter-py", "counter-js"] {
        let job = broken_job("key_by = true", "key_by = false");
        let text = std::fs::read_to_string(job.path("job.toml")).expect("read job.toml");
        let rust_counter = guest("counter").display().to_string();
        job.write("job.toml", text.replace(&rust_counter, &guest(counter).display().to_string()));
        let stderr = assert_failure(
            &job.run("job.toml"),
            &["operator 'counter'", "init returned an error", "state `count` is keyed", "set key_by = true"],
        );
        assert!(!stderr.contains("panicked"), "{counter}: a panic instead of an init error:\n{stderr}");
    }
}

#[test]
fn a_guest_failure_names_the_input_that_caused_it() {
    let job = JobDir::new();
    let mut input = String::from("one two\nthree four\n");
    let offset = input.len();
    input.push_str("PANIC\n");
    let path = job.write("input.txt", &input);
    job.write(
        "job.toml",
        wordcount_job(1, 1).replace(&guest("tokenizer").display().to_string(), &guest("faulty").display().to_string()),
    );
    let stderr = assert_failure(&job.run("job.toml"), &["operator 'tokenizer'", "on input from"]);
    // The batch held all three lines: the range ends at the failing one.
    let expected = format!("{}, the line(s) starting at bytes 0..={offset}", path.display());
    assert!(stderr.contains(&expected), "stderr lacks {expected:?}:\n{stderr}");
}

/// A storage error is said once: object_store's errors and the library's
/// include their source in their own message, and the CLI does not repeat
/// the chain after it.
#[test]
fn a_storage_error_names_its_cause_once() {
    let dir = JobDir::new();
    let file = dir.write("not-a-directory", "");
    let output = weir().args(["checkpoints", "list"]).arg(file.join("checkpoints")).output().expect("run weir");
    let stderr = assert_failure(&output, &["cannot list", "Not a directory"]);
    assert_eq!(stderr.matches("Not a directory").count(), 1, "{stderr}");
}

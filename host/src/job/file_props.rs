//! Property tests of the job-file parser: a bounded smoke version of the
//! `job_file` fuzz target (`host/fuzz`), cheap enough for every test run.
//! `JobSpec::from_toml_str` never panics on any text (an error is fine),
//! and a job it accepts passes `validate`.

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;

use super::JobSpec;

/// A fixed number of cases (`PROPTEST_CASES` does not raise it); failures
/// are not persisted (no files next to the sources).
fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Valid job files covering every table and most keys.
const VALID: &[&str] = &[
    r#"
[job]
name = "wordcount"
id = "wc-1"

[source]
type = "lines"
path = "input.txt"
rate_limit = 100

[[operators]]
name = "tokenizer"
component = "tok.wasm"
parallelism = 2
config = { lowercase = true, min = 3, ratio = 0.5, label = "x" }

[[operators]]
name = "counter"
component = "/abs/counter.wasm"
key_by = true
limits = { memory_mb = 32, fuel = 1000000 }

[sink]
type = "files"
path = "out"

[checkpoint]
dir = "ckpt"
interval_ms = 500
retention = "retain-on-cancellation"
num_retained = 3
"#,
    r#"
[job]
name = "bench"
max_parallelism = 256
batch_size = 512
channel_capacity = 4

[source]
type = "generator"
count = 10
keys = 3
value_size = 8
seed = 42

[limits]
memory_mb = 64
call_timeout_ms = 200
max_emit_events = 10
max_emit_bytes = 4096
max_hostcall_bytes = 1024

[[operators]]
name = "c"
component = "c.wasm"
parallelism = 200

[sink]
type = "discard"

[restart]
strategy = "exponential-delay"
initial_delay_ms = 10
max_delay_ms = 1000
multiplier = 2.0
jitter = 0.1
reset_after_ms = 60000
attempts = 5
"#,
    r#"
[job]
name = "s3"

[source]
type = "lines"
path = "/data/in.txt"

[[operators]]
name = "t"
component = "t.wasm"

[sink]
type = "stdout"

[checkpoint]
dir = "s3://bucket/prefix"
interval_ms = 10
timeout_ms = 10000
min_pause_ms = 10
tolerable_failed = 2
retention = "delete-on-cancellation"
inline_threshold_bytes = 1024

[restart]
strategy = "fixed-delay"
attempts = 3
delay_ms = 10
"#,
];

/// Pieces of job files: keys, values and punctuation.
const TOKENS: &[&str] = &[
    "[job]",
    "[source]",
    "[[operators]]",
    "[sink]",
    "[checkpoint]",
    "[limits]",
    "[restart]",
    "name",
    "id",
    "type",
    "path",
    "parallelism",
    "max_parallelism",
    "batch_size",
    "interval_ms",
    "strategy",
    "config",
    "limits",
    " = ",
    "\"",
    "'",
    "\"\"\"",
    "\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    ".",
    "#",
    "\\",
    "\\u0000",
    "\"lines\"",
    "\"generator\"",
    "\"files\"",
    "\"fixed-delay\"",
    "\"exponential-delay\"",
    "true",
    "0",
    "-1",
    "1e400",
    "nan",
    "-inf",
    "4294967296",
    "18446744073709551616",
    "9223372036854775807",
    "1979-05-27T07:32:00Z",
    "[1, 2]",
    "{ a = 1 }",
];

/// Values put in place of a line's value.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "65536",
    "32769",
    "4294967295",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "0.0",
    "-0.0",
    "nan",
    "inf",
    "1e308",
    "true",
    "\"\"",
    "\" \"",
    "\"..\"",
    "\"/\"",
    "\"a/../../b\"",
    "\"s3://\"",
    "\"memory://x\"",
    "\"\\u00e9\"",
    "[]",
    "{}",
    "{ memory_mb = 0 }",
    "{ fuel = 0 }",
    "1979-05-27",
];

/// One change to a job file's text.
#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(Index),
    DuplicateLine {
        from: Index,
        to: Index,
    },
    ReplaceValue {
        line: Index,
        value: &'static str,
    },
    InsertToken {
        at: Index,
        token: &'static str,
    },
    Truncate(Index),
    /// Raw bytes spliced in; the result is made UTF-8 lossily.
    SpliceBytes {
        at: Index,
        remove: usize,
        insert: Vec<u8>,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::DeleteLine),
        (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Edit::DuplicateLine { from, to }),
        (any::<Index>(), select(VALUES)).prop_map(|(line, value)| Edit::ReplaceValue { line, value }),
        (any::<Index>(), select(TOKENS)).prop_map(|(at, token)| Edit::InsertToken { at, token }),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), 0..8usize, vec(any::<u8>(), 0..8)).prop_map(|(at, remove, insert)| Edit::SpliceBytes {
            at,
            remove,
            insert
        }),
    ]
}

/// The char boundary at or before `index` of `text`.
fn boundary(text: &str, index: &Index) -> usize {
    let mut at = index.index(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match edit {
        Edit::DeleteLine(line) if !lines.is_empty() => {
            lines.remove(line.index(lines.len()));
        }
        Edit::DuplicateLine { from, to } if !lines.is_empty() => {
            let copy = lines[from.index(lines.len())].clone();
            let to = to.index(lines.len() + 1);
            lines.insert(to, copy);
        }
        Edit::ReplaceValue { line, value } if !lines.is_empty() => {
            let index = line.index(lines.len());
            let line = &mut lines[index];
            if let Some(eq) = line.find('=') {
                *line = format!("{} {value}", &line[..=eq]);
            }
        }
        Edit::InsertToken { at, token } => {
            let mut text = text.to_owned();
            text.insert_str(boundary(&text, at), token);
            return text;
        }
        Edit::Truncate(at) => return text[..boundary(text, at)].to_owned(),
        Edit::SpliceBytes { at, remove, insert } => {
            let mut bytes = text.as_bytes().to_vec();
            let at = at.index(bytes.len() + 1);
            let end = (at + remove).min(bytes.len());
            bytes.splice(at..end, insert.iter().copied());
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        _ => {}
    }
    lines.join("\n")
}

/// What `from_toml_str` may return for any text: an error, or a valid job.
fn check(text: &str) -> Result<(), TestCaseError> {
    if let Ok(spec) = JobSpec::from_toml_str(text, Path::new("/jobs")) {
        prop_assert!(spec.validate().is_ok(), "accepted an invalid job: {spec:?}");
    }
    Ok(())
}

#[test]
fn the_seed_jobs_are_valid() {
    for text in VALID {
        if let Err(e) = JobSpec::from_toml_str(text, Path::new("/jobs")) {
            panic!("{e}\n{text}");
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text)?;
    }

    /// Text shaped like TOML: tables and `key = value` lines.
    #[test]
    fn toml_shaped_text_never_panics(
        text in "((\\[\\[?[a-z_]{1,12}\\]\\]?|[a-z_]{1,16} = (\"[a-z./:]{0,10}\"|-?[0-9]{1,20}|true|[0-9]\\.[0-9]e[0-9]{1,3}|\\{ [a-z_]{1,12} = [0-9]{1,4} \\}))\n){0,16}",
    ) {
        check(&text)?;
    }

    #[test]
    fn edited_jobs_never_panic(seed in select(VALID), edits in vec(edit(), 1..6)) {
        let mut text = seed.to_owned();
        for e in &edits {
            text = apply(&text, e);
        }
        check(&text)?;
    }
}

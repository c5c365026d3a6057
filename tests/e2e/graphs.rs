//! Dataflow graphs through the real binary and real components: a two-input
//! join with a broadcast input and side outputs, a union of two sources, a
//! splitter whose outputs fan out to three sinks. Each is killed with
//! SIGKILL after a checkpoint and resumed, some at other parallelisms of
//! their sources and operators, and every sink's committed output must equal
//! a failure-free run's, line for line. Bad graphs are refused by the binary
//! naming the node and the field.

use std::path::PathBuf;
use std::process::Child;

use crate::checkpoint_support::{complete_checkpoints, kill_hard, output_lines, wait_for_checkpoints};
use crate::support::*;

/// A graph job file in its own directory, with its inputs.
struct GraphJob {
    job: JobDir,
    /// The sinks' output directories, relative to the job directory.
    sinks: Vec<&'static str>,
    id: String,
}

impl GraphJob {
    fn new(sinks: Vec<&'static str>, inputs: &[(&str, &str)]) -> Self {
        let job = JobDir::new();
        for (name, contents) in inputs {
            job.write(name, contents);
        }
        let id = format!("graph-{}", std::process::id());
        GraphJob { job, sinks, id }
    }

    /// Writes `job.toml`: `body` (the nodes) after a `[job]` table and
    /// before a `[checkpoint]` table taking one every 100 ms. `{guests}` in
    /// the body is the components' directory.
    fn write(&self, body: &str) {
        let body = body.replace("{guests}", &guest_dir().display().to_string());
        self.job.write(
            "job.toml",
            format!(
                "[job]\nname = \"graph\"\nid = \"{}\"\n\n{body}\n[checkpoint]\ndir = \"ckpt\"\ninterval_ms = 100\n\
                 retention = \"retain-on-cancellation\"\nnum_retained = 2\n\n[restart]\nstrategy = \"none\"\n",
                self.id
            ),
        );
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        weir_run(self.job.dir.path(), args)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        spawn_weir_run(self.job.dir.path(), args)
    }

    fn checkpoints(&self) -> PathBuf {
        self.job.path("ckpt").join(&self.id)
    }

    /// Starts (or resumes), waits for a checkpoint newer than any so far,
    /// then kills the process with SIGKILL.
    fn run_until_a_checkpoint_then_kill(&self, args: &[&str]) {
        let newest = complete_checkpoints(&self.checkpoints()).last().copied().unwrap_or(0);
        let mut child = self.spawn(args);
        wait_for_checkpoints(&self.checkpoints(), newest + 2, &mut child);
        kill_hard(child);
    }

    /// Resumes and runs to the end.
    fn resume_to_the_end(&self) {
        assert_success(&self.command(&["--resume"]).output().expect("run weir"));
    }

    /// Every sink's committed lines, sorted.
    fn outputs(&self) -> Vec<Vec<String>> {
        self.sinks.iter().map(|sink| output_lines(&self.job.path(sink))).collect()
    }
}

/// What the same graph writes when nothing fails (and nothing throttles it).
fn failure_free(body: &str, sinks: Vec<&'static str>, inputs: &[(&str, &str)]) -> Vec<Vec<String>> {
    let job = GraphJob::new(sinks, inputs);
    job.write(&without_rate_limits(body));
    assert_success(&job.command(&[]).output().expect("run weir"));
    let outputs = job.outputs();
    assert!(outputs.iter().all(|lines| !lines.is_empty()), "a sink of the reference run is empty: {outputs:?}");
    outputs
}

fn without_rate_limits(body: &str) -> String {
    body.lines().filter(|line| !line.starts_with("rate_limit")).collect::<Vec<_>>().join("\n")
}

fn assert_same(got: &[Vec<String>], expected: &[Vec<String>], sinks: &[&str]) {
    for ((got, expected), sink) in got.iter().zip(expected).zip(sinks) {
        assert_eq!(got.len(), expected.len(), "sink '{sink}': wrong number of lines (losses or duplicates)");
        assert!(got == expected, "sink '{sink}': committed output differs from the failure-free run");
    }
}

/// `product<TAB>quantity` orders as tsv lines, some with a bad quantity,
/// and a price for every product but two.
fn orders_and_prices(orders: usize) -> (String, String) {
    let products: Vec<String> = (0..40).map(|i| format!("product-{i}")).collect();
    let mut seed = crate::checkpoint_support::Seeded(14);
    let mut text = String::new();
    for i in 0..orders {
        let product = &products[seed.below(products.len() as u64) as usize];
        let quantity = if i % 101 == 7 { "many".to_owned() } else { (1 + seed.below(50)).to_string() };
        text.push_str(&format!("{}\t{product}\t{quantity}\n", 1_700_000_000_000u64 + i as u64));
    }
    let prices: String = products[2..].iter().map(|p| format!("{p}\t{}\n", 10 + p.len() * 7)).collect();
    (text, prices)
}

const JOIN: &str = r#"
[[sources]]
name = "orders"
type = "lines"
format = "tsv"
path = "orders.tsv"
parallelism = {orders}
rate_limit = 2500

[[sources]]
name = "prices"
type = "lines"
path = "prices.txt"

[[operators]]
name = "join"
component = "{guests}/{join}.wasm"
inputs = ["orders", "prices"]
broadcast = ["prices"]
key_by = true
side_outputs = ["unpriced", "bad"]
parallelism = {joins}

[[sinks]]
name = "out"
type = "files"
path = "out"
inputs = ["join"]

[[sinks]]
name = "unpriced"
type = "files"
path = "unpriced"
inputs = ["join.unpriced"]

[[sinks]]
name = "bad"
type = "files"
path = "bad"
inputs = ["join.bad"]
"#;

fn join_body(join: &str, orders: u32, joins: u32) -> String {
    JOIN.replace("{join}", join).replace("{orders}", &orders.to_string()).replace("{joins}", &joins.to_string())
}

/// The join killed twice and resumed each time at another parallelism of
/// its partitioned source and of the two-input keyed operator (the
/// broadcast price table is copied to every new subtask, the keyed orders
/// waiting for a price go with their key groups).
fn join_survives_kill_9_and_rescales(join: &str) {
    let (orders, prices) = orders_and_prices(12_000);
    let inputs = [("orders.tsv", orders.as_str()), ("prices.txt", prices.as_str())];
    let sinks = vec!["out", "unpriced", "bad"];
    let expected = failure_free(&join_body(join, 2, 2), sinks.clone(), &inputs);

    let job = GraphJob::new(sinks.clone(), &inputs);
    job.write(&join_body(join, 2, 2));
    job.run_until_a_checkpoint_then_kill(&[]);
    job.write(&join_body(join, 3, 3));
    job.run_until_a_checkpoint_then_kill(&["--resume"]);
    job.write(&without_rate_limits(&join_body(join, 1, 2)));
    job.resume_to_the_end();
    assert_same(&job.outputs(), &expected, &sinks);
}

#[test]
fn the_rust_join_survives_kill_9_and_resumes_at_other_parallelisms() {
    join_survives_kill_9_and_rescales("join");
}

#[test]
fn the_python_join_survives_kill_9_and_resumes_at_other_parallelisms() {
    join_survives_kill_9_and_rescales("join-py");
}

/// The Rust and the Python join give the same output for the same input.
#[test]
fn the_rust_and_python_joins_agree() {
    let (orders, prices) = orders_and_prices(3_000);
    let inputs = [("orders.tsv", orders.as_str()), ("prices.txt", prices.as_str())];
    let rust = failure_free(&join_body("join", 2, 2), vec!["out", "unpriced", "bad"], &inputs);
    let python = failure_free(&join_body("join-py", 1, 3), vec!["out", "unpriced", "bad"], &inputs);
    assert_eq!(rust, python);
}

const UNION: &str = r#"
[[sources]]
name = "first"
type = "lines"
path = "first.txt"
parallelism = {first}
rate_limit = 1500

[[sources]]
name = "second"
type = "generator"
count = 20000
keys = 300
parallelism = {second}
rate_limit = 3000

[[operators]]
name = "tokenizer"
component = "{guests}/tokenizer.wasm"
inputs = ["first", "second"]
parallelism = 2

[[operators]]
name = "counter"
component = "{guests}/counter.wasm"
key_by = true
parallelism = {counters}

[[sinks]]
name = "counts"
type = "files"
path = "out"
inputs = ["counter"]
"#;

fn union_body(first: u32, second: u32, counters: u32) -> String {
    UNION
        .replace("{first}", &first.to_string())
        .replace("{second}", &second.to_string())
        .replace("{counters}", &counters.to_string())
}

/// Two sources (a file split in byte ranges, a generator split in sequence
/// ranges) feeding one tokenizer: kill -9, resume with both sources at
/// other parallelisms, exact.
#[test]
fn a_union_of_two_parallel_sources_survives_kill_9_and_source_rescaling() {
    let first = crate::checkpoint_support::input_lines(5000, 3);
    let inputs = [("first.txt", first.as_str())];
    let expected = failure_free(&union_body(2, 2, 2), vec!["out"], &inputs);

    let job = GraphJob::new(vec!["out"], &inputs);
    job.write(&union_body(2, 2, 2));
    job.run_until_a_checkpoint_then_kill(&[]);
    job.write(&union_body(3, 1, 3));
    job.run_until_a_checkpoint_then_kill(&["--resume"]);
    job.write(&without_rate_limits(&union_body(1, 4, 2)));
    job.resume_to_the_end();
    assert_same(&job.outputs(), &expected, &["out"]);
}

const SPLIT: &str = r#"
[[sources]]
name = "lines"
type = "lines"
path = "input.txt"
parallelism = 2
rate_limit = 1500

[[operators]]
name = "splitter"
component = "{guests}/splitter.wasm"
side_outputs = ["bad"]
parallelism = 2

[[operators]]
name = "counter"
component = "{guests}/counter.wasm"
inputs = ["splitter"]
key_by = true
parallelism = 2

[[sinks]]
name = "valid"
type = "files"
path = "valid"
inputs = ["splitter"]

[[sinks]]
name = "bad"
type = "files"
path = "bad"
inputs = ["splitter.bad"]

[[sinks]]
name = "counts"
type = "files"
path = "counts"
inputs = ["counter"]
"#;

/// A side output and a fan-out of one output to an operator and a sink:
/// three sinks, each exactly once across two kill -9 + resume cycles.
#[test]
fn a_splitter_fanning_out_to_three_sinks_survives_kill_9() {
    let mut input = String::new();
    for (i, line) in crate::checkpoint_support::input_lines(9000, 5).lines().enumerate() {
        input.push_str(if i % 13 == 4 { "not-valid: #" } else { line });
        input.push('\n');
    }
    let inputs = [("input.txt", input.as_str())];
    let sinks = vec!["valid", "bad", "counts"];
    let expected = failure_free(SPLIT, sinks.clone(), &inputs);
    assert!(expected[1].iter().all(|line| line == "\tnot-valid: #"), "the bad lines: {:?}", &expected[1][..3]);

    let job = GraphJob::new(sinks.clone(), &inputs);
    job.write(SPLIT);
    job.run_until_a_checkpoint_then_kill(&[]);
    job.run_until_a_checkpoint_then_kill(&["--resume"]);
    job.write(&without_rate_limits(SPLIT));
    job.resume_to_the_end();
    assert_same(&job.outputs(), &expected, &sinks);
}

/// Every graph mistake the job file can make is refused before anything
/// runs, naming the node and the field.
#[test]
fn bad_graphs_are_refused_naming_the_node_and_the_field() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "\"orders\", \"prices\"",
            "\"orders\", \"price\"",
            &["operators[0].inputs", "'price' names no source or operator"],
        ),
        (
            "broadcast = [\"prices\"]",
            "broadcast = [\"oders\"]",
            &["operators[0].broadcast", "'oders' is not one of its inputs"],
        ),
        (
            "inputs = [\"join.bad\"]",
            "inputs = [\"join.late\"]",
            &["sinks[2].inputs", "operator 'join' declares no side output 'late'"],
        ),
        (
            "side_outputs = [\"unpriced\", \"bad\"]",
            "side_outputs = [\"unpriced\", \"bad\", \"late\"]",
            &["operators[0].side_outputs", "'join.late' goes nowhere"],
        ),
        (
            "parallelism = 2\n\n[[sinks]]",
            "parallelism = 200\n\n[[sinks]]",
            &["operators[0].parallelism", "max_parallelism (128)"],
        ),
        ("path = \"unpriced\"", "path = \"out\"", &["sinks[1].path", "as sinks[0] does"]),
    ];
    for (from, to, needles) in cases {
        let job = GraphJob::new(vec![], &[("orders.tsv", "1\ta\t1\n"), ("prices.txt", "a\t1\n")]);
        let body = join_body("join", 1, 2);
        assert!(body.contains(from), "the case {from:?} does not apply");
        job.write(&body.replacen(from, to, 1));
        let output = job.command(&[]).output().expect("run weir");
        let stderr = assert_failure(&output, needles);
        assert!(stderr.contains("job.toml"), "{stderr}");
    }
    // A cycle, and an output nobody reads.
    let job = GraphJob::new(vec![], &[("in.txt", "a\n")]);
    job.write(
        "[[sources]]\nname = \"in\"\ntype = \"lines\"\npath = \"in.txt\"\n\n[[operators]]\nname = \"a\"\n\
         component = \"{guests}/tokenizer.wasm\"\ninputs = [\"in\", \"b\"]\n\n[[operators]]\nname = \"b\"\n\
         component = \"{guests}/tokenizer.wasm\"\ninputs = [\"a\"]\n\n[[sinks]]\nname = \"out\"\ntype = \"discard\"\n",
    );
    assert_failure(&job.command(&[]).output().expect("run weir"), &["operators[0].inputs", "cycle: a → b → a"]);
    job.write(
        "[[sources]]\nname = \"in\"\ntype = \"lines\"\npath = \"in.txt\"\n\n[[sources]]\nname = \"unused\"\n\
         type = \"lines\"\npath = \"in.txt\"\n\n[[operators]]\nname = \"a\"\ncomponent = \"{guests}/tokenizer.wasm\"\n\
         inputs = [\"in\"]\n\n[[sinks]]\nname = \"out\"\ntype = \"discard\"\n",
    );
    assert_failure(&job.command(&[]).output().expect("run weir"), &["sources[1]", "source 'unused' goes nowhere"]);
}

/// A 0.1.0 component (the C counter) cannot take a second input: refused
/// at start, saying to rebuild it.
#[test]
fn a_component_of_the_first_world_version_is_refused_a_second_input() {
    let job = GraphJob::new(vec!["out"], &[("a.txt", "x y\n"), ("b.txt", "z\n")]);
    job.write(
        "[[sources]]\nname = \"a\"\ntype = \"lines\"\npath = \"a.txt\"\n\n[[sources]]\nname = \"b\"\ntype = \"lines\"\n\
         path = \"b.txt\"\n\n[[operators]]\nname = \"count\"\ncomponent = \"{guests}/counter-c.wasm\"\n\
         inputs = [\"a\", \"b\"]\n\n[[sinks]]\nname = \"out\"\ntype = \"files\"\npath = \"out\"\n",
    );
    assert_failure(
        &job.command(&[]).output().expect("run weir"),
        &["operator 'count'", "weir:operator@0.1.0", "rebuild it"],
    );
}

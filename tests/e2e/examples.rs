//! The example job files (`examples/*/job.toml`) run as written, so they
//! cannot drift from the job-file contract (wasmtime runs its `examples/`
//! in CI for the same reason).
//!
//! Every job file found is covered: each runs with the real `weir` binary
//! from a temporary copy that keeps the repository's relative layout (the
//! job file's own paths, e.g. `../../target/wasm32-wasip2/release/*.wasm`
//! or `../wordcount/input.txt`, resolve unchanged), and its output must be
//! exactly what a model of its operators computes from its input. A new
//! example whose operators have no model here fails until one is added to
//! [`model_of`].

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use weir_guest::{Context, Event, OpenContext, Operator};
use weir_host::job::graph::JobGraph;
use weir_host::operator::NativeOperator;
use weir_host::{Engine, JobSpec, JobStatus, LineFormat, OperatorCode, OperatorSpec, SinkSpec, SourceSpec};

use crate::checkpoint_support::output_lines;
use crate::support::*;

/// Where job files name the guest components, relative to the repository
/// root (DESIGN.md: `cargo xtask build-guests` builds them there).
const GUEST_BUILD_DIR: &str = "target/wasm32-wasip2/release";

#[test]
fn every_example_job_file_runs_and_its_output_is_exact() {
    let examples = example_job_files();
    // Guards the discovery itself: a broken glob would make this test pass
    // by checking nothing.
    assert!(
        examples.iter().any(|path| path.ends_with("wordcount/job.toml")),
        "no examples/wordcount/job.toml among {examples:?}"
    );
    for job_file in examples {
        run_example(&job_file);
    }
}

/// Every `examples/*/job.toml` of the repository, sorted.
fn example_job_files() -> Vec<PathBuf> {
    let examples = repo_root().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", examples.display()))
        .map(|entry| entry.expect("directory entry").path().join("job.toml"))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn repo_root() -> PathBuf {
    // The e2e tests belong to the host package, one level below the root.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_owned()
}

/// Runs one example from a fresh copy and checks its output.
fn run_example(job_file: &Path) {
    let name = job_file.parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("example name");
    let copy = ExampleCopy::new(job_file);
    let spec = JobSpec::from_file(&copy.job_file).unwrap_or_else(|e| panic!("examples/{name}/job.toml: {e}"));
    let expected = expected_outputs(name, &spec);

    let mut command = weir();
    command.arg("run").arg(&copy.job_file).current_dir(copy.job_file.parent().expect("the copy's directory"));
    // A failing example with checkpoints restarts forever (the default
    // strategy, as in Flink): bound the wait instead of hanging the suite.
    let output =
        crate::support::output_within(command, std::time::Duration::from_secs(120), &format!("examples/{name}"));
    assert_success(&output);
    for (sink, expected) in spec.sinks.iter().zip(expected) {
        let mut got = match &sink.spec {
            SinkSpec::Files { path } => {
                assert!(path.starts_with(copy.root.path()), "examples/{name}: the sink writes outside its copy");
                output_lines(path)
            }
            SinkSpec::Stdout => {
                String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8").lines().map(str::to_owned).collect()
            }
            SinkSpec::Discard => panic!("examples/{name} discards its output: an example should show a result"),
            other => panic!("examples/{name}: a {other:?} sink needs a broker; examples read and write files"),
        };
        got.sort();
        let what = format!("examples/{name}, sink '{}'", sink.name);
        assert_eq!(got.len(), expected.len(), "{what}: wrong number of output lines");
        if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
            panic!("{what}: output line {i} (sorted) is {:?}, expected {:?}", got[i], expected[i]);
        }
    }
}

/// A temporary directory laid out like the repository: `examples/<name>/`
/// holds the example's files, every input file the job file reaches sits at
/// its repository path, and `target/wasm32-wasip2/release` is a link to the
/// guest components. The job file runs exactly as written, and nothing it
/// writes (output, checkpoints) lands in the repository.
struct ExampleCopy {
    root: tempfile::TempDir,
    job_file: PathBuf,
}

impl ExampleCopy {
    fn new(job_file: &Path) -> Self {
        let repo = repo_root();
        let root = tempfile::tempdir().expect("temporary directory");
        let example_dir = job_file.parent().expect("job file has a directory");
        let relative_dir = example_dir.strip_prefix(&repo).expect("examples are in the repository");
        let copy_dir = root.path().join(relative_dir);
        std::fs::create_dir_all(&copy_dir).expect("create the example's copy");
        // The example's own files (job file, data, README), not its
        // subdirectories (sources, node_modules): a job file reaches those
        // only through the paths checked below.
        for entry in std::fs::read_dir(example_dir).expect("list the example") {
            let path = entry.expect("directory entry").path();
            if path.is_file() {
                std::fs::copy(&path, copy_dir.join(path.file_name().unwrap())).expect("copy an example file");
            }
        }

        let guests = root.path().join(GUEST_BUILD_DIR);
        std::fs::create_dir_all(guests.parent().unwrap()).expect("create target/wasm32-wasip2");
        let guest_dir = guest_dir().canonicalize().unwrap_or_else(|e| {
            panic!("{}: {e}: run `cargo xtask build-guests` (or `cargo xtask test`)", guest_dir().display())
        });
        std::os::unix::fs::symlink(guest_dir, &guests).expect("link the guest components");

        // Read in place so that its paths resolve against the repository:
        // whatever they reach is mirrored into the copy.
        let spec = JobSpec::from_file(job_file).unwrap_or_else(|e| panic!("{}: {e}", job_file.display()));
        let in_repo = |path: &Path, what: &str| -> PathBuf {
            let normal = normalize(path);
            match normal.strip_prefix(&repo) {
                Ok(relative) => relative.to_owned(),
                Err(_) => panic!("{}: {what} {} is outside the repository", job_file.display(), path.display()),
            }
        };
        for source in &spec.sources {
            let SourceSpec::Lines { path, .. } = &source.spec else { continue };
            let relative = in_repo(path, "the input");
            let target = root.path().join(&relative);
            if !target.exists() {
                std::fs::create_dir_all(target.parent().unwrap()).expect("create the input's directory");
                std::fs::copy(repo.join(&relative), &target)
                    .unwrap_or_else(|e| panic!("{}: cannot copy {}: {e}", job_file.display(), relative.display()));
            }
        }
        for op in &spec.operators {
            let OperatorCode::Component(path) = &op.code else {
                panic!("{}: operator '{}' is native: `weir run` has no native operators", job_file.display(), op.name)
            };
            let relative = in_repo(path, "the component");
            assert!(
                relative.parent() == Some(Path::new(GUEST_BUILD_DIR)),
                "{}: operator '{}' names {}, not a component of {GUEST_BUILD_DIR}/ (`cargo xtask build-guests`)",
                job_file.display(),
                op.name,
                relative.display()
            );
            // Fails with what to do when the component was not built.
            guest(relative.file_stem().and_then(|s| s.to_str()).expect("component name"));
        }

        let job_file = copy_dir.join("job.toml");
        ExampleCopy { root, job_file }
    }
}

/// `path` without `.` and `..` components, without touching the disk
/// (`canonicalize` would follow the guest directory's link out of the
/// repository).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Where a source's watermarks fall (README, "Event time"): after the
/// event that moves the highest timestamp less the delay into a new
/// interval of event time.
struct SourceWatermarks {
    delay_ms: i64,
    interval_ms: i64,
    max_timestamp: i64,
    sent: i64,
}

impl SourceWatermarks {
    fn new(delay_ms: i64, interval_ms: i64) -> Self {
        SourceWatermarks { delay_ms, interval_ms, max_timestamp: i64::MIN, sent: i64::MIN }
    }

    /// The watermark sent after an event stamped `ts`, if one is.
    fn after(&mut self, ts: i64) -> Option<i64> {
        self.max_timestamp = self.max_timestamp.max(ts);
        let candidate = self.max_timestamp - self.delay_ms;
        let next =
            candidate > self.sent && candidate.div_euclid(self.interval_ms) > self.sent.div_euclid(self.interval_ms);
        next.then(|| {
            self.sent = candidate;
            candidate
        })
    }
}

/// One event as the models see it.
#[derive(Clone, Debug)]
struct ModelEvent {
    timestamp: Option<i64>,
    key: String,
    value: String,
}

/// What an example operator computes, written from its documentation (the
/// comment at the top of its source, its README), not from its code.
enum Model {
    /// `examples/tokenizer`: one event per whitespace-separated word of the
    /// value, keyed by the word, value `1`.
    Tokenize,
    /// `examples/counter` and its ports: the key with the number of events
    /// seen so far for it.
    RunningCount,
    /// `examples/dedup-*`: the first event of a key, and then the next one
    /// at least `ttl_ms` of event time away from the last forwarded.
    Dedup { ttl_ms: i64 },
    /// `examples/join` and `join-py`: input 0 orders (key product, value a
    /// count), input 1 `product<TAB>price` lines. An order with a bad count
    /// goes to `bad`; one whose product ever gets a price to the main
    /// output as `quantity<TAB>quantity*price` (each product is priced once
    /// in the examples, so when does not matter); the others to `unpriced`.
    Join,
    /// `examples/splitter`: non-empty lines of ASCII letters, digits and
    /// spaces to the main output keyed by their first word; the rest to
    /// `bad` with an empty key.
    Split,
    /// `examples/window-count*` (DESIGN.md, "Event time"): per key, counts
    /// in tumbling windows of `size_ms`, emitted as `<start>\t<count>` when
    /// the watermark reaches the window's end; an event whose window ends at
    /// or before the watermark goes to `late` unchanged. The watermark is the
    /// source's (README: highest timestamp less `delay_ms`, sent after the
    /// event that moves it into a new `interval_ms` of event time), and
    /// the end of time at the end of the input.
    WindowCount { size_ms: i64, delay_ms: i64, interval_ms: i64 },
    /// `examples/session-js`: per key, an event at t opens [t, t + gap_ms),
    /// merged with every session of the key it overlaps or touches; a
    /// session goes out as `<start>\t<end>\t<count>` when the watermark
    /// reaches its end; an event whose own [t, t + gap_ms) ends at or
    /// before the watermark goes to `late`. Watermarks as for WindowCount.
    Sessions { gap_ms: i64, delay_ms: i64, interval_ms: i64 },
}

fn model_of(example: &str, spec: &JobSpec, op: &OperatorSpec) -> Model {
    let OperatorCode::Component(path) = &op.code else { unreachable!("checked by ExampleCopy") };
    let component = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    match component {
        "tokenizer" => Model::Tokenize,
        "counter" | "counter-py" | "counter-js" | "counter-c" => Model::RunningCount,
        "join" | "join-py" => Model::Join,
        "splitter" => Model::Split,
        "session-js" => {
            let watermarks = spec.sources[0].watermarks.expect("session-js needs a source with watermarks");
            Model::Sessions {
                gap_ms: op.config.get("gap_ms").map_or(30_000, |v| v.parse().expect("gap_ms is an integer")),
                delay_ms: watermarks.delay_ms as i64,
                interval_ms: watermarks.interval_ms as i64,
            }
        }
        "window-count" | "window-count-py" => {
            let watermarks = spec.sources[0].watermarks.expect("window-count needs a source with watermarks");
            Model::WindowCount {
                size_ms: op.config.get("size_ms").map_or(60_000, |v| v.parse().expect("size_ms is an integer")),
                delay_ms: watermarks.delay_ms as i64,
                interval_ms: watermarks.interval_ms as i64,
            }
        }
        "dedup-py" | "dedup-js" => {
            // The default is the one dedup.py and dedup.js document.
            let ttl_ms = op.config.get("ttl_ms").map_or(60_000, |v| v.parse().expect("ttl_ms is an integer"));
            Model::Dedup { ttl_ms }
        }
        other => panic!(
            "examples/{example}/job.toml: operator '{}' runs `{other}`, which tests/e2e/examples.rs has no \
             model of: add one to `model_of`",
            op.name
        ),
    }
}

impl Model {
    /// The operator's outputs (main: `None`, side outputs by name) for its
    /// inputs, input 0 first.
    fn apply_graph(&self, mut inputs: Vec<Vec<ModelEvent>>) -> HashMap<Option<String>, Vec<ModelEvent>> {
        let event = |key: &str, value: String| ModelEvent { timestamp: None, key: key.to_owned(), value };
        let count = |text: &str| -> Option<u64> {
            (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
        };
        let mut outputs: HashMap<Option<String>, Vec<ModelEvent>> = HashMap::new();
        match self {
            Model::Join => {
                let prices: HashMap<String, u64> = inputs[1]
                    .iter()
                    .filter_map(|e| e.value.split_once('\t'))
                    .filter(|(product, _)| !product.is_empty())
                    .filter_map(|(product, price)| Some((product.to_owned(), count(price)?)))
                    .collect();
                for order in &inputs[0] {
                    let (output, value) = match (count(&order.value), prices.get(&order.key)) {
                        (None, _) => (Some("bad"), order.value.clone()),
                        (Some(q), Some(&price)) => (None, format!("{q}\t{}", u128::from(q) * u128::from(price))),
                        (Some(q), None) => (Some("unpriced"), q.to_string()),
                    };
                    outputs.entry(output.map(str::to_owned)).or_default().push(event(&order.key, value));
                }
            }
            &Model::WindowCount { size_ms, delay_ms, interval_ms } => {
                type Open = std::collections::BTreeMap<(i64, String), u64>;
                let mut windows: Open = Default::default();
                let (mut watermark, mut source) = (i64::MIN, SourceWatermarks::new(delay_ms, interval_ms));
                let mut counts = Vec::new();
                let fire = |watermark: i64, windows: &mut Open, counts: &mut Vec<ModelEvent>| {
                    let due: Vec<(i64, String)> =
                        windows.keys().filter(|(start, _)| start + size_ms <= watermark).cloned().collect();
                    for (start, key) in due {
                        let count = windows.remove(&(start, key.clone())).unwrap_or_default();
                        counts.push(event(&key, format!("{start}\t{count}")));
                    }
                };
                for e in inputs.concat() {
                    let ts = e.timestamp.expect("window-count needs timestamps");
                    let start = ts - ts.rem_euclid(size_ms);
                    if start + size_ms <= watermark {
                        outputs.entry(Some("late".to_owned())).or_default().push(e.clone());
                    } else {
                        *windows.entry((start, e.key.clone())).or_default() += 1;
                    }
                    if let Some(next) = source.after(ts) {
                        watermark = next;
                        fire(watermark, &mut windows, &mut counts);
                    }
                }
                fire(i64::MAX, &mut windows, &mut counts);
                outputs.insert(None, counts);
            }
            &Model::Sessions { gap_ms, delay_ms, interval_ms } => {
                // Per key: (start, end, count) of its open sessions.
                let mut open: HashMap<String, Vec<(i64, i64, u64)>> = HashMap::new();
                let (mut watermark, mut source) = (i64::MIN, SourceWatermarks::new(delay_ms, interval_ms));
                let mut closed = Vec::new();
                let close =
                    |watermark: i64, open: &mut HashMap<String, Vec<(i64, i64, u64)>>, closed: &mut Vec<ModelEvent>| {
                        for (key, sessions) in open.iter_mut() {
                            sessions.retain(|&(start, end, count)| {
                                let done = end <= watermark;
                                if done {
                                    closed.push(event(key, format!("{start}\t{end}\t{count}")));
                                }
                                !done
                            });
                        }
                    };
                for e in inputs.concat() {
                    let ts = e.timestamp.expect("session-js needs timestamps");
                    if ts + gap_ms <= watermark {
                        outputs.entry(Some("late".to_owned())).or_default().push(e.clone());
                    } else {
                        let sessions = open.entry(e.key.clone()).or_default();
                        let (mut start, mut end, mut count) = (ts, ts + gap_ms, 1);
                        sessions.retain(|&(s, t, c)| {
                            let touches = s <= end && start <= t;
                            if touches {
                                (start, end, count) = (start.min(s), end.max(t), count + c);
                            }
                            !touches
                        });
                        sessions.push((start, end, count));
                    }
                    if let Some(next) = source.after(ts) {
                        watermark = next;
                        close(watermark, &mut open, &mut closed);
                    }
                }
                close(i64::MAX, &mut open, &mut closed);
                outputs.insert(None, closed);
            }
            Model::Split => {
                for line in inputs.concat() {
                    let valid =
                        !line.value.is_empty() && line.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ');
                    let (output, key) = match valid {
                        true => (None, line.value.split(' ').find(|w| !w.is_empty()).unwrap_or_default().to_owned()),
                        false => (Some("bad".to_owned()), String::new()),
                    };
                    outputs.entry(output).or_default().push(event(&key, line.value.clone()));
                }
            }
            // One-input operators see their inputs' union.
            single => {
                let union = inputs.drain(..).flatten().collect();
                outputs.insert(None, single.apply(union));
            }
        }
        outputs
    }

    /// The operator's output for `input`, events in the order one keyed
    /// subtask sees them (the examples' sources run as one subtask, so every
    /// key's events arrive in source order).
    fn apply(&self, input: Vec<ModelEvent>) -> Vec<ModelEvent> {
        match self {
            Model::Tokenize => input
                .into_iter()
                .flat_map(|event| {
                    let words: Vec<String> = event.value.split_whitespace().map(str::to_owned).collect();
                    words.into_iter().map(move |word| ModelEvent {
                        timestamp: event.timestamp,
                        key: word,
                        value: "1".into(),
                    })
                })
                .collect(),
            Model::RunningCount => {
                let mut counts: HashMap<String, u64> = HashMap::new();
                input
                    .into_iter()
                    .map(|event| {
                        let count = counts.entry(event.key.clone()).or_insert(0);
                        *count += 1;
                        ModelEvent { value: count.to_string(), ..event }
                    })
                    .collect()
            }
            Model::Dedup { ttl_ms } => {
                // Expiry is left out: it drops only keys whose window has
                // closed, and in source order their next event is forwarded
                // either way.
                let mut forwarded_at: HashMap<String, i64> = HashMap::new();
                input
                    .into_iter()
                    .filter(|event| {
                        let ts = event.timestamp.expect("dedup needs timestamps");
                        match forwarded_at.get(&event.key) {
                            Some(&last) if (ts - last).abs() < *ttl_ms => false,
                            _ => {
                                forwarded_at.insert(event.key.clone(), ts);
                                true
                            }
                        }
                    })
                    .collect()
            }
            Model::Join | Model::Split | Model::WindowCount { .. } | Model::Sessions { .. } => {
                unreachable!("two outputs: see apply_graph")
            }
        }
    }
}

/// Per sink (in job order), the `key<TAB>value` lines the example must
/// produce, sorted: the models of its operators evaluated over its graph.
fn expected_outputs(example: &str, spec: &JobSpec) -> Vec<Vec<String>> {
    let graph = JobGraph::resolve(spec).unwrap_or_else(|e| panic!("examples/{example}: {e}"));
    // Every output (`node` or `op.SIDE`) once computed.
    let mut outputs: HashMap<String, Vec<ModelEvent>> = HashMap::new();
    for source in &spec.sources {
        outputs.insert(source.name.clone(), source_events(spec, &source.spec));
    }
    // The examples list operators after what they read; loop until every
    // operator's inputs are known all the same.
    let mut done = vec![false; spec.operators.len()];
    while done.iter().any(|d| !d) {
        let before = done.clone();
        for (index, op) in spec.operators.iter().enumerate() {
            let vertex = &graph.vertices[index];
            if done[index] || !vertex.inputs.iter().all(|i| outputs.contains_key(&i.name)) {
                continue;
            }
            let inputs = vertex.inputs.iter().map(|i| outputs[&i.name].clone()).collect();
            for (side, events) in model_of(example, spec, op).apply_graph(inputs) {
                let name = side.map_or_else(|| op.name.clone(), |side| format!("{}.{side}", op.name));
                outputs.insert(name, events);
            }
            for side in
                std::iter::once(op.name.clone()).chain(op.side_outputs.iter().map(|s| format!("{}.{s}", op.name)))
            {
                outputs.entry(side).or_default();
            }
            done[index] = true;
        }
        assert_ne!(before, done, "examples/{example}: operators whose inputs never come");
    }
    graph
        .sinks
        .iter()
        .map(|sink| {
            let mut lines: Vec<String> = sink
                .inputs
                .iter()
                .flat_map(|(name, _)| &outputs[name])
                .map(|e| format!("{}\t{}", e.key, e.value))
                .collect();
            lines.sort();
            lines
        })
        .collect()
}

/// The events of one of the job's sources, in order.
fn source_events(spec: &JobSpec, source: &SourceSpec) -> Vec<ModelEvent> {
    match source {
        // The contract: one event per line, empty key, the line as value;
        // with `format = "tsv"`, `timestamp<TAB>key<TAB>value`.
        SourceSpec::Lines { path, format, .. } => std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|line| match format {
                LineFormat::Plain => ModelEvent { timestamp: None, key: String::new(), value: line.to_owned() },
                LineFormat::Tsv => {
                    let mut fields = line.splitn(3, '\t');
                    let mut next = || fields.next().unwrap_or_else(|| panic!("{}: not tsv: {line:?}", path.display()));
                    let timestamp = Some(next().parse().expect("a tsv timestamp"));
                    ModelEvent { timestamp, key: next().to_owned(), value: next().to_owned() }
                }
            })
            .collect(),
        SourceSpec::Generator(generator) => {
            let events = recorded_events(spec, source);
            // What the contract says of them, checked so that the models
            // rest on it: `count` events, event i stamped i, `keys` keys.
            assert_eq!(events.len() as u64, generator.count, "generator event count");
            for (i, event) in events.iter().enumerate() {
                assert_eq!(event.timestamp, Some(i as i64), "generator event {i}'s timestamp");
                assert_eq!(event.value.len(), generator.value_size, "generator event {i}'s value size");
            }
            let keys: std::collections::HashSet<&str> = events.iter().map(|e| e.key.as_str()).collect();
            assert!(keys.len() as u64 <= generator.keys, "{} keys from a generator of {}", keys.len(), generator.keys);
            events
        }
        SourceSpec::Embedded(_) | SourceSpec::Custom(_) => unreachable!("job files cannot name an embedded source"),
        other => panic!("a {other:?} source needs a broker; examples read files"),
    }
}

/// Native code that passes each event on with its timestamp in front of
/// its value (`-` for none), so that a files sink records all of it.
struct Recorder;

impl Operator for Recorder {
    fn open(_: &mut OpenContext) -> weir_guest::Result<Self> {
        Ok(Recorder)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> weir_guest::Result<()> {
        let mut value = event.timestamp().map_or_else(|| "-".to_owned(), |ts| ts.to_string()).into_bytes();
        value.push(b'\t');
        value.extend_from_slice(event.value());
        ctx.emit(event.key(), value);
        Ok(())
    }
}

/// The generator's events as the host produces them: which keys a seed
/// draws is the host's business, not the contract's, so the test asks the
/// host's own source (through the library, with a recording operator in
/// place of the example's) instead of re-implementing its hash.
fn recorded_events(spec: &JobSpec, source: &SourceSpec) -> Vec<ModelEvent> {
    let out = tempfile::tempdir().expect("temporary directory");
    let mut record = JobSpec::new("record-source", source.clone(), SinkSpec::files(out.path()));
    record.execution = spec.execution.clone();
    record.operators.push(OperatorSpec::native("recorder", "recorder"));
    let engine = Engine::new().expect("engine").with_native(NativeOperator::sdk::<Recorder>("recorder"));
    let report = engine.start(record).expect("start the recording").wait().expect("the recording failed");
    assert_eq!(report.status, JobStatus::Finished);
    let mut events: Vec<ModelEvent> = output_lines(out.path())
        .into_iter()
        .map(|line| {
            let mut fields = line.splitn(3, '\t');
            let (key, timestamp, value) = (fields.next(), fields.next(), fields.next());
            let timestamp = timestamp.expect("recorded timestamp");
            ModelEvent {
                timestamp: (timestamp != "-").then(|| timestamp.parse().expect("recorded timestamp")),
                key: key.expect("recorded key").to_owned(),
                value: value.expect("recorded value").to_owned(),
            }
        })
        .collect();
    // Files hold no order among themselves; the timestamp is the sequence.
    events.sort_by_key(|event| event.timestamp);
    events
}

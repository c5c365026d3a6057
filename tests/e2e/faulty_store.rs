//! A store that fails or delays chosen operations on demand
//! ([`FaultyStore`], registered under a `memory://` name so that a job
//! writes through it), and [`FaultyJob`], a job whose checkpoints go there.
//! Used by `faults.rs` (writes that fail) and `unreadable.rs` (reads that
//! fail).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use weir_host::checkpoint::storage::register_store;
use weir_host::{
    CheckpointConfig, Engine, JobSpec, JobStatus, LineFormat, OperatorSpec, Retention, RunningJob, SinkSpec, SourceSpec,
};
use weir_host::{RestoreMode, StartFrom, StartOptions};

use crate::checkpoint_support::*;
use crate::support::*;

// ---------------------------------------------------------------------------
// The fault-injecting store
// ---------------------------------------------------------------------------

/// A store operation, as counted and as faults select it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `put_opts` (also `put`): data files and `_metadata`.
    Put,
    PutMultipart,
    /// `get_opts` reading data (also `get`, `get_range`).
    Get,
    /// `get_opts` asking only for the metadata (`head`).
    Head,
    /// One location of `delete_stream` (also `delete`).
    Delete,
    List,
    ListWithDelimiter,
    Copy,
}

/// What happens to a selected call.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The call fails with `object_store::Error::Generic { store: "faulty", .. }`.
    Fail,
    /// The call waits this long, then goes through.
    Delay(Duration),
}

#[derive(Debug)]
struct Rule {
    op: Op,
    /// Selects calls whose path (or listing prefix) contains this.
    path_contains: String,
    fault: Fault,
    /// Selected calls still let through before the fault applies.
    skip: u64,
}

#[derive(Debug, Default)]
struct FaultState {
    rules: Vec<Rule>,
    calls: HashMap<Op, u64>,
    finished: HashMap<Op, u64>,
    injected: HashMap<Op, u64>,
    /// Paths of the puts that went through, in order.
    written: Vec<String>,
}

/// The test's handle on a [`FaultyStore`]: faults can be set and cleared
/// while a job runs; every call is counted.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

impl Faults {
    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From now on, `op` calls on paths containing `path_contains` fail.
    pub fn fail(&self, op: Op, path_contains: &str) {
        self.fail_after(op, path_contains, 0);
    }

    /// Like [`fail`](Self::fail), but the first `skip` selected calls go
    /// through: for a fault that must hit a later reader of an object, not
    /// the first one.
    pub fn fail_after(&self, op: Op, path_contains: &str, skip: u64) {
        self.state().rules.push(Rule { op, path_contains: path_contains.into(), fault: Fault::Fail, skip });
    }

    /// From now on, `op` calls on paths containing `path_contains` wait
    /// `delay` first.
    pub fn delay(&self, op: Op, path_contains: &str, delay: Duration) {
        self.state().rules.push(Rule { op, path_contains: path_contains.into(), fault: Fault::Delay(delay), skip: 0 });
    }

    /// Removes every fault (calls already waiting keep waiting).
    pub fn clear(&self) {
        self.state().rules.clear();
    }

    /// Calls of `op` so far.
    pub fn calls(&self, op: Op) -> u64 {
        self.state().calls.get(&op).copied().unwrap_or(0)
    }

    /// Calls of `op` started but not yet returned.
    pub fn in_flight(&self, op: Op) -> u64 {
        let state = self.state();
        state.calls.get(&op).copied().unwrap_or(0) - state.finished.get(&op).copied().unwrap_or(0)
    }

    /// Calls of `op` failed on purpose so far.
    pub fn injected(&self, op: Op) -> u64 {
        self.state().injected.get(&op).copied().unwrap_or(0)
    }

    /// Paths written by successful puts that contain `needle`.
    pub fn written(&self, needle: &str) -> Vec<String> {
        self.state().written.iter().filter(|p| p.contains(needle)).cloned().collect()
    }

    /// Counts a call and picks its fault (the first matching rule).
    fn on_call(&self, op: Op, path: &str) -> Option<Fault> {
        let mut state = self.state();
        *state.calls.entry(op).or_default() += 1;
        let rule = state.rules.iter_mut().find(|r| r.op == op && path.contains(&r.path_contains));
        let fault = match rule {
            Some(rule) if rule.skip > 0 => {
                rule.skip -= 1;
                None
            }
            rule => rule.map(|r| r.fault),
        };
        if matches!(fault, Some(Fault::Fail)) {
            *state.injected.entry(op).or_default() += 1;
        }
        fault
    }

    fn on_return(&self, op: Op, written: Option<&Path>) {
        let mut state = self.state();
        *state.finished.entry(op).or_default() += 1;
        if let Some(path) = written {
            state.written.push(path.to_string());
        }
    }

    /// Applies the fault chosen for a call (before the real call).
    async fn before(&self, op: Op, path: &str) -> object_store::Result<()> {
        match self.on_call(op, path) {
            None => Ok(()),
            Some(Fault::Fail) => {
                self.on_return(op, None);
                Err(injected(op, path))
            }
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }
}

fn injected(op: Op, path: &str) -> object_store::Error {
    object_store::Error::Generic { store: "faulty", source: format!("injected {op:?} failure at '{path}'").into() }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An [`InMemory`] store behind [`Faults`]. The trait is `async_trait`
/// based; this crate does not depend on that macro, so the methods are
/// written out as it expands them.
pub struct FaultyStore {
    inner: Arc<InMemory>,
    faults: Faults,
}

impl FaultyStore {
    pub fn new(inner: Arc<InMemory>, faults: Faults) -> Self {
        FaultyStore { inner, faults }
    }
}

impl std::fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore").field("inner", &self.inner).field("faults", &self.faults).finish()
    }
}

impl ObjectStore for FaultyStore {
    fn put_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<PutResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.faults.before(Op::Put, location.as_ref()).await?;
            let result = self.inner.put_opts(location, payload, opts).await;
            self.faults.on_return(Op::Put, result.is_ok().then_some(location));
            result
        })
    }

    fn put_multipart_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        opts: PutMultipartOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<Box<dyn MultipartUpload>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.faults.before(Op::PutMultipart, location.as_ref()).await?;
            let result = self.inner.put_multipart_opts(location, opts).await;
            self.faults.on_return(Op::PutMultipart, None);
            result
        })
    }

    fn get_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        options: GetOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<GetResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let op = if options.head { Op::Head } else { Op::Get };
        Box::pin(async move {
            self.faults.before(op, location.as_ref()).await?;
            let result = self.inner.get_opts(location, options).await;
            self.faults.on_return(op, None);
            result
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let inner = Arc::clone(&self.inner);
        let faults = self.faults.clone();
        locations
            .then(move |location| {
                let inner = Arc::clone(&inner);
                let faults = faults.clone();
                async move {
                    let location = location?;
                    faults.before(Op::Delete, location.as_ref()).await?;
                    let result = inner.delete(&location).await;
                    faults.on_return(Op::Delete, None);
                    result.map(|()| location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let shown = prefix.map(Path::to_string).unwrap_or_default();
        match self.faults.on_call(Op::List, &shown) {
            None => {
                self.faults.on_return(Op::List, None);
                self.inner.list(prefix)
            }
            Some(Fault::Fail) => {
                self.faults.on_return(Op::List, None);
                futures_util::stream::once(async move { Err(injected(Op::List, &shown)) }).boxed()
            }
            Some(Fault::Delay(delay)) => {
                let inner = Arc::clone(&self.inner);
                let faults = self.faults.clone();
                let prefix = prefix.cloned();
                futures_util::stream::once(async move {
                    tokio::time::sleep(delay).await;
                    faults.on_return(Op::List, None);
                    inner.list(prefix.as_ref())
                })
                .flatten()
                .boxed()
            }
        }
    }

    fn list_with_delimiter<'life0, 'life1, 'async_trait>(
        &'life0 self,
        prefix: Option<&'life1 Path>,
    ) -> BoxFuture<'async_trait, object_store::Result<ListResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let shown = prefix.map(Path::to_string).unwrap_or_default();
            self.faults.before(Op::ListWithDelimiter, &shown).await?;
            let result = self.inner.list_with_delimiter(prefix).await;
            self.faults.on_return(Op::ListWithDelimiter, None);
            result
        })
    }

    fn copy_opts<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        from: &'life1 Path,
        to: &'life2 Path,
        options: CopyOptions,
    ) -> BoxFuture<'async_trait, object_store::Result<()>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.faults.before(Op::Copy, to.as_ref()).await?;
            let result = self.inner.copy_opts(from, to, options).await;
            self.faults.on_return(Op::Copy, None);
            result
        })
    }
}

// ---------------------------------------------------------------------------
// A word count checkpointing into a faulty store
// ---------------------------------------------------------------------------

/// Lines of input, and how fast the checkpointed run reads them: 15 s of
/// input, far more than any test needs before it cancels.
const LINES: usize = 60_000;
const RATE: u64 = 4_000;

/// One test's job: its directory, its own `memory://<name>` store (a
/// [`FaultyStore`] over `inner`) and the faults' handle.
pub(crate) struct FaultyJob {
    pub(crate) job: JobDir,
    pub(crate) input: String,
    /// The store's name and the job's id.
    pub(crate) name: String,
    pub(crate) faults: Faults,
    /// The objects themselves, seen without faults.
    inner: Arc<InMemory>,
    pub(crate) engine: Engine,
    pub(crate) runtime: tokio::runtime::Runtime,
}

/// One stored object: path, size, e-tag and contents.
pub(crate) type Object = (String, u64, Option<String>, Vec<u8>);

impl FaultyJob {
    pub(crate) fn new(name: &str) -> Self {
        let job = JobDir::new();
        let input = input_lines(LINES, 7);
        job.write("input.txt", &input);
        let faults = Faults::default();
        let inner = Arc::new(InMemory::new());
        register_store(name, Arc::new(FaultyStore::new(Arc::clone(&inner), faults.clone())));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        FaultyJob { job, input, name: name.into(), faults, inner, engine: Engine::new().expect("engine"), runtime }
    }

    /// Manual checkpoints only (the interval is an hour), every subtask's
    /// state in a data file, kept on cancellation, one failure tolerated.
    pub(crate) fn config(&self) -> CheckpointConfig {
        let mut config = CheckpointConfig::new(format!("memory://{}", self.name), Duration::from_secs(3600));
        config.inline_threshold_bytes = 0;
        config.retention = Retention::RetainOnCancellation;
        config.num_retained = 2;
        config.tolerable_failed = 1;
        config
    }

    /// The word count, with no restarts: a failure ends the job.
    pub(crate) fn spec(&self, rate_limit: Option<u64>, checkpoint: Option<CheckpointConfig>) -> JobSpec {
        let mut spec = JobSpec::new(
            "faults",
            SourceSpec::Lines { path: self.job.path("input.txt"), rate_limit, format: LineFormat::Plain },
            SinkSpec::files(self.job.path("out")),
        )
        .operator(OperatorSpec::new("tokenizer", guest("tokenizer")).parallelism(2))
        .operator(OperatorSpec::new("counter", guest("counter")).parallelism(2).key_by(true));
        spec.id = Some(self.name.clone());
        spec.checkpoint = checkpoint;
        // `RestartStrategy` is not reachable from outside the crate; the job
        // file's `[restart]` table is.
        let restart = "[job]\nname = \"r\"\n[source]\ntype = \"lines\"\npath = \"in.txt\"\n\
                       [[operators]]\nname = \"op\"\ncomponent = \"op.wasm\"\n[sink]\ntype = \"discard\"\n\
                       [restart]\nstrategy = \"none\"\n";
        spec.restart = JobSpec::from_toml_str(restart, std::path::Path::new("/")).expect("restart table").restart;
        assert!(spec.restart.is_some());
        spec
    }

    /// Starts the rate-limited run with `config`, and waits until it has
    /// read some input: a counter with no state yet would write no data
    /// file (empty state is always inline).
    pub(crate) fn start(&self, config: CheckpointConfig) -> RunningJob {
        let running = self.engine.start(self.spec(Some(RATE), Some(config))).expect("start");
        wait_for("input read", || running.metrics().source_events >= 1000);
        running
    }

    /// Every object of checkpoint `id`, sorted, read past the faults.
    pub(crate) fn objects(&self, id: u64) -> Vec<Object> {
        self.objects_under(&format!("{}/chk-{id}", self.name))
    }

    /// Every object of the job's store, sorted, read past the faults.
    pub(crate) fn all_objects(&self) -> Vec<Object> {
        self.objects_under(&self.name)
    }

    fn objects_under(&self, prefix: &str) -> Vec<Object> {
        let prefix = Path::from(prefix);
        self.runtime.block_on(async {
            let mut metas: Vec<ObjectMeta> = self.inner.list(Some(&prefix)).try_collect().await.expect("list");
            metas.sort_by(|a, b| a.location.cmp(&b.location));
            let mut objects = Vec::new();
            for meta in metas {
                let bytes = self.inner.get(&meta.location).await.expect("get").bytes().await.expect("bytes");
                objects.push((meta.location.to_string(), meta.size, meta.e_tag, bytes.to_vec()));
            }
            objects
        })
    }

    /// File names of checkpoint `id`.
    pub(crate) fn names(&self, id: u64) -> Vec<String> {
        self.objects(id).into_iter().map(|(path, ..)| path.rsplit('/').next().unwrap_or_default().to_owned()).collect()
    }

    /// Writes an object past the faults.
    pub(crate) fn put(&self, path: &str, bytes: &[u8]) {
        let payload = object_store::PutPayload::from(bytes.to_vec());
        self.runtime.block_on(self.inner.put(&Path::from(path), payload)).expect("put");
    }

    /// Every `chk-<n>` holding objects, with whether it has `_metadata`.
    pub(crate) fn checkpoints(&self) -> BTreeMap<u64, bool> {
        let prefix = Path::from(self.name.as_str());
        let metas: Vec<ObjectMeta> = self.runtime.block_on(self.inner.list(Some(&prefix)).try_collect()).expect("list");
        let mut found = BTreeMap::new();
        for meta in metas {
            let path = meta.location.to_string();
            let mut parts = path.split('/').skip(1);
            let (Some(dir), Some(file)) = (parts.next(), parts.next()) else { continue };
            let Some(id) = dir.strip_prefix("chk-").and_then(|n| n.parse().ok()) else { continue };
            *found.entry(id).or_insert(false) |= file == "_metadata";
        }
        found
    }

    /// Asserts that checkpoint `id` is complete and has data files.
    pub(crate) fn assert_complete(&self, id: u64) {
        let names = self.names(id);
        assert!(names.iter().any(|n| n == "_metadata"), "checkpoint {id} has no _metadata: {names:?}");
        assert!(names.iter().any(|n| n.ends_with(".state")), "checkpoint {id} has no data files: {names:?}");
    }

    /// Waits (up to 15 s) until checkpoint `id` holds no object.
    pub(crate) fn wait_until_gone(&self, id: u64) {
        wait_for(&format!("removal of checkpoint {id}"), || self.names(id).is_empty());
    }

    /// Restores checkpoint `id` (no claim) into a second job reading all the
    /// input at full speed into the same output directory; the committed
    /// output must be exactly the failure-free result.
    pub(crate) fn assert_restores_exactly(&self, id: u64) {
        self.faults.clear();
        let before = self.objects(id);
        let options = StartOptions {
            from: StartFrom::Checkpoint {
                path: format!("memory://{}/{}/chk-{id}", self.name, self.name),
                mode: RestoreMode::NoClaim,
            },
            ..StartOptions::default()
        };
        let running = self.engine.start_with(self.spec(None, None), options).expect("restore");
        let report = running.wait().expect("restored job");
        assert_eq!(report.status, JobStatus::Finished);
        let got = output_lines(&self.job.path("out"));
        let expected = expected_output(&self.input);
        assert_eq!(got.len(), expected.len(), "wrong number of committed lines (duplicates or losses)");
        assert!(got == expected, "committed output differs from the failure-free result");
        assert!(self.objects(id) == before, "a no-claim restore changed checkpoint {id}");
    }
}

/// Waits (up to 15 s) until `done`.
pub(crate) fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(15), "no {what} after 15 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Cancels a job that must still be running and waits for it.
pub(crate) fn cancel_and_wait(running: RunningJob) {
    assert!(!running.is_finished(), "the job ended on its own");
    running.cancel();
    let report = running.wait().expect("the job failed");
    assert_eq!(report.status, JobStatus::Cancelled);
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

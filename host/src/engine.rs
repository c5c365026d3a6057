//! The embedding entry point: an [`Engine`] starts jobs and hands back a
//! [`RunningJob`] to watch, cancel and wait for.
//!
//! Starting a job does everything that can fail because of the job's
//! description before any task runs: validation, loading and checking every
//! component, opening the source and the sink. So a bad job file fails fast
//! with one clear error instead of a half-started job.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::Result;
use crate::exec::{self, JobReport, Prepared, RunningJob};
use crate::guest::{GuestRuntime, LoadedComponent};
use crate::job::JobSpec;
use crate::{sinks, sources};

/// Runs jobs. One engine can run many jobs, one after another or at the
/// same time; they share the wasmtime engine.
///
/// ```no_run
/// use weir_host::{Engine, JobSpec, JobStatus};
///
/// let engine = Engine::new()?;
/// let job = engine.start(JobSpec::from_file("examples/wordcount/job.toml")?)?;
/// println!("started job {}", job.id());
/// let report = job.wait()?;
/// assert_eq!(report.status, JobStatus::Finished);
/// # Ok::<(), weir_host::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    runtime: GuestRuntime,
}

impl Engine {
    pub fn new() -> Result<Self> {
        Ok(Engine {
            runtime: GuestRuntime::new()?,
        })
    }

    /// Checks and starts a job; returns once its tasks are running.
    pub fn start(&self, spec: JobSpec) -> Result<RunningJob> {
        spec.validate()?;
        let components = self.load_components(&spec)?;
        let source = sources::open(&spec.source)?;
        let last = spec.operators.last().map_or(1, |op| op.parallelism);
        let sinks = (0..last)
            .map(|subtask| sinks::open(&spec.sink, subtask))
            .collect::<Result<_>>()?;
        let id = spec.id.clone().unwrap_or_else(fresh_job_id);
        tracing::info!(job = %spec.name, id = %id, "starting job");
        exec::start(Prepared {
            id,
            spec,
            components,
            source,
            sinks,
        })
    }

    /// Starts a job and waits for it to end.
    pub fn run(&self, spec: JobSpec) -> Result<JobReport> {
        self.start(spec)?.wait()
    }

    /// Loads each distinct component file once, however many operators use it.
    fn load_components(&self, spec: &JobSpec) -> Result<Vec<LoadedComponent>> {
        let mut loaded: HashMap<PathBuf, LoadedComponent> = HashMap::new();
        let mut components = Vec::with_capacity(spec.operators.len());
        for op in &spec.operators {
            let component = match loaded.get(&op.component) {
                Some(component) => component.clone(),
                None => {
                    let component = LoadedComponent::load(&self.runtime, &op.name, &op.component)?;
                    loaded.insert(op.component.clone(), component.clone());
                    component
                }
            };
            components.push(component);
        }
        Ok(components)
    }
}

/// 16 hex digits from the standard library's per-process random keys.
fn fresh_job_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

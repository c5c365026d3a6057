//! Native operators: Rust code run in the host process, with no sandbox.
//!
//! A [`NativeOperator`] is a named factory of [`OperatorInstance`]s. The
//! usual way to make one is [`NativeOperator::sdk`], which runs an operator
//! written with the `weir-guest` SDK natively: the same source that compiles
//! to a component, driven by the SDK's own `Runtime` through the same batch
//! and state formats. That is what makes it a fair baseline: the only thing
//! that differs from the component is the sandbox.
//!
//! Native code is trusted: it shares the host's memory and a panic in it is
//! caught and reported as an error, but nothing bounds its memory or time.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use weir_guest::runtime::Runtime;
use weir_guest::state::Chunk;
use weir_guest::{Operator, OperatorInfo};

use super::InstanceContext;
use super::{OperatorInstance, Snapshot, SnapshotMode, StateChunk};
use crate::error::{Error, GuestFailure, Result};

type Factory = dyn Fn(&InstanceContext, Vec<StateChunk>) -> Result<Box<dyn OperatorInstance>> + Send + Sync;

/// A named factory of native operator instances. Cheap to clone.
///
/// ```
/// use weir_host::operator::NativeOperator;
/// use weir_guest::{Context, Event, OpenContext, Operator, Result};
///
/// /// Passes every event through unchanged.
/// struct Identity;
///
/// impl Operator for Identity {
///     fn open(_: &mut OpenContext) -> Result<Self> {
///         Ok(Identity)
///     }
///     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
///         ctx.emit(event.key(), event.value());
///         Ok(())
///     }
/// }
///
/// let identity = NativeOperator::sdk::<Identity>("identity");
/// assert_eq!(identity.name(), "identity");
/// ```
#[derive(Clone)]
pub struct NativeOperator {
    name: String,
    factory: Arc<Factory>,
}

impl NativeOperator {
    /// A native operator made by `factory`, called once per subtask with its
    /// context and the state restored for it (empty on a fresh start).
    pub fn new(
        name: impl Into<String>,
        factory: impl Fn(&InstanceContext, Vec<StateChunk>) -> Result<Box<dyn OperatorInstance>> + Send + Sync + 'static,
    ) -> Self {
        NativeOperator { name: name.into(), factory: Arc::new(factory) }
    }

    /// Runs the `weir-guest` SDK operator `O` natively.
    pub fn sdk<O: Operator + Send + 'static>(name: impl Into<String>) -> Self {
        NativeOperator::new(name, |context, restored| {
            let info = operator_info(context);
            let restored = restored.into_iter().map(to_sdk_chunk).collect();
            let operator = context.operator.clone();
            let subtask = context.subtask_index;
            let runtime = guarded(&operator, subtask, "init", || Runtime::<O>::init(info, restored))?;
            Ok(Box::new(SdkInstance { runtime, operator, subtask }))
        })
    }

    /// The name job files refer to it by (`native = "..."`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stands in for a component's SHA-256 in a checkpoint's job graph
    /// fingerprint: native code has no bytes to hash, so its name is hashed.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(format!("weir-native:{}", self.name).as_bytes()).into()
    }

    pub(crate) fn instantiate(
        &self,
        context: &InstanceContext,
        restored: Vec<StateChunk>,
    ) -> Result<Box<dyn OperatorInstance>> {
        (self.factory)(context, restored)
    }
}

impl fmt::Debug for NativeOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeOperator").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Two handles are equal when they are the same factory.
impl PartialEq for NativeOperator {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.factory, &other.factory)
    }
}

/// An SDK operator's `Runtime`, called directly.
struct SdkInstance<O> {
    runtime: Runtime<O>,
    operator: String,
    subtask: u32,
}

impl<O: Operator + Send> OperatorInstance for SdkInstance<O> {
    fn process(&mut self, input: u32, batch: &Vec<u8>) -> Result<Vec<u8>> {
        guarded(&self.operator, self.subtask, "process", || self.runtime.process(input, batch))
    }

    fn snapshot(&mut self, checkpoint_id: u64, mode: SnapshotMode) -> Result<Snapshot> {
        let mode = match mode {
            SnapshotMode::Full => weir_guest::runtime::SnapshotMode::Full,
            SnapshotMode::Incremental => weir_guest::runtime::SnapshotMode::Incremental,
        };
        let snapshot =
            guarded(&self.operator, self.subtask, "snapshot", || self.runtime.snapshot(checkpoint_id, mode))?;
        Ok(Snapshot {
            incremental: snapshot.incremental,
            chunks: snapshot.chunks.into_iter().map(from_sdk_chunk).collect(),
        })
    }

    fn advance(&mut self, watermark: i64, now: i64) -> Result<Vec<u8>> {
        guarded(&self.operator, self.subtask, "advance", || self.runtime.advance(watermark, now))
    }

    fn wake_at(&self) -> Option<i64> {
        self.runtime.wake_at()
    }

    fn finish(&mut self) -> Result<Vec<u8>> {
        guarded(&self.operator, self.subtask, "finish", || self.runtime.finish())
    }
}

/// Runs one call of native code, turning its error or panic into an error
/// that names the operator, as a guest's would be.
fn guarded<T>(operator: &str, subtask: u32, call: &str, f: impl FnOnce() -> weir_guest::Result<T>) -> Result<T> {
    let error = |failure, message: String| Error::guest(operator, subtask, failure, message);
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(error(GuestFailure::Returned, format!("{call} returned an error: {e}"))),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(error(GuestFailure::Trap, format!("native code panicked in {call}: {message}")))
        }
    }
}

fn operator_info(context: &InstanceContext) -> OperatorInfo {
    let mut info = OperatorInfo::new(context.operator.clone())
        .with_subtask(context.subtask_index, context.parallelism)
        .with_max_parallelism(context.max_parallelism)
        .with_key_groups(context.key_groups.clone());
    for (key, value) in &context.config {
        info = info.with_config(key.clone(), value.clone());
    }
    info.with_inputs(context.inputs.iter().cloned()).with_side_outputs(context.side_outputs.iter().cloned())
}

fn to_sdk_chunk(chunk: StateChunk) -> Chunk {
    Chunk { handle: chunk.handle, kind: chunk.kind, key_group: chunk.key_group, data: chunk.data }
}

fn from_sdk_chunk(chunk: Chunk) -> StateChunk {
    StateChunk { handle: chunk.handle, kind: chunk.kind, key_group: chunk.key_group, data: chunk.data }
}

//! The glue between wit-bindgen's generated bindings and [`Runtime`]:
//! [`export_operator!`](crate::export_operator) and what it expands to.
//!
//! The bindings are generated once, in this crate (`__private::bindings`);
//! operator crates never see wit-bindgen. `export_operator!(MyOp)` expands in
//! the operator's crate to a thread-local [`Slot`] holding the
//! `Runtime<MyOp>` (WebAssembly guests are single-threaded) and a marker type
//! implementing [`Glue`]; the blanket `Guest` impl below forwards each WIT call
//! to that runtime.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::__private::bindings::exports::weir::operator::operator::{
    Batch, Guest, OperatorContext, SnapshotMode as WitSnapshotMode, StateChunk, StateSnapshot,
};
use crate::__private::bindings::weir::operator::types::StateKind;
use crate::runtime::{Runtime, Snapshot, SnapshotMode};
use crate::state::{Chunk, Kind};
use crate::{Operator, OperatorInfo, Result};

/// Exports an [`Operator`] as the component's `weir:operator/operator`
/// implementation. Use it once per crate, at the top level.
///
/// ```
/// use weir_guest::{Context, Event, OpenContext, Operator, Result};
///
/// struct Echo;
///
/// impl Operator for Echo {
///     fn open(_ctx: &mut OpenContext) -> Result<Self> {
///         Ok(Echo)
///     }
///     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
///         ctx.emit(event.key(), event.value());
///         Ok(())
///     }
/// }
///
/// weir_guest::export_operator!(Echo);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_operator {
    ($operator:ty) => {
        // Only a WebAssembly build exports the component's functions: the
        // same crate built natively (an rlib run as a native operator, or a
        // cdylib) must not define symbols named after WIT interfaces, which
        // native linkers refuse.
        #[cfg(target_family = "wasm")]
        const _: () = {
            ::std::thread_local! {
                static RUNTIME: $crate::__private::Slot<$operator> =
                    const { $crate::__private::Slot::new() };
            }

            struct __WeirGlue;

            impl $crate::__private::Glue for __WeirGlue {
                type Operator = $operator;

                fn slot() -> &'static ::std::thread::LocalKey<$crate::__private::Slot<$operator>> {
                    &RUNTIME
                }
            }

    $crate::__private::bindings::export!(__WeirGlue with_types_in $crate::__private::bindings);
        };
    };
}

/// Where a component instance keeps its operator: empty until `init`.
pub struct Slot<O>(RefCell<Option<Runtime<O>>>);

impl<O> Slot<O> {
    #[allow(clippy::new_without_default)] // used in a `const` initializer
    pub const fn new() -> Self {
        Slot(RefCell::new(None))
    }
}

/// Implemented by the marker type [`export_operator!`](crate::export_operator)
/// defines: names the operator and its thread-local slot.
pub trait Glue: 'static {
    type Operator: Operator;

    fn slot() -> &'static LocalKey<Slot<Self::Operator>>;
}

impl<G: Glue> Guest for G {
    fn init(context: OperatorContext, restored: Vec<StateChunk>) -> Result<(), String> {
        let info = info_from_wit(context);
        let chunks = restored.into_iter().map(chunk_from_wit).collect();
        G::slot().with(|slot| {
            let mut slot = slot.0.borrow_mut();
            // Drop a previous instance's state before building the new one.
            *slot = None;
            *slot = Some(Runtime::init(info, chunks).map_err(|e| e.to_string())?);
            Ok(())
        })
    }

    fn process(input: u32, events: Batch) -> Result<Batch, String> {
        with_runtime::<G, _>("process", |runtime| runtime.process(input, &events))
    }

    fn snapshot(checkpoint_id: u64, mode: WitSnapshotMode) -> Result<StateSnapshot, String> {
        let mode = match mode {
            WitSnapshotMode::Full => SnapshotMode::Full,
            WitSnapshotMode::Incremental => SnapshotMode::Incremental,
        };
        let Snapshot { incremental, chunks } =
            with_runtime::<G, _>("snapshot", |runtime| runtime.snapshot(checkpoint_id, mode))?;
        Ok(StateSnapshot { incremental, chunks: chunks.into_iter().map(chunk_to_wit).collect() })
    }

    fn advance(watermark: i64, now: i64) -> Result<Batch, String> {
        with_runtime::<G, _>("advance", |runtime| runtime.advance(watermark, now))
    }

    fn finish() -> Result<Batch, String> {
        with_runtime::<G, _>("finish", |runtime| runtime.finish())
    }
}

fn with_runtime<G: Glue, R>(call: &str, f: impl FnOnce(&mut Runtime<G::Operator>) -> Result<R>) -> Result<R, String> {
    G::slot().with(|slot| {
        let mut slot = slot.0.borrow_mut();
        let runtime = slot.as_mut().ok_or_else(|| format!("`{call}` was called before `init`"))?;
        f(runtime).map_err(|e| e.to_string())
    })
}

fn info_from_wit(context: OperatorContext) -> OperatorInfo {
    let mut info = OperatorInfo::new(context.operator_name)
        .with_subtask(context.subtask_index, context.parallelism)
        .with_max_parallelism(context.max_parallelism)
        .with_key_groups(context.key_groups.map(|range| range.start..range.end));
    for (key, value) in context.config {
        info = info.with_config(key, value);
    }
    let inputs = context.inputs.into_iter().map(|input| (input.name, input.broadcast));
    info.with_inputs(inputs).with_side_outputs(context.side_outputs)
}

fn chunk_from_wit(chunk: StateChunk) -> Chunk {
    let kind = match chunk.kind {
        StateKind::KeyedValue => Kind::KeyedValue,
        StateKind::KeyedMap => Kind::KeyedMap,
        StateKind::KeyedList => Kind::KeyedList,
        StateKind::OperatorValue => Kind::OperatorValue,
        StateKind::OperatorList => Kind::OperatorList,
        StateKind::BroadcastMap => Kind::BroadcastMap,
    };
    Chunk { handle: chunk.handle, kind, key_group: chunk.key_group, data: chunk.data }
}

fn chunk_to_wit(chunk: Chunk) -> StateChunk {
    let kind = match chunk.kind {
        Kind::KeyedValue => StateKind::KeyedValue,
        Kind::KeyedMap => StateKind::KeyedMap,
        Kind::KeyedList => StateKind::KeyedList,
        Kind::OperatorValue => StateKind::OperatorValue,
        Kind::OperatorList => StateKind::OperatorList,
        Kind::BroadcastMap => StateKind::BroadcastMap,
    };
    StateChunk { handle: chunk.handle, kind, key_group: chunk.key_group, data: chunk.data }
}

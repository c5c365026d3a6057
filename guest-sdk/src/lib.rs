//! The Rust SDK for Weir operators.
//!
//! An operator is a type implementing [`Operator`], exported with
//! [`export_operator!`] from a `cdylib` crate built for `wasm32-wasip2`. The
//! result is a WebAssembly component of the world
//! `weir:operator/operator-component` (`wit/operator.wit`) that the Weir host
//! runs, checkpoints and restores (`weir:operator@0.2.0`). The SDK hides the WIT bindings, the batch
//! framing and the state format: an operator sees events, emits events and
//! keeps state in typed handles.
//!
//! # Example: a keyed counter
//!
//! ```
//! use weir_guest::{Context, Event, OpenContext, Operator, Result, ValueState};
//!
//! pub struct Counter {
//!     count: ValueState<u64>,
//! }
//!
//! impl Operator for Counter {
//!     /// Called once per instance, after restore data (if any) is loaded;
//!     /// declares state handles.
//!     fn open(ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Counter { count: ctx.keyed_value("count")? })
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         let n = self.count.get(ctx).copied().unwrap_or(0) + 1;
//!         self.count.set(ctx, n);
//!         ctx.emit(event.key(), n.to_string().as_bytes());
//!         Ok(())
//!     }
//!     // `finish` is optional: fn finish(&mut self, ctx: &mut Context) -> Result<()>
//! }
//!
//! weir_guest::export_operator!(Counter);
//! # fn main() {}
//! ```
//!
//! With `crate-type = ["cdylib"]` in its `Cargo.toml`,
//! `cargo build --release --target wasm32-wasip2` turns this crate into a
//! component. Its counts survive failures: at every checkpoint the host calls
//! `snapshot`, the SDK encodes each declared handle, and on restore `open`
//! gets them back before the first event. With incremental checkpoints the
//! host asks only for what changed since the previous snapshot; the SDK
//! tracks which keys were written or removed, and encodes only those.
//!
//! # State handles and scopes
//!
//! `open` declares state by name through [`OpenContext`] and gets typed
//! handles; `process` and `finish` read and write through them with the
//! [`Context`]. Values are plain Rust values in guest memory, encoded (with
//! postcard, the value codec of `wit/STATE.md`) only at snapshots.
//!
//! | declared with                   | handle                      | scope                              |
//! |---------------------------------|-----------------------------|------------------------------------|
//! | [`OpenContext::keyed_value`]    | [`ValueState<T>`]           | one value per event key            |
//! | [`OpenContext::keyed_map`]      | [`MapState<K, V>`]          | one map per event key              |
//! | [`OpenContext::keyed_list`]     | [`ListState<T>`]            | one list per event key             |
//! | [`OpenContext::operator_value`] | [`ValueState<T>`]           | one value per subtask              |
//! | [`OpenContext::operator_list`]  | [`ListState<T>`]            | one list per subtask               |
//! | [`OpenContext::broadcast_map`]  | [`BroadcastMapState<K, V>`] | one map, the same in every subtask |
//!
//! Keyed state follows the key of the event being processed, as in Flink:
//! the operator's input must be keyed (`key_by = true` in the job file;
//! declaring keyed state for an unkeyed input fails `open`), and using keyed
//! state where there is no current event (in `finish`) panics.
//! The host assigns key groups to subtasks, and the SDK saves keyed state one
//! chunk per key group, so a job can be restored with another parallelism.
//! Operator state belongs to the subtask and is usable anywhere. Keyed
//! [`ValueState`] and [`ListState`] handles can also be walked whole, over
//! every key the subtask holds (`iter_all_keys`, `retain_all`, `key_count`),
//! which works in `finish` too.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use weir_guest::{Context, Event, ListState, MapState, OpenContext, Operator, Result, ValueState};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Stats {
//!     events: u64,
//!     bytes: u64,
//! }
//!
//! struct Profile {
//!     stats: ValueState<Stats>,           // per key
//!     words: MapState<String, u32>,       // per key
//!     recent: ListState<String>,          // per key
//!     total: ValueState<u64>,             // per subtask
//! }
//!
//! impl Operator for Profile {
//!     fn open(ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Profile {
//!             stats: ctx.keyed_value("stats")?,
//!             words: ctx.keyed_map("words")?,
//!             recent: ctx.keyed_list("recent")?,
//!             total: ctx.operator_value("total")?,
//!         })
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         let text = event.value_str()?;
//!         match self.stats.get_mut(ctx) {
//!             Some(stats) => {
//!                 stats.events += 1;
//!                 stats.bytes += text.len() as u64;
//!             }
//!             None => self.stats.set(ctx, Stats { events: 1, bytes: text.len() as u64 }),
//!         }
//!         for word in text.split_whitespace() {
//!             let seen = self.words.get(ctx, word).copied().unwrap_or(0);
//!             self.words.insert(ctx, word.to_owned(), seen + 1);
//!         }
//!         if self.recent.len(ctx) == 3 {
//!             self.recent.clear(ctx);
//!         }
//!         self.recent.push(ctx, text.to_owned());
//!         let total = self.total.get(ctx).copied().unwrap_or(0);
//!         self.total.set(ctx, total + 1);
//!         Ok(())
//!     }
//!
//!     fn finish(&mut self, ctx: &mut Context) -> Result<()> {
//!         // No current key here: only operator state.
//!         let total = self.total.get(ctx).copied().unwrap_or(0);
//!         ctx.emit("total", total.to_string());
//!         Ok(())
//!     }
//! }
//! # let mut h = weir_guest::testing::Harness::<Profile>::new()?;
//! # h.process("k", "a b a", 1)?;
//! # let mut h = weir_guest::testing::Harness::<Profile>::restore(h.snapshot()?)?;
//! # assert_eq!(h.finish()?, [("total", "1")]);
//! # Ok::<(), weir_guest::Error>(())
//! ```
//!
//! Declaring a name twice is an error, and so is declaring a name with
//! another kind than the restored checkpoint holds. Restored state whose name
//! `open` does not declare is kept as it is and written again by every
//! snapshot, so renaming or dropping a handle never silently loses state.
//!
//! # Inputs
//!
//! An operator may have several inputs (`inputs` in the job file), listed in
//! [`OperatorInfo::inputs`] in job-file order. Every event knows which one
//! it came from: [`Event::input`] is the index into that list,
//! [`Event::input_name`] the node that feeds it, [`Event::is_broadcast`]
//! whether it is a broadcast input. A partitioned input (forward, rebalance
//! or key-by) gives each subtask its share of the events; a **broadcast**
//! input gives every subtask all of them, with no key group, so keyed state
//! is not available while processing them (using it panics) while operator
//! and broadcast state are.
//!
//! # Side outputs
//!
//! Besides its main output ([`Context::emit`]), an operator may emit to the
//! side outputs the job file declares for it (`side_outputs`, listed in
//! [`OperatorInfo::side_outputs`]) with [`Context::emit_to`]; another
//! operator reads one as the input `op.NAME`. Emitting to a name that is
//! not declared is an error. Events keep their order in every output. (On
//! the wire, an output batch with side-output events is FRAMING.md version
//! 2.)
//!
//! # Broadcast state
//!
//! [`OpenContext::broadcast_map`] declares a map every subtask holds the
//! same copy of, for what a broadcast input carries (a price table, rules).
//! It needs no current key: read it while processing any input and in
//! `finish`; change it for events of a broadcast input only, which every
//! subtask sees alike, so that the copies stay the same. A checkpoint keeps
//! subtask 0's copy, and a restore gives every subtask that copy, at any
//! parallelism. It is saved whole, and an incremental snapshot leaves it out
//! when it did not change.
//!
//! ```
//! use weir_guest::{BroadcastMapState, Context, Event, OpenContext, Operator, Result};
//!
//! /// Input 0: words (keyed); input 1 (broadcast): "word=replacement" rules.
//! struct Replace {
//!     rules: BroadcastMapState<String, String>,
//! }
//!
//! impl Operator for Replace {
//!     fn open(ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Replace { rules: ctx.broadcast_map("rules")? })
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         let text = event.value_str()?;
//!         if event.is_broadcast() {
//!             if let Some((word, replacement)) = text.split_once('=') {
//!                 self.rules.insert(ctx, word.to_owned(), replacement.to_owned());
//!             } else {
//!                 ctx.emit_to("bad", "", text)?;
//!             }
//!             return Ok(());
//!         }
//!         let out = self.rules.get(ctx, text).map_or(text, String::as_str).to_owned();
//!         ctx.emit(event.key(), out);
//!         Ok(())
//!     }
//! }
//!
//! use weir_guest::testing::{Harness, NO_KEY_GROUP};
//! use weir_guest::{InputInfo, OperatorInfo};
//!
//! let info = OperatorInfo::new("replace")
//!     .with_inputs([InputInfo::new("words"), InputInfo::broadcast("rules")])
//!     .with_side_outputs(["bad"]);
//! let mut harness = Harness::<Replace>::with_info(info.clone())?;
//! harness.process_input(1, "", "colour=color", NO_KEY_GROUP)?;
//! harness.process_input(1, "", "nonsense", NO_KEY_GROUP)?;
//! assert_eq!(harness.side_output("bad"), [("", "nonsense")]);
//! assert_eq!(harness.process("w", "colour", 7)?, [("w", "color")]);
//!
//! let mut restored = Harness::<Replace>::restore_with_info(info, harness.snapshot()?)?;
//! assert_eq!(restored.process("w", "colour", 7)?, [("w", "color")]);
//! # Ok::<(), weir_guest::Error>(())
//! ```
//!
//! # Testing with `Harness`
//!
//! [`testing::Harness`] runs an operator natively, through the same runtime
//! the component uses, so operators are unit-tested with plain `cargo test`:
//!
//! ```
//! # use weir_guest::{Context, Event, OpenContext, Operator, Result, ValueState};
//! # pub struct Counter { count: ValueState<u64> }
//! # impl Operator for Counter {
//! #     fn open(ctx: &mut OpenContext) -> Result<Self> {
//! #         Ok(Counter { count: ctx.keyed_value("count")? })
//! #     }
//! #     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//! #         let n = self.count.get(ctx).copied().unwrap_or(0) + 1;
//! #         self.count.set(ctx, n);
//! #         ctx.emit(event.key(), n.to_string().as_bytes());
//! #         Ok(())
//! #     }
//! # }
//! use weir_guest::testing::Harness;
//!
//! let mut harness = Harness::<Counter>::new()?;
//! // key, value, and the key group the host would have hashed the key into
//! assert_eq!(harness.process("apple", "", 3)?, [("apple", "1")]);
//! assert_eq!(harness.process("apple", "", 3)?, [("apple", "2")]);
//!
//! // A checkpoint, then a restore into a new instance.
//! let chunks = harness.snapshot()?;
//! let mut restored = Harness::<Counter>::restore(chunks)?;
//! assert_eq!(restored.process("apple", "", 3)?, [("apple", "3")]);
//! # Ok::<(), weir_guest::Error>(())
//! ```
//!
//! For several inputs and side outputs, build the [`OperatorInfo`] with
//! [`with_inputs`](OperatorInfo::with_inputs) and
//! [`with_side_outputs`](OperatorInfo::with_side_outputs), feed an input by
//! index with [`process_input`](testing::Harness::process_input), and read
//! a side output with [`side_output`](testing::Harness::side_output), as
//! above.
//!
//! # Layout
//!
//! - [`Operator`] (`operator.rs`): the trait an operator implements.
//! - [`Context`], [`OpenContext`] (`context.rs`): output (main and side
//!   outputs), info, state stores.
//! - [`Event`] (`event.rs`): one input event, borrowed from the batch, and
//!   the input it came from.
//! - [`OperatorInfo`], [`InputInfo`] (`info.rs`): subtask, key groups,
//!   inputs, side outputs, config.
//! - [`state`]: the handles, their stores, and the snapshot chunk encoding.
//! - [`runtime`]: one instance driven through `init`/`process`/`snapshot`/
//!   `finish` with plain types, independent of wit-bindgen.
//! - [`testing`]: the native [`Harness`](testing::Harness), and
//!   [`merge_snapshots`](testing::merge_snapshots) for incremental snapshots.
//! - [`log`]: the host's log, and the [`info!`] family of macros.
//! - [`Error`] (`error.rs`): the message-only error type.
//! - `export.rs`: the wit-bindgen glue behind [`export_operator!`].

mod context;
mod error;
mod event;
mod export;
mod info;
pub mod log;
mod operator;
pub mod runtime;
pub mod state;
pub mod testing;

pub use context::{Context, OpenContext};
pub use error::{Error, Result};
pub use event::Event;
pub use info::{DEFAULT_INPUT, DEFAULT_MAX_PARALLELISM, InputInfo, OperatorInfo};
pub use operator::Operator;
pub use state::{BroadcastMapState, ListState, MapState, StateValue, ValueState};

/// Used by [`export_operator!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{Glue, Slot};

    /// The bindings of the world `operator-component`, generated once here.
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "operator-component",
            // `export!` is invoked from the operator's crate, through
            // `export_operator!`.
            pub_export_macro: true,
        });
    }
}

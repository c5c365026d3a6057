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
//!     // Optional: fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()>
//!     // and fn finish(&mut self, ctx: &mut Context) -> Result<()>
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
//! (The keyed ones also come with a time to live: see [State TTL](#state-ttl).)
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
//! # Time
//!
//! Events may carry a timestamp ([`Event::timestamp`], milliseconds since
//! the Unix epoch; a `lines` source with `format = "tsv"` gives them one).
//! Sources also emit **watermarks**: a watermark `w` says that no event at
//! or below `w` is expected any more. The host passes each operator its
//! watermark (the minimum over its inputs) with the WIT call `advance`,
//! together with its clock; the SDK keeps both:
//!
//! - [`Context::watermark`]: the event-time watermark, `i64::MIN` until
//!   the first `advance`, never going back. It is not part of the
//!   checkpoint: after a restore the host sends it again.
//! - [`Context::now`]: the processing time, the `now` of the last
//!   `advance` (the wall clock before the first).
//!
//! At the end of a bounded input the host calls `advance` with the
//! watermark `i64::MAX` (so every event-time timer fires), then `finish`.
//!
//! # Timers
//!
//! While processing a keyed event (or in a timer callback), an operator
//! registers timers for the current key: [`Context::register_event_timer`]
//! (due when the watermark reaches its timestamp) and
//! [`Context::register_processing_timer`] (due when the host's clock does),
//! and deletes them with [`Context::delete_event_timer`] and
//! [`Context::delete_processing_timer`]. A timer is (key, domain,
//! timestamp): registering one twice keeps one.
//!
//! When time moves, the SDK fires every due timer with
//! [`Operator::on_timer`], in timestamp order across keys (event time first
//! at equal timestamps, then by key), with the timer's key current: the
//! callback reads and writes that key's state, emits (by default with the
//! timer's timestamp for event time, none for processing time), and may
//! register more timers; those already due fire in the same `advance`. The
//! SDK tells the host when its earliest processing-time timer is due (the
//! import `wake-at`), so that the host calls `advance` then.
//!
//! Timers are keyed state: the reserved handle [`TIMERS_HANDLE`]
//! (`weir.timers`, a keyed map, `wit/STATE.md` "Timers"), snapshotted,
//! tracked by incremental snapshots, rescaled by key group and restored
//! (also into an operator written with another SDK) like the rest. An
//! operator that declares no keyed state calls [`OpenContext::use_timers`]
//! in `open` (keyed handles and windows imply it).
//!
//! ```
//! use weir_guest::{Context, Event, OpenContext, Operator, Result, Timer, ValueState};
//!
//! /// Emits `idle` for a key 10 s (of event time) after its last event.
//! struct Idle {
//!     deadline: ValueState<i64>,
//! }
//!
//! impl Operator for Idle {
//!     fn open(ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Idle { deadline: ctx.keyed_value("deadline")? })
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         let Some(timestamp) = event.timestamp() else { return Ok(()) };
//!         if let Some(&before) = self.deadline.get(ctx) {
//!             ctx.delete_event_timer(before);
//!         }
//!         let deadline = timestamp + 10_000;
//!         ctx.register_event_timer(deadline);
//!         self.deadline.set(ctx, deadline);
//!         Ok(())
//!     }
//!
//!     fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
//!         self.deadline.clear(ctx);
//!         ctx.emit(&timer.key, "idle");
//!         Ok(())
//!     }
//! }
//!
//! let mut harness = weir_guest::testing::Harness::<Idle>::new()?;
//! harness.process_at("a", "", 3, 1_000)?;
//! harness.process_at("a", "", 3, 5_000)?; // moves a's deadline to 15000
//! assert!(harness.advance(14_999, 0)?.is_empty());
//! // A checkpoint keeps the timer.
//! let mut harness = weir_guest::testing::Harness::<Idle>::restore(harness.snapshot()?)?;
//! assert_eq!(harness.advance(15_000, 0)?, [("a", "idle")]);
//! # Ok::<(), weir_guest::Error>(())
//! ```
//!
//! # State TTL
//!
//! Keyed handles may be declared with a time to live, in milliseconds of
//! event time: [`OpenContext::keyed_value_with_ttl`],
//! [`OpenContext::keyed_map_with_ttl`], [`OpenContext::keyed_list_with_ttl`].
//! An entry (a value, a map entry, a list element) written at time `t`
//! expires at `t + ttl_ms`, where `t` is the timestamp of the event being
//! processed, or the watermark (in timer callbacks, or for an event without
//! a timestamp); with neither, the entry never expires. It is invisible
//! (reads return nothing, iteration skips it) once the operator's time, the
//! newest of the current event's timestamp and the watermark, reaches its
//! expiry, and it is left out of every snapshot after that. Writing renews
//! the expiry (`get_mut` counts as a write). A handle with a TTL stores the
//! expiry in front of each value (`wit/STATE.md`, "State TTL"), so its
//! checkpoint restores only into a handle with a TTL.
//!
//! ```
//! use weir_guest::{Context, Event, OpenContext, Operator, Result, ValueState};
//!
//! /// Passes an event on unless its key was seen in the last minute.
//! struct Dedup {
//!     seen: ValueState<()>,
//! }
//!
//! impl Operator for Dedup {
//!     fn open(ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Dedup { seen: ctx.keyed_value_with_ttl("seen", 60_000)? })
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         if self.seen.get(ctx).is_none() {
//!             ctx.emit(event.key(), event.value());
//!         }
//!         self.seen.set(ctx, ());
//!         Ok(())
//!     }
//! }
//!
//! let mut harness = weir_guest::testing::Harness::<Dedup>::new()?;
//! assert_eq!(harness.process_at("a", "1", 3, 0)?, [("a", "1")]);
//! assert!(harness.process_at("a", "2", 3, 30_000)?.is_empty()); // renews to 90000
//! assert_eq!(harness.process_at("a", "3", 3, 90_000)?, [("a", "3")]);
//! # Ok::<(), weir_guest::Error>(())
//! ```
//!
//! # Windows
//!
//! [`window::Windows`] builds event-time windows on keyed state and timers:
//! declared in `open` with [`OpenContext::tumbling_windows`],
//! [`OpenContext::sliding_windows`], [`OpenContext::session_windows`] or
//! [`OpenContext::windows`] (for an allowed lateness, see
//! [`window::WindowSpec`]), with an [`window::Aggregate`] ([`window::Count`],
//! [`window::Sum`], [`window::Min`], [`window::Max`], or a user
//! [`window::Fold`]). In `process`, [`add`](window::Windows::add) puts an
//! event in its windows, or, when it is late (every window it belongs to
//! has fired), emits it unchanged to the side output `late` if the job file
//! declares one. In `on_timer`, [`on_timer`](window::Windows::on_timer)
//! fires the windows the watermark has closed (`watermark >= end + allowed
//! lateness`) and drops their state. The state layout (`wit/STATE.md`; the
//! [`window`] module) is the same in every SDK:
//!
//! ```
//! use weir_guest::window::{Sum, Windows};
//! use weir_guest::{Context, Event, OpenContext, Operator, Result, Timer};
//!
//! /// Sums the values per key in sessions that end after 30 s of silence.
//! struct Sessions {
//!     sums: Windows<Sum>,
//! }
//!
//! impl Operator for Sessions {
//!     fn open(ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Sessions { sums: ctx.session_windows("sums", 30_000, Sum::of_value())? })
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         self.sums.add(ctx, &event)?;
//!         Ok(())
//!     }
//!
//!     fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
//!         self.sums.on_timer(ctx, &timer, |ctx, key, session, sum| {
//!             ctx.emit(key, format!("{}..{} {sum}", session.start, session.end));
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let mut harness = weir_guest::testing::Harness::<Sessions>::new()?;
//! harness.process_all_at([("a", "5", 3, 0), ("a", "7", 3, 20_000), ("a", "1", 3, 100_000)])?;
//! assert_eq!(harness.advance(50_000, 0)?, [("a", "0..50000 12")]);
//! assert_eq!(harness.advance(i64::MAX, 0)?, [("a", "100000..130000 1")]);
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
//! Time is driven by hand: [`advance`](testing::Harness::advance)`(watermark,
//! now)` fires the due timers and returns what they emitted,
//! [`wake_at`](testing::Harness::wake_at) is the wake-up time the instance
//! last asked the host for, and [`process_at`](testing::Harness::process_at)
//! and [`process_all_at`](testing::Harness::process_all_at) feed events
//! with timestamps (see the examples above).
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
//! - [`Operator`] (`operator.rs`): the trait an operator implements
//!   (`open`, `process`, `on_timer`, `finish`).
//! - [`Context`], [`OpenContext`] (`context.rs`): output (main and side
//!   outputs), info, state stores.
//! - [`Event`] (`event.rs`): one input event, borrowed from the batch, and
//!   the input it came from.
//! - [`OperatorInfo`], [`InputInfo`] (`info.rs`): subtask, key groups,
//!   inputs, side outputs, config.
//! - [`state`]: the handles, their stores (with TTL), and the snapshot
//!   chunk encoding.
//! - [`Timer`], [`TimeDomain`] (`timer.rs`): timers, and the store behind
//!   them (the reserved keyed state `weir.timers`).
//! - [`window`]: event-time windows and their aggregates.
//! - [`runtime`]: one instance driven through `init`/`process`/`advance`/
//!   `snapshot`/`finish` with plain types, independent of wit-bindgen.
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
mod timer;
#[cfg(test)]
mod timer_tests;
pub mod window;
#[cfg(test)]
mod window_tests;

pub use context::{Context, OpenContext};
pub use error::{Error, Result};
pub use event::Event;
pub use info::{DEFAULT_INPUT, DEFAULT_MAX_PARALLELISM, InputInfo, OperatorInfo};
pub use operator::Operator;
pub use state::{BroadcastMapState, ListState, MapState, StateValue, ValueState};
pub use timer::{TIMERS_HANDLE, TimeDomain, Timer};

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

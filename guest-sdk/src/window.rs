//! Event-time windows: [`Windows`], declared in `open`, built on keyed
//! state and event-time timers.
//!
//! A [`Windows`] handle assigns each event to its windows ([`WindowSpec`]:
//! tumbling, sliding or session) by its timestamp, folds it into each
//! window's accumulator ([`Aggregate`]: [`Count`], [`Sum`], [`Min`],
//! [`Max`], or a user [`Fold`]), and registers an event-time timer at the
//! window's end plus the allowed lateness. When the watermark reaches that
//! time the timer fires, and [`Windows::on_timer`] hands the window and its
//! accumulator to the operator, then drops the window's state.
//!
//! The state is one keyed-map handle per [`Windows`], named by the operator
//! (`wit/STATE.md`): map key = window start (an i64 through the value codec,
//! a zig-zag varint); value = the accumulator through the value codec (count:
//! u64 varint; sum, min, max: i64 zig-zag varint; a fold: its postcard
//! encoding); for sessions, value = the session's end (i64) followed by the
//! accumulator. With the timers (`weir.timers`) this is the whole state, the
//! same in every SDK, so windows restore across languages and rescale.
//!
//! ```
//! use weir_guest::window::{Count, Windows};
//! use weir_guest::{Context, Event, OpenContext, Operator, OperatorInfo, Result, Timer};
//!
//! /// Counts events per key in tumbling windows of 10 s.
//! struct PerTenSeconds {
//!     counts: Windows<Count>,
//! }
//!
//! impl Operator for PerTenSeconds {
//!     fn open(ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(PerTenSeconds { counts: ctx.tumbling_windows("counts", 10_000, Count)? })
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         // A late event goes to the side output `late` (if declared).
//!         self.counts.add(ctx, &event)?;
//!         Ok(())
//!     }
//!
//!     fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
//!         self.counts.on_timer(ctx, &timer, |ctx, key, window, count| {
//!             ctx.emit(key, format!("{}\t{count}", window.start));
//!             Ok(())
//!         })?;
//!         Ok(())
//!     }
//! }
//!
//! let info = OperatorInfo::new("count").with_side_outputs(["late"]);
//! let mut harness = weir_guest::testing::Harness::<PerTenSeconds>::with_info(info)?;
//! harness.process_at("a", "x", 3, 12_000)?;
//! harness.process_at("a", "y", 3, 3_000)?; // out of order, not late yet
//! assert!(harness.advance(9_999, 0)?.is_empty());
//! assert_eq!(harness.advance(10_000, 0)?, [("a", "0\t1")]);
//! harness.process_at("a", "z", 3, 9_000)?; // its window has fired: late
//! assert_eq!(harness.side_output("late"), [("a", "z")]);
//! assert_eq!(harness.advance(i64::MAX, 0)?, [("a", "10000\t1")]);
//! # Ok::<(), weir_guest::Error>(())
//! ```

use std::fmt;

use crate::state::{MapState, MapStore, StateValue};
use crate::timer::{TimeDomain, Timer};
use crate::{Context, Error, Event, OpenContext, Result};

/// One window: event times from `start` (inclusive) to `end` (exclusive),
/// in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    /// The last millisecond in the window, `end - 1`: the timestamp a
    /// window's result is emitted with by default.
    pub fn max_timestamp(&self) -> i64 {
        self.end.saturating_sub(1)
    }
}

/// How events are assigned to windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// Back-to-back windows of `size_ms`: `[k * size, (k + 1) * size)`.
    Tumbling { size_ms: i64 },
    /// Windows of `size_ms` starting every `slide_ms` (`k * slide`); an
    /// event belongs to every one that contains it.
    Sliding { size_ms: i64, slide_ms: i64 },
    /// Per key, `[t, t + gap_ms)` for an event at `t`, merged with every
    /// session of the key it overlaps or touches.
    Session { gap_ms: i64 },
}

/// A window definition: how events are assigned ([`WindowKind`]) and how
/// long after a window's end events are still added to it (the allowed
/// lateness, 0 by default).
///
/// A window fires when the watermark reaches `end + allowed_lateness`; an
/// event is late when every window it would belong to has fired (or would
/// have, by the watermark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    kind: WindowKind,
    allowed_lateness_ms: i64,
}

impl WindowSpec {
    /// Tumbling windows of `size_ms`.
    pub fn tumbling(size_ms: i64) -> Self {
        WindowSpec { kind: WindowKind::Tumbling { size_ms }, allowed_lateness_ms: 0 }
    }

    /// Sliding windows of `size_ms`, one starting every `slide_ms`.
    pub fn sliding(size_ms: i64, slide_ms: i64) -> Self {
        WindowSpec { kind: WindowKind::Sliding { size_ms, slide_ms }, allowed_lateness_ms: 0 }
    }

    /// Session windows that close after `gap_ms` without events of the key.
    pub fn session(gap_ms: i64) -> Self {
        WindowSpec { kind: WindowKind::Session { gap_ms }, allowed_lateness_ms: 0 }
    }

    /// Keeps each window open for `lateness_ms` after its end: it fires
    /// when the watermark reaches `end + lateness_ms`, and events up to then
    /// are still added to it.
    pub fn with_allowed_lateness(mut self, lateness_ms: i64) -> Self {
        self.allowed_lateness_ms = lateness_ms;
        self
    }

    pub fn kind(&self) -> WindowKind {
        self.kind
    }

    pub fn allowed_lateness_ms(&self) -> i64 {
        self.allowed_lateness_ms
    }

    fn check(&self, name: &str) -> Result<()> {
        let positive = match self.kind {
            WindowKind::Tumbling { size_ms } => size_ms > 0,
            WindowKind::Sliding { size_ms, slide_ms } => size_ms > 0 && slide_ms > 0,
            WindowKind::Session { gap_ms } => gap_ms > 0,
        };
        if !positive {
            return Err(Error::msg(format!(
                "windows `{name}`: sizes, slides and gaps must be at least 1 ms ({:?})",
                self.kind
            )));
        }
        if self.allowed_lateness_ms < 0 {
            return Err(Error::msg(format!(
                "windows `{name}`: the allowed lateness must not be negative ({} ms)",
                self.allowed_lateness_ms
            )));
        }
        Ok(())
    }

    /// The windows an event at `timestamp` belongs to, by start (for
    /// sessions: its own `[t, t + gap)`, before merging).
    pub fn windows_of(&self, timestamp: i64) -> Vec<Window> {
        let window = |start: i64, size: i64| Window { start, end: start.saturating_add(size) };
        match self.kind {
            WindowKind::Tumbling { size_ms } => vec![window(timestamp - timestamp.rem_euclid(size_ms), size_ms)],
            WindowKind::Sliding { size_ms, slide_ms } => {
                let mut windows = Vec::new();
                let mut start = timestamp - timestamp.rem_euclid(slide_ms);
                // start <= t < start + size, i.e. start > t - size
                let lowest = timestamp.saturating_sub(size_ms);
                while start > lowest {
                    windows.push(window(start, size_ms));
                    match start.checked_sub(slide_ms) {
                        Some(earlier) => start = earlier,
                        None => break,
                    }
                }
                windows.reverse();
                windows
            }
            WindowKind::Session { gap_ms } => vec![window(timestamp, gap_ms)],
        }
    }

    /// When `window` fires: the event time of its timer, `end + allowed
    /// lateness` (at most `i64::MAX`).
    pub fn fires_at(&self, window: &Window) -> i64 {
        window.end.saturating_add(self.allowed_lateness_ms)
    }
}

/// What [`Windows::add`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignment {
    /// Added to its window(s) (for sliding windows: to those that were not
    /// late).
    Added,
    /// Late: every window it belongs to had fired. Not added anywhere.
    Late,
}

/// How a window's events are combined into its accumulator, and how the
/// accumulator is stored (`Acc` through the value codec, postcard).
pub trait Aggregate: 'static {
    /// The accumulator kept per window.
    type Acc: StateValue;

    /// The accumulator of a new window, before its first event.
    fn init(&self) -> Self::Acc;

    /// Folds one event into a window's accumulator.
    fn add(&self, acc: &mut Self::Acc, event: &Event<'_>) -> Result<()>;

    /// Whether [`Aggregate::merge`] works: session windows need it.
    fn can_merge(&self) -> bool {
        false
    }

    /// Combines the accumulator of another window into `acc` (when session
    /// windows merge).
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) -> Result<()> {
        let _ = (acc, other);
        Err(Error::msg("this aggregate cannot merge accumulators (session windows need it)"))
    }
}

/// Counts the window's events (accumulator `u64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count;

impl Aggregate for Count {
    type Acc = u64;

    fn init(&self) -> u64 {
        0
    }

    fn add(&self, acc: &mut u64, _event: &Event<'_>) -> Result<()> {
        *acc += 1;
        Ok(())
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn merge(&self, acc: &mut u64, other: u64) -> Result<()> {
        *acc += other;
        Ok(())
    }
}

/// What an event contributes to [`Sum`], [`Min`] and [`Max`].
pub type Extract = fn(&Event<'_>) -> Result<i64>;

/// The event's value as a decimal i64 (UTF-8, surrounding whitespace
/// allowed): what [`Sum::of_value`], [`Min::of_value`] and
/// [`Max::of_value`] take.
pub fn value_as_i64(event: &Event<'_>) -> Result<i64> {
    let text = event.value_str()?;
    text.trim().parse().map_err(|e| Error::msg(format!("event value {text:?} is not an i64: {e}")))
}

macro_rules! extracting_aggregate {
    ($(#[$doc:meta])* $name:ident, $init:expr, $combine:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name {
            extract: Extract,
        }

        impl $name {
            /// Of the event values, as decimal i64s ([`value_as_i64`]).
            pub fn of_value() -> Self {
                $name { extract: value_as_i64 }
            }

            /// Of what `extract` makes of each event.
            pub fn by(extract: Extract) -> Self {
                $name { extract }
            }
        }

        impl Aggregate for $name {
            type Acc = i64;

            fn init(&self) -> i64 {
                $init
            }

            fn add(&self, acc: &mut i64, event: &Event<'_>) -> Result<()> {
                let value = (self.extract)(event)?;
                *acc = $combine(*acc, value)?;
                Ok(())
            }

            fn can_merge(&self) -> bool {
                true
            }

            fn merge(&self, acc: &mut i64, other: i64) -> Result<()> {
                *acc = $combine(*acc, other)?;
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}

fn checked_sum(a: i64, b: i64) -> Result<i64> {
    a.checked_add(b).ok_or_else(|| Error::msg(format!("a window sum overflows i64 ({a} + {b})")))
}

extracting_aggregate!(
    /// The sum of an i64 per event (accumulator `i64`; overflowing it is an
    /// error).
    Sum,
    0,
    checked_sum
);
extracting_aggregate!(
    /// The least of an i64 per event (accumulator `i64`).
    Min,
    i64::MAX,
    |a: i64, b: i64| Ok::<_, Error>(a.min(b))
);
extracting_aggregate!(
    /// The greatest of an i64 per event (accumulator `i64`).
    Max,
    i64::MIN,
    |a: i64, b: i64| Ok::<_, Error>(a.max(b))
);

type FoldFn<Acc> = Box<dyn Fn(&mut Acc, &Event<'_>) -> Result<()> + Send>;
type MergeFn<Acc> = Box<dyn Fn(&mut Acc, Acc) -> Result<()> + Send>;

/// A user aggregate: an initial accumulator, a function folding an event
/// into it, and (for session windows) one merging two accumulators. The
/// accumulator is stored through the value codec (postcard), so another
/// SDK restoring it must use the same encoding for it.
///
/// ```
/// use weir_guest::window::Fold;
///
/// // The longest value of each window, in bytes.
/// let longest = Fold::new(0u32, |longest: &mut u32, event| {
///     *longest = (*longest).max(event.value().len() as u32);
///     Ok(())
/// })
/// .with_merge(|longest, other| {
///     *longest = (*longest).max(other);
///     Ok(())
/// });
/// # let _ = longest;
/// ```
pub struct Fold<Acc> {
    init: Acc,
    fold: FoldFn<Acc>,
    merge: Option<MergeFn<Acc>>,
}

impl<Acc: StateValue + Clone> Fold<Acc> {
    /// Starts each window at `init` and folds events in with `fold`.
    pub fn new(init: Acc, fold: impl Fn(&mut Acc, &Event<'_>) -> Result<()> + Send + 'static) -> Self {
        Fold { init, fold: Box::new(fold), merge: None }
    }

    /// Lets session windows merge accumulators with `merge`.
    pub fn with_merge(mut self, merge: impl Fn(&mut Acc, Acc) -> Result<()> + Send + 'static) -> Self {
        self.merge = Some(Box::new(merge));
        self
    }
}

impl<Acc: StateValue + Clone> Aggregate for Fold<Acc> {
    type Acc = Acc;

    fn init(&self) -> Acc {
        self.init.clone()
    }

    fn add(&self, acc: &mut Acc, event: &Event<'_>) -> Result<()> {
        (self.fold)(acc, event)
    }

    fn can_merge(&self) -> bool {
        self.merge.is_some()
    }

    fn merge(&self, acc: &mut Acc, other: Acc) -> Result<()> {
        match &self.merge {
            Some(merge) => merge(acc, other),
            None => Err(Error::msg("this fold has no merge function (session windows need one: Fold::with_merge)")),
        }
    }
}

impl<Acc> fmt::Debug for Fold<Acc> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fold").field("merges", &self.merge.is_some()).finish()
    }
}

/// The state of a [`Windows`]: window start -> accumulator, or for
/// sessions start -> (end, accumulator).
enum WindowState<Acc> {
    Fixed(MapState<i64, Acc>),
    Sessions(MapState<i64, (i64, Acc)>),
}

/// A handle to the event-time windows of every key, from
/// [`OpenContext::windows`] (or [`OpenContext::tumbling_windows`],
/// [`OpenContext::sliding_windows`], [`OpenContext::session_windows`]).
///
/// In `process`, [`add`](Windows::add) an event; in
/// [`Operator::on_timer`](crate::Operator::on_timer), pass every timer to
/// [`on_timer`](Windows::on_timer), which fires the windows it closes, if
/// any. (An operator with several `Windows`, or timers of its own, passes
/// each timer to each: a timer that is not a window's is ignored.)
///
/// Windows are keyed state: the operator's input must be keyed, and the
/// methods panic where keyed state does (with no current key).
pub struct Windows<A: Aggregate> {
    name: String,
    spec: WindowSpec,
    aggregate: A,
    state: WindowState<A::Acc>,
}

impl OpenContext {
    /// Declares event-time windows of `spec`, whose accumulators (of
    /// `aggregate`) are kept in the keyed-map state `name`.
    ///
    /// An error for a bad spec (a size, slide or gap below 1 ms, a negative
    /// lateness), for session windows of an aggregate that cannot merge,
    /// and (as for any keyed state) for an unkeyed input.
    pub fn windows<A: Aggregate>(&mut self, name: &str, spec: WindowSpec, aggregate: A) -> Result<Windows<A>> {
        spec.check(name)?;
        let state = match spec.kind {
            WindowKind::Session { .. } => {
                if !aggregate.can_merge() {
                    return Err(Error::msg(format!(
                        "windows `{name}`: session windows merge accumulators, and this aggregate cannot \
                         (give a Fold a merge function with Fold::with_merge)"
                    )));
                }
                WindowState::Sessions(MapState::new(self.declare(MapStore::<i64, (i64, A::Acc)>::keyed(name, None))?))
            }
            _ => WindowState::Fixed(MapState::new(self.declare(MapStore::<i64, A::Acc>::keyed(name, None))?)),
        };
        Ok(Windows { name: name.to_owned(), spec, aggregate, state })
    }

    /// Declares tumbling windows of `size_ms` (no allowed lateness).
    pub fn tumbling_windows<A: Aggregate>(&mut self, name: &str, size_ms: i64, aggregate: A) -> Result<Windows<A>> {
        self.windows(name, WindowSpec::tumbling(size_ms), aggregate)
    }

    /// Declares sliding windows of `size_ms`, one every `slide_ms` (no
    /// allowed lateness).
    pub fn sliding_windows<A: Aggregate>(
        &mut self,
        name: &str,
        size_ms: i64,
        slide_ms: i64,
        aggregate: A,
    ) -> Result<Windows<A>> {
        self.windows(name, WindowSpec::sliding(size_ms, slide_ms), aggregate)
    }

    /// Declares session windows with a gap of `gap_ms` (no allowed
    /// lateness).
    pub fn session_windows<A: Aggregate>(&mut self, name: &str, gap_ms: i64, aggregate: A) -> Result<Windows<A>> {
        self.windows(name, WindowSpec::session(gap_ms), aggregate)
    }
}

/// The side output late events go to, when the job file declares it.
pub const LATE_OUTPUT: &str = "late";

impl<A: Aggregate> Windows<A> {
    /// The state handle's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// Adds an event to its windows, as [`Windows::assign`] does; a late
    /// event is emitted unchanged (key, value, timestamp) to the side output
    /// [`LATE_OUTPUT`] (`late`) when the job file declares one for the
    /// operator, and dropped (with a debug log line) otherwise.
    ///
    /// An error for an event without a timestamp (event-time windows need
    /// one), and whatever the aggregate returns.
    pub fn add(&self, ctx: &mut Context, event: &Event<'_>) -> Result<Assignment> {
        let assignment = self.assign(ctx, event)?;
        if assignment == Assignment::Late {
            let timestamp = event.timestamp().unwrap_or(weir_wire::batch::NO_TIMESTAMP);
            if ctx.info().side_output_index(LATE_OUTPUT).is_some() {
                ctx.emit_to_with_timestamp(LATE_OUTPUT, event.key(), event.value(), timestamp)?;
            } else {
                crate::debug!(
                    "windows `{}`: dropped a late event (timestamp {timestamp}, watermark {}); declare the side \
                     output `{LATE_OUTPUT}` to keep late events",
                    self.name,
                    ctx.watermark()
                );
            }
        }
        Ok(assignment)
    }

    /// Adds an event to every window it belongs to that has not fired
    /// (whose `end + allowed lateness` is above the watermark), registering
    /// each window's timer; [`Assignment::Late`] (and nothing changed) when
    /// there is none. Does not emit late events: see [`Windows::add`].
    pub fn assign(&self, ctx: &mut Context, event: &Event<'_>) -> Result<Assignment> {
        let Some(timestamp) = event.timestamp() else {
            return Err(Error::msg(format!(
                "windows `{}`: an event without a timestamp (event-time windows need timestamped input, such \
                 as a `lines` source with format = \"tsv\")",
                self.name
            )));
        };
        let watermark = ctx.watermark();
        match &self.state {
            WindowState::Fixed(map) => {
                let mut added = false;
                for window in self.spec.windows_of(timestamp) {
                    let fires_at = self.spec.fires_at(&window);
                    if fires_at <= watermark {
                        continue;
                    }
                    match map.get_mut(ctx, &window.start) {
                        Some(acc) => self.aggregate.add(acc, event)?,
                        None => {
                            let mut acc = self.aggregate.init();
                            self.aggregate.add(&mut acc, event)?;
                            map.insert(ctx, window.start, acc);
                        }
                    }
                    ctx.register_event_timer(fires_at);
                    added = true;
                }
                Ok(if added { Assignment::Added } else { Assignment::Late })
            }
            WindowState::Sessions(map) => {
                // Late by its own window `[t, t + gap)` (as the spec says:
                // an event's one window), before any merge.
                let own = self.spec.windows_of(timestamp)[0];
                let fires_at = self.spec.fires_at(&own);
                if fires_at <= watermark {
                    return Ok(Assignment::Late);
                }
                // The key's sessions it overlaps or touches, by start.
                let mut touched: Vec<(i64, i64)> = map
                    .iter(ctx)
                    .filter(|&(&start, &(end, _))| start <= own.end && own.start <= end)
                    .map(|(&start, &(end, _))| (start, end))
                    .collect();
                touched.sort_unstable();
                let merged = touched.iter().fold(own, |merged, &(start, end)| Window {
                    start: merged.start.min(start),
                    end: merged.end.max(end),
                });
                let mut acc: Option<A::Acc> = None;
                for (start, _) in touched {
                    let (_, other) = map.remove(ctx, &start).expect("a session just listed");
                    match &mut acc {
                        None => acc = Some(other),
                        Some(acc) => self.aggregate.merge(acc, other)?,
                    }
                }
                let mut acc = acc.unwrap_or_else(|| self.aggregate.init());
                self.aggregate.add(&mut acc, event)?;
                map.insert(ctx, merged.start, (merged.end, acc));
                // The timers of the sessions merged away stay: they fire and
                // find no session due (a timer may be shared with other
                // windows or the operator, so it is never deleted).
                ctx.register_event_timer(self.spec.fires_at(&merged));
                Ok(Assignment::Added)
            }
        }
    }

    /// Fires the windows of the timer's key that are due at its timestamp
    /// (an event-time timer at or past their `end + allowed lateness`), in
    /// start order: for each, removes its state and calls `fire(ctx, key,
    /// window, accumulator)`, where what `ctx` emits gets the window's last
    /// millisecond ([`Window::max_timestamp`]) as timestamp by default.
    /// Returns how many fired: 0 for a processing-time timer, or a timer
    /// that closes none of this handle's windows.
    pub fn on_timer<F>(&self, ctx: &mut Context, timer: &Timer, mut fire: F) -> Result<usize>
    where
        F: FnMut(&mut Context, &[u8], Window, A::Acc) -> Result<()>,
    {
        if timer.domain != TimeDomain::EventTime {
            return Ok(0);
        }
        let due: Vec<Window> = self
            .open_windows(ctx)
            .into_iter()
            .map(|(window, _)| window)
            .filter(|window| self.spec.fires_at(window) <= timer.timestamp)
            .collect();
        for &window in &due {
            let acc = match &self.state {
                WindowState::Fixed(map) => map.remove(ctx, &window.start),
                WindowState::Sessions(map) => map.remove(ctx, &window.start).map(|(_, acc)| acc),
            }
            .expect("an open window just listed");
            let before = ctx.replace_timestamp(window.max_timestamp());
            let result = fire(ctx, &timer.key, window, acc);
            ctx.replace_timestamp(before);
            result?;
        }
        Ok(due.len())
    }

    /// The current key's open windows and their accumulators, by start.
    pub fn open_windows<'c>(&self, ctx: &'c Context) -> Vec<(Window, &'c A::Acc)> {
        let mut windows: Vec<(Window, &A::Acc)> = match &self.state {
            WindowState::Fixed(map) => {
                let size = match self.spec.kind {
                    WindowKind::Tumbling { size_ms } | WindowKind::Sliding { size_ms, .. } => size_ms,
                    WindowKind::Session { .. } => unreachable!("fixed windows have a size"),
                };
                map.iter(ctx).map(|(&start, acc)| (Window { start, end: start.saturating_add(size) }, acc)).collect()
            }
            WindowState::Sessions(map) => {
                map.iter(ctx).map(|(&start, (end, acc))| (Window { start, end: *end }, acc)).collect()
            }
        };
        windows.sort_unstable_by_key(|(window, _)| *window);
        windows
    }
}

impl<A: Aggregate + fmt::Debug> fmt::Debug for Windows<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Windows")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field("aggregate", &self.aggregate)
            .finish()
    }
}

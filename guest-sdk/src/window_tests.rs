//! Windows: assignment (tumbling, sliding, session), firing by the
//! watermark, late events and allowed lateness, the aggregates, the state
//! layout, restore.

use weir_wire::state::{ChunkReader, Entry, Kind};

use crate::testing::{Harness, Output};
use crate::window::{Aggregate, Assignment, Count, Fold, Max, Min, Sum, Window, WindowSpec, Windows};
use crate::{Context, Event, OpenContext, Operator, OperatorInfo, Result, TIMERS_HANDLE, Timer};

/// An aggregate the test operator can make, and show.
trait Pick: Aggregate + Sized {
    fn make() -> Self;
    fn show(acc: &Self::Acc) -> String;
}

impl Pick for Count {
    fn make() -> Self {
        Count
    }
    fn show(acc: &u64) -> String {
        acc.to_string()
    }
}

macro_rules! pick_i64 {
    ($($name:ident),*) => {$(
        impl Pick for $name {
            fn make() -> Self {
                $name::of_value()
            }
            fn show(acc: &i64) -> String {
                acc.to_string()
            }
        }
    )*};
}
pick_i64!(Sum, Min, Max);

/// Collects the values, in the order they were folded (and merged).
impl Pick for Fold<Vec<String>> {
    fn make() -> Self {
        Fold::new(Vec::new(), |acc: &mut Vec<String>, event| {
            acc.push(event.value_str()?.to_owned());
            Ok(())
        })
        .with_merge(|acc, other| {
            acc.extend(other);
            Ok(())
        })
    }
    fn show(acc: &Vec<String>) -> String {
        acc.join(",")
    }
}

/// Windows of the config `spec` (`tumbling:SIZE`, `sliding:SIZE:SLIDE`,
/// `session:GAP`) and `lateness`, named `w`. Fired windows are emitted as
/// `[start,end) acc`; `add` routes late events (to `late`, declared).
struct Win<A: Pick> {
    windows: Windows<A>,
}

fn spec_of(text: &str) -> WindowSpec {
    let parts: Vec<i64> = text.split(':').skip(1).map(|n| n.parse().unwrap()).collect();
    match text.split(':').next().unwrap() {
        "tumbling" => WindowSpec::tumbling(parts[0]),
        "sliding" => WindowSpec::sliding(parts[0], parts[1]),
        "session" => WindowSpec::session(parts[0]),
        other => panic!("test bug: {other}"),
    }
}

impl<A: Pick> Operator for Win<A> {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        let mut spec = spec_of(ctx.info().config("spec").unwrap());
        if let Some(lateness) = ctx.info().parse_config("lateness")? {
            spec = spec.with_allowed_lateness(lateness);
        }
        Ok(Win { windows: ctx.windows("w", spec, A::make())? })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        self.windows.add(ctx, &event)?;
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
        self.windows.on_timer(ctx, &timer, |ctx, key, window, acc| {
            ctx.emit(key, format!("[{},{}) {}", window.start, window.end, A::show(&acc)));
            Ok(())
        })?;
        Ok(())
    }
}

fn info(spec: &str) -> OperatorInfo {
    OperatorInfo::new("win").with_config("spec", spec).with_side_outputs(["late"])
}

fn harness<A: Pick>(spec: &str) -> Harness<Win<A>> {
    Harness::with_info(info(spec)).unwrap()
}

/// Feeds events with their timestamp as value.
fn feed<A: Pick>(h: &mut Harness<Win<A>>, events: &[(&str, i64)]) {
    for (key, ts) in events {
        let group = if *key == "a" { 3 } else { 9 };
        assert!(h.process_at(*key, ts.to_string(), group, *ts).unwrap().is_empty());
    }
}

fn texts(out: &[Output]) -> Vec<String> {
    out.iter().map(|o| format!("{} {}", o.key_str().unwrap(), o.value_str().unwrap())).collect()
}

#[test]
fn window_assignment() {
    let w = |start, end| Window { start, end };
    assert_eq!(WindowSpec::tumbling(10).windows_of(25), [w(20, 30)]);
    assert_eq!(WindowSpec::tumbling(10).windows_of(-1), [w(-10, 0)]);
    assert_eq!(WindowSpec::tumbling(10).windows_of(-10), [w(-10, 0)]);
    assert_eq!(WindowSpec::sliding(10, 5).windows_of(12), [w(5, 15), w(10, 20)]);
    assert_eq!(WindowSpec::sliding(10, 5).windows_of(10), [w(5, 15), w(10, 20)]);
    assert_eq!(WindowSpec::sliding(10, 3).windows_of(-2), [w(-9, 1), w(-6, 4), w(-3, 7)]);
    assert_eq!(WindowSpec::sliding(5, 10).windows_of(17), []); // a gap between windows
    assert_eq!(WindowSpec::sliding(5, 10).windows_of(12), [w(10, 15)]);
    assert_eq!(WindowSpec::session(10).windows_of(7), [w(7, 17)]);
    assert_eq!(WindowSpec::tumbling(10).with_allowed_lateness(5).fires_at(&w(0, 10)), 15);
    assert_eq!(WindowSpec::tumbling(10).fires_at(&w(0, i64::MAX)), i64::MAX);
    assert_eq!(w(0, 10).max_timestamp(), 9);
}

#[test]
fn tumbling_windows_fire_when_the_watermark_reaches_their_end() {
    let mut h = harness::<Count>("tumbling:10");
    feed(&mut h, &[("a", 3), ("a", 12), ("b", 9), ("a", 0), ("a", 19)]);
    assert!(h.advance(9, 0).unwrap().is_empty());
    let out = h.advance(10, 0).unwrap();
    assert_eq!(texts(&out), ["a [0,10) 2", "b [0,10) 1"]);
    assert!(out.iter().all(|o| o.timestamp == Some(9)));
    feed(&mut h, &[("a", 9), ("a", 10)]); // late; in time
    assert_eq!(texts(&h.side_output("late")), ["a 9"]);
    assert_eq!(texts(&h.advance(25, 0).unwrap()), ["a [10,20) 3"]);
    assert!(h.snapshot().unwrap().is_empty());
}

#[test]
fn sliding_windows_add_an_event_to_those_of_its_windows_not_late() {
    let mut h = harness::<Count>("sliding:10:5");
    feed(&mut h, &[("a", 7), ("a", 12)]);
    // [0,10) has 7, [5,15) both, [10,20) 12.
    assert_eq!(texts(&h.advance(10, 0).unwrap()), ["a [0,10) 1"]);
    assert_eq!(h.operator().windows.spec().kind(), crate::window::WindowKind::Sliding { size_ms: 10, slide_ms: 5 });
    // 8 belongs to [0,10) (fired) and [5,15) (open): added, not late.
    feed(&mut h, &[("a", 8)]);
    assert!(h.side_output("late").is_empty());
    assert_eq!(texts(&h.advance(15, 0).unwrap()), ["a [5,15) 3"]);
    // 9 belongs to [0,10) and [5,15), both fired: late.
    feed(&mut h, &[("a", 9)]);
    assert_eq!(h.side_output("late").len(), 1);
    assert_eq!(texts(&h.advance(100, 0).unwrap()), ["a [10,20) 1"]);
}

#[test]
fn session_windows_merge_what_they_overlap_or_touch() {
    let mut h = harness::<Fold<Vec<String>>>("session:10");
    feed(&mut h, &[("a", 0), ("a", 5), ("a", 30), ("b", 3)]);
    // a: [0,15) "0,5" and [30,40) "30"; b: [3,13) "3".
    feed(&mut h, &[("a", 12)]); // [12,22) overlaps [0,15): [0,22)
    feed(&mut h, &[("a", 22)]); // [22,32) touches [0,22) and [30,40): [0,40)
    assert_eq!(h.operator().windows.name(), "w");
    assert_eq!(texts(&h.advance(13, 0).unwrap()), ["b [3,13) 3"]);
    // The timers of merged-away sessions (10, 15, 22) fire and find nothing.
    assert!(h.advance(39, 0).unwrap().is_empty());
    // Accumulators merge by start, then the event is folded in.
    assert_eq!(texts(&h.advance(40, 0).unwrap()), ["a [0,40) 0,5,12,30,22"]);
    // A session that would end by the watermark is late; one that does
    // not is a new session.
    feed(&mut h, &[("a", 29), ("a", 35)]);
    assert_eq!(texts(&h.side_output("late")), ["a 29"]);
    assert_eq!(texts(&h.advance(45, 0).unwrap()), ["a [35,45) 35"]);
}

#[test]
fn an_event_late_by_its_own_session_is_late_even_inside_an_open_session() {
    let mut h = harness::<Count>("session:30");
    feed(&mut h, &[("a", 100), ("a", 125), ("a", 150), ("a", 160)]); // [100,190)
    h.advance(150, 0).unwrap();
    // [110,140) ends by the watermark: late (as the spec says), although
    // it lies in [100,190).
    feed(&mut h, &[("a", 110)]);
    assert_eq!(h.side_output("late").len(), 1);
    assert_eq!(texts(&h.advance(190, 0).unwrap()), ["a [100,190) 4"]);
}

#[test]
fn allowed_lateness_keeps_a_window_open_past_its_end() {
    let mut h: Harness<Win<Count>> = Harness::with_info(info("tumbling:10").with_config("lateness", "5")).unwrap();
    feed(&mut h, &[("a", 3)]);
    assert!(h.advance(12, 0).unwrap().is_empty());
    feed(&mut h, &[("a", 7)]); // after the end, within the lateness
    assert!(h.side_output("late").is_empty());
    let out = h.advance(15, 0).unwrap();
    assert_eq!(texts(&out), ["a [0,10) 2"]);
    assert_eq!(out[0].timestamp, Some(9));
    feed(&mut h, &[("a", 8)]);
    assert_eq!(h.side_output("late").len(), 1);
    // A late event goes out unchanged: key, value, timestamp.
    feed(&mut h, &[("a", 4)]);
    let late = h.side_output("late");
    assert_eq!((late[0].key_str().unwrap(), late[0].value_str().unwrap(), late[0].timestamp), ("a", "4", Some(4)));
}

#[test]
fn sum_min_and_max_of_the_values() {
    fn run<A: Pick>(spec: &str, values: &[(&str, i64)]) -> Vec<String> {
        let mut h = harness::<A>(spec);
        for (value, ts) in values {
            h.process_at("a", *value, 3, *ts).unwrap();
        }
        texts(&h.advance(i64::MAX, 0).unwrap())
    }
    let values = [("5", 1), ("-7", 2), (" 40 ", 3), ("2", 12)];
    assert_eq!(run::<Sum>("tumbling:10", &values), ["a [0,10) 38", "a [10,20) 2"]);
    assert_eq!(run::<Min>("tumbling:10", &values), ["a [0,10) -7", "a [10,20) 2"]);
    assert_eq!(run::<Max>("tumbling:10", &values), ["a [0,10) 40", "a [10,20) 2"]);
    // Sessions merge their accumulators.
    let values = [("5", 0), ("3", 20), ("4", 10)];
    assert_eq!(run::<Sum>("session:10", &values), ["a [0,30) 12"]);
    assert_eq!(run::<Min>("session:10", &values), ["a [0,30) 3"]);
    assert_eq!(run::<Max>("session:10", &values), ["a [0,30) 5"]);
    // A value that is not a number is an error; so is an overflow.
    let mut h = harness::<Sum>("tumbling:10");
    let err = h.process_at("a", "x", 3, 1).unwrap_err().to_string();
    assert_eq!(err, "event value \"x\" is not an i64: invalid digit found in string");
    h.process_at("a", i64::MAX.to_string(), 3, 1).unwrap();
    let err = h.process_at("a", "1", 3, 1).unwrap_err().to_string();
    assert!(err.contains("overflows"), "{err}");
}

#[test]
fn a_custom_extractor() {
    struct Lengths {
        windows: Windows<Sum>,
    }
    impl Operator for Lengths {
        fn open(ctx: &mut OpenContext) -> Result<Self> {
            Ok(Lengths { windows: ctx.tumbling_windows("len", 10, Sum::by(|e| Ok(e.value().len() as i64)))? })
        }
        fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
            assert_eq!(self.windows.assign(ctx, &event)?, Assignment::Added);
            let open: Vec<(Window, i64)> = self.windows.open_windows(ctx).into_iter().map(|(w, n)| (w, *n)).collect();
            ctx.emit(event.key(), format!("{open:?}"));
            Ok(())
        }
    }
    let mut h = Harness::<Lengths>::new().unwrap();
    h.process_at("a", "abc", 3, 1).unwrap();
    let out = h.process_at("a", "de", 3, 15).unwrap();
    assert_eq!(texts(&out), ["a [(Window { start: 0, end: 10 }, 3), (Window { start: 10, end: 20 }, 2)]"]);
}

/// Sessions of a fold without a merge function, or a bad spec.
struct Bad;

impl Operator for Bad {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        let fold = || Fold::new(0u8, |_: &mut u8, _| Ok(()));
        match ctx.info().config("case").unwrap() {
            "session-fold" => drop(ctx.session_windows("w", 10, fold())?),
            "tumbling-fold" => drop(ctx.tumbling_windows("w", 10, fold())?),
            "size" => drop(ctx.tumbling_windows("w", 0, Count)?),
            "slide" => drop(ctx.sliding_windows("w", 10, 0, Count)?),
            "lateness" => drop(ctx.windows("w", WindowSpec::session(5).with_allowed_lateness(-1), Count)?),
            "unkeyed" => drop(ctx.tumbling_windows("w", 10, Count)?),
            other => panic!("test bug: {other}"),
        }
        Ok(Bad)
    }

    fn process(&mut self, _ctx: &mut Context, _event: Event<'_>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn bad_window_declarations_are_errors() {
    let open = |case: &str| {
        let mut info = OperatorInfo::new("bad").with_config("case", case);
        if case == "unkeyed" {
            info = info.with_key_groups(None);
        }
        Harness::<Bad>::with_info(info).err().map(|e| e.to_string())
    };
    assert!(open("session-fold").unwrap().contains("Fold::with_merge"));
    assert_eq!(open("tumbling-fold"), None); // fixed windows need no merge
    assert!(open("size").unwrap().contains("at least 1 ms"));
    assert!(open("slide").unwrap().contains("at least 1 ms"));
    assert!(open("lateness").unwrap().contains("must not be negative"));
    assert!(open("unkeyed").unwrap().contains("key_by = true"));
}

#[test]
fn late_events_are_dropped_when_there_is_no_late_output() {
    let mut h: Harness<Win<Count>> =
        Harness::with_info(OperatorInfo::new("win").with_config("spec", "tumbling:10")).unwrap();
    h.advance(100, 0).unwrap();
    assert!(h.process_at("a", "x", 3, 5).unwrap().is_empty());
    assert!(h.snapshot().unwrap().is_empty());
}

/// (key, map key bytes, value bytes) of the window handle `w`.
fn window_entries(chunks: &[crate::state::Chunk]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for chunk in chunks.iter().filter(|c| c.handle == "w") {
        assert_eq!(chunk.kind, Kind::KeyedMap);
        for entry in ChunkReader::new(Kind::KeyedMap, &chunk.data).unwrap() {
            let Entry::KeyedMap { key, map_key, value } = entry.unwrap() else { panic!() };
            out.push((String::from_utf8(key.to_vec()).unwrap(), map_key.to_vec(), value.to_vec()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_window_state_layout() {
    // Tumbling sum: map key = start (i64 zig-zag varint), value = sum (i64).
    let mut h = harness::<Sum>("tumbling:100");
    h.process_at("a", "-3", 3, -50).unwrap();
    h.process_at("a", "70", 3, 150).unwrap();
    let chunks = h.snapshot().unwrap();
    assert_eq!(
        window_entries(&chunks),
        [
            ("a".into(), vec![0xc7, 0x01], vec![0x05]),       // start -100, sum -3
            ("a".into(), vec![0xc8, 0x01], vec![0x8c, 0x01]), // start 100, sum 70
        ]
    );
    assert!(chunks.iter().any(|c| c.handle == TIMERS_HANDLE));

    // Sessions: value = end (i64) then the accumulator (count, u64).
    let mut h = harness::<Count>("session:10");
    feed(&mut h, &[("a", 1), ("a", 5)]);
    assert_eq!(window_entries(&h.snapshot().unwrap()), [("a".into(), vec![0x02], vec![0x1e, 0x02])]);
}

#[test]
fn sessions_restore_and_keep_merging() {
    let mut h = harness::<Fold<Vec<String>>>("session:10");
    feed(&mut h, &[("a", 0), ("b", 0)]);
    let mut restored: Harness<Win<Fold<Vec<String>>>> =
        Harness::restore_with_info(info("session:10"), h.snapshot().unwrap()).unwrap();
    feed(&mut restored, &[("a", 8)]);
    assert_eq!(texts(&restored.advance(i64::MAX, 0).unwrap()), ["b [0,10) 0", "a [0,18) 0,8"]);
}

#[test]
fn a_timer_of_the_operator_at_a_windows_end_fires_the_window_once() {
    /// Registers its own timer at the window end too, and counts the calls.
    struct Shared {
        windows: Windows<Count>,
    }
    impl Operator for Shared {
        fn open(ctx: &mut OpenContext) -> Result<Self> {
            Ok(Shared { windows: ctx.tumbling_windows("w", 10, Count)? })
        }
        fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
            self.windows.add(ctx, &event)?;
            ctx.register_event_timer(10);
            ctx.register_processing_timer(10);
            Ok(())
        }
        fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
            let fired = self.windows.on_timer(ctx, &timer, |ctx, key, _, n| {
                ctx.emit(key, n.to_string());
                Ok(())
            })?;
            ctx.emit(&timer.key, format!("{:?} {fired}", timer.domain));
            Ok(())
        }
    }
    let mut h = Harness::<Shared>::new().unwrap();
    h.process_at("a", "", 3, 5).unwrap();
    assert_eq!(texts(&h.advance(10, 10).unwrap()), ["a 1", "a EventTime 1", "a ProcessingTime 0"]);
}

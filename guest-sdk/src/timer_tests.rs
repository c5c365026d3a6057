//! Timers: firing order across keys, re-registration, deletion, timers
//! registered in callbacks, processing time and `wake-at`, the watermark,
//! snapshot and restore (full, incremental, at another key group split).

use weir_wire::state::{ChunkReader, Entry, Kind};

use crate::state::{Chunk, ValueState};
use crate::testing::{Harness, NO_KEY_GROUP, Output, merge_snapshots};
use crate::{Context, Event, OpenContext, Operator, OperatorInfo, Result, TIMERS_HANDLE, TimeDomain, Timer};

/// Each event value is a list of commands separated by spaces:
/// `e:TS` / `p:TS` register an event / processing timer, `-e:TS` / `-p:TS`
/// delete one, `wm` emits the watermark. A firing timer emits
/// `D:TS@WM` (D = e or p) and counts in the keyed `fired`; if the key's
/// `chain` is set (`chain:N`), it registers an event timer N ms later, as
/// long as that is at most 1000.
struct Probe {
    fired: ValueState<u32>,
    chain: ValueState<i64>,
}

impl Operator for Probe {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Probe { fired: ctx.keyed_value("fired")?, chain: ctx.keyed_value("chain")? })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        for command in event.value_str()?.split_whitespace() {
            let (what, arg) = command.split_once(':').unwrap_or((command, ""));
            match what {
                "e" => ctx.register_event_timer(arg.parse()?),
                "p" => ctx.register_processing_timer(arg.parse()?),
                "-e" => ctx.delete_event_timer(arg.parse()?),
                "-p" => ctx.delete_processing_timer(arg.parse()?),
                "chain" => self.chain.set(ctx, arg.parse()?),
                "wm" => ctx.emit(event.key(), ctx.watermark().to_string()),
                "timers" => {
                    let text =
                        format!("{:?} {:?}", ctx.timers(TimeDomain::EventTime), ctx.timers(TimeDomain::ProcessingTime));
                    ctx.emit(event.key(), text);
                }
                other => return Err(crate::Error::msg(format!("test bug: {other}"))),
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
        let domain = match timer.domain {
            TimeDomain::EventTime => "e",
            TimeDomain::ProcessingTime => "p",
        };
        let fired = self.fired.get(ctx).copied().unwrap_or(0) + 1;
        self.fired.set(ctx, fired);
        ctx.emit(&timer.key, format!("{domain}:{}@{}", timer.timestamp, ctx.watermark()));
        if let Some(&step) = self.chain.get(ctx) {
            let next = timer.timestamp + step;
            if next <= 1000 {
                ctx.register_event_timer(next);
            }
        }
        Ok(())
    }

    fn finish(&mut self, ctx: &mut Context) -> Result<()> {
        // No current key: timers are keyed.
        if ctx.info().config("timer_in_finish").is_some() {
            ctx.register_event_timer(1);
        }
        Ok(())
    }
}

fn texts(out: &[Output]) -> Vec<String> {
    out.iter().map(|o| format!("{}={}", o.key_str().unwrap(), o.value_str().unwrap())).collect()
}

#[test]
fn timers_fire_in_timestamp_order_across_keys_event_time_first() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process_all([("b", "e:30 e:10", 9), ("a", "e:20 p:20 e:30", 3), ("c", "p:10 e:40", 5)]).unwrap();
    let out = h.advance(30, 25).unwrap();
    // By timestamp; at 10 and 20 event time before processing time; at 30 by key.
    assert_eq!(texts(&out), ["b=e:10@30", "c=p:10@30", "a=e:20@30", "a=p:20@30", "a=e:30@30", "b=e:30@30"]);
    // Event timers carry their timestamp, processing timers none.
    let stamps: Vec<Option<i64>> = out.iter().map(|o| o.timestamp).collect();
    assert_eq!(stamps, [Some(10), None, Some(20), None, Some(30), Some(30)]);
    assert!(h.advance(39, 1000).unwrap().is_empty());
    assert_eq!(texts(&h.advance(i64::MAX, 1000).unwrap()), ["c=e:40@9223372036854775807"]);
}

#[test]
fn registering_twice_keeps_one_and_deleting_removes_it() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process("a", "e:10 e:10 p:10 e:20", 3).unwrap();
    h.process("a", "e:10 -e:20 -e:99 -p:10 -p:10", 3).unwrap();
    assert_eq!(texts(&h.process("a", "timers", 3).unwrap()), ["a=[10] []"]);
    assert_eq!(texts(&h.advance(100, 100).unwrap()), ["a=e:10@100"]);
    assert_eq!(texts(&h.process("a", "timers", 3).unwrap()), ["a=[] []"]);
    // A timer of another key is another timer.
    h.process_all([("a", "e:200", 3), ("b", "e:200 -e:200", 9)]).unwrap();
    assert_eq!(texts(&h.advance(200, 100).unwrap()), ["a=e:200@200"]);
}

#[test]
fn timers_registered_in_callbacks_fire_in_the_same_advance_when_due() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process_all([("a", "chain:100 e:100", 3), ("b", "e:250", 9)]).unwrap();
    let out = h.advance(350, 0).unwrap();
    assert_eq!(texts(&out), ["a=e:100@350", "a=e:200@350", "b=e:250@350", "a=e:300@350"]);
    // The next one (400) is not due yet; it is state.
    assert_eq!(texts(&h.process("a", "timers", 3).unwrap()), ["a=[400] []"]);
    let out = h.advance(i64::MAX, 0).unwrap();
    assert_eq!(out.len(), 7, "{out:?}"); // 400 ... 1000
    assert_eq!(h.operator().fired.iter_all_keys(h.context()).map(|(_, n)| *n).sum::<u32>(), 11);
}

#[test]
fn a_timer_registered_at_or_below_the_watermark_fires_at_the_next_advance() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.advance(100, 0).unwrap();
    assert_eq!(texts(&h.process("a", "e:50 wm", 3).unwrap()), ["a=100"]);
    // The watermark does not move, but `advance` fires what is due.
    assert_eq!(texts(&h.advance(100, 0).unwrap()), ["a=e:50@100"]);
}

#[test]
fn the_watermark_never_goes_back() {
    let mut h = Harness::<Probe>::new().unwrap();
    assert_eq!(texts(&h.process("a", "wm", 3).unwrap()), [format!("a={}", i64::MIN)]);
    h.advance(500, 0).unwrap();
    h.advance(200, 0).unwrap();
    assert_eq!(texts(&h.process("a", "wm", 3).unwrap()), ["a=500"]);
    assert_eq!(h.context().watermark(), 500);
    assert_eq!(h.context().now(), 0);
}

#[test]
fn processing_timers_fire_by_the_clock_and_set_wake_at() {
    let mut h = Harness::<Probe>::new().unwrap();
    assert_eq!(h.wake_at(), None);
    h.process_all([("a", "p:5000 p:3000", 3), ("b", "p:4000", 9)]).unwrap();
    assert_eq!(h.wake_at(), Some(3000));
    // The watermark does not fire processing timers.
    assert!(h.advance(i64::MAX - 1, 2999).unwrap().is_empty());
    assert_eq!(
        texts(&h.advance(0, 4000).unwrap()),
        [format!("a=p:3000@{}", i64::MAX - 1), format!("b=p:4000@{}", i64::MAX - 1)]
    );
    assert_eq!(h.wake_at(), Some(5000));
    h.process("a", "-p:5000", 3).unwrap();
    assert_eq!(h.wake_at(), None);
    h.process("b", "p:100", 9).unwrap();
    assert_eq!(h.wake_at(), Some(100));
    assert_eq!(h.context().now(), 4000);
}

#[test]
fn restored_timers_fire_and_a_restored_processing_timer_sets_wake_at() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process_all([("a", "e:10 p:700", 3), ("b", "e:20 e:30", 9)]).unwrap();
    h.advance(10, 0).unwrap();
    let chunks = h.snapshot().unwrap();
    let timers: Vec<&Chunk> = chunks.iter().filter(|c| c.handle == TIMERS_HANDLE).collect();
    assert_eq!(timers.len(), 2);
    assert!(timers.iter().all(|c| c.kind == Kind::KeyedMap));

    let mut restored = Harness::<Probe>::restore(chunks).unwrap();
    assert_eq!(restored.wake_at(), Some(700));
    let out = restored.advance(30, 700).unwrap();
    // The watermark is not state: the restored instance starts at i64::MIN.
    assert_eq!(texts(&out), ["b=e:20@30", "b=e:30@30", "a=p:700@30"]);
    assert_eq!(restored.wake_at(), None);
    // The callback's keyed state (`fired`) was restored too: a fired once.
    assert_eq!(restored.operator().fired.iter_all_keys(restored.context()).count(), 2);
}

/// (key, domain, timestamp) of the timers in chunks of `weir.timers`.
fn timers_in(chunks: &[Chunk]) -> Vec<(String, u8, i64)> {
    let mut out = Vec::new();
    for chunk in chunks.iter().filter(|c| c.handle == TIMERS_HANDLE) {
        for entry in ChunkReader::new(Kind::KeyedMap, &chunk.data).unwrap() {
            let Entry::KeyedMap { key, map_key, value } = entry.unwrap() else { panic!() };
            assert_eq!((map_key.len(), value), (9, &[][..]));
            let ts = i64::from_le_bytes(map_key[1..].try_into().unwrap());
            out.push((String::from_utf8(key.to_vec()).unwrap(), map_key[0], ts));
        }
    }
    out.sort();
    out
}

#[test]
fn timers_are_stored_as_the_state_layout_says() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process_all([("a", "e:-5 p:7", 3), ("b", "e:300", 9)]).unwrap();
    let chunks = h.snapshot().unwrap();
    assert_eq!(timers_in(&chunks), [("a".into(), 0, -5), ("a".into(), 1, 7), ("b".into(), 0, 300)]);
    let a = chunks.iter().find(|c| c.handle == TIMERS_HANDLE && c.key_group == Some(3)).unwrap();
    // version, then key "a", map_key = 0x00 + (-5 LE), empty value; then
    // the processing timer.
    let expected = [
        &[1u8][..],
        &[1, 0, 0, 0, b'a', 9, 0, 0, 0, 0, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
        &[1, 0, 0, 0, b'a', 9, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(a.data, expected);
}

#[test]
fn incremental_snapshots_track_timers_like_keyed_state() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process_all([("a", "e:10 e:20", 3), ("b", "e:30", 9), ("c", "e:40", 5), ("d", "e:50", 5)]).unwrap();
    let base = h.snapshot().unwrap();
    h.advance(30, 0).unwrap(); // a loses both timers, b its only one
    h.process("d", "e:60", 5).unwrap();
    let delta = h.snapshot_incremental().unwrap();
    assert!(delta.incremental);
    let changed: Vec<(&str, Option<u16>)> =
        delta.chunks.iter().filter(|c| c.handle == TIMERS_HANDLE).map(|c| (c.handle.as_str(), c.key_group)).collect();
    assert_eq!(changed.len(), 3, "{changed:?}"); // key groups 3, 5 and 9
    let merged = merge_snapshots(base, [delta]).unwrap();
    assert_eq!(timers_in(&merged), [("c".into(), 0, 40), ("d".into(), 0, 50), ("d".into(), 0, 60)]);
    let mut restored = Harness::<Probe>::restore(merged).unwrap();
    assert_eq!(texts(&restored.advance(100, 0).unwrap()), ["c=e:40@100", "d=e:50@100", "d=e:60@100"]);
    // Nothing changed since: an incremental snapshot is empty.
    let mut h2 = Harness::<Probe>::new().unwrap();
    h2.process("a", "e:10", 3).unwrap();
    h2.snapshot().unwrap();
    assert!(h2.snapshot_incremental().unwrap().chunks.is_empty());
}

#[test]
fn timers_rescale_with_their_key_groups() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process_all([("a", "e:10 p:50", 3), ("b", "e:20", 70), ("c", "p:40", 100)]).unwrap();
    let chunks = h.snapshot().unwrap();
    let part = |range: std::ops::Range<u16>| -> Vec<Chunk> {
        chunks.iter().filter(|c| c.key_group.is_some_and(|g| range.contains(&g))).cloned().collect()
    };
    let info = |index, range| OperatorInfo::new("probe").with_subtask(index, 2).with_key_groups(Some(range));
    let mut low = Harness::<Probe>::restore_with_info(info(0, 0..64), part(0..64)).unwrap();
    let mut high = Harness::<Probe>::restore_with_info(info(1, 64..128), part(64..128)).unwrap();
    assert_eq!((low.wake_at(), high.wake_at()), (Some(50), Some(40)));
    assert_eq!(texts(&low.advance(100, 100).unwrap()), ["a=e:10@100", "a=p:50@100"]);
    assert_eq!(texts(&high.advance(100, 100).unwrap()), ["b=e:20@100", "c=p:40@100"]);
}

#[test]
#[should_panic(expected = "a timer was registered or deleted with no current key")]
fn timers_need_a_current_key() {
    let info = OperatorInfo::new("probe").with_config("timer_in_finish", "1");
    let _ = Harness::<Probe>::with_info(info).unwrap().finish();
}

#[test]
#[should_panic(expected = "a timer was registered or deleted for an event without a key group")]
fn timers_need_a_keyed_event() {
    let _ = Harness::<Probe>::new().unwrap().process("a", "e:1", NO_KEY_GROUP);
}

/// Only timers, no keyed state: needs `use_timers` (config `use`).
struct TimersOnly;

impl Operator for TimersOnly {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        if ctx.info().config("use").is_some() {
            ctx.use_timers()?;
        }
        Ok(TimersOnly)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        ctx.register_processing_timer(event.value_str()?.parse()?);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
        ctx.emit(&timer.key, "tick");
        Ok(())
    }
}

#[test]
fn an_operator_without_keyed_state_uses_timers_after_saying_so() {
    let info = OperatorInfo::new("t").with_config("use", "1");
    let mut h = Harness::<TimersOnly>::with_info(info.clone()).unwrap();
    h.process("k", "10", 3).unwrap();
    assert_eq!(h.advance(0, 10).unwrap(), [("k", "tick")]);
    let err = Harness::<TimersOnly>::with_info(info.with_key_groups(None)).err().unwrap().to_string();
    assert!(err.contains("uses timers") && err.contains("key_by = true"), "{err}");
}

#[test]
#[should_panic(expected = "call `ctx.use_timers()` in `open`")]
fn timers_without_keyed_state_or_use_timers_panic_with_a_hint() {
    let _ = Harness::<TimersOnly>::new().unwrap().process("k", "10", 3);
}

#[test]
fn restored_timers_make_the_key_tracked_without_use_timers() {
    let info = OperatorInfo::new("t").with_config("use", "1");
    let mut h = Harness::<TimersOnly>::with_info(info).unwrap();
    h.process("k", "10", 3).unwrap();
    let mut restored = Harness::<TimersOnly>::restore(h.snapshot().unwrap()).unwrap();
    restored.process("j", "20", 3).unwrap();
    assert_eq!(restored.advance(0, 20).unwrap(), [("k", "tick"), ("j", "tick")]);
}

struct Reserved;

impl Operator for Reserved {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        ctx.keyed_map::<u8, u8>(TIMERS_HANDLE)?;
        Ok(Reserved)
    }

    fn process(&mut self, _ctx: &mut Context, _event: Event<'_>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn the_timers_handle_name_is_reserved() {
    let err = Harness::<Reserved>::new().err().unwrap().to_string();
    assert!(err.contains("reserved"), "{err}");
}

#[test]
fn damaged_timer_chunks_are_errors() {
    let mut h = Harness::<Probe>::new().unwrap();
    h.process("a", "e:10", 3).unwrap();
    let good: Vec<Chunk> = h.snapshot().unwrap().into_iter().filter(|c| c.handle == TIMERS_HANDLE).collect();

    let mut wrong_kind = good.clone();
    wrong_kind[0].kind = Kind::KeyedValue;
    let err = Harness::<Probe>::restore(wrong_kind).err().unwrap().to_string();
    assert!(err.contains("as keyed-value, not keyed-map"), "{err}");

    let mut bad_domain = good.clone();
    // version, key len + key, map key len, then the domain byte.
    bad_domain[0].data[1 + 4 + 1 + 4] = 7;
    let err = Harness::<Probe>::restore(bad_domain).err().unwrap().to_string();
    assert!(err.contains("not a domain byte"), "{err}");

    let mut doubled = good;
    let entry = doubled[0].data[1..].to_vec();
    doubled[0].data.extend(entry);
    let err = Harness::<Probe>::restore(doubled).err().unwrap().to_string();
    assert!(err.contains("the same timer twice"), "{err}");
}

/// Fails in its callback after emitting.
struct Failing;

impl Operator for Failing {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        ctx.use_timers()?;
        Ok(Failing)
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        ctx.register_event_timer(event.timestamp().unwrap());
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
        ctx.emit(&timer.key, "before");
        if timer.timestamp == 2 { Err(crate::Error::msg("timer failed")) } else { Ok(()) }
    }
}

#[test]
fn a_failing_callback_fails_advance_and_drops_its_output() {
    let mut h = Harness::<Failing>::new().unwrap();
    h.process_all_at([("a", "", 3, 1), ("a", "", 3, 2)]).unwrap();
    assert_eq!(h.advance(5, 0).unwrap_err().to_string(), "timer failed");
    assert!(h.advance(5, 0).unwrap().is_empty());
}

#[test]
fn operators_without_on_timer_ignore_timers() {
    // The default `on_timer` does nothing.
    struct Plain;
    impl Operator for Plain {
        fn open(ctx: &mut OpenContext) -> Result<Self> {
            ctx.use_timers()?;
            Ok(Plain)
        }
        fn process(&mut self, ctx: &mut Context, _event: Event<'_>) -> Result<()> {
            ctx.register_event_timer(1);
            Ok(())
        }
    }
    let mut h = Harness::<Plain>::new().unwrap();
    h.process("a", "", 3).unwrap();
    assert!(h.advance(i64::MAX, 0).unwrap().is_empty());
    assert!(h.snapshot().unwrap().is_empty());
}

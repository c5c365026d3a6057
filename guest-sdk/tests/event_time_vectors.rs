//! Event-time state, byte for byte: timers (both domains), a keyed value
//! with a TTL and session windows, as the SDK snapshots them. The same
//! input must give the same bytes in every SDK (`wit/STATE.md`, "Timers",
//! "State TTL"; the `window` module for the window layout), so that a
//! checkpoint restores across languages.
//!
//! The input (also in `/tmp/spec/event-time-sdk-vector.txt` for the other
//! SDKs, when that directory exists):
//! - handles: `seen`, a keyed value (u64) with a TTL of 1000 ms; `sums`,
//!   session windows with a gap of 50 ms summing the values (i64);
//! - events `("p", "x", key group 1, ts 1000)`: sets `seen` to 1 and
//!   registers a processing-time timer at 5000; `("s", "5", key group 2,
//!   ts 100)`: added to `sums` (session `[100, 150)`, sum 5, event-time
//!   timer at 150);
//! - no `advance`, then a full snapshot.
//!
//! One entry per chunk, so that the bytes do not depend on entry order.

use weir_guest::state::{Chunk, Kind};
use weir_guest::testing::Harness;
use weir_guest::window::{Sum, Windows};
use weir_guest::{Context, Event, OpenContext, Operator, Result, Timer, ValueState};

struct Mixed {
    seen: ValueState<u64>,
    sums: Windows<Sum>,
}

impl Operator for Mixed {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Mixed {
            seen: ctx.keyed_value_with_ttl("seen", 1_000)?,
            sums: ctx.session_windows("sums", 50, Sum::of_value())?,
        })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        if event.key() == b"p" {
            self.seen.set(ctx, 1);
            ctx.register_processing_timer(5_000);
        } else {
            self.sums.add(ctx, &event)?;
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
        let fired = self.sums.on_timer(ctx, &timer, |ctx, key, window, sum| {
            ctx.emit(key, format!("{} {} {sum}", window.start, window.end));
            Ok(())
        })?;
        if fired == 0 {
            let seen = self.seen.get(ctx).copied();
            ctx.emit(&timer.key, format!("tick {seen:?}"));
        }
        Ok(())
    }
}

/// `handle kind key_group hex(data)` per chunk, sorted by (handle, key group).
const VECTOR: &str = "\
seen keyed-value 1 01010000007009000000d00700000000000001
sums keyed-map 2 01010000007302000000c80103000000ac020a
weir.timers keyed-map 1 0101000000700900000001881300000000000000000000
weir.timers keyed-map 2 0101000000730900000000960000000000000000000000
";

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::KeyedValue => "keyed-value",
        Kind::KeyedMap => "keyed-map",
        other => panic!("unexpected kind {other:?}"),
    }
}

fn lines(chunks: &[Chunk]) -> String {
    let mut chunks: Vec<&Chunk> = chunks.iter().collect();
    chunks.sort_by(|a, b| (&a.handle, a.key_group).cmp(&(&b.handle, b.key_group)));
    chunks
        .iter()
        .map(|c| {
            let hex: String = c.data.iter().map(|b| format!("{b:02x}")).collect();
            format!("{} {} {} {hex}\n", c.handle, kind_name(c.kind), c.key_group.unwrap())
        })
        .collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn event_time_state_is_byte_for_byte_the_vector() {
    let mut h = Harness::<Mixed>::new().unwrap();
    h.process_at("p", "x", 1, 1_000).unwrap();
    h.process_at("s", "5", 2, 100).unwrap();
    assert_eq!(lines(&h.snapshot().unwrap()), VECTOR);
}

#[test]
fn the_vector_restores_with_its_timers_and_expiry() {
    let chunks: Vec<Chunk> = VECTOR
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let kind = if f[1] == "keyed-value" { Kind::KeyedValue } else { Kind::KeyedMap };
            Chunk { handle: f[0].into(), kind, key_group: Some(f[2].parse().unwrap()), data: unhex(f[3]) }
        })
        .collect();
    let mut h = Harness::<Mixed>::restore(chunks).unwrap();
    // The restored processing-time timer asks the host to wake the instance.
    assert_eq!(h.wake_at(), Some(5_000));
    // Event time first, then processing time; `seen` expires at 2000, so at
    // the watermark 1999 it is still there.
    assert_eq!(h.advance(1_999, 5_000).unwrap(), [("s", "100 150 5"), ("p", "tick Some(1)")]);
    assert_eq!(h.wake_at(), None);
    h.advance(2_000, 5_000).unwrap();
    assert!(h.snapshot().unwrap().is_empty());
}

/// Writes the vector for the other SDKs, when the shared directory exists.
#[test]
fn the_vector_is_shared() {
    let dir = std::path::Path::new("/tmp/spec");
    if !dir.is_dir() {
        return;
    }
    let path = dir.join("event-time-sdk-vector.txt");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        assert_eq!(existing, VECTOR, "{} differs from this test's vector", path.display());
    } else {
        std::fs::write(&path, VECTOR).unwrap();
    }
}

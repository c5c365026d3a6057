//! Weir example operator `window-count`: counts events per key in tumbling
//! event-time windows (the contract example of event time, `DESIGN.md`).
//!
//! Every event (the input must be keyed, `key_by = true`, and carry
//! timestamps, e.g. a `lines` source with `format = "tsv"`) counts in the
//! window `[start, start + size_ms)` its timestamp falls in. When the
//! watermark passes a window's end (watermark >= end; no allowed lateness)
//! the operator emits key = the event key, value = `<window_start_ms>\t<count>`
//! (the files sink writes `key<TAB>window_start_ms<TAB>count`), with the
//! window's last millisecond as timestamp. An event whose window ends at or
//! before the current watermark is late: it goes unchanged to the side
//! output `late` (declare it with `side_outputs = ["late"]`; without it late
//! events are dropped).
//!
//! Config (`[operators.config]`):
//! - `size_ms`: the window size in milliseconds (default 60000).
//!
//! State, the same as the Python `examples/window-count-py` byte for byte,
//! so a checkpoint of one restores into the other and closes its open
//! windows:
//! - `counts`: keyed map, window start (i64) -> count (u64);
//! - `weir.timers`: the SDK's timers, one event-time timer per open window,
//!   at its end.

use weir_guest::window::{Count, Windows};
use weir_guest::{Context, Error, Event, OpenContext, Operator, Result, Timer};

/// The window size when the config does not set `size_ms`.
pub const DEFAULT_SIZE_MS: i64 = 60_000;

pub struct WindowCount {
    counts: Windows<Count>,
}

impl Operator for WindowCount {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        let size_ms = ctx.info().parse_config::<i64>("size_ms")?.unwrap_or(DEFAULT_SIZE_MS);
        if size_ms <= 0 {
            return Err(Error::msg(format!("config `size_ms` must be positive, not {size_ms}")));
        }
        Ok(WindowCount { counts: ctx.tumbling_windows("counts", size_ms, Count)? })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        // Late events go to the side output `late` (when declared).
        self.counts.add(ctx, &event)?;
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Context, timer: Timer) -> Result<()> {
        self.counts.on_timer(ctx, &timer, |ctx, key, window, count| {
            ctx.emit(key, format!("{}\t{count}", window.start));
            Ok(())
        })?;
        Ok(())
    }
}

weir_guest::export_operator!(WindowCount);

#[cfg(test)]
mod tests {
    use weir_guest::OperatorInfo;
    use weir_guest::state::{Chunk, Kind};
    use weir_guest::testing::{Harness, Output, merge_snapshots};

    use super::*;

    fn info() -> OperatorInfo {
        OperatorInfo::new("count").with_side_outputs(["late"])
    }

    fn harness() -> Harness<WindowCount> {
        Harness::with_info(info()).unwrap()
    }

    fn sorted(mut out: Vec<Output>) -> Vec<Output> {
        out.sort_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
        out
    }

    #[test]
    fn out_of_order_events_within_the_watermark_count_in_their_windows() {
        let mut h = harness();
        let out = h
            .process_all_at([
                ("a", "1", 3, 59_000),
                ("a", "2", 3, 61_000),
                ("b", "3", 7, 1_000),
                ("a", "4", 3, 30_000), // out of order, its window is still open
                ("a", "5", 3, 0),
            ])
            .unwrap();
        assert!(out.is_empty());
        assert!(h.advance(59_999, 0).unwrap().is_empty());
        h.process_at("b", "6", 7, 59_999).unwrap(); // still in time
        let out = h.advance(60_000, 0).unwrap();
        assert_eq!(sorted(out.clone()), [("a", "0\t3"), ("b", "0\t2")]);
        // A window's result carries its last millisecond.
        assert!(out.iter().all(|o| o.timestamp == Some(59_999)), "{out:?}");
        assert!(h.advance(60_000, 0).unwrap().is_empty()); // fired once
        assert_eq!(h.advance(120_000, 0).unwrap(), [("a", "60000\t1")]);
        assert!(h.side_output("late").is_empty());
    }

    #[test]
    fn late_events_go_to_the_late_side_output_unchanged() {
        let mut h = harness();
        h.process_at("a", "in", 3, 10_000).unwrap();
        assert_eq!(h.advance(60_000, 0).unwrap(), [("a", "0\t1")]);
        // Its window [0, 60000) ended at the watermark: late.
        assert!(h.process_at("a", "late-1", 3, 59_999).unwrap().is_empty());
        // The watermark is 60000: [60000, 120000) is open.
        h.process_at("a", "on-time", 3, 60_000).unwrap();
        let late = h.side_output("late");
        assert_eq!(late, [("a", "late-1")]);
        assert_eq!(late[0].timestamp, Some(59_999));
        assert_eq!(h.advance(i64::MAX, 0).unwrap(), [("a", "60000\t1")]);

        // Without the side output late events are dropped.
        let mut h = Harness::<WindowCount>::new().unwrap();
        h.advance(60_000, 0).unwrap();
        assert!(h.process_at("a", "late", 3, 1).unwrap().is_empty());
        assert!(h.advance(i64::MAX, 0).unwrap().is_empty());
    }

    #[test]
    fn the_window_size_comes_from_the_config() {
        let mut h = Harness::<WindowCount>::with_info(info().with_config("size_ms", "5000")).unwrap();
        h.process_all_at([("a", "", 3, 4_999), ("a", "", 3, 5_000), ("a", "", 3, 9_999)]).unwrap();
        assert_eq!(h.advance(10_000, 0).unwrap(), [("a", "0\t1"), ("a", "5000\t2")]);
        for bad in ["0", "-5", "x"] {
            let err = Harness::<WindowCount>::with_info(info().with_config("size_ms", bad)).err().unwrap();
            assert!(err.to_string().contains("size_ms"), "{bad}: {err}");
        }
        let err = Harness::<WindowCount>::with_info(info().with_key_groups(None)).err().unwrap();
        assert!(err.to_string().contains("key_by = true"), "{err}");
    }

    #[test]
    fn an_event_without_a_timestamp_is_an_error() {
        let err = harness().process("a", "x", 3).unwrap_err().to_string();
        assert!(err.contains("without a timestamp"), "{err}");
    }

    #[test]
    fn an_open_window_survives_a_restore_and_closes_after_it() {
        let mut h = harness();
        h.process_all_at([("a", "", 3, 1_000), ("a", "", 3, 2_000), ("b", "", 7, 61_000)]).unwrap();
        assert!(h.advance(30_000, 0).unwrap().is_empty());
        let chunks = h.snapshot().unwrap();

        let mut restored = Harness::<WindowCount>::restore_with_info(info(), chunks).unwrap();
        // The watermark is not state: the host sends it again.
        restored.advance(30_000, 0).unwrap();
        restored.process_at("a", "", 3, 3_000).unwrap();
        assert_eq!(restored.advance(60_000, 0).unwrap(), [("a", "0\t3")]);
        restored.process_at("b", "", 7, 100_000).unwrap();
        assert_eq!(restored.advance(i64::MAX, 0).unwrap(), [("b", "60000\t2")]);
        assert!(restored.finish().unwrap().is_empty());
        assert!(restored.side_output("late").is_empty());
    }

    #[test]
    fn incremental_snapshots_restore_open_windows() {
        let mut h = harness();
        h.process_all_at([("a", "", 3, 1_000), ("b", "", 7, 1_000)]).unwrap();
        let base = h.snapshot().unwrap();
        h.process_at("a", "", 3, 70_000).unwrap();
        assert_eq!(sorted(h.advance(60_000, 0).unwrap()), [("a", "0\t1"), ("b", "0\t1")]);
        let delta = h.snapshot_incremental().unwrap();
        assert!(delta.incremental);
        let merged = merge_snapshots(base, [delta]).unwrap();
        // Only a's window [60000, 120000) and its timer are left.
        let mut groups: Vec<_> = merged.iter().map(|c| (c.handle.as_str(), c.key_group)).collect();
        groups.sort();
        assert_eq!(groups, [("counts", Some(3)), ("weir.timers", Some(3))]);
        let mut restored = Harness::<WindowCount>::restore_with_info(info(), merged).unwrap();
        assert_eq!(restored.advance(i64::MAX, 0).unwrap(), [("a", "60000\t1")]);
    }

    #[test]
    fn windows_rescale_with_their_key_groups() {
        // One subtask owning every key group...
        let mut h = harness();
        h.process_all_at([("a", "", 3, 1_000), ("b", "", 70, 2_000), ("c", "", 100, 3_000), ("b", "", 70, 4_000)])
            .unwrap();
        let chunks = h.snapshot().unwrap();
        // ...restored as two: the host hands each the chunks of its key groups.
        let part = |range: std::ops::Range<u16>| -> Vec<Chunk> {
            chunks.iter().filter(|c| c.key_group.is_some_and(|g| range.contains(&g))).cloned().collect()
        };
        let first = info().with_subtask(0, 2).with_key_groups(Some(0..64));
        let second = info().with_subtask(1, 2).with_key_groups(Some(64..128));
        let mut low = Harness::<WindowCount>::restore_with_info(first, part(0..64)).unwrap();
        let mut high = Harness::<WindowCount>::restore_with_info(second, part(64..128)).unwrap();
        high.process_at("c", "", 100, 5_000).unwrap();
        assert_eq!(low.advance(60_000, 0).unwrap(), [("a", "0\t1")]);
        assert_eq!(sorted(high.advance(60_000, 0).unwrap()), [("b", "0\t2"), ("c", "0\t2")]);
    }

    /// The shared cross-language vector, `/tmp/spec/window-count-vector.txt`
    /// (its input is described beside it): one line per chunk, `handle kind
    /// key_group hex(data)`, sorted by (handle, key group).
    const VECTOR: &str = "\
counts keyed-map 3 01010000006101000000000100000002
counts keyed-map 7 01010000006203000000c0a9070100000001
weir.timers keyed-map 3 010100000061090000000060ea00000000000000000000
weir.timers keyed-map 7 0101000000620900000000c0d401000000000000000000
";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    fn vector_lines(chunks: &[Chunk]) -> String {
        let mut chunks: Vec<&Chunk> = chunks.iter().collect();
        chunks.sort_by(|a, b| (&a.handle, a.key_group).cmp(&(&b.handle, b.key_group)));
        chunks
            .iter()
            .map(|c| {
                assert_eq!(c.kind, Kind::KeyedMap);
                format!("{} keyed-map {} {}\n", c.handle, c.key_group.unwrap(), hex(&c.data))
            })
            .collect()
    }

    #[test]
    fn the_state_is_byte_for_byte_the_shared_vector() {
        let mut h = Harness::<WindowCount>::new().unwrap();
        h.process_all_at([("a", "x", 3, 1_000), ("a", "y", 3, 2_000), ("b", "z", 7, 61_000)]).unwrap();
        assert_eq!(vector_lines(&h.snapshot().unwrap()), VECTOR);
        // The file the other SDKs check, when present, says the same.
        if let Ok(shared) = std::fs::read_to_string("/tmp/spec/window-count-vector.txt") {
            assert_eq!(shared, VECTOR);
        }
    }

    #[test]
    fn the_shared_vector_restores_and_closes_its_windows() {
        let chunks: Vec<Chunk> = VECTOR
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                Chunk {
                    handle: fields[0].to_owned(),
                    kind: Kind::KeyedMap,
                    key_group: Some(fields[2].parse().unwrap()),
                    data: unhex(fields[3]),
                }
            })
            .collect();
        let mut h = Harness::<WindowCount>::restore_with_info(info(), chunks).unwrap();
        assert_eq!(h.advance(60_000, 0).unwrap(), [("a", "0\t2")]);
        assert_eq!(h.advance(120_000, 0).unwrap(), [("b", "60000\t1")]);
        assert!(h.snapshot().unwrap().is_empty());
        assert_eq!(h.wake_at(), None);
    }

    #[test]
    fn each_open_window_has_one_event_timer_at_its_end() {
        let mut h = harness();
        h.process_all_at([("a", "", 3, 1_000), ("a", "", 3, 2_000), ("a", "", 3, 65_000)]).unwrap();
        let chunks = h.snapshot().unwrap();
        let timers = chunks.iter().find(|c| c.handle == weir_guest::TIMERS_HANDLE).unwrap();
        assert_eq!(timers.kind, Kind::KeyedMap);
        // (timestamp, domain 0 = event time)
        assert_eq!(timer_entries(&timers.data), [(60_000, 0), (120_000, 0)]);
    }

    /// (timestamp, domain) of every timer of a `weir.timers` chunk, decoded
    /// by hand (the layout of STATE.md), not with the SDK.
    fn timer_entries(data: &[u8]) -> Vec<(i64, u8)> {
        fn field<'d>(rest: &mut &'d [u8]) -> &'d [u8] {
            let (len, tail) = rest.split_at(4);
            let (field, tail) = tail.split_at(u32::from_le_bytes(len.try_into().unwrap()) as usize);
            *rest = tail;
            field
        }
        assert_eq!(data[0], 1);
        let mut rest = &data[1..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let _key = field(&mut rest);
            let map_key = field(&mut rest);
            assert!(field(&mut rest).is_empty());
            out.push((i64::from_le_bytes(map_key[1..].try_into().unwrap()), map_key[0]));
        }
        out.sort();
        out
    }
}

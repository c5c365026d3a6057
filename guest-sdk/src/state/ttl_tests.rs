//! State TTL: visibility by the operator's time (event timestamp and
//! watermark), the layout (expiry in front of each value), dropping expired
//! entries from full and incremental snapshots, restore.

use weir_wire::state::{ChunkReader, DeltaReader, Entry, Kind};

use crate::state::{Chunk, ListState, MapState, ValueState};
use crate::testing::{Harness, Output, merge_snapshots};
use crate::{Context, Event, OpenContext, Operator, OperatorInfo, Result, Timer};

const TTL: i64 = 100;

/// The removed keys of a delta chunk.
type Removed = Vec<Vec<u8>>;

/// Commands (space separated): `set:N`, `bump`, `get`, `put:K=N`, `map`,
/// `push:X`, `list`, `e:TS` (an event timer), `count` (key count of the
/// value handle). A timer sets the value to 7.
struct Ttls {
    value: ValueState<u64>,
    map: MapState<String, u64>,
    list: ListState<String>,
}

impl Operator for Ttls {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Ttls {
            value: ctx.keyed_value_with_ttl("v", TTL)?,
            map: ctx.keyed_map_with_ttl("m", TTL)?,
            list: ctx.keyed_list_with_ttl("l", TTL)?,
        })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        for command in event.value_str()?.split_whitespace() {
            let (what, arg) = command.split_once(':').unwrap_or((command, ""));
            match what {
                "set" => self.value.set(ctx, arg.parse()?),
                "bump" => *self.value.get_mut(ctx).expect("a value") += 1,
                "get" => ctx.emit(event.key(), format!("{:?}", self.value.get(ctx))),
                "put" => {
                    let (k, n) = arg.split_once('=').expect("k=n");
                    self.map.insert(ctx, k.to_owned(), n.parse()?);
                }
                "map" => {
                    let mut entries: Vec<(String, u64)> = self.map.iter(ctx).map(|(k, v)| (k.clone(), *v)).collect();
                    entries.sort();
                    ctx.emit(event.key(), format!("{entries:?} {}", self.map.len(ctx)));
                }
                "push" => self.list.push(ctx, arg.to_owned()),
                "list" => ctx.emit(event.key(), format!("{:?}", self.list.get(ctx))),
                "e" => ctx.register_event_timer(arg.parse()?),
                "count" => {
                    let all = self.value.iter_all_keys(ctx).count();
                    ctx.emit(event.key(), format!("{} {all}", self.value.key_count(ctx)));
                }
                other => return Err(crate::Error::msg(format!("test bug: {other}"))),
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Context, _timer: Timer) -> Result<()> {
        self.value.set(ctx, 7);
        Ok(())
    }
}

fn run(h: &mut Harness<Ttls>, key: &str, commands: &str, timestamp: i64) -> Vec<String> {
    let group = if key == "a" { 3 } else { 9 };
    let out: Vec<Output> = h.process_at(key, commands, group, timestamp).unwrap();
    out.iter().map(|o| o.value_str().unwrap().to_owned()).collect()
}

/// (key, expiry, value bytes) of the entries of handle `v` (value chunks).
fn values_in(chunks: &[Chunk]) -> Vec<(String, i64, Vec<u8>)> {
    let mut out = Vec::new();
    for chunk in chunks.iter().filter(|c| c.handle == "v") {
        for entry in ChunkReader::new(Kind::KeyedValue, &chunk.data).unwrap() {
            let Entry::KeyedValue { key, value } = entry.unwrap() else { panic!() };
            let expires = i64::from_le_bytes(value[..8].try_into().unwrap());
            out.push((String::from_utf8(key.to_vec()).unwrap(), expires, value[8..].to_vec()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_value_is_visible_until_the_event_time_reaches_its_expiry() {
    let mut h = Harness::<Ttls>::new().unwrap();
    assert_eq!(run(&mut h, "a", "set:5 get", 1_000), ["Some(5)"]);
    assert_eq!(run(&mut h, "a", "get", 1_099), ["Some(5)"]);
    assert_eq!(run(&mut h, "a", "get", 1_100), ["None"]);
    // Once expired it is gone, whatever the next event's timestamp.
    assert_eq!(run(&mut h, "a", "get", 1_050), ["None"]);
    assert!(h.snapshot().unwrap().is_empty());
}

#[test]
fn the_watermark_expires_values_too() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "set:5", 1_000);
    run(&mut h, "b", "set:6", 2_000);
    h.advance(1_100, 0).unwrap();
    // An event older than the watermark sees the watermark's time.
    assert_eq!(run(&mut h, "a", "get", 500), ["None"]);
    assert_eq!(run(&mut h, "b", "count get", 500), ["1 1", "Some(6)"]);
}

#[test]
fn the_write_time_is_the_event_timestamp_else_the_watermark_else_never() {
    let mut h = Harness::<Ttls>::new().unwrap();
    // No timestamp, no watermark: never expires.
    h.process("a", "set:1", 3).unwrap();
    assert_eq!(values_in(&h.snapshot().unwrap()), [("a".into(), i64::MAX, vec![1])]);
    h.advance(5_000, 0).unwrap();
    assert_eq!(run(&mut h, "a", "get", i64::MIN + 1), ["Some(1)"]);
    // No timestamp, a watermark: the watermark plus the TTL.
    h.process("a", "set:2", 3).unwrap();
    assert_eq!(values_in(&h.snapshot().unwrap()), [("a".into(), 5_100, vec![2])]);
    // In a timer callback: the watermark.
    run(&mut h, "b", "e:6000", 5_500);
    h.advance(6_050, 0).unwrap();
    assert_eq!(values_in(&h.snapshot().unwrap()), [("b".into(), 6_150, vec![7])]);
    // A timestamp: the timestamp plus the TTL.
    run(&mut h, "a", "set:3", 7_000);
    assert_eq!(values_in(&h.snapshot().unwrap()), [("a".into(), 7_100, vec![3]), ("b".into(), 6_150, vec![7])]);
}

#[test]
fn a_write_already_expired_is_invisible_at_once() {
    let mut h = Harness::<Ttls>::new().unwrap();
    h.advance(10_000, 0).unwrap();
    // 9000 + 100 <= the watermark.
    assert_eq!(run(&mut h, "a", "set:1 get put:x=1 map push:y list", 9_000), ["None", "[] 0", "[]"]);
    assert!(h.snapshot().unwrap().is_empty());
}

#[test]
fn get_mut_is_a_write_that_renews_the_expiry() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "set:1", 1_000);
    run(&mut h, "a", "bump", 1_090);
    assert_eq!(run(&mut h, "a", "get", 1_150), ["Some(2)"]);
    assert_eq!(values_in(&h.snapshot().unwrap()), [("a".into(), 1_190, vec![2])]);
}

#[test]
fn map_entries_and_list_elements_expire_one_by_one() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "put:x=1 push:first", 1_000);
    run(&mut h, "a", "put:y=2 push:second", 1_050);
    assert_eq!(run(&mut h, "a", "map list", 1_099), [r#"[("x", 1), ("y", 2)] 2"#, r#"["first", "second"]"#]);
    assert_eq!(run(&mut h, "a", "map list", 1_100), [r#"[("y", 2)] 1"#, r#"["second"]"#]);
    // Re-inserting restarts the entry's expiry.
    run(&mut h, "a", "put:y=3", 1_140);
    assert_eq!(run(&mut h, "a", "map list", 1_150), [r#"[("y", 3)] 1"#, "[]"]);

    // The layout: each map value and list element has its expiry in front.
    let chunks = h.snapshot().unwrap();
    let map = chunks.iter().find(|c| c.handle == "m").unwrap();
    let entries: Vec<(Vec<u8>, Vec<u8>)> = ChunkReader::new(Kind::KeyedMap, &map.data)
        .unwrap()
        .map(|e| match e.unwrap() {
            Entry::KeyedMap { map_key, value, .. } => (map_key.to_vec(), value.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(entries, [(vec![1, b'y'], [&1_240i64.to_le_bytes()[..], &[3]].concat())]);
    assert!(!chunks.iter().any(|c| c.handle == "l"), "the list is empty: {chunks:?}");
}

#[test]
fn list_elements_keep_their_expiry_in_snapshots_and_restores() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "push:x", 1_000);
    run(&mut h, "a", "push:y", 1_050);
    let chunks = h.snapshot().unwrap();
    let list = chunks.iter().find(|c| c.handle == "l").unwrap();
    let Entry::KeyedList { values, .. } =
        ChunkReader::new(Kind::KeyedList, &list.data).unwrap().next().unwrap().unwrap()
    else {
        panic!()
    };
    let values: Vec<Vec<u8>> = values.map(<[u8]>::to_vec).collect();
    assert_eq!(
        values,
        [[&1_100i64.to_le_bytes()[..], &[1, b'x']].concat(), [&1_150i64.to_le_bytes()[..], &[1, b'y']].concat()]
    );
    let mut restored = Harness::<Ttls>::restore(chunks).unwrap();
    assert_eq!(run(&mut restored, "a", "list", 1_120), [r#"["y"]"#]);
}

#[test]
fn expired_entries_are_left_out_of_full_and_incremental_snapshots() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "set:1 put:x=1", 1_000);
    run(&mut h, "b", "set:2", 2_000);
    let base = h.snapshot().unwrap();
    assert_eq!(values_in(&base).len(), 2);

    h.advance(1_100, 0).unwrap();
    let delta = h.snapshot_incremental().unwrap();
    assert!(delta.incremental);
    // Key "a" (key group 3) lost its value and its map.
    let mut removed: Vec<(&str, Option<u16>, Removed)> = delta
        .chunks
        .iter()
        .map(|c| {
            let reader = DeltaReader::new(c.kind, &c.data).unwrap();
            (c.handle.as_str(), c.key_group, reader.removed().map(|k| k.to_vec()).collect())
        })
        .collect();
    removed.sort();
    assert_eq!(removed, [("m", Some(3), vec![b"a".to_vec()]), ("v", Some(3), vec![b"a".to_vec()])]);
    let merged = merge_snapshots(base, [delta]).unwrap();
    assert_eq!(values_in(&merged), [("b".into(), 2_100, vec![2])]);

    // A full snapshot leaves them out as well.
    h.advance(2_100, 0).unwrap();
    assert!(h.snapshot().unwrap().is_empty());
}

#[test]
fn restored_values_keep_their_expiry() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "set:1", 1_000);
    let mut restored = Harness::<Ttls>::restore(h.snapshot().unwrap()).unwrap();
    assert_eq!(run(&mut restored, "a", "get", 1_099), ["Some(1)"]);
    assert_eq!(run(&mut restored, "a", "get", 1_100), ["None"]);
}

#[test]
fn whole_handle_walks_skip_expired_values() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "set:1", 1_000);
    run(&mut h, "b", "set:2", 1_500);
    // At 1200 a's value has expired, though it was not touched since.
    assert_eq!(run(&mut h, "b", "count", 1_200), ["1 1"]);
    h.advance(1_600, 0).unwrap();
    assert_eq!(run(&mut h, "a", "count", 1_000), ["0 0"]);
}

/// A handle without a TTL restores a TTL checkpoint only by mistake: the
/// layouts differ, and decoding says so.
struct NoTtl {
    _value: ValueState<u64>,
}

impl Operator for NoTtl {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(NoTtl { _value: ctx.keyed_value("v")? })
    }

    fn process(&mut self, _ctx: &mut Context, _event: Event<'_>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_ttl_layout_does_not_restore_into_a_handle_without_ttl() {
    let mut h = Harness::<Ttls>::new().unwrap();
    run(&mut h, "a", "set:1", 1_000);
    let err = Harness::<NoTtl>::restore(h.snapshot().unwrap()).err().unwrap().to_string();
    assert!(err.contains("state `v`"), "{err}");
    // And the other way: values too short to hold an expiry.
    let chunk = Chunk {
        handle: "v".into(),
        kind: Kind::KeyedValue,
        key_group: Some(3),
        data: vec![1, 1, 0, 0, 0, b'a', 1, 0, 0, 0, 5],
    };
    let err = Harness::<Ttls>::restore(vec![chunk]).err().unwrap().to_string();
    assert!(err.contains("shorter than its 8-byte expiry"), "{err}");
}

struct BadTtl;

impl Operator for BadTtl {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        ctx.keyed_value_with_ttl::<u8>("v", 0)?;
        Ok(BadTtl)
    }

    fn process(&mut self, _ctx: &mut Context, _event: Event<'_>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_ttl_must_be_positive() {
    let err = Harness::<BadTtl>::with_info(OperatorInfo::new("t")).err().unwrap().to_string();
    assert_eq!(err, "state `v`: the time to live must be at least 1 ms, not 0");
}

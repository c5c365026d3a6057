//! Snapshot -> restore round trips of every handle kind, and the chunk format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weir_wire::state::{ChunkReader, Entry, Kind};

use crate::state::{Chunk, ListState, MapState, ValueState};
use crate::testing::{Harness, NO_KEY_GROUP};
use crate::{Context, Event, OpenContext, Operator, OperatorInfo, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Visit {
    page: String,
    seq: u32,
    tags: Vec<String>,
    score: Option<i64>,
}

/// Uses one handle of every kind; a value "?" emits a description of all the
/// state the current key sees instead of updating it.
struct Everything {
    last: ValueState<Visit>,
    pages: MapState<String, Visit>,
    history: ListState<Visit>,
    total: ValueState<u64>,
    arrivals: ListState<String>,
}

impl Operator for Everything {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Everything {
            last: ctx.keyed_value("last")?,
            pages: ctx.keyed_map("pages")?,
            history: ctx.keyed_list("history")?,
            total: ctx.operator_value("total")?,
            arrivals: ctx.operator_list("arrivals")?,
        })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let key = event.key_str()?;
        let page = event.value_str()?;
        if page == "?" {
            let pages: BTreeMap<_, _> = self.pages.iter(ctx).collect();
            let description = format!(
                "last={:?} pages={pages:?} history={:?} total={:?} arrivals={:?}",
                self.last.get(ctx),
                self.history.get(ctx),
                self.total.get(ctx),
                self.arrivals.get(ctx),
            );
            ctx.emit(key, description);
            return Ok(());
        }
        let seq = self.history.len(ctx) as u32;
        let visit = Visit {
            page: page.to_owned(),
            seq,
            tags: vec![key.to_owned(), "ü".repeat(seq as usize)],
            score: seq.is_multiple_of(2).then_some(-(seq as i64) * 1000),
        };
        self.last.set(ctx, visit.clone());
        self.pages.insert(ctx, page.to_owned(), visit.clone());
        self.history.push(ctx, visit);
        let total = self.total.get(ctx).copied().unwrap_or(0);
        self.total.set(ctx, total + 1);
        self.arrivals.push(ctx, key.to_owned());
        Ok(())
    }
}

/// Keys spread over three key groups, several keys per group.
const KEYS: [(&str, u16); 6] = [("ann", 3), ("bob", 3), ("cy", 17), ("dee", 17), ("eve", 127), ("flo", 0)];

fn feed(harness: &mut Harness<Everything>) {
    for round in 0..3 {
        for (i, (key, group)) in KEYS.iter().enumerate() {
            if i % 3 <= round {
                harness.process(key, format!("page{}", (i + round) % 4), *group).unwrap();
            }
        }
    }
}

fn describe_all(harness: &mut Harness<Everything>) -> Vec<String> {
    KEYS.iter()
        .map(|(key, group)| {
            let out = harness.process(key, "?", *group).unwrap();
            out[0].value_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn every_kind_round_trips_through_snapshot_and_restore() {
    let mut original = Harness::<Everything>::new().unwrap();
    feed(&mut original);
    let chunks = original.snapshot().unwrap();

    let mut restored = Harness::<Everything>::restore(chunks.clone()).unwrap();
    let before = describe_all(&mut original);
    assert!(before[0].contains("page"), "{before:?}");
    assert_eq!(describe_all(&mut restored), before);

    // The restored instance keeps going where the original left off, and
    // snapshots the same state.
    feed(&mut original);
    feed(&mut restored);
    assert_eq!(describe_all(&mut restored), describe_all(&mut original));
    let mut again = Harness::<Everything>::restore(restored.snapshot().unwrap()).unwrap();
    assert_eq!(describe_all(&mut again), describe_all(&mut original));
}

#[test]
fn snapshot_has_one_chunk_per_handle_and_key_group() {
    let mut harness = Harness::<Everything>::new().unwrap();
    feed(&mut harness);
    let chunks = harness.snapshot().unwrap();
    let layout: Vec<_> = chunks.iter().map(|c| (c.handle.as_str(), c.kind, c.key_group)).collect();
    let mut expected = Vec::new();
    for (handle, kind) in [("last", Kind::KeyedValue), ("pages", Kind::KeyedMap), ("history", Kind::KeyedList)] {
        for group in [0, 3, 17, 127] {
            expected.push((handle, kind, Some(group)));
        }
    }
    expected.push(("total", Kind::OperatorValue, None));
    expected.push(("arrivals", Kind::OperatorList, None));
    assert_eq!(layout, expected);

    // Every chunk decodes with the reference reader, and each key sits in
    // the chunk of its own key group.
    let group_of: BTreeMap<&[u8], u16> = KEYS.iter().map(|(k, g)| (k.as_bytes(), *g)).collect();
    for chunk in &chunks {
        let entries: Vec<Entry<'_>> =
            ChunkReader::new(chunk.kind, &chunk.data).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(!entries.is_empty(), "{chunk:?}");
        for entry in entries {
            match entry {
                Entry::KeyedValue { key, value } => {
                    assert_eq!(Some(group_of[key]), chunk.key_group);
                    let visit: Visit = postcard::from_bytes(value).unwrap();
                    assert_eq!(visit.tags[0].as_bytes(), key);
                }
                Entry::KeyedMap { key, map_key, value } => {
                    assert_eq!(Some(group_of[key]), chunk.key_group);
                    let page: String = postcard::from_bytes(map_key).unwrap();
                    let visit: Visit = postcard::from_bytes(value).unwrap();
                    assert_eq!(page, visit.page);
                }
                Entry::KeyedList { key, values } => {
                    assert_eq!(Some(group_of[key]), chunk.key_group);
                    let seqs: Vec<u32> = values.map(|v| postcard::from_bytes::<Visit>(v).unwrap().seq).collect();
                    assert_eq!(seqs, (0..seqs.len() as u32).collect::<Vec<_>>());
                }
                Entry::OperatorValue { value } => {
                    assert_eq!(postcard::from_bytes::<u64>(value).unwrap(), 12);
                }
                Entry::OperatorList { value } => {
                    let key: String = postcard::from_bytes(value).unwrap();
                    assert!(group_of.contains_key(key.as_bytes()));
                }
                Entry::BroadcastMap { .. } => unreachable!("no broadcast state declared"),
            }
        }
    }
}

struct Counter {
    count: ValueState<u64>,
}

impl Operator for Counter {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Counter { count: ctx.keyed_value("count")? })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let n = self.count.get(ctx).copied().unwrap_or(0) + event.value().len() as u64;
        self.count.set(ctx, n);
        ctx.emit(event.key(), n.to_string());
        Ok(())
    }

    fn finish(&mut self, ctx: &mut Context) -> Result<()> {
        self.count.get(ctx); // no current key: panics
        Ok(())
    }
}

#[test]
fn keyed_value_chunk_matches_the_spec_byte_for_byte() {
    let mut harness = Harness::<Counter>::new().unwrap();
    harness.process("apple", vec![0; 300], 7).unwrap();
    let chunks = harness.snapshot().unwrap();
    let expected = Chunk {
        handle: "count".into(),
        kind: Kind::KeyedValue,
        key_group: Some(7),
        data: [&[1u8][..], &5u32.to_le_bytes(), b"apple", &2u32.to_le_bytes(), &[0xac, 0x02]].concat(),
    };
    assert_eq!(chunks, vec![expected]);
}

#[test]
fn unclaimed_chunks_survive_every_snapshot() {
    let mut harness = Harness::<Counter>::new().unwrap();
    harness.process("k", "xx", 1).unwrap();
    let mut chunks = harness.snapshot().unwrap();
    let orphans = vec![
        Chunk { handle: "renamed".into(), kind: Kind::KeyedMap, key_group: Some(1), data: vec![1, 0xde, 0xad] },
        Chunk { handle: "gone".into(), kind: Kind::OperatorList, key_group: None, data: vec![1] },
    ];
    chunks.extend(orphans.clone());

    let mut restored = Harness::<Counter>::restore(chunks).unwrap();
    assert_eq!(restored.process("k", "x", 1).unwrap(), [("k", "3")]);
    let first = restored.snapshot().unwrap();
    assert_eq!(first[1..], orphans[..]);
    let mut again = Harness::<Counter>::restore(first).unwrap();
    assert_eq!(again.snapshot().unwrap()[1..], orphans[..]);
}

struct CountAsList {
    _count: ListState<u64>,
}

impl Operator for CountAsList {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(CountAsList { _count: ctx.keyed_list("count")? })
    }

    fn process(&mut self, _ctx: &mut Context, _event: Event<'_>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_kind_mismatch_is_refused_naming_the_handle_and_both_kinds() {
    let mut harness = Harness::<Counter>::new().unwrap();
    harness.process("k", "x", 1).unwrap();
    let chunks = harness.snapshot().unwrap();
    let err = Harness::<CountAsList>::restore(chunks).err().expect("restore should fail").to_string();
    assert_eq!(
        err,
        "state handle `count` is declared as keyed-list but the restored checkpoint holds it as keyed-value"
    );
}

struct Twice;

impl Operator for Twice {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        ctx.keyed_value::<u8>("x")?;
        ctx.operator_list::<u8>("x")?;
        Ok(Twice)
    }

    fn process(&mut self, _ctx: &mut Context, _event: Event<'_>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn declaring_a_name_twice_is_an_error() {
    let err = Harness::<Twice>::new().err().expect("open should fail");
    assert_eq!(err.to_string(), "state handle `x` is declared twice");
}

#[test]
#[should_panic(expected = "keyed state `count` was used with no current key")]
fn keyed_access_without_a_key_panics() {
    let mut harness = Harness::<Counter>::new().unwrap();
    harness.process("k", "x", 1).unwrap();
    let _ = harness.finish();
}

#[test]
#[should_panic(expected = "keyed state `count` was used for an event without a key group")]
fn keyed_access_on_an_unkeyed_input_panics() {
    let mut harness = Harness::<Counter>::new().unwrap();
    let _ = harness.process("k", "x", NO_KEY_GROUP);
}

/// Declares one handle `h` of the kind its config `kind` names, and counts
/// events in the operator-scope ones.
struct OneHandle {
    value: Option<ValueState<u64>>,
    list: Option<ListState<u64>>,
}

impl Operator for OneHandle {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        let mut op = OneHandle { value: None, list: None };
        match ctx.info().config("kind").unwrap_or_default() {
            "keyed_value" => {
                ctx.keyed_value::<u64>("h")?;
            }
            "keyed_map" => {
                ctx.keyed_map::<String, u64>("h")?;
            }
            "keyed_list" => {
                ctx.keyed_list::<u64>("h")?;
            }
            "operator_value" => op.value = Some(ctx.operator_value("h")?),
            "operator_list" => op.list = Some(ctx.operator_list("h")?),
            other => return Err(crate::Error::msg(format!("test bug: kind {other:?}"))),
        }
        Ok(op)
    }

    fn process(&mut self, ctx: &mut Context, _event: Event<'_>) -> Result<()> {
        if let Some(value) = &self.value {
            let n = value.get(ctx).copied().unwrap_or(0) + 1;
            value.set(ctx, n);
        }
        if let Some(list) = &self.list {
            list.push(ctx, 1);
        }
        Ok(())
    }
}

fn unkeyed(kind: &str) -> OperatorInfo {
    OperatorInfo::new("counter").with_key_groups(None).with_config("kind", kind)
}

#[test]
fn keyed_state_on_an_unkeyed_input_fails_open_naming_the_handle_and_key_by() {
    for (kind, wit_kind) in [("keyed_value", "keyed-value"), ("keyed_map", "keyed-map"), ("keyed_list", "keyed-list")] {
        let err = Harness::<OneHandle>::with_info(unkeyed(kind)).err().expect("open should fail").to_string();
        assert_eq!(
            err,
            format!(
                "operator 'counter': state `h` is keyed ({wit_kind}), but the operator's input is not keyed: set \
                 key_by = true for this operator in the job file (or declare operator state instead)"
            )
        );
        // The same operator opens on a keyed input (the harness default).
        let info = OperatorInfo::new("counter").with_config("kind", kind);
        assert!(Harness::<OneHandle>::with_info(info).is_ok(), "{kind}");
    }
}

#[test]
fn operator_state_works_on_an_unkeyed_input() {
    for kind in ["operator_value", "operator_list"] {
        let mut harness = Harness::<OneHandle>::with_info(unkeyed(kind)).unwrap();
        harness.process_all([("a", "", NO_KEY_GROUP), ("b", "", NO_KEY_GROUP)]).unwrap();
        let chunks = harness.snapshot().unwrap();
        assert_eq!(chunks.len(), 1, "{kind}: {chunks:?}");
        assert_eq!((chunks[0].handle.as_str(), chunks[0].key_group), ("h", None), "{kind}");
        harness.finish().unwrap();
    }
}

#[test]
fn damaged_restored_chunks_are_errors_naming_the_handle() {
    let mut harness = Harness::<Counter>::new().unwrap();
    harness.process("k", "x", 1).unwrap();
    let good = harness.snapshot().unwrap();

    let mut truncated = good.clone();
    truncated[0].data.pop();
    let err = Harness::<Counter>::restore(truncated).err().unwrap().to_string();
    assert!(err.starts_with("state `count` (key group 1): malformed restored chunk"), "{err}");

    let mut no_group = good.clone();
    no_group[0].key_group = None;
    let err = Harness::<Counter>::restore(no_group).err().unwrap().to_string();
    assert!(err.contains("has no key group"), "{err}");

    // A value that is not a postcard u64 (a varint that never ends).
    let mut bad_value = good.clone();
    let len = bad_value[0].data.len();
    bad_value[0].data[len - 1] = 0x80;
    let err = Harness::<Counter>::restore(bad_value).err().unwrap().to_string();
    assert!(err.starts_with("state `count`: cannot decode a restored value as u64"), "{err}");

    let mut doubled = good;
    let entry = doubled[0].data[1..].to_vec();
    doubled[0].data.extend(entry);
    let err = Harness::<Counter>::restore(doubled).err().unwrap().to_string();
    assert!(err.contains("holds key \"k\" twice"), "{err}");
}

/// Exercises removal paths: cleared values, emptied maps and lists leave no
/// entries behind.
struct Clearing {
    value: ValueState<u8>,
    map: MapState<u8, u8>,
    list: ListState<u8>,
    op_value: ValueState<u8>,
    op_list: ListState<u8>,
}

impl Operator for Clearing {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Clearing {
            value: ctx.keyed_value("value")?,
            map: ctx.keyed_map("map")?,
            list: ctx.keyed_list("list")?,
            op_value: ctx.operator_value("op_value")?,
            op_list: ctx.operator_list("op_list")?,
        })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        match event.value() {
            b"set" => {
                self.value.set(ctx, 1);
                self.map.insert(ctx, 1, 1);
                self.map.insert(ctx, 2, 2);
                self.list.push(ctx, 1);
                self.op_value.set(ctx, 1);
                self.op_list.push(ctx, 1);
            }
            b"clear" => {
                self.value.clear(ctx);
                assert_eq!(self.map.remove(ctx, &1), Some(1));
                assert!(self.map.contains_key(ctx, &2) && !self.map.is_empty(ctx));
                assert_eq!(self.map.remove(ctx, &2), Some(2));
                assert_eq!(self.map.len(ctx), 0);
                self.list.clear(ctx);
                self.op_value.clear(ctx);
                self.op_list.clear(ctx);
            }
            _ => {}
        }
        Ok(())
    }
}

#[test]
fn cleared_state_leaves_no_chunks() {
    let mut harness = Harness::<Clearing>::new().unwrap();
    harness.process("k", "set", 5).unwrap();
    assert_eq!(harness.snapshot().unwrap().len(), 5);
    harness.process("k", "clear", 5).unwrap();
    assert_eq!(harness.snapshot().unwrap(), vec![]);
}

/// The word-at-a-time key comparison agrees with slice equality for every
/// length around its word size, and for a difference at any position.
#[test]
fn same_bytes_is_slice_equality() {
    use crate::state::store::same_bytes;
    for len in 0..=24usize {
        let a: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
        assert!(same_bytes(&a, &a.clone()), "len {len}");
        for at in 0..len {
            let mut b = a.clone();
            b[at] ^= 0x80;
            assert!(!same_bytes(&a, &b), "len {len}, differing at {at}");
        }
        let mut longer = a.clone();
        longer.push(0);
        assert!(!same_bytes(&a, &longer) && !same_bytes(&longer, &a), "len {len} against {}", len + 1);
    }
}

//! Broadcast map state (snapshot, restore, incremental snapshots, rescaling
//! by copy) and the whole-handle walks of keyed state (`iter_all_keys`,
//! `retain_all`, `key_count`).

use std::collections::BTreeMap;

use weir_wire::state::{ChunkReader, Entry, Kind, VERSION, chunk_version};

use crate::state::{BroadcastMapState, Chunk, ListState, SnapshotMode, ValueState};
use crate::testing::{Harness, NO_KEY_GROUP, merge_snapshots};
use crate::{Context, Event, InputInfo, OpenContext, Operator, OperatorInfo, Result};

/// Input 0 (keyed): `key` -> appends the value to the key's list, bumps the
/// key's count, and emits the key with its rate from the broadcast map.
/// Input 1 (broadcast): `name=rate` sets a rate, `name=` removes it,
/// `clear` clears the map. `finish` emits every key's list, sorted by key,
/// with the rates (read without a current key), then drops the lists of
/// keys "a" and "b" and emits how many it dropped.
struct Rates {
    rates: BroadcastMapState<String, u32>,
    seen: ListState<String>,
    count: ValueState<u32>,
}

impl Operator for Rates {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        Ok(Rates {
            rates: ctx.broadcast_map("rates")?,
            seen: ctx.keyed_list("seen")?,
            count: ctx.keyed_value("count")?,
        })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let text = event.value_str()?;
        if event.is_broadcast() {
            match text.split_once('=') {
                Some((name, "")) => {
                    self.rates.remove(ctx, name);
                }
                Some((name, rate)) => {
                    self.rates.insert(ctx, name.to_owned(), rate.parse()?);
                }
                None if text == "clear" => self.rates.clear(ctx),
                None => *self.rates.get_mut(ctx, text).expect("a known rate") += 1,
            }
            return Ok(());
        }
        self.seen.push(ctx, text.to_owned());
        let n = self.count.get(ctx).copied().unwrap_or(0);
        self.count.set(ctx, n + 1);
        let rate = self.rates.get(ctx, event.key_str()?).copied();
        ctx.emit(event.key(), format!("{rate:?}"));
        Ok(())
    }

    fn finish(&mut self, ctx: &mut Context) -> Result<()> {
        let mut lists: Vec<(Vec<u8>, Vec<String>)> =
            self.seen.iter_all_keys(ctx).map(|(key, list)| (key.to_vec(), list.to_vec())).collect();
        lists.sort();
        for (key, list) in lists {
            let rate = self.rates.get(ctx, std::str::from_utf8(&key)?).copied();
            ctx.emit(&key, format!("{list:?} {rate:?} of {}", self.rates.len(ctx)));
        }
        let dropped = self.seen.retain_all(ctx, |key, _| !matches!(key, b"a" | b"b"));
        ctx.emit("dropped", dropped.to_string());
        Ok(())
    }
}

fn info() -> OperatorInfo {
    OperatorInfo::new("rates").with_inputs([InputInfo::new("events"), InputInfo::broadcast("rates")])
}

fn rate(harness: &mut Harness<Rates>, line: &str) {
    assert!(harness.process_input(1, "", line, NO_KEY_GROUP).unwrap().is_empty());
}

fn broadcast_chunks(chunks: &[Chunk]) -> Vec<&Chunk> {
    chunks.iter().filter(|c| c.kind == Kind::BroadcastMap).collect()
}

/// The map a broadcast-map chunk holds.
fn decoded(chunk: &Chunk) -> BTreeMap<String, u32> {
    assert_eq!((chunk.handle.as_str(), chunk.key_group, chunk_version(&chunk.data)), ("rates", None, Ok(VERSION)));
    ChunkReader::new(Kind::BroadcastMap, &chunk.data)
        .unwrap()
        .map(|entry| match entry.unwrap() {
            Entry::BroadcastMap { map_key, value } => {
                (postcard::from_bytes(map_key).unwrap(), postcard::from_bytes(value).unwrap())
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_broadcast_map_is_read_for_any_input_and_restored() {
    let mut harness = Harness::<Rates>::with_info(info()).unwrap();
    assert_eq!(harness.process("a", "1", 3).unwrap(), [("a", "None")]);
    rate(&mut harness, "a=5");
    rate(&mut harness, "b=7");
    rate(&mut harness, "a"); // get_mut: 6
    assert_eq!(harness.process("a", "2", 3).unwrap(), [("a", "Some(6)")]);

    let chunks = harness.snapshot().unwrap();
    let broadcast = broadcast_chunks(&chunks);
    assert_eq!(broadcast.len(), 1);
    assert_eq!(decoded(broadcast[0]), BTreeMap::from([("a".into(), 6), ("b".into(), 7)]));

    let mut restored = Harness::<Rates>::restore_with_info(info(), chunks).unwrap();
    assert_eq!(restored.process("b", "1", 9).unwrap(), [("b", "Some(7)")]);
    rate(&mut restored, "b=");
    assert_eq!(restored.process("b", "2", 9).unwrap(), [("b", "None")]);
}

#[test]
fn every_subtask_restores_the_same_copy_at_any_parallelism() {
    let mut first = Harness::<Rates>::with_info(info().with_subtask(0, 2).with_key_groups(Some(0..64))).unwrap();
    rate(&mut first, "a=5");
    first.process("a", "1", 3).unwrap();
    let chunks = first.snapshot().unwrap();
    // The host gives subtask 1 of 3 the broadcast chunk of subtask 0 and the
    // keyed chunks of the key groups it owns now (none of key group 3).
    let copy: Vec<Chunk> = chunks.into_iter().filter(|c| c.key_group.is_none_or(|g| (43..86).contains(&g))).collect();
    let other = info().with_subtask(1, 3).with_key_groups(Some(43..86));
    let mut restored = Harness::<Rates>::restore_with_info(other, copy).unwrap();
    assert_eq!(restored.process("a", "1", 50).unwrap(), [("a", "Some(5)")]);
}

#[test]
fn the_map_is_usable_in_finish_and_keyed_state_can_be_walked() {
    let mut harness = Harness::<Rates>::with_info(info()).unwrap();
    rate(&mut harness, "b=2");
    harness.process_all([("c", "1", 5), ("a", "2", 3), ("b", "3", 9), ("a", "4", 3)]).unwrap();
    assert_eq!(harness.operator().seen.key_count(harness.context()), 3);
    let out = harness.finish().unwrap();
    assert_eq!(
        out,
        [
            ("a", r#"["2", "4"] None of 1"#),
            ("b", r#"["3"] Some(2) of 1"#),
            ("c", r#"["1"] None of 1"#),
            ("dropped", "2"),
        ]
    );
    assert_eq!(harness.operator().seen.key_count(harness.context()), 1);
    // The dropped keys were saved by no snapshot: a full one just omits them.
    let chunks = harness.snapshot().unwrap();
    let lists: Vec<_> = chunks.iter().filter(|c| c.handle == "seen").map(|c| c.key_group).collect();
    assert_eq!(lists, [Some(5)]);
}

#[test]
fn retain_all_removals_reach_incremental_snapshots() {
    let mut harness = Harness::<Rates>::with_info(info()).unwrap();
    harness.process_all([("a", "1", 3), ("b", "1", 9), ("c", "1", 5)]).unwrap();
    let base = harness.snapshot().unwrap();
    harness.finish().unwrap(); // drops the lists of "a" and "b"
    let delta = harness.snapshot_incremental().unwrap();
    assert!(delta.incremental);
    let changed: Vec<_> = delta.chunks.iter().map(|c| (c.handle.as_str(), c.key_group)).collect();
    assert_eq!(changed, [("seen", Some(3)), ("seen", Some(9))]);
    let merged = merge_snapshots(base, [delta]).unwrap();
    let mut restored = Harness::<Rates>::restore_with_info(info(), merged).unwrap();
    assert_eq!(restored.finish().unwrap(), [("c", r#"["1"] None of 0"#), ("dropped", "0")]);
}

#[test]
fn an_incremental_snapshot_holds_the_map_only_when_it_changed() {
    let mut harness = Harness::<Rates>::with_info(info()).unwrap();
    rate(&mut harness, "a=5");
    let base = harness.snapshot().unwrap();
    assert_eq!(broadcast_chunks(&base).len(), 1);

    // Reads and keyed events do not change it.
    harness.process("a", "1", 3).unwrap();
    let unchanged = harness.snapshot_incremental().unwrap();
    assert!(unchanged.incremental);
    assert!(broadcast_chunks(&unchanged.chunks).is_empty(), "{unchanged:?}");

    rate(&mut harness, "b=7");
    let changed = harness.snapshot_incremental().unwrap();
    let broadcast = broadcast_chunks(&changed.chunks);
    assert_eq!(broadcast.len(), 1);
    assert_eq!(decoded(broadcast[0]), BTreeMap::from([("a".into(), 5), ("b".into(), 7)]));

    // Emptied: an empty version 1 chunk says so (a full snapshot omits it).
    rate(&mut harness, "clear");
    let emptied = harness.snapshot_incremental().unwrap();
    let broadcast = broadcast_chunks(&emptied.chunks);
    assert_eq!(broadcast.len(), 1);
    assert_eq!(broadcast[0].data, [VERSION]);
    assert!(broadcast_chunks(&harness.snapshot_with(SnapshotMode::Full).unwrap().chunks).is_empty());

    let merged = merge_snapshots(base.clone(), [unchanged.clone(), changed.clone()]).unwrap();
    let mut restored = Harness::<Rates>::restore_with_info(info(), merged).unwrap();
    assert_eq!(restored.process("b", "1", 9).unwrap(), [("b", "Some(7)")]);
    let merged = merge_snapshots(base, [unchanged, changed, emptied]).unwrap();
    assert!(broadcast_chunks(&merged).is_empty());
}

#[test]
fn damaged_broadcast_chunks_are_errors_naming_the_handle() {
    let restore = |chunk: Chunk| Harness::<Rates>::restore_with_info(info(), vec![chunk]).err().unwrap().to_string();
    let mut writer = weir_wire::state::ChunkWriter::new(Kind::BroadcastMap);
    let (key, value) = (postcard::to_allocvec("a").unwrap(), postcard::to_allocvec(&5u32).unwrap());
    writer.broadcast_map(&key, &value);
    writer.broadcast_map(&key, &value);
    let twice = writer.finish();

    let chunk = |key_group, data: &[u8]| Chunk {
        handle: "rates".into(),
        kind: Kind::BroadcastMap,
        key_group,
        data: data.to_vec(),
    };
    assert_eq!(
        restore(chunk(Some(2), &[VERSION])),
        "state `rates`: a restored broadcast-map chunk has key group 2 (it must have none)"
    );
    assert!(restore(chunk(None, &twice)).contains("state `rates`: the restored checkpoint holds map key"));
    assert!(restore(chunk(None, &[VERSION, 9])).starts_with("state `rates`: malformed restored chunk"));
    let as_list = Chunk { kind: Kind::OperatorList, ..chunk(None, &[VERSION]) };
    assert_eq!(
        restore(as_list),
        "state handle `rates` is declared as broadcast-map but the restored checkpoint holds it as operator-list"
    );
}

#[test]
fn a_broadcast_map_needs_no_keyed_input() {
    struct Only(BroadcastMapState<u8, u8>);
    impl Operator for Only {
        fn open(ctx: &mut OpenContext) -> Result<Self> {
            Ok(Only(ctx.broadcast_map("m")?))
        }
        fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
            self.0.insert(ctx, event.value()[0], event.value()[1]);
            Ok(())
        }
        fn finish(&mut self, ctx: &mut Context) -> Result<()> {
            let mut entries: Vec<_> = self.0.iter(ctx).map(|(k, v)| format!("{k}={v}")).collect();
            entries.sort();
            ctx.emit(entries.join(","), "");
            Ok(())
        }
    }
    let unkeyed = OperatorInfo::new("only").with_key_groups(None).with_inputs([InputInfo::broadcast("in")]);
    let mut harness = Harness::<Only>::with_info(unkeyed.clone()).unwrap();
    harness.process("", [2, 3], NO_KEY_GROUP).unwrap();
    harness.process("", [1, 4], NO_KEY_GROUP).unwrap();
    let mut restored = Harness::<Only>::restore_with_info(unkeyed, harness.snapshot().unwrap()).unwrap();
    assert_eq!(restored.finish().unwrap(), [("1=4,2=3", "")]);
}

#[test]
#[should_panic(expected = "`iter_all_keys` is for keyed state, and state `n` is operator state")]
fn walking_operator_state_by_key_panics() {
    struct Op(ValueState<u8>);
    impl Operator for Op {
        fn open(ctx: &mut OpenContext) -> Result<Self> {
            Ok(Op(ctx.operator_value("n")?))
        }
        fn process(&mut self, ctx: &mut Context, _event: Event<'_>) -> Result<()> {
            let _ = self.0.iter_all_keys(ctx).count();
            Ok(())
        }
    }
    let _ = Harness::<Op>::new().unwrap().process("k", "", 1);
}

#[test]
fn value_state_can_be_walked_and_pruned_whole() {
    struct Last(ValueState<String>);
    impl Operator for Last {
        fn open(ctx: &mut OpenContext) -> Result<Self> {
            Ok(Last(ctx.keyed_value("last")?))
        }
        fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
            self.0.set(ctx, event.value_str()?.to_owned());
            Ok(())
        }
        fn finish(&mut self, ctx: &mut Context) -> Result<()> {
            let dropped = self.0.retain_all(ctx, |_, value| value != "old");
            let mut all: Vec<String> = self.0.iter_all_keys(ctx).map(|(k, v)| format!("{k:?}={v}")).collect();
            all.sort();
            ctx.emit(all.join(" "), format!("{dropped} dropped, {} left", self.0.key_count(ctx)));
            Ok(())
        }
    }
    let mut harness = Harness::<Last>::new().unwrap();
    harness.process_all([("a", "old", 1), ("b", "new", 2), ("c", "old", 3)]).unwrap();
    assert_eq!(harness.finish().unwrap(), [("[98]=new", "2 dropped, 1 left")]);
}

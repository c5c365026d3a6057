//! [`BroadcastMapState`]: a map every subtask holds the same copy of, built
//! from broadcast inputs (state kind `broadcast-map`).

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use hashbrown::HashMap;
use hashbrown::hash_map::Entry as MapEntry;
use weir_wire::state::{ChunkWriter, Entry, Kind};

use super::store::{KeyHasher, Store, decode, encode, for_each_entry, wrong_entry};
use super::{Chunk, SnapshotMode, StateValue};
use crate::{Context, Error, Result};

/// A handle to a map from `K` to `V` that every subtask of the operator holds
/// the same copy of, from
/// [`OpenContext::broadcast_map`](crate::OpenContext::broadcast_map).
///
/// It is the place for what a broadcast input carries (a price table, rules,
/// a configuration): events of a broadcast input reach every subtask whole,
/// so every subtask builds the same map from them. It needs no current key:
/// it is read anywhere (while processing any input, and in `finish`).
///
/// Every copy stays the same only if it **changes only for events of a
/// broadcast input** (or in `finish`, from what every subtask holds): a
/// checkpoint keeps subtask 0's copy, and a restore (at any parallelism)
/// gives every subtask that copy, so a change a subtask made for an event of
/// its share of a partitioned input is lost on restore (on subtasks other
/// than 0). Read it anywhere. (Flink enforces the same rule by handing the
/// non-broadcast side a read-only view; this SDK leaves it to the operator,
/// as the Python SDK does.)
///
/// Unlike keyed state it needs no current key: every method works in
/// `process`, for any input, and in `finish`.
pub struct BroadcastMapState<K, V> {
    index: usize,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: StateValue + Hash + Eq, V: StateValue> BroadcastMapState<K, V> {
    pub(crate) fn new(index: usize) -> Self {
        BroadcastMapState { index, _types: PhantomData }
    }

    #[track_caller]
    fn map<'c>(&self, ctx: &'c Context) -> &'c HashMap<K, V> {
        &ctx.store::<BroadcastMapStore<K, V>>(self.index).0.map
    }

    /// The map, to be changed: marks it changed.
    #[track_caller]
    fn map_mut<'c>(&self, ctx: &'c mut Context) -> &'c mut HashMap<K, V> {
        let store = ctx.store_mut::<BroadcastMapStore<K, V>>(self.index).0;
        store.changed = true;
        &mut store.map
    }

    /// The value for `map_key`.
    #[track_caller]
    pub fn get<'c, Q>(&self, ctx: &'c Context, map_key: &Q) -> Option<&'c V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map(ctx).get(map_key)
    }

    /// The value for `map_key`, mutably.
    #[track_caller]
    pub fn get_mut<'c, Q>(&self, ctx: &'c mut Context, map_key: &Q) -> Option<&'c mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map_mut(ctx).get_mut(map_key)
    }

    /// Sets the value for `map_key`, returning the previous one.
    #[track_caller]
    pub fn insert(&self, ctx: &mut Context, map_key: K, value: V) -> Option<V> {
        self.map_mut(ctx).insert(map_key, value)
    }

    /// Removes `map_key`, returning its value.
    #[track_caller]
    pub fn remove<Q>(&self, ctx: &mut Context, map_key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map_mut(ctx).remove(map_key)
    }

    /// Whether `map_key` has a value.
    #[track_caller]
    pub fn contains_key<Q>(&self, ctx: &Context, map_key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map(ctx).contains_key(map_key)
    }

    /// The entries, in no particular order.
    #[track_caller]
    pub fn iter<'c>(&self, ctx: &'c Context) -> impl Iterator<Item = (&'c K, &'c V)> + use<'c, K, V> {
        self.map(ctx).iter()
    }

    /// The number of entries.
    #[track_caller]
    pub fn len(&self, ctx: &Context) -> usize {
        self.map(ctx).len()
    }

    /// Whether the map is empty.
    #[track_caller]
    pub fn is_empty(&self, ctx: &Context) -> bool {
        self.map(ctx).is_empty()
    }

    /// Removes every entry.
    #[track_caller]
    pub fn clear(&self, ctx: &mut Context) {
        self.map_mut(ctx).clear();
    }
}

impl<K, V> Clone for BroadcastMapState<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for BroadcastMapState<K, V> {}

impl<K, V> fmt::Debug for BroadcastMapState<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastMapState").field("index", &self.index).finish()
    }
}

/// The map, and whether it changed since the previous snapshot.
///
/// Snapshots always write it whole, as one version 1 chunk (a broadcast map
/// has no deltas): a full snapshot when it is not empty, an incremental one
/// only when it changed (an empty chunk then says it became empty). A
/// broadcast map is often a large table that rarely changes, so an
/// incremental checkpoint of an unchanged one costs nothing.
pub(crate) struct BroadcastMapStore<K, V> {
    name: String,
    map: HashMap<K, V>,
    /// Mutably accessed since the previous snapshot.
    changed: bool,
}

impl<K, V> BroadcastMapStore<K, V> {
    pub(crate) fn new(name: &str) -> Self {
        BroadcastMapStore { name: name.to_owned(), map: HashMap::new(), changed: false }
    }
}

impl<K: StateValue + Hash + Eq, V: StateValue> Store for BroadcastMapStore<K, V> {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        Kind::BroadcastMap
    }

    fn restore(&mut self, key_group: Option<u16>, data: &[u8], _keys: &KeyHasher) -> Result<()> {
        let BroadcastMapStore { name, map, .. } = self;
        if let Some(key_group) = key_group {
            return Err(Error::msg(format!(
                "state `{name}`: a restored broadcast-map chunk has key group {key_group} (it must have none)"
            )));
        }
        for_each_entry(name, Kind::BroadcastMap, None, data, |entry| {
            let Entry::BroadcastMap { map_key, value } = entry else {
                return Err(wrong_entry(name));
            };
            match map.entry(decode(name, map_key)?) {
                MapEntry::Occupied(_) => Err(Error::msg(format!(
                    "state `{name}`: the restored checkpoint holds map key {:?} twice",
                    String::from_utf8_lossy(map_key)
                ))),
                MapEntry::Vacant(vacant) => {
                    vacant.insert(decode(name, value)?);
                    Ok(())
                }
            }
        })
    }

    fn snapshot(&mut self, mode: SnapshotMode, out: &mut Vec<Chunk>) -> Result<()> {
        let BroadcastMapStore { name, map, changed } = self;
        let write = match mode {
            SnapshotMode::Full => !map.is_empty(),
            SnapshotMode::Incremental => *changed,
        };
        if write {
            let mut writer = ChunkWriter::new(Kind::BroadcastMap);
            let (mut map_key_buf, mut value_buf) = (Vec::new(), Vec::new());
            for (map_key, value) in map.iter() {
                map_key_buf.clear();
                value_buf.clear();
                encode(name, map_key, &mut map_key_buf)?;
                encode(name, value, &mut value_buf)?;
                writer.broadcast_map(&map_key_buf, &value_buf);
            }
            out.push(Chunk { handle: name.clone(), kind: Kind::BroadcastMap, key_group: None, data: writer.finish() });
        }
        *changed = false;
        Ok(())
    }
}

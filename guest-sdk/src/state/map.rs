//! [`MapState`]: a map per key (keyed scope only; WIT has no operator-scope map).

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use hashbrown::HashMap;
use weir_wire::state::{Entry, Kind};

use super::store::{
    KeyHasher, KeyedTable, Store, decode, duplicate, encode, for_each_entry, restored_key_group, wrong_entry,
};
use super::{Chunk, SnapshotMode, StateValue};
use crate::{Context, Result};

/// A handle to a map from `K` to `V` per key, from
/// [`OpenContext::keyed_map`](crate::OpenContext::keyed_map).
///
/// A key whose map becomes empty is dropped from the state.
///
/// # Panics
/// Every method panics when there is no current key (see
/// [the state module](crate::state)).
pub struct MapState<K, V> {
    index: usize,
    _types: PhantomData<fn() -> (K, V)>,
}

type Map<K, V> = HashMap<K, V>;

impl<K: StateValue + Hash + Eq, V: StateValue> MapState<K, V> {
    pub(crate) fn new(index: usize) -> Self {
        MapState { index, _types: PhantomData }
    }

    #[track_caller]
    fn map<'c>(&self, ctx: &'c Context) -> Option<&'c Map<K, V>> {
        let (store, current) = ctx.store::<MapStore<K, V>>(self.index);
        store.table.get(current.key(&store.name))
    }

    /// The value for `map_key`.
    #[track_caller]
    pub fn get<'c, Q>(&self, ctx: &'c Context, map_key: &Q) -> Option<&'c V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map(ctx)?.get(map_key)
    }

    /// The value for `map_key`, mutably.
    #[track_caller]
    pub fn get_mut<'c, Q>(&self, ctx: &'c mut Context, map_key: &Q) -> Option<&'c mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (store, current) = ctx.store_mut::<MapStore<K, V>>(self.index);
        store.table.get_mut(current.key(&store.name))?.get_mut(map_key)
    }

    /// Sets the value for `map_key`, returning the previous one.
    #[track_caller]
    pub fn insert(&self, ctx: &mut Context, map_key: K, value: V) -> Option<V> {
        let (store, current) = ctx.store_mut::<MapStore<K, V>>(self.index);
        store.table.get_or_insert_with(current.key(&store.name), Map::default).insert(map_key, value)
    }

    /// Removes `map_key`, returning its value.
    #[track_caller]
    pub fn remove<Q>(&self, ctx: &mut Context, map_key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (store, current) = ctx.store_mut::<MapStore<K, V>>(self.index);
        let at = current.key(&store.name);
        let map = store.table.get_mut(at)?;
        let removed = map.remove(map_key);
        if map.is_empty() {
            store.table.remove(at);
        }
        removed
    }

    /// Whether `map_key` has a value.
    #[track_caller]
    pub fn contains_key<Q>(&self, ctx: &Context, map_key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map(ctx).is_some_and(|map| map.contains_key(map_key))
    }

    /// The entries, in no particular order.
    #[track_caller]
    pub fn iter<'c>(&self, ctx: &'c Context) -> impl Iterator<Item = (&'c K, &'c V)> + use<'c, K, V> {
        self.map(ctx).into_iter().flatten()
    }

    /// The number of entries.
    #[track_caller]
    pub fn len(&self, ctx: &Context) -> usize {
        self.map(ctx).map_or(0, Map::len)
    }

    /// Whether the map is empty.
    #[track_caller]
    pub fn is_empty(&self, ctx: &Context) -> bool {
        self.len(ctx) == 0
    }

    /// Removes every entry.
    #[track_caller]
    pub fn clear(&self, ctx: &mut Context) {
        let (store, current) = ctx.store_mut::<MapStore<K, V>>(self.index);
        store.table.remove(current.key(&store.name));
    }
}

impl<K, V> Clone for MapState<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for MapState<K, V> {}

impl<K, V> fmt::Debug for MapState<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapState").field("index", &self.index).finish()
    }
}

pub(crate) struct MapStore<K, V> {
    name: String,
    table: KeyedTable<Map<K, V>>,
}

impl<K, V> MapStore<K, V> {
    pub(crate) fn keyed(name: &str) -> Self {
        MapStore { name: name.to_owned(), table: KeyedTable::new() }
    }
}

impl<K: StateValue + Hash + Eq, V: StateValue> Store for MapStore<K, V> {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        Kind::KeyedMap
    }

    fn restore(&mut self, key_group: Option<u16>, data: &[u8], keys: &KeyHasher) -> Result<()> {
        let MapStore { name, table } = self;
        let group = restored_key_group(name, Kind::KeyedMap, key_group)?;
        for_each_entry(name, Kind::KeyedMap, key_group, data, |entry| {
            let Entry::KeyedMap { key, map_key, value } = entry else {
                return Err(wrong_entry(name));
            };
            let hash = keys.hash(key);
            let map = match table.restored_mut(hash, key) {
                Some(map) => map,
                None => table.restore_insert(hash, group, key, Map::default()),
            };
            if map.insert(decode(name, map_key)?, decode(name, value)?).is_some() {
                return Err(duplicate(name, key_group, key, "with the same map key twice"));
            }
            Ok(())
        })
    }

    fn snapshot(&mut self, mode: SnapshotMode, out: &mut Vec<Chunk>) -> Result<()> {
        let MapStore { name, table } = self;
        let (mut map_key_buf, mut value_buf) = (Vec::new(), Vec::new());
        table.snapshot(name, Kind::KeyedMap, mode, out, |writer, slot| {
            for (map_key, value) in slot.value() {
                map_key_buf.clear();
                value_buf.clear();
                encode(name, map_key, &mut map_key_buf)?;
                encode(name, value, &mut value_buf)?;
                writer.keyed_map(slot.key(), &map_key_buf, &value_buf);
            }
            Ok(())
        })
    }
}

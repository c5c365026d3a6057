//! [`MapState`]: a map per key (keyed scope only; WIT has no operator-scope map).

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use hashbrown::HashMap;
use weir_wire::state::{Entry, Kind};

use super::store::{
    Current, KeyHasher, KeyedTable, Store, decode, duplicate, encode, for_each_entry, restored_key_group, wrong_entry,
};
use super::ttl::{Purge, Timed, Ttl, encode_expiry, split_expiry};
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

type Map<K, V> = HashMap<K, Timed<V>>;

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
        self.map(ctx)?.get(map_key).map(|timed| &timed.value)
    }

    /// The value for `map_key`, mutably. With a TTL this is a write: the
    /// entry's expiry starts again from now.
    #[track_caller]
    pub fn get_mut<'c, Q>(&self, ctx: &'c mut Context, map_key: &Q) -> Option<&'c mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (store, current) = ctx.store_mut::<MapStore<K, V>>(self.index);
        let timed = store.table.get_mut(current.key(&store.name))?.get_mut(map_key)?;
        if let Some(ttl) = &mut store.ttl {
            timed.expires = ttl.stamp(current);
        }
        Some(&mut timed.value)
    }

    /// Sets the value for `map_key`, returning the previous one (with a
    /// TTL, the entry expires `ttl_ms` after the event time of the write).
    #[track_caller]
    pub fn insert(&self, ctx: &mut Context, map_key: K, value: V) -> Option<V> {
        let (store, current) = ctx.store_mut::<MapStore<K, V>>(self.index);
        let at = current.key(&store.name);
        let expires = match &mut store.ttl {
            Some(ttl) => ttl.stamp(current),
            None => i64::MAX,
        };
        if store.ttl.is_some() && expires <= current.operator_time() {
            // Written already expired: invisible at once.
            let map = store.table.get_mut(at)?;
            let previous = map.remove(&map_key);
            if map.is_empty() {
                store.table.remove(at);
            }
            return previous.map(|timed| timed.value);
        }
        let map = store.table.get_or_insert_with(at, Map::default);
        map.insert(map_key, Timed { value, expires }).map(|timed| timed.value)
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
        removed.map(|timed| timed.value)
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
        self.map(ctx).into_iter().flatten().map(|(map_key, timed)| (map_key, &timed.value))
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
    ttl: Option<Ttl>,
}

impl<K, V> MapStore<K, V> {
    pub(crate) fn keyed(name: &str, ttl_ms: Option<i64>) -> Self {
        MapStore { name: name.to_owned(), table: KeyedTable::new(), ttl: ttl_ms.map(Ttl::new) }
    }
}

/// Drops the entries of one key's map that expired at `now`; notes the
/// earliest expiry left in `next`.
fn purge_map<K, V>(map: &mut Map<K, V>, now: i64, next: &mut i64) -> Purge {
    let before = map.len();
    map.retain(|_, timed| {
        let keep = timed.expires > now;
        if keep {
            *next = (*next).min(timed.expires);
        }
        keep
    });
    match map.len() {
        0 => Purge::Empty,
        left if left == before => Purge::Kept,
        _ => Purge::Changed,
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
        let MapStore { name, table, ttl } = self;
        let group = restored_key_group(name, Kind::KeyedMap, key_group)?;
        for_each_entry(name, Kind::KeyedMap, key_group, data, |entry| {
            let Entry::KeyedMap { key, map_key, value } = entry else {
                return Err(wrong_entry(name));
            };
            let (expires, value) = match ttl {
                Some(ttl) => {
                    let (expires, value) = split_expiry(name, value)?;
                    ttl.restored(expires);
                    (expires, value)
                }
                None => (i64::MAX, value),
            };
            let hash = keys.hash(key);
            let map = match table.restored_mut(hash, key) {
                Some(map) => map,
                None => table.restore_insert(hash, group, key, Map::default()),
            };
            if map.insert(decode(name, map_key)?, Timed { value: decode(name, value)?, expires }).is_some() {
                return Err(duplicate(name, key_group, key, "with the same map key twice"));
            }
            Ok(())
        })
    }

    fn snapshot(&mut self, mode: SnapshotMode, out: &mut Vec<Chunk>) -> Result<()> {
        let MapStore { name, table, ttl } = self;
        let (mut map_key_buf, mut value_buf) = (Vec::new(), Vec::new());
        table.snapshot(name, Kind::KeyedMap, mode, out, |writer, slot| {
            for (map_key, timed) in slot.value() {
                map_key_buf.clear();
                value_buf.clear();
                encode(name, map_key, &mut map_key_buf)?;
                if ttl.is_some() {
                    encode_expiry(timed.expires, &mut value_buf);
                }
                encode(name, &timed.value, &mut value_buf)?;
                writer.keyed_map(slot.key(), &map_key_buf, &value_buf);
            }
            Ok(())
        })
    }

    fn has_ttl(&self) -> bool {
        self.ttl.is_some()
    }

    fn expire_current(&mut self, current: &Current) {
        let (Some(ttl), Some(at)) = (&self.ttl, current.keyed()) else {
            return;
        };
        let now = current.operator_time();
        if now < ttl.next_expiry {
            return;
        }
        // The bound stays as it is: other keys may hold earlier expiries.
        let mut unused = i64::MAX;
        self.table.purge(at, |map| purge_map(map, now, &mut unused));
    }

    fn expire_all(&mut self, operator_time: i64) {
        let Some(ttl) = &mut self.ttl else {
            return;
        };
        if operator_time < ttl.next_expiry {
            return;
        }
        let mut next = i64::MAX;
        self.table.purge_all(|map| purge_map(map, operator_time, &mut next));
        ttl.next_expiry = next;
    }
}

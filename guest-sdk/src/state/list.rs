//! [`ListState`]: a list per key (keyed scope) or per subtask (operator scope).

use std::fmt;
use std::marker::PhantomData;

use weir_wire::state::{Entry, Kind};

use super::store::{
    Current, KeyHasher, KeyedTable, Scope, Store, decode, duplicate, encode, for_each_entry, not_keyed,
    operator_snapshot, restored_key_group, wrong_entry,
};
use super::ttl::{Purge, Ttl, encode_expiry, split_expiry};
use super::{Chunk, SnapshotMode, StateValue};
use crate::{Context, Result};

/// A handle to a list of `T` per key (from
/// [`OpenContext::keyed_list`](crate::OpenContext::keyed_list)) or per subtask
/// (from [`OpenContext::operator_list`](crate::OpenContext::operator_list)).
///
/// When a job is restored with another parallelism, the host may hand a
/// subtask several operator-list chunks; their elements are concatenated.
///
/// # Panics
/// Every method of a keyed handle panics when there is no current key (see
/// [the state module](crate::state)).
pub struct ListState<T> {
    index: usize,
    _value: PhantomData<fn() -> T>,
}

impl<T: StateValue> ListState<T> {
    pub(crate) fn new(index: usize) -> Self {
        ListState { index, _value: PhantomData }
    }

    /// Appends a value (with a TTL, expiring `ttl_ms` after the event time
    /// of the write; each element has its own expiry).
    #[track_caller]
    pub fn push(&self, ctx: &mut Context, value: T) {
        let (store, current) = ctx.store_mut::<ListStore<T>>(self.index);
        match &mut store.scope {
            Scope::Keyed(table) => {
                let at = current.key(&store.name);
                match &mut store.ttl {
                    None => table.get_or_insert_with(at, TimedList::default).values.push(value),
                    Some(ttl) => {
                        let expires = ttl.stamp(current);
                        if expires > current.operator_time() {
                            let list = table.get_or_insert_with(at, TimedList::default);
                            list.values.push(value);
                            list.expires.push(expires);
                        }
                        // else: written already expired, invisible at once.
                    }
                }
            }
            Scope::Operator(list) => list.push(value),
        }
    }

    /// The values, oldest first (empty if none).
    #[track_caller]
    pub fn get<'c>(&self, ctx: &'c Context) -> &'c [T] {
        let (store, current) = ctx.store::<ListStore<T>>(self.index);
        match &store.scope {
            Scope::Keyed(table) => table.get(current.key(&store.name)).map_or(&[], |list| list.values.as_slice()),
            Scope::Operator(list) => list,
        }
    }

    /// Removes every value.
    #[track_caller]
    pub fn clear(&self, ctx: &mut Context) {
        let (store, current) = ctx.store_mut::<ListStore<T>>(self.index);
        match &mut store.scope {
            Scope::Keyed(table) => {
                table.remove(current.key(&store.name));
            }
            Scope::Operator(list) => list.clear(),
        }
    }

    /// The number of values.
    #[track_caller]
    pub fn len(&self, ctx: &Context) -> usize {
        self.get(ctx).len()
    }

    /// Whether the list is empty.
    #[track_caller]
    pub fn is_empty(&self, ctx: &Context) -> bool {
        self.get(ctx).is_empty()
    }

    /// Every (event key, list) of a keyed handle, over all the key groups
    /// this subtask holds, whatever the current key (so also in `finish`);
    /// in no particular order (sort them for deterministic output). Keys
    /// whose list is empty hold no state and are not visited.
    ///
    /// With a TTL, the lists are as of the watermark: elements of other keys
    /// than the current one that expired only by the current event's
    /// timestamp (not yet by the watermark) may still be in them.
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn iter_all_keys<'c>(&self, ctx: &'c Context) -> impl Iterator<Item = (&'c [u8], &'c [T])> + use<'c, T> {
        let store = ctx.store::<ListStore<T>>(self.index).0;
        store.table("iter_all_keys").iter().map(|(key, list)| (key, list.values.as_slice()))
    }

    /// Keeps the list of only the event keys for which `keep(key, list)` is
    /// true, whatever the current key; returns how many keys lost their
    /// list. A pass over every key: the way to expire the state of keys that
    /// may never come back, now and then rather than per event. (With a
    /// TTL, expired elements are dropped first, and keys left empty by that
    /// are not counted.)
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn retain_all(&self, ctx: &mut Context, mut keep: impl FnMut(&[u8], &[T]) -> bool) -> usize {
        let (store, current) = ctx.store_mut::<ListStore<T>>(self.index);
        let now = current.operator_time();
        store.table("retain_all");
        store.expire_all(now);
        store.table_mut("retain_all").retain(|key, list| keep(key, &list.values))
    }

    /// How many event keys have a non-empty list, over all the key groups
    /// this subtask holds (with a TTL, a list of expired elements only does
    /// not count).
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn key_count(&self, ctx: &Context) -> usize {
        let (store, current) = ctx.store::<ListStore<T>>(self.index);
        let table = store.table("key_count");
        match store.ttl {
            None => table.len(),
            Some(_) => {
                let now = current.operator_time();
                table.values().filter(|list| list.expires.iter().any(|&expires| expires > now)).count()
            }
        }
    }
}

impl<T> Clone for ListState<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ListState<T> {}

impl<T> fmt::Debug for ListState<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListState").field("index", &self.index).finish()
    }
}

pub(crate) struct ListStore<T> {
    name: String,
    scope: Scope<TimedList<T>, Vec<T>>,
    ttl: Option<Ttl>,
}

/// One key's list; with a TTL, `expires[i]` is when `values[i]` expires
/// (empty without one).
pub(crate) struct TimedList<T> {
    values: Vec<T>,
    expires: Vec<i64>,
}

impl<T> Default for TimedList<T> {
    fn default() -> Self {
        TimedList { values: Vec::new(), expires: Vec::new() }
    }
}

impl<T> TimedList<T> {
    /// Drops the elements that expired at `now`, keeping the order of the
    /// others; notes the earliest expiry left in `next`.
    fn purge(&mut self, now: i64, next: &mut i64) -> Purge {
        let before = self.values.len();
        let mut expires = self.expires.iter();
        let mut kept = Vec::with_capacity(self.expires.len());
        self.values.retain(|_| {
            let at = *expires.next().expect("one expiry per element");
            let keep = at > now;
            if keep {
                *next = (*next).min(at);
                kept.push(at);
            }
            keep
        });
        self.expires = kept;
        match self.values.len() {
            0 => Purge::Empty,
            left if left == before => Purge::Kept,
            _ => Purge::Changed,
        }
    }
}

impl<T> ListStore<T> {
    pub(crate) fn keyed(name: &str, ttl_ms: Option<i64>) -> Self {
        ListStore { name: name.to_owned(), scope: Scope::Keyed(KeyedTable::new()), ttl: ttl_ms.map(Ttl::new) }
    }

    pub(crate) fn operator(name: &str) -> Self {
        ListStore { name: name.to_owned(), scope: Scope::Operator(Vec::new()), ttl: None }
    }

    #[track_caller]
    fn table(&self, method: &str) -> &KeyedTable<TimedList<T>> {
        match &self.scope {
            Scope::Keyed(table) => table,
            Scope::Operator(_) => not_keyed(&self.name, method),
        }
    }

    #[track_caller]
    fn table_mut(&mut self, method: &str) -> &mut KeyedTable<TimedList<T>> {
        match &mut self.scope {
            Scope::Keyed(table) => table,
            Scope::Operator(_) => not_keyed(&self.name, method),
        }
    }
}

impl<T: StateValue> Store for ListStore<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        match self.scope {
            Scope::Keyed(_) => Kind::KeyedList,
            Scope::Operator(_) => Kind::OperatorList,
        }
    }

    fn restore(&mut self, key_group: Option<u16>, data: &[u8], keys: &KeyHasher) -> Result<()> {
        let kind = self.kind();
        let ListStore { name, scope, ttl } = self;
        match scope {
            Scope::Keyed(table) => {
                let group = restored_key_group(name, kind, key_group)?;
                for_each_entry(name, kind, key_group, data, |entry| {
                    let Entry::KeyedList { key, values } = entry else {
                        return Err(wrong_entry(name));
                    };
                    let hash = keys.hash(key);
                    if table.restored_mut(hash, key).is_some() {
                        return Err(duplicate(name, key_group, key, "twice"));
                    }
                    let mut list = TimedList::default();
                    for value in values {
                        let value = match ttl {
                            Some(ttl) => {
                                let (expires, value) = split_expiry(name, value)?;
                                ttl.restored(expires);
                                list.expires.push(expires);
                                value
                            }
                            None => value,
                        };
                        list.values.push(decode(name, value)?);
                    }
                    table.restore_insert(hash, group, key, list);
                    Ok(())
                })
            }
            Scope::Operator(list) => for_each_entry(name, kind, key_group, data, |entry| {
                let Entry::OperatorList { value } = entry else {
                    return Err(wrong_entry(name));
                };
                list.push(decode(name, value)?);
                Ok(())
            }),
        }
    }

    fn snapshot(&mut self, mode: SnapshotMode, out: &mut Vec<Chunk>) -> Result<()> {
        let kind = self.kind();
        let ListStore { name, scope, ttl } = self;
        let mut buf = Vec::new();
        match scope {
            Scope::Keyed(table) => {
                // All values of one key are encoded back to back into `buf`;
                // `ends` marks where each stops.
                let mut ends = Vec::new();
                table.snapshot(name, kind, mode, out, |writer, slot| {
                    buf.clear();
                    ends.clear();
                    let list = slot.value();
                    for (i, value) in list.values.iter().enumerate() {
                        if ttl.is_some() {
                            encode_expiry(list.expires[i], &mut buf);
                        }
                        encode(name, value, &mut buf)?;
                        ends.push(buf.len());
                    }
                    let values = (0..ends.len()).map(|i| &buf[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]);
                    writer.keyed_list(slot.key(), values);
                    Ok(())
                })
            }
            Scope::Operator(list) => operator_snapshot(name, kind, mode, out, |writer| {
                for value in list.iter() {
                    buf.clear();
                    encode(name, value, &mut buf)?;
                    writer.operator_list(&buf);
                }
                Ok(())
            }),
        }
    }

    fn has_ttl(&self) -> bool {
        self.ttl.is_some()
    }

    fn expire_current(&mut self, current: &Current) {
        let (Scope::Keyed(table), Some(ttl), Some(at)) = (&mut self.scope, &self.ttl, current.keyed()) else {
            return;
        };
        let now = current.operator_time();
        if now < ttl.next_expiry {
            return;
        }
        // The bound stays as it is: other keys may hold earlier expiries.
        let mut unused = i64::MAX;
        table.purge(at, |list| list.purge(now, &mut unused));
    }

    fn expire_all(&mut self, operator_time: i64) {
        let (Scope::Keyed(table), Some(ttl)) = (&mut self.scope, &mut self.ttl) else {
            return;
        };
        if operator_time < ttl.next_expiry {
            return;
        }
        let mut next = i64::MAX;
        table.purge_all(|list| list.purge(operator_time, &mut next));
        ttl.next_expiry = next;
    }
}

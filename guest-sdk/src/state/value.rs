//! [`ValueState`]: one value per key (keyed scope) or per subtask (operator scope).

use std::fmt;
use std::marker::PhantomData;

use weir_wire::state::{Entry, Kind};

use super::Chunk;
use super::SnapshotMode;
use super::StateValue;
use super::store::{
    Current, KeyHasher, KeyedTable, Scope, Store, decode, duplicate, encode, for_each_entry, not_keyed,
    operator_snapshot, restored_key_group, wrong_entry,
};
use super::ttl::{Purge, Timed, Ttl, encode_expiry, split_expiry};
use crate::{Context, Error, Result};

/// A handle to one value of type `T` per key (from
/// [`OpenContext::keyed_value`](crate::OpenContext::keyed_value)) or per
/// subtask (from [`OpenContext::operator_value`](crate::OpenContext::operator_value)).
///
/// The handle is a typed index: cheap to copy, and only meaningful with the
/// [`Context`] of the instance that declared it.
///
/// # Panics
/// Every method of a keyed handle panics when there is no current key (see
/// [the state module](crate::state)).
pub struct ValueState<T> {
    index: usize,
    _value: PhantomData<fn() -> T>,
}

impl<T: StateValue> ValueState<T> {
    pub(crate) fn new(index: usize) -> Self {
        ValueState { index, _value: PhantomData }
    }

    /// The value, if one is set (and, with a TTL, not expired).
    #[track_caller]
    pub fn get<'c>(&self, ctx: &'c Context) -> Option<&'c T> {
        let (store, current) = ctx.store::<ValueStore<T>>(self.index);
        match &store.scope {
            Scope::Keyed(table) => table.get(current.key(&store.name)).map(|timed| &timed.value),
            Scope::Operator(value) => value.as_ref(),
        }
    }

    /// The value, mutably, if one is set. With a TTL this is a write: the
    /// value's expiry starts again from now.
    #[track_caller]
    pub fn get_mut<'c>(&self, ctx: &'c mut Context) -> Option<&'c mut T> {
        let (store, current) = ctx.store_mut::<ValueStore<T>>(self.index);
        match &mut store.scope {
            Scope::Keyed(table) => {
                let timed = table.get_mut(current.key(&store.name))?;
                if let Some(ttl) = &mut store.ttl {
                    timed.expires = ttl.stamp(current);
                }
                Some(&mut timed.value)
            }
            Scope::Operator(value) => value.as_mut(),
        }
    }

    /// Sets the value (with a TTL, expiring `ttl_ms` after the event time
    /// of the write).
    #[track_caller]
    pub fn set(&self, ctx: &mut Context, value: T) {
        let (store, current) = ctx.store_mut::<ValueStore<T>>(self.index);
        match &mut store.scope {
            Scope::Keyed(table) => {
                let at = current.key(&store.name);
                let expires = match &mut store.ttl {
                    Some(ttl) => ttl.stamp(current),
                    None => i64::MAX,
                };
                if store.ttl.is_some() && expires <= current.operator_time() {
                    // Written already expired (an event older than the
                    // watermark by more than the TTL): invisible at once.
                    table.remove(at);
                } else {
                    table.insert(at, Timed { value, expires });
                }
            }
            Scope::Operator(slot) => *slot = Some(value),
        }
    }

    /// Removes the value (a cleared value is absent from the next snapshot).
    #[track_caller]
    pub fn clear(&self, ctx: &mut Context) {
        let (store, current) = ctx.store_mut::<ValueStore<T>>(self.index);
        match &mut store.scope {
            Scope::Keyed(table) => {
                table.remove(current.key(&store.name));
            }
            Scope::Operator(slot) => *slot = None,
        }
    }

    /// Every (event key, value) of a keyed handle, over all the key groups
    /// this subtask holds, whatever the current key (so also in `finish`);
    /// in no particular order (sort them for deterministic output). With a
    /// TTL, expired values are skipped.
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn iter_all_keys<'c>(&self, ctx: &'c Context) -> impl Iterator<Item = (&'c [u8], &'c T)> + use<'c, T> {
        let (store, current) = ctx.store::<ValueStore<T>>(self.index);
        // Without a TTL nothing expires (not even at the watermark i64::MAX).
        let now = if store.ttl.is_some() { current.operator_time() } else { i64::MIN };
        store.table("iter_all_keys").iter().filter(move |(_, timed)| timed.expires > now).map(|(k, t)| (k, &t.value))
    }

    /// Keeps the value of only the event keys for which `keep(key, value)`
    /// is true, whatever the current key; returns how many keys lost their
    /// value. A pass over every key: the way to expire the state of keys
    /// that may never come back, now and then rather than per event. (With
    /// a TTL, expired values are dropped first, and not counted.)
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn retain_all(&self, ctx: &mut Context, mut keep: impl FnMut(&[u8], &T) -> bool) -> usize {
        let (store, current) = ctx.store_mut::<ValueStore<T>>(self.index);
        let now = current.operator_time();
        store.table("retain_all");
        if store.ttl.is_some() {
            store.expire_all(now);
        }
        store.table_mut("retain_all").retain(|key, timed| keep(key, &timed.value))
    }

    /// How many event keys have a value, over all the key groups this
    /// subtask holds.
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn key_count(&self, ctx: &Context) -> usize {
        let (store, current) = ctx.store::<ValueStore<T>>(self.index);
        let table = store.table("key_count");
        match store.ttl {
            None => table.len(),
            Some(_) => {
                let now = current.operator_time();
                table.values().filter(|timed| timed.expires > now).count()
            }
        }
    }
}

impl<T> Clone for ValueState<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ValueState<T> {}

impl<T> fmt::Debug for ValueState<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueState").field("index", &self.index).finish()
    }
}

pub(crate) struct ValueStore<T> {
    name: String,
    scope: Scope<Timed<T>, Option<T>>,
    ttl: Option<Ttl>,
}

impl<T> ValueStore<T> {
    pub(crate) fn keyed(name: &str, ttl_ms: Option<i64>) -> Self {
        ValueStore { name: name.to_owned(), scope: Scope::Keyed(KeyedTable::new()), ttl: ttl_ms.map(Ttl::new) }
    }

    pub(crate) fn operator(name: &str) -> Self {
        ValueStore { name: name.to_owned(), scope: Scope::Operator(None), ttl: None }
    }

    #[track_caller]
    fn table(&self, method: &str) -> &KeyedTable<Timed<T>> {
        match &self.scope {
            Scope::Keyed(table) => table,
            Scope::Operator(_) => not_keyed(&self.name, method),
        }
    }

    #[track_caller]
    fn table_mut(&mut self, method: &str) -> &mut KeyedTable<Timed<T>> {
        match &mut self.scope {
            Scope::Keyed(table) => table,
            Scope::Operator(_) => not_keyed(&self.name, method),
        }
    }
}

impl<T: StateValue> Store for ValueStore<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> Kind {
        match self.scope {
            Scope::Keyed(_) => Kind::KeyedValue,
            Scope::Operator(_) => Kind::OperatorValue,
        }
    }

    fn restore(&mut self, key_group: Option<u16>, data: &[u8], keys: &KeyHasher) -> Result<()> {
        let kind = self.kind();
        let ValueStore { name, scope, ttl } = self;
        match scope {
            Scope::Keyed(table) => {
                let group = restored_key_group(name, kind, key_group)?;
                for_each_entry(name, kind, key_group, data, |entry| {
                    let Entry::KeyedValue { key, value } = entry else {
                        return Err(wrong_entry(name));
                    };
                    let hash = keys.hash(key);
                    if table.restored_mut(hash, key).is_some() {
                        return Err(duplicate(name, key_group, key, "twice"));
                    }
                    let (expires, value) = match ttl {
                        Some(ttl) => {
                            let (expires, value) = split_expiry(name, value)?;
                            ttl.restored(expires);
                            (expires, value)
                        }
                        None => (i64::MAX, value),
                    };
                    table.restore_insert(hash, group, key, Timed { value: decode(name, value)?, expires });
                    Ok(())
                })
            }
            Scope::Operator(slot) => for_each_entry(name, kind, key_group, data, |entry| {
                let Entry::OperatorValue { value } = entry else {
                    return Err(wrong_entry(name));
                };
                if slot.is_some() {
                    return Err(Error::msg(format!(
                        "state `{name}`: the restored checkpoint holds more than one operator-value \
                         entry for it"
                    )));
                }
                *slot = Some(decode(name, value)?);
                Ok(())
            }),
        }
    }

    fn snapshot(&mut self, mode: SnapshotMode, out: &mut Vec<Chunk>) -> Result<()> {
        let kind = self.kind();
        let ValueStore { name, scope, ttl } = self;
        let mut buf = Vec::new();
        match scope {
            Scope::Keyed(table) => table.snapshot(name, kind, mode, out, |writer, slot| {
                buf.clear();
                if ttl.is_some() {
                    encode_expiry(slot.value().expires, &mut buf);
                }
                encode(name, &slot.value().value, &mut buf)?;
                writer.keyed_value(slot.key(), &buf);
                Ok(())
            }),
            Scope::Operator(value) => operator_snapshot(name, kind, mode, out, |writer| {
                if let Some(value) = value {
                    encode(name, value, &mut buf)?;
                    writer.operator_value(&buf);
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
        table.purge(at, |timed| if timed.expires <= now { Purge::Empty } else { Purge::Kept });
    }

    fn expire_all(&mut self, operator_time: i64) {
        let (Scope::Keyed(table), Some(ttl)) = (&mut self.scope, &mut self.ttl) else {
            return;
        };
        if operator_time < ttl.next_expiry {
            return;
        }
        let mut next = i64::MAX;
        table.purge_all(|timed| {
            if timed.expires <= operator_time {
                Purge::Empty
            } else {
                next = next.min(timed.expires);
                Purge::Kept
            }
        });
        ttl.next_expiry = next;
    }
}

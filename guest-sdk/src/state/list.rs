//! [`ListState`]: a list per key (keyed scope) or per subtask (operator scope).

use std::fmt;
use std::marker::PhantomData;

use weir_wire::state::{Entry, Kind};

use super::store::{
    KeyHasher, KeyedTable, Scope, Store, decode, duplicate, encode, for_each_entry, not_keyed, operator_snapshot,
    restored_key_group, wrong_entry,
};
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

    /// Appends a value.
    #[track_caller]
    pub fn push(&self, ctx: &mut Context, value: T) {
        let (store, current) = ctx.store_mut::<ListStore<T>>(self.index);
        match &mut store.scope {
            Scope::Keyed(table) => table.get_or_insert_with(current.key(&store.name), Vec::new).push(value),
            Scope::Operator(list) => list.push(value),
        }
    }

    /// The values, oldest first (empty if none).
    #[track_caller]
    pub fn get<'c>(&self, ctx: &'c Context) -> &'c [T] {
        let (store, current) = ctx.store::<ListStore<T>>(self.index);
        match &store.scope {
            Scope::Keyed(table) => table.get(current.key(&store.name)).map_or(&[], Vec::as_slice),
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
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn iter_all_keys<'c>(&self, ctx: &'c Context) -> impl Iterator<Item = (&'c [u8], &'c [T])> + use<'c, T> {
        let store = ctx.store::<ListStore<T>>(self.index).0;
        store.table("iter_all_keys").iter().map(|(key, list)| (key, list.as_slice()))
    }

    /// Keeps the list of only the event keys for which `keep(key, list)` is
    /// true, whatever the current key; returns how many keys lost their
    /// list. A pass over every key: the way to expire the state of keys that
    /// may never come back, now and then rather than per event.
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn retain_all(&self, ctx: &mut Context, mut keep: impl FnMut(&[u8], &[T]) -> bool) -> usize {
        let store = ctx.store_mut::<ListStore<T>>(self.index).0;
        store.table_mut("retain_all").retain(|key, list| keep(key, list))
    }

    /// How many event keys have a non-empty list, over all the key groups
    /// this subtask holds.
    ///
    /// # Panics
    /// For an operator-scope handle.
    #[track_caller]
    pub fn key_count(&self, ctx: &Context) -> usize {
        ctx.store::<ListStore<T>>(self.index).0.table("key_count").len()
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
    scope: Scope<Vec<T>, Vec<T>>,
}

impl<T> ListStore<T> {
    pub(crate) fn keyed(name: &str) -> Self {
        ListStore { name: name.to_owned(), scope: Scope::Keyed(KeyedTable::new()) }
    }

    pub(crate) fn operator(name: &str) -> Self {
        ListStore { name: name.to_owned(), scope: Scope::Operator(Vec::new()) }
    }

    #[track_caller]
    fn table(&self, method: &str) -> &KeyedTable<Vec<T>> {
        match &self.scope {
            Scope::Keyed(table) => table,
            Scope::Operator(_) => not_keyed(&self.name, method),
        }
    }

    #[track_caller]
    fn table_mut(&mut self, method: &str) -> &mut KeyedTable<Vec<T>> {
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
        let ListStore { name, scope } = self;
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
                    let list = values.map(|value| decode(name, value)).collect::<Result<Vec<T>>>()?;
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
        let ListStore { name, scope } = self;
        let mut buf = Vec::new();
        match scope {
            Scope::Keyed(table) => {
                // All values of one key are encoded back to back into `buf`;
                // `ends` marks where each stops.
                let mut ends = Vec::new();
                table.snapshot(name, kind, mode, out, |writer, slot| {
                    buf.clear();
                    ends.clear();
                    for value in slot.value() {
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
}

//! What sits behind a handle: the [`Store`] trait, the keyed table that maps
//! event keys to values, the current key, and the value codec.
//!
//! Incremental checkpoints will need dirty tracking. Every keyed mutation goes
//! through [`KeyedTable`]'s `get_mut`, `insert`, `get_or_insert_with` and
//! `remove`, and every operator-scope mutation through a `&mut` borrow of the
//! store, so a dirty flag per slot (plus a list of removed keys) can be added
//! here without changing the handles' API.

use std::any::Any;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_wire::state::{ChunkReader, ChunkWriter, Entry, Kind};

use super::{Chunk, kind_name};
use crate::{Error, Result};

/// One declared handle's storage, type-erased so that the context can hold
/// all of them in one `Vec<Box<dyn Store>>`; handles downcast it back.
pub(crate) trait Store: Any {
    fn name(&self) -> &str;

    fn kind(&self) -> Kind;

    /// Loads one restored chunk. The caller checked its handle name and kind.
    fn restore(&mut self, key_group: Option<u16>, data: &[u8], keys: &KeyHasher) -> Result<()>;

    /// Appends this handle's chunks: one per key group that holds entries
    /// (keyed kinds), or one if the state is not empty (operator kinds).
    fn snapshot(&self, out: &mut Vec<Chunk>) -> Result<()>;
}

/// Keyed stores hold a keyed table, operator stores one value or list.
pub(crate) enum Scope<K, O> {
    Keyed(KeyedTable<K>),
    Operator(O),
}

/// Hashes event keys. One per context, shared by all its keyed tables, so
/// that a key is hashed once per event however many handles it touches.
///
/// foldhash is fast, and seeded from addresses without a clock or OS
/// randomness (no WASI import needed).
#[derive(Default, Clone)]
pub(crate) struct KeyHasher(DefaultHashBuilder);

impl KeyHasher {
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.0.hash_one(key)
    }
}

/// The key of the event being processed, hashed.
#[derive(Clone, Copy)]
pub(crate) struct CurrentKey<'a> {
    key: &'a [u8],
    hash: u64,
    key_group: u16,
}

/// Where the context is: outside any event, or processing an event with or
/// without a key group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyScope {
    NoEvent,
    Unkeyed,
    Keyed,
}

/// The current event's key (copied into a reused buffer, only when the
/// operator has keyed state) and timestamp.
pub(crate) struct Current {
    scope: KeyScope,
    key: Vec<u8>,
    hash: u64,
    key_group: u16,
    timestamp: i64,
}

impl Current {
    pub(crate) fn new() -> Self {
        Current {
            scope: KeyScope::NoEvent,
            key: Vec::new(),
            hash: 0,
            key_group: 0,
            timestamp: weir_wire::batch::NO_TIMESTAMP,
        }
    }

    pub(crate) fn enter(&mut self, key: &[u8], key_group: u16, timestamp: i64, keys: Option<&KeyHasher>) {
        self.timestamp = timestamp;
        if key_group == weir_wire::batch::NO_KEY_GROUP {
            self.scope = KeyScope::Unkeyed;
        } else if let Some(keys) = keys {
            self.scope = KeyScope::Keyed;
            self.key.clear();
            self.key.extend_from_slice(key);
            self.hash = keys.hash(key);
            self.key_group = key_group;
        }
    }

    pub(crate) fn leave(&mut self) {
        self.scope = KeyScope::NoEvent;
        self.timestamp = weir_wire::batch::NO_TIMESTAMP;
    }

    pub(crate) fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The current key, for keyed state `handle`.
    ///
    /// # Panics
    /// Outside `process`, or for an event without a key group.
    #[track_caller]
    pub(crate) fn key(&self, handle: &str) -> CurrentKey<'_> {
        match self.scope {
            KeyScope::Keyed => CurrentKey { key: &self.key, hash: self.hash, key_group: self.key_group },
            KeyScope::NoEvent => panic!(
                "keyed state `{handle}` was used with no current key: keyed state is scoped \
                 by the key of the event being processed, so it is only available in `process` \
                 (use operator state in `finish`)"
            ),
            KeyScope::Unkeyed => panic!(
                "keyed state `{handle}` was used for an event without a key group: the \
                 operator's input is not keyed (set `key_by = true` on it in the job file)"
            ),
        }
    }
}

/// One key's entry in a [`KeyedTable`].
pub(crate) struct Slot<V> {
    hash: u64,
    key_group: u16,
    key: Box<[u8]>,
    value: V,
}

impl<V> Slot<V> {
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn value(&self) -> &V {
        &self.value
    }
}

/// Event key -> value, each entry tagged with its key group. Lookups use the
/// hash already computed for the current key.
pub(crate) struct KeyedTable<V> {
    table: HashTable<Slot<V>>,
}

impl<V> KeyedTable<V> {
    pub(crate) fn new() -> Self {
        KeyedTable { table: HashTable::new() }
    }

    pub(crate) fn get(&self, at: CurrentKey<'_>) -> Option<&V> {
        self.table.find(at.hash, |slot| *slot.key == *at.key).map(|slot| &slot.value)
    }

    pub(crate) fn get_mut(&mut self, at: CurrentKey<'_>) -> Option<&mut V> {
        self.table.find_mut(at.hash, |slot| *slot.key == *at.key).map(|slot| &mut slot.value)
    }

    pub(crate) fn get_or_insert_with(&mut self, at: CurrentKey<'_>, make: impl FnOnce() -> V) -> &mut V {
        let entry = self.table.entry(at.hash, |slot| *slot.key == *at.key, |slot| slot.hash);
        let slot =
            entry.or_insert_with(|| Slot { hash: at.hash, key_group: at.key_group, key: at.key.into(), value: make() });
        &mut slot.into_mut().value
    }

    /// Sets the value, returning the previous one.
    pub(crate) fn insert(&mut self, at: CurrentKey<'_>, value: V) -> Option<V> {
        match self.table.entry(at.hash, |slot| *slot.key == *at.key, |slot| slot.hash) {
            TableEntry::Occupied(mut occupied) => Some(std::mem::replace(&mut occupied.get_mut().value, value)),
            TableEntry::Vacant(vacant) => {
                vacant.insert(Slot { hash: at.hash, key_group: at.key_group, key: at.key.into(), value });
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, at: CurrentKey<'_>) -> Option<V> {
        let occupied = self.table.find_entry(at.hash, |slot| *slot.key == *at.key).ok()?;
        Some(occupied.remove().0.value)
    }

    /// The entry for `key` from a restored chunk, if there is one already.
    pub(crate) fn restored_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        self.table.find_mut(hash, |slot| *slot.key == *key).map(|slot| &mut slot.value)
    }

    /// Adds an entry from a restored chunk; the caller checked it is new.
    pub(crate) fn restore_insert(&mut self, hash: u64, key_group: u16, key: &[u8], value: V) -> &mut V {
        let slot = Slot { hash, key_group, key: key.into(), value };
        &mut self.table.insert_unique(hash, slot, |slot| slot.hash).into_mut().value
    }

    /// Writes one chunk per key group, in key group order. `write` adds the
    /// entries of one slot; a key group whose writer stays empty is skipped.
    pub(crate) fn snapshot(
        &self,
        name: &str,
        kind: Kind,
        out: &mut Vec<Chunk>,
        mut write: impl FnMut(&mut ChunkWriter, &Slot<V>) -> Result<()>,
    ) -> Result<()> {
        let mut writers: BTreeMap<u16, ChunkWriter> = BTreeMap::new();
        for slot in &self.table {
            let writer = writers.entry(slot.key_group).or_insert_with(|| ChunkWriter::new(kind));
            write(writer, slot)?;
        }
        for (key_group, writer) in writers {
            if writer.entries() > 0 {
                out.push(Chunk { handle: name.to_owned(), kind, key_group: Some(key_group), data: writer.finish() });
            }
        }
        Ok(())
    }
}

/// Appends the postcard encoding of `value` to `buf`.
pub(crate) fn encode<T: Serialize>(handle: &str, value: &T, buf: &mut Vec<u8>) -> Result<()> {
    match postcard::to_extend(value, std::mem::take(buf)) {
        Ok(extended) => {
            *buf = extended;
            Ok(())
        }
        Err(e) => Err(Error::msg(format!("state `{handle}`: cannot encode a value: {e}"))),
    }
}

/// Decodes one postcard value that must fill `bytes` exactly.
pub(crate) fn decode<T: DeserializeOwned>(handle: &str, bytes: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| {
        Error::msg(format!("state `{handle}`: cannot decode a restored value as {}: {e}", std::any::type_name::<T>()))
    })?;
    if !rest.is_empty() {
        return Err(Error::msg(format!(
            "state `{handle}`: a restored value has {} bytes left over after decoding it as {}",
            rest.len(),
            std::any::type_name::<T>()
        )));
    }
    Ok(value)
}

/// Where a restored chunk came from, for error messages.
fn describe(handle: &str, key_group: Option<u16>) -> String {
    match key_group {
        Some(key_group) => format!("state `{handle}` (key group {key_group})"),
        None => format!("state `{handle}`"),
    }
}

/// The key group of a restored keyed chunk, which must have one.
pub(crate) fn restored_key_group(handle: &str, kind: Kind, key_group: Option<u16>) -> Result<u16> {
    key_group
        .ok_or_else(|| Error::msg(format!("state `{handle}`: a restored {} chunk has no key group", kind_name(kind))))
}

/// Calls `each` for every entry of a restored chunk, with decoding errors
/// naming the handle and key group.
pub(crate) fn for_each_entry(
    handle: &str,
    kind: Kind,
    key_group: Option<u16>,
    data: &[u8],
    mut each: impl FnMut(Entry<'_>) -> Result<()>,
) -> Result<()> {
    let malformed = |e: weir_wire::DecodeError| {
        Error::msg(format!("{}: malformed restored chunk: {e}", describe(handle, key_group)))
    };
    for entry in ChunkReader::new(kind, data).map_err(malformed)? {
        each(entry.map_err(malformed)?)?;
    }
    Ok(())
}

/// A restored entry that appears twice (STATE.md: at most once per chunk).
/// `detail` ends the sentence "the restored chunk holds key "k" ...".
pub(crate) fn duplicate(handle: &str, key_group: Option<u16>, key: &[u8], detail: &str) -> Error {
    Error::msg(format!(
        "{}: the restored chunk holds key {:?} {detail}",
        describe(handle, key_group),
        String::from_utf8_lossy(key)
    ))
}

/// An entry of another kind than the reader was asked for (cannot happen:
/// `ChunkReader` yields the kind it was created with).
pub(crate) fn wrong_entry(handle: &str) -> Error {
    Error::msg(format!("state `{handle}`: chunk reader returned an entry of another kind"))
}

//! What sits behind a handle: the [`Store`] trait, the keyed table that maps
//! event keys to values, the current key, and the value codec.
//!
//! # Dirty tracking, for incremental snapshots
//!
//! Every keyed mutation goes through [`KeyedTable`]'s `get_mut`, `insert`,
//! `get_or_insert_with` and `remove`, so the table tracks what changed since
//! the previous snapshot without the handles knowing:
//!
//! - each slot has a `dirty` flag, set by any mutable access (one store of a
//!   bool on the per-event path), and a `saved` flag: the previous snapshot
//!   holds entries for the key;
//! - removing a saved slot moves its key (no allocation but the list's
//!   growth) to a list of removed keys with their key group. A key that was
//!   not saved leaves nothing to remove, so the list holds at most one entry
//!   per key of the previous snapshot.
//!
//! An incremental snapshot writes one delta chunk (`wit/STATE.md`, version 2)
//! per key group with a dirty slot or a removed key: the removed keys, and the
//! whole state of every dirty key. Every snapshot, full or incremental, then
//! clears the flags and the list, so that tracking always describes the
//! changes since the previous snapshot call. Operator-scope state is small
//! and not tracked: an incremental snapshot writes it whole (version 1).

use std::any::Any;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_wire::state::{ChunkReader, ChunkWriter, DeltaWriter, Entry, Kind};

use super::ttl::Purge;
use super::{Chunk, SnapshotMode, kind_name};
use crate::{Error, Result};

/// One declared handle's storage, type-erased so that the context can hold
/// all of them in one `Vec<Box<dyn Store>>`; handles downcast it back.
pub(crate) trait Store: Any {
    fn name(&self) -> &str;

    fn kind(&self) -> Kind;

    /// Loads one restored chunk. The caller checked its handle name and kind.
    fn restore(&mut self, key_group: Option<u16>, data: &[u8], keys: &KeyHasher) -> Result<()>;

    /// Appends this handle's chunks, then starts tracking changes afresh.
    ///
    /// [`SnapshotMode::Full`]: one version 1 chunk per key group that holds
    /// entries (keyed kinds), or one if the state is not empty (operator
    /// kinds). [`SnapshotMode::Incremental`]: the changes since the previous
    /// call, one delta chunk per key group that changed (keyed kinds), or a
    /// version 1 chunk even if the state is empty (operator kinds).
    fn snapshot(&mut self, mode: SnapshotMode, out: &mut Vec<Chunk>) -> Result<()>;

    /// Whether the handle has a time to live (then the context calls the
    /// two methods below).
    fn has_ttl(&self) -> bool {
        false
    }

    /// Drops what expired of the current key's state (at the operator time
    /// of `current`): called when an event or a timer callback starts, so
    /// that what the operator reads of its key is what is still visible.
    fn expire_current(&mut self, current: &Current) {
        let _ = current;
    }

    /// Drops what expired of every key's state at `operator_time` (before a
    /// snapshot, and when the watermark passed the handle's next expiry).
    fn expire_all(&mut self, operator_time: i64) {
        let _ = operator_time;
    }
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

/// `a == b` for short byte strings such as keys, eight bytes at a time.
///
/// Slice equality calls `memcmp`, which in a Wasm guest is compiler-builtins'
/// loop over single bytes, not the host's vectorised one: a profile of the
/// keyed benchmark put 10% of the whole job's CPU in it (issue 17).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((a_words, a_tail), (b_words, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a_words.iter().zip(b_words).all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && a_tail.iter().zip(b_tail).all(|(x, y)| x == y)
}

/// The key of the event being processed, hashed.
#[derive(Clone, Copy)]
pub(crate) struct CurrentKey<'a> {
    key: &'a [u8],
    hash: u64,
    key_group: u16,
}

/// Where the context is: outside any event, or processing an event of a
/// partitioned input (with or without a key group) or of a broadcast input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyScope {
    NoEvent,
    /// An event without a key group, from an unkeyed partitioned input.
    Unkeyed,
    /// An event with a key group; its key is in `Current::key`.
    Keyed,
    /// An event with a key group, for an operator with no keyed state: the
    /// key is not copied, as nothing reads it.
    Untracked,
    /// An event from a broadcast input (never keyed).
    Broadcast,
}

/// The current event's key (copied into a reused buffer, only when the
/// operator has keyed state), its timestamp, and the instance's time.
pub(crate) struct Current {
    scope: KeyScope,
    key: Vec<u8>,
    hash: u64,
    key_group: u16,
    /// The timestamp output events get by default: the input event's in
    /// `process`, the timer's in an event-time timer callback.
    timestamp: i64,
    /// The input event's timestamp (`NO_TIMESTAMP` outside `process`): with
    /// the watermark, the operator's time that TTL is measured against.
    event_timestamp: i64,
    /// The event-time watermark of the last `advance` (`i64::MIN` before).
    watermark: i64,
}

/// What uses the current key, for the panic messages when there is none.
#[derive(Clone, Copy)]
pub(crate) enum KeyUse<'a> {
    State(&'a str),
    Timer,
}

impl std::fmt::Display for KeyUse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyUse::State(handle) => write!(f, "keyed state `{handle}` was used"),
            KeyUse::Timer => f.write_str("a timer was registered or deleted"),
        }
    }
}

impl Current {
    pub(crate) fn new() -> Self {
        Current {
            scope: KeyScope::NoEvent,
            key: Vec::new(),
            hash: 0,
            key_group: 0,
            timestamp: weir_wire::batch::NO_TIMESTAMP,
            event_timestamp: weir_wire::batch::NO_TIMESTAMP,
            watermark: i64::MIN,
        }
    }

    /// Starts an event: `keys` is the context's hasher when it has keyed
    /// state (or `None`: the key is not copied); `broadcast` when the event
    /// comes from a broadcast input.
    pub(crate) fn enter(
        &mut self,
        key: &[u8],
        key_group: u16,
        timestamp: i64,
        keys: Option<&KeyHasher>,
        broadcast: bool,
    ) {
        self.timestamp = timestamp;
        self.event_timestamp = timestamp;
        self.scope = if broadcast {
            KeyScope::Broadcast
        } else if key_group == weir_wire::batch::NO_KEY_GROUP {
            KeyScope::Unkeyed
        } else if let Some(keys) = keys {
            self.key.clear();
            self.key.extend_from_slice(key);
            self.hash = keys.hash(key);
            self.key_group = key_group;
            KeyScope::Keyed
        } else {
            KeyScope::Untracked
        };
    }

    /// Starts a timer callback: the timer's key is current, there is no
    /// input event, and output events get `timestamp` by default.
    pub(crate) fn enter_timer(&mut self, key: &[u8], hash: u64, key_group: u16, timestamp: i64) {
        self.key.clear();
        self.key.extend_from_slice(key);
        self.hash = hash;
        self.key_group = key_group;
        self.scope = KeyScope::Keyed;
        self.timestamp = timestamp;
        self.event_timestamp = weir_wire::batch::NO_TIMESTAMP;
    }

    pub(crate) fn leave(&mut self) {
        self.scope = KeyScope::NoEvent;
        self.timestamp = weir_wire::batch::NO_TIMESTAMP;
        self.event_timestamp = weir_wire::batch::NO_TIMESTAMP;
    }

    pub(crate) fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Replaces the default timestamp of output events (a window's result
    /// gets the window's last millisecond); returns the previous one.
    pub(crate) fn replace_timestamp(&mut self, timestamp: i64) -> i64 {
        std::mem::replace(&mut self.timestamp, timestamp)
    }

    pub(crate) fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Raises the watermark (it never goes back).
    pub(crate) fn advance_watermark(&mut self, watermark: i64) {
        self.watermark = self.watermark.max(watermark);
    }

    /// The operator's time for TTL: the newest of the current event's
    /// timestamp and the watermark.
    pub(crate) fn operator_time(&self) -> i64 {
        self.event_timestamp.max(self.watermark)
    }

    /// When an entry written now with time to live `ttl_ms` expires: the
    /// write time (the event's timestamp, else the watermark) plus the TTL,
    /// or never (`i64::MAX`) when neither is known.
    pub(crate) fn expires_at(&self, ttl_ms: i64) -> i64 {
        let write_time =
            if self.event_timestamp != weir_wire::batch::NO_TIMESTAMP { self.event_timestamp } else { self.watermark };
        if write_time == i64::MIN { i64::MAX } else { write_time.saturating_add(ttl_ms) }
    }

    /// The current key, for keyed state `handle`.
    ///
    /// # Panics
    /// Outside `process`, or for an event without a key group.
    #[track_caller]
    pub(crate) fn key(&self, handle: &str) -> CurrentKey<'_> {
        match self.scope {
            KeyScope::Keyed => CurrentKey { key: &self.key, hash: self.hash, key_group: self.key_group },
            _ => self.no_key(KeyUse::State(handle)),
        }
    }

    /// The current key, for a timer.
    ///
    /// # Panics
    /// As [`Current::key`].
    #[track_caller]
    pub(crate) fn timer_key(&self) -> CurrentKey<'_> {
        match self.scope {
            KeyScope::Keyed => CurrentKey { key: &self.key, hash: self.hash, key_group: self.key_group },
            _ => self.no_key(KeyUse::Timer),
        }
    }

    /// The current key, if there is one (an event or timer of a keyed
    /// input, with keyed state).
    pub(crate) fn keyed(&self) -> Option<CurrentKey<'_>> {
        (self.scope == KeyScope::Keyed).then_some(CurrentKey {
            key: &self.key,
            hash: self.hash,
            key_group: self.key_group,
        })
    }

    #[cold]
    #[track_caller]
    fn no_key(&self, what: KeyUse<'_>) -> ! {
        match self.scope {
            KeyScope::Keyed => unreachable!("there is a current key"),
            KeyScope::NoEvent => panic!(
                "{what} with no current key: keyed state and timers are scoped by the key of \
                 the event being processed (or of the timer firing), so they are only available \
                 in `process` and `on_timer` (use operator state in `finish`)"
            ),
            KeyScope::Unkeyed => panic!(
                "{what} for an event without a key group: the operator's input is not keyed \
                 (set `key_by = true` on it in the job file)"
            ),
            KeyScope::Broadcast => panic!(
                "{what} for an event of a broadcast input: broadcast events reach every subtask \
                 and carry no key group, so only operator and broadcast state are available \
                 while processing them"
            ),
            KeyScope::Untracked => match what {
                KeyUse::Timer => panic!(
                    "a timer was registered or deleted, but the instance declared no keyed state, \
                     so the SDK does not track the event's key: call `ctx.use_timers()` in `open`"
                ),
                KeyUse::State(_) => panic!(
                    "{what}, but the instance declared no keyed state: the handle belongs to \
                     another instance"
                ),
            },
        }
    }
}

impl<'a> CurrentKey<'a> {
    /// A key that is not the current event's (a timer's, say).
    pub(crate) fn new(key: &'a [u8], hash: u64, key_group: u16) -> Self {
        CurrentKey { key, hash, key_group }
    }

    pub(crate) fn key(&self) -> &'a [u8] {
        self.key
    }

    pub(crate) fn key_group(&self) -> u16 {
        self.key_group
    }
}

/// One key's entry in a [`KeyedTable`].
pub(crate) struct Slot<V> {
    hash: u64,
    key_group: u16,
    /// Written (or mutably borrowed) since the previous snapshot.
    dirty: bool,
    /// The previous snapshot holds entries for this key.
    saved: bool,
    key: Box<[u8]>,
    value: V,
}

impl<V> Slot<V> {
    /// A slot for a key the current event created.
    fn new(at: CurrentKey<'_>, value: V) -> Self {
        Slot { hash: at.hash, key_group: at.key_group, dirty: true, saved: false, key: at.key.into(), value }
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// Whether this is the slot of `key` (whose hash is `hash`): the full
    /// hash first, as it rules out nearly every other key at the cost of one
    /// compare, then the bytes.
    #[inline]
    fn holds(&self, hash: u64, key: &[u8]) -> bool {
        self.hash == hash && same_bytes(&self.key, key)
    }

    pub(crate) fn value(&self) -> &V {
        &self.value
    }
}

/// Event key -> value, each entry tagged with its key group. Lookups use the
/// hash already computed for the current key. Tracks what changed since the
/// previous snapshot (see the module docs).
pub(crate) struct KeyedTable<V> {
    table: HashTable<Slot<V>>,
    /// Saved keys removed since the previous snapshot, with their key group.
    removed: Vec<(u16, Box<[u8]>)>,
    /// The size of each key group's chunk in the previous full snapshot:
    /// the next one's buffer starts that large instead of growing by
    /// doubling (which copies a large chunk about once more).
    full_chunk_bytes: BTreeMap<u16, usize>,
}

impl<V> KeyedTable<V> {
    pub(crate) fn new() -> Self {
        KeyedTable { table: HashTable::new(), removed: Vec::new(), full_chunk_bytes: BTreeMap::new() }
    }

    pub(crate) fn get(&self, at: CurrentKey<'_>) -> Option<&V> {
        self.table.find(at.hash, |slot| slot.holds(at.hash, at.key)).map(|slot| &slot.value)
    }

    /// The value, to be changed: marks the key dirty.
    pub(crate) fn get_mut(&mut self, at: CurrentKey<'_>) -> Option<&mut V> {
        self.table.find_mut(at.hash, |slot| slot.holds(at.hash, at.key)).map(|slot| {
            slot.dirty = true;
            &mut slot.value
        })
    }

    /// The value, created if absent, to be changed: marks the key dirty.
    pub(crate) fn get_or_insert_with(&mut self, at: CurrentKey<'_>, make: impl FnOnce() -> V) -> &mut V {
        let entry = self.table.entry(at.hash, |slot| slot.holds(at.hash, at.key), |slot| slot.hash);
        let slot = entry.or_insert_with(|| Slot::new(at, make())).into_mut();
        slot.dirty = true;
        &mut slot.value
    }

    /// Sets the value, returning the previous one. Marks the key dirty.
    pub(crate) fn insert(&mut self, at: CurrentKey<'_>, value: V) -> Option<V> {
        match self.table.entry(at.hash, |slot| slot.holds(at.hash, at.key), |slot| slot.hash) {
            TableEntry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                slot.dirty = true;
                Some(std::mem::replace(&mut slot.value, value))
            }
            TableEntry::Vacant(vacant) => {
                vacant.insert(Slot::new(at, value));
                None
            }
        }
    }

    /// Removes the key's value; if the previous snapshot held it, records
    /// the removal for the next incremental one.
    pub(crate) fn remove(&mut self, at: CurrentKey<'_>) -> Option<V> {
        let occupied = self.table.find_entry(at.hash, |slot| slot.holds(at.hash, at.key)).ok()?;
        let Slot { key_group, saved, key, value, .. } = occupied.remove().0;
        if saved {
            self.removed.push((key_group, key));
        }
        Some(value)
    }

    /// Every key and its value, whatever the current key, in no particular
    /// order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.table.iter().map(|slot| (&*slot.key, &slot.value))
    }

    /// The number of keys with a value.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Keeps only the keys for which `keep(key, value)` is true, whatever
    /// the current key; records the removal of saved ones, as `remove`
    /// does. Returns how many keys were removed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&[u8], &V) -> bool) -> usize {
        let mut dropped = 0;
        for slot in self.table.extract_if(|slot| !keep(&slot.key, &slot.value)) {
            dropped += 1;
            if slot.saved {
                self.removed.push((slot.key_group, slot.key));
            }
        }
        dropped
    }

    /// Drops what expired of the key's state: `purge` says what it did to
    /// the value. A changed key is marked dirty, an emptied one removed.
    pub(crate) fn purge(&mut self, at: CurrentKey<'_>, purge: impl FnOnce(&mut V) -> Purge) {
        let Ok(mut occupied) = self.table.find_entry(at.hash, |slot| slot.holds(at.hash, at.key)) else {
            return;
        };
        match purge(&mut occupied.get_mut().value) {
            Purge::Kept => {}
            Purge::Changed => occupied.get_mut().dirty = true,
            Purge::Empty => {
                let Slot { key_group, saved, key, .. } = occupied.remove().0;
                if saved {
                    self.removed.push((key_group, key));
                }
            }
        }
    }

    /// [`KeyedTable::purge`] for every key.
    pub(crate) fn purge_all(&mut self, mut purge: impl FnMut(&mut V) -> Purge) {
        let removed = &mut self.removed;
        for slot in self.table.extract_if(|slot| match purge(&mut slot.value) {
            Purge::Kept => false,
            Purge::Changed => {
                slot.dirty = true;
                false
            }
            Purge::Empty => true,
        }) {
            if slot.saved {
                removed.push((slot.key_group, slot.key));
            }
        }
    }

    /// Every value, whatever the current key.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.table.iter().map(|slot| &slot.value)
    }

    /// The entry for `key` from a restored chunk, if there is one already.
    pub(crate) fn restored_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        self.table.find_mut(hash, |slot| slot.holds(hash, key)).map(|slot| &mut slot.value)
    }

    /// Adds an entry from a restored chunk; the caller checked it is new.
    /// Restored state counts as saved and clean: it is what the checkpoint
    /// holds.
    pub(crate) fn restore_insert(&mut self, hash: u64, key_group: u16, key: &[u8], value: V) -> &mut V {
        let slot = Slot { hash, key_group, dirty: false, saved: true, key: key.into(), value };
        &mut self.table.insert_unique(hash, slot, |slot| slot.hash).into_mut().value
    }

    /// Writes one chunk per key group, in key group order, and clears the
    /// tracking. `write` adds the entries of one slot.
    ///
    /// Full: a version 1 chunk of every slot, per key group that has entries.
    /// Incremental: a delta of the removed keys and the dirty slots, per key
    /// group that has either; a saved slot that writes no entries any more
    /// is written as removed.
    pub(crate) fn snapshot(
        &mut self,
        name: &str,
        kind: Kind,
        mode: SnapshotMode,
        out: &mut Vec<Chunk>,
        mut write: impl FnMut(&mut Writer, &Slot<V>) -> Result<()>,
    ) -> Result<()> {
        let incremental = mode == SnapshotMode::Incremental;
        // A key group where most keys changed is written in full instead:
        // the delta would be nearly as large, and a full chunk ends the
        // group's chain, so the host can drop the files it replaces.
        let rewritten = if incremental { self.mostly_changed_key_groups() } else { Default::default() };
        let mode_of = |key_group: u16| match rewritten.contains(&key_group) {
            true => SnapshotMode::Full,
            false => mode,
        };
        let mut writers: BTreeMap<u16, Writer> = BTreeMap::new();
        if incremental {
            for (key_group, key) in self.removed.iter().filter(|(key_group, _)| !rewritten.contains(key_group)) {
                writers.entry(*key_group).or_insert_with(|| Writer::new(kind, mode, 0)).remove(key);
            }
        }
        for slot in self.table.iter_mut() {
            let slot_mode = mode_of(slot.key_group);
            if slot_mode == SnapshotMode::Incremental && !slot.dirty {
                continue;
            }
            let writer = writers.entry(slot.key_group).or_insert_with(|| {
                // A little room over last time's size: the group may have grown.
                let hint = self.full_chunk_bytes.get(&slot.key_group).map_or(0, |bytes| bytes + bytes / 16);
                Writer::new(kind, slot_mode, hint)
            });
            let before = writer.entries();
            write(writer, slot)?;
            let has_entries = writer.entries() > before;
            if slot_mode == SnapshotMode::Incremental && slot.saved && !has_entries {
                writer.remove(&slot.key);
            }
            slot.dirty = false;
            slot.saved = has_entries;
        }
        self.removed.clear();
        for (key_group, writer) in writers {
            if !writer.is_empty() {
                let full = matches!(writer, Writer::Full(_));
                let data = writer.finish();
                if full {
                    self.full_chunk_bytes.insert(key_group, data.len());
                }
                out.push(Chunk { handle: name.to_owned(), kind, key_group: Some(key_group), data });
            }
        }
        Ok(())
    }
}

impl<V> KeyedTable<V> {
    /// Key groups in which more than half of the keys changed (or were
    /// removed) since the previous snapshot.
    fn mostly_changed_key_groups(&self) -> std::collections::BTreeSet<u16> {
        // key group -> (keys now, keys changed or removed)
        let mut counts: BTreeMap<u16, (usize, usize)> = BTreeMap::new();
        for slot in &self.table {
            let count = counts.entry(slot.key_group).or_default();
            count.0 += 1;
            count.1 += usize::from(slot.dirty);
        }
        for (key_group, _) in &self.removed {
            counts.entry(*key_group).or_default().1 += 1;
        }
        counts.into_iter().filter(|(_, (keys, changed))| *keys > 0 && changed * 2 > *keys).map(|(g, _)| g).collect()
    }
}

/// Writes the entries of one keyed chunk: a complete (version 1) chunk or a
/// delta (version 2), depending on the snapshot mode.
pub(crate) enum Writer {
    Full(ChunkWriter),
    Delta(DeltaWriter),
}

impl Writer {
    /// A writer for `mode`; a complete chunk's buffer starts with room for
    /// `capacity` bytes.
    fn new(kind: Kind, mode: SnapshotMode, capacity: usize) -> Self {
        match mode {
            SnapshotMode::Full => Writer::Full(ChunkWriter::with_capacity(kind, capacity)),
            SnapshotMode::Incremental => Writer::Delta(DeltaWriter::new(kind)),
        }
    }

    fn entries(&self) -> usize {
        match self {
            Writer::Full(w) => w.entries(),
            Writer::Delta(w) => w.entries(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Writer::Full(w) => w.entries() == 0,
            Writer::Delta(w) => w.is_empty(),
        }
    }

    /// Records a removed key; a complete chunk just leaves it out.
    fn remove(&mut self, key: &[u8]) {
        if let Writer::Delta(w) = self {
            w.remove(key);
        }
    }

    pub(crate) fn keyed_value(&mut self, key: &[u8], value: &[u8]) {
        match self {
            Writer::Full(w) => w.keyed_value(key, value),
            Writer::Delta(w) => w.keyed_value(key, value),
        }
    }

    pub(crate) fn keyed_map(&mut self, key: &[u8], map_key: &[u8], value: &[u8]) {
        match self {
            Writer::Full(w) => w.keyed_map(key, map_key, value),
            Writer::Delta(w) => w.keyed_map(key, map_key, value),
        }
    }

    pub(crate) fn keyed_list<'v>(&mut self, key: &[u8], values: impl ExactSizeIterator<Item = &'v [u8]>) {
        match self {
            Writer::Full(w) => w.keyed_list(key, values),
            Writer::Delta(w) => w.keyed_list(key, values),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Writer::Full(w) => w.finish(),
            Writer::Delta(w) => w.finish(),
        }
    }
}

/// The version 1 chunk of an operator-scope handle, written by `write`: in a
/// full snapshot only if it has entries, in an incremental one always (an
/// empty chunk says the state is now empty).
pub(crate) fn operator_snapshot(
    name: &str,
    kind: Kind,
    mode: SnapshotMode,
    out: &mut Vec<Chunk>,
    write: impl FnOnce(&mut ChunkWriter) -> Result<()>,
) -> Result<()> {
    let mut writer = ChunkWriter::new(kind);
    write(&mut writer)?;
    if writer.entries() > 0 || mode == SnapshotMode::Incremental {
        out.push(Chunk { handle: name.to_owned(), kind, key_group: None, data: writer.finish() });
    }
    Ok(())
}

/// A method for keyed handles only was called on an operator-scope one.
#[track_caller]
pub(crate) fn not_keyed(handle: &str, method: &str) -> ! {
    panic!("`{method}` is for keyed state, and state `{handle}` is operator state (it has no event keys)")
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

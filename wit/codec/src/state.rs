//! State chunk layouts (`wit/STATE.md`): version 1, the complete state of
//! one (handle, key group), and version 2, a *delta* against the state the
//! previous snapshot described.
//!
//! A chunk's `data` is a version byte followed by entries whose shape depends
//! on the chunk's [`Kind`]; a delta puts the keys it removes between the two.
//! Values are opaque bytes here; the SDKs encode them with their value codec.
//!
//! - [`ChunkWriter`], [`ChunkReader`]: version 1 chunks, every kind.
//! - [`DeltaWriter`], [`DeltaReader`]: version 2 chunks, keyed kinds only.
//! - [`chunk_version`]: which of the two a chunk is.
//! - [`merge`]: turns a chain (a version 1 chunk, then deltas) back into one
//!   version 1 chunk. It is the reference for applying deltas.
//!
//! ```
//! use weir_wire::state::{ChunkReader, ChunkWriter, Entry, Kind};
//!
//! let mut writer = ChunkWriter::new(Kind::KeyedValue);
//! writer.keyed_value(b"apple", &[3]);
//! let data = writer.finish();
//!
//! let entries: Vec<_> = ChunkReader::new(Kind::KeyedValue, &data)?.collect::<Result<_, _>>()?;
//! assert_eq!(entries, vec![Entry::KeyedValue { key: b"apple", value: &[3] }]);
//! # Ok::<(), weir_wire::DecodeError>(())
//! ```
//!
//! A delta, applied to the chunk above:
//!
//! ```
//! use weir_wire::state::{ChunkReader, ChunkWriter, DeltaWriter, Entry, Kind, merge};
//!
//! let mut full = ChunkWriter::new(Kind::KeyedValue);
//! full.keyed_value(b"apple", &[3]);
//! full.keyed_value(b"pear", &[1]);
//! let full = full.finish();
//!
//! let mut delta = DeltaWriter::new(Kind::KeyedValue);
//! delta.remove(b"pear");
//! delta.keyed_value(b"apple", &[4]);
//! let delta = delta.finish();
//!
//! let merged = merge(Kind::KeyedValue, &[&full, &delta])?;
//! let entries: Vec<_> = ChunkReader::new(Kind::KeyedValue, &merged)?.collect::<Result<_, _>>()?;
//! assert_eq!(entries, vec![Entry::KeyedValue { key: b"apple", value: &[4] }]);
//! # Ok::<(), weir_wire::DecodeError>(())
//! ```

use std::collections::HashMap;

use crate::{Cursor, DecodeError, len_u32, put_bytes};

/// The version of a chunk holding the complete state of its (handle, key
/// group): the only version guests read, and the only one operator kinds use.
pub const VERSION: u8 = 1;

/// The version of a delta chunk: what changed in a keyed (handle, key group)
/// since the previous snapshot (`wit/STATE.md`, "Incremental snapshots").
pub const DELTA_VERSION: u8 = 2;

/// The version byte of a chunk ([`VERSION`] or [`DELTA_VERSION`] if it is one
/// this crate knows); an error if `data` is empty.
pub fn chunk_version(data: &[u8]) -> Result<u8, DecodeError> {
    data.first().copied().ok_or(DecodeError::Truncated { what: "state chunk version" })
}

/// The kinds of state, mirroring `state-kind` in `operator.wit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    KeyedValue,
    KeyedMap,
    KeyedList,
    OperatorValue,
    OperatorList,
    /// Operator-scope map every subtask holds the same copy of
    /// (`weir:operator@0.2.0`).
    BroadcastMap,
}

impl Kind {
    /// Keyed kinds are scoped by the event key and tagged by key group.
    pub fn is_keyed(self) -> bool {
        matches!(self, Kind::KeyedValue | Kind::KeyedMap | Kind::KeyedList)
    }
}

/// One decoded entry, borrowing from the chunk's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    KeyedValue { key: &'a [u8], value: &'a [u8] },
    KeyedMap { key: &'a [u8], map_key: &'a [u8], value: &'a [u8] },
    KeyedList { key: &'a [u8], values: ListValues<'a> },
    OperatorValue { value: &'a [u8] },
    OperatorList { value: &'a [u8] },
    BroadcastMap { map_key: &'a [u8], value: &'a [u8] },
}

impl<'a> Entry<'a> {
    /// The event key of a keyed entry; `None` for the operator kinds.
    pub fn key(&self) -> Option<&'a [u8]> {
        match *self {
            Entry::KeyedValue { key, .. } | Entry::KeyedMap { key, .. } | Entry::KeyedList { key, .. } => Some(key),
            Entry::OperatorValue { .. } | Entry::OperatorList { .. } | Entry::BroadcastMap { .. } => None,
        }
    }
}

/// The values of one `keyed-list` entry. Already checked to be well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListValues<'a> {
    bytes: &'a [u8],
    count: u32,
}

impl<'a> ListValues<'a> {
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'a> Iterator for ListValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.count == 0 {
            return None;
        }
        // The reader walked these bytes before handing them out, so they hold
        // exactly `count` well-formed values; a mismatch ends the iteration.
        let mut cursor = Cursor::new(self.bytes);
        let value = cursor.bytes("list value").ok()?;
        self.bytes = &self.bytes[4 + value.len()..];
        self.count -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl ExactSizeIterator for ListValues<'_> {}

fn put_keyed_value(buf: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    put_bytes(buf, key);
    put_bytes(buf, value);
}

fn put_keyed_map(buf: &mut Vec<u8>, key: &[u8], map_key: &[u8], value: &[u8]) {
    put_bytes(buf, key);
    put_bytes(buf, map_key);
    put_bytes(buf, value);
}

fn put_keyed_list<'v>(buf: &mut Vec<u8>, key: &[u8], values: impl ExactSizeIterator<Item = &'v [u8]>) {
    put_bytes(buf, key);
    buf.extend_from_slice(&len_u32(values.len()).to_le_bytes());
    for value in values {
        put_bytes(buf, value);
    }
}

/// Writes the entries of one version 1 chunk. Call only the method matching
/// the kind given to [`ChunkWriter::new`].
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    kind: Kind,
    buf: Vec<u8>,
    entries: usize,
}

impl ChunkWriter {
    pub fn new(kind: Kind) -> Self {
        Self::with_capacity(kind, 0)
    }

    /// A writer whose buffer has room for `bytes` before it grows (a
    /// chunk's size at the previous snapshot, say: growing a large chunk
    /// by doubling copies it about once more).
    pub fn with_capacity(kind: Kind, bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(1));
        buf.push(VERSION);
        ChunkWriter { kind, buf, entries: 0 }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Number of entries written.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Bytes written so far, version byte included.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    fn entry(&mut self, kind: Kind) -> &mut Vec<u8> {
        debug_assert_eq!(self.kind, kind, "entry of the wrong kind for this chunk");
        self.entries += 1;
        &mut self.buf
    }

    pub fn keyed_value(&mut self, key: &[u8], value: &[u8]) {
        put_keyed_value(self.entry(Kind::KeyedValue), key, value);
    }

    pub fn keyed_map(&mut self, key: &[u8], map_key: &[u8], value: &[u8]) {
        put_keyed_map(self.entry(Kind::KeyedMap), key, map_key, value);
    }

    pub fn keyed_list<'v>(&mut self, key: &[u8], values: impl ExactSizeIterator<Item = &'v [u8]>) {
        put_keyed_list(self.entry(Kind::KeyedList), key, values);
    }

    pub fn operator_value(&mut self, value: &[u8]) {
        put_bytes(self.entry(Kind::OperatorValue), value);
    }

    pub fn operator_list(&mut self, value: &[u8]) {
        put_bytes(self.entry(Kind::OperatorList), value);
    }

    pub fn broadcast_map(&mut self, map_key: &[u8], value: &[u8]) {
        let buf = self.entry(Kind::BroadcastMap);
        put_bytes(buf, map_key);
        put_bytes(buf, value);
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Bytes before a delta's removed keys: the version byte and the count.
const DELTA_HEADER: usize = 1 + 4;

/// Writes one delta (version 2) chunk of a keyed kind: the keys that lost
/// their state, and the complete new state of every key that changed (for
/// `keyed-map`, all of the key's map entries; for `keyed-list`, its whole
/// list). Call only the entry method matching the kind given to
/// [`DeltaWriter::new`].
///
/// Removals and entries may be added in any order; a key may be both removed
/// and given entries (removed, then set again).
#[derive(Debug, Clone)]
pub struct DeltaWriter {
    kind: Kind,
    /// The header (its count filled in by `finish`), then the entries.
    buf: Vec<u8>,
    entries: usize,
    /// The removed keys, each as `bytes`; `finish` moves them in front of the
    /// entries, since their count comes first.
    removed: Vec<u8>,
    removed_count: usize,
}

impl DeltaWriter {
    /// # Panics
    /// If `kind` is an operator kind: those have no deltas.
    pub fn new(kind: Kind) -> Self {
        assert!(kind.is_keyed(), "a delta chunk is for a keyed kind, not {kind:?}");
        DeltaWriter { kind, buf: vec![DELTA_VERSION, 0, 0, 0, 0], entries: 0, removed: Vec::new(), removed_count: 0 }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Number of entries written.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Number of removed keys written.
    pub fn removed(&self) -> usize {
        self.removed_count
    }

    /// Whether the delta holds neither removals nor entries (changes nothing).
    pub fn is_empty(&self) -> bool {
        self.entries == 0 && self.removed_count == 0
    }

    /// Bytes written so far, header included: the length of the finished chunk.
    pub fn byte_len(&self) -> usize {
        self.buf.len() + self.removed.len()
    }

    /// Records that `key` lost all its state.
    pub fn remove(&mut self, key: &[u8]) {
        put_bytes(&mut self.removed, key);
        self.removed_count += 1;
    }

    fn entry(&mut self, kind: Kind) -> &mut Vec<u8> {
        debug_assert_eq!(self.kind, kind, "entry of the wrong kind for this chunk");
        self.entries += 1;
        &mut self.buf
    }

    pub fn keyed_value(&mut self, key: &[u8], value: &[u8]) {
        put_keyed_value(self.entry(Kind::KeyedValue), key, value);
    }

    /// One map entry of `key`. Write all of the key's map entries: together
    /// they replace every map entry the key had.
    pub fn keyed_map(&mut self, key: &[u8], map_key: &[u8], value: &[u8]) {
        put_keyed_map(self.entry(Kind::KeyedMap), key, map_key, value);
    }

    /// The whole list of `key`, replacing the one it had.
    pub fn keyed_list<'v>(&mut self, key: &[u8], values: impl ExactSizeIterator<Item = &'v [u8]>) {
        put_keyed_list(self.entry(Kind::KeyedList), key, values);
    }

    pub fn finish(self) -> Vec<u8> {
        let DeltaWriter { mut buf, removed, removed_count, .. } = self;
        buf[1..DELTA_HEADER].copy_from_slice(&len_u32(removed_count).to_le_bytes());
        if !removed.is_empty() {
            buf.splice(DELTA_HEADER..DELTA_HEADER, removed);
        }
        buf
    }
}

/// Walks the entries of one version 1 chunk (or of the entry part of a
/// delta, from [`DeltaReader::entries`]). Yields an error (once, then stops)
/// when the bytes do not match their declared lengths.
#[derive(Debug, Clone)]
pub struct ChunkReader<'a> {
    kind: Kind,
    cursor: Cursor<'a>,
    failed: bool,
}

impl<'a> ChunkReader<'a> {
    /// Checks the version byte: a delta is refused with
    /// [`DecodeError::UnknownVersion`]`(2)` (read it with [`DeltaReader`]).
    pub fn new(kind: Kind, data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut cursor = Cursor::new(data);
        let version = cursor.u8("state chunk version")?;
        if version != VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        Ok(ChunkReader { kind, cursor, failed: false })
    }

    /// A reader of bare entries, with no version byte before them.
    fn entries_of(kind: Kind, bytes: &'a [u8]) -> Self {
        ChunkReader { kind, cursor: Cursor::new(bytes), failed: false }
    }

    fn read_entry(&mut self) -> Result<Entry<'a>, DecodeError> {
        let c = &mut self.cursor;
        Ok(match self.kind {
            Kind::KeyedValue => Entry::KeyedValue { key: c.bytes("state key")?, value: c.bytes("state value")? },
            Kind::KeyedMap => Entry::KeyedMap {
                key: c.bytes("state key")?,
                map_key: c.bytes("state map key")?,
                value: c.bytes("state value")?,
            },
            Kind::KeyedList => {
                let key = c.bytes("state key")?;
                let count = c.u32("state list length")?;
                // Walk the values once so that `ListValues` is known good.
                let start = c.clone();
                for _ in 0..count {
                    c.bytes("state list value")?;
                }
                let used = start.remaining() - c.remaining();
                let bytes = Cursor::new(start.bytes_left()).take(used, "state list")?;
                Entry::KeyedList { key, values: ListValues { bytes, count } }
            }
            Kind::OperatorValue => Entry::OperatorValue { value: c.bytes("state value")? },
            Kind::OperatorList => Entry::OperatorList { value: c.bytes("state value")? },
            Kind::BroadcastMap => {
                Entry::BroadcastMap { map_key: c.bytes("state map key")?, value: c.bytes("state value")? }
            }
        })
    }

    /// The next entry, with the bytes it was read from (its whole encoding).
    fn next_spanned(&mut self) -> Option<Result<(Entry<'a>, &'a [u8]), DecodeError>> {
        if self.failed || self.cursor.remaining() == 0 {
            return None;
        }
        let before = self.cursor.bytes_left();
        let entry = self.read_entry();
        self.failed = entry.is_err();
        let used = before.len() - self.cursor.remaining();
        Some(entry.map(|entry| (entry, &before[..used])))
    }
}

impl<'a> Cursor<'a> {
    fn bytes_left(&self) -> &'a [u8] {
        self.bytes
    }
}

impl<'a> Iterator for ChunkReader<'a> {
    type Item = Result<Entry<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_spanned().map(|entry| entry.map(|(entry, _)| entry))
    }
}

/// Reads one delta (version 2) chunk: its removed keys, then its entries.
///
/// [`DeltaReader::new`] checks the header and every removed key; the entries
/// are checked as [`ChunkReader`] checks them, while iterating.
#[derive(Debug, Clone)]
pub struct DeltaReader<'a> {
    removed: RemovedKeys<'a>,
    entries: ChunkReader<'a>,
}

impl<'a> DeltaReader<'a> {
    /// Refuses a chunk of another version than [`DELTA_VERSION`] (a version 1
    /// chunk with [`DecodeError::UnknownVersion`]`(1)`), a delta for an
    /// operator kind, and removed keys that run past the end.
    pub fn new(kind: Kind, data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut cursor = Cursor::new(data);
        let version = cursor.u8("state chunk version")?;
        if version != DELTA_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        if !kind.is_keyed() {
            return Err(DecodeError::DeltaForOperatorKind);
        }
        let count = cursor.u32("delta removed count")?;
        let start = cursor.bytes_left();
        // Every key takes at least 4 bytes, so a huge count fails fast.
        for _ in 0..count {
            cursor.bytes("delta removed key")?;
        }
        let bytes = &start[..start.len() - cursor.remaining()];
        Ok(DeltaReader {
            removed: RemovedKeys(ListValues { bytes, count }),
            entries: ChunkReader::entries_of(kind, cursor.bytes_left()),
        })
    }

    /// The keys that lost all their state.
    pub fn removed(&self) -> RemovedKeys<'a> {
        self.removed.clone()
    }

    /// The entries: the complete new state of every key that has some.
    pub fn entries(&self) -> ChunkReader<'a> {
        self.entries.clone()
    }
}

/// The removed keys of a delta, from [`DeltaReader::removed`]. Already
/// checked to be well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedKeys<'a>(ListValues<'a>);

impl<'a> Iterator for RemovedKeys<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for RemovedKeys<'_> {}

/// Applies a chain of chunks of one (handle, key group), oldest first, and
/// returns the one version 1 chunk it amounts to (`wit/STATE.md`).
///
/// - A version 1 chunk replaces everything before it.
/// - A delta (keyed kinds only) applies to the state so far: its removed keys
///   lose all their state, then every key with entries in it gets exactly
///   those entries (for `keyed-map` all of the key's map entries, for
///   `keyed-list` its whole list). A chain may start with a delta: it applies
///   to an empty state.
/// - An empty chain is an empty chunk. For operator kinds the chain holds
///   version 1 chunks only, and the last one wins.
///
/// Entries are copied as they are, never decoded; their order in the result
/// is unspecified. Time is linear in the bytes from the last version 1 chunk
/// on, and the only memory besides the result is an index of the keys the
/// deltas name, so a large base chunk with small deltas merges cheaply.
///
/// Every element must have a known version; the elements from the last
/// version 1 chunk on (the ones that matter) are checked as [`ChunkReader`]
/// and [`DeltaReader`] check them. Earlier elements are superseded and only
/// their version byte is read.
///
/// A chain of one version 1 chunk merges to a copy of it: a caller holding
/// such a chain can use the chunk as it is and skip the call.
pub fn merge(kind: Kind, chain: &[&[u8]]) -> Result<Vec<u8>, DecodeError> {
    let mut base = None;
    for (i, data) in chain.iter().enumerate() {
        match chunk_version(data)? {
            VERSION => base = Some(i),
            DELTA_VERSION if kind.is_keyed() => {}
            DELTA_VERSION => return Err(DecodeError::DeltaForOperatorKind),
            other => return Err(DecodeError::UnknownVersion(other)),
        }
    }
    // The part of the chain that matters; with a base, it comes first.
    let live = &chain[base.unwrap_or(0)..];
    match live {
        [] => return Ok(vec![VERSION]),
        // Operator kinds always end here: their chain holds no deltas.
        [only] if base.is_some() => {
            for entry in ChunkReader::new(kind, only)? {
                entry?;
            }
            return Ok(only.to_vec());
        }
        _ => {}
    }

    let mut out = Vec::with_capacity(live.iter().map(|data| data.len()).sum());
    out.push(VERSION);
    // Walking the chain newest first, the first element that names a key
    // (removes it or gives it entries) decides its state: this maps each key
    // named so far to the index of that element.
    let mut decided: HashMap<&[u8], usize> = HashMap::new();
    for (i, data) in live.iter().enumerate().rev() {
        if i == 0 && base.is_some() {
            // The base: nothing older is left, so its keys need no index.
            let mut entries = ChunkReader::new(kind, data)?;
            while let Some(entry) = entries.next_spanned() {
                let (entry, bytes) = entry?;
                if !decided.contains_key(entry.key().unwrap_or_default()) {
                    out.extend_from_slice(bytes);
                }
            }
        } else {
            let delta = DeltaReader::new(kind, data)?;
            for key in delta.removed() {
                decided.entry(key).or_insert(i);
            }
            let mut entries = delta.entries();
            while let Some(entry) = entries.next_spanned() {
                let (entry, bytes) = entry?;
                // A key removed and given entries by the same delta keeps them.
                if *decided.entry(entry.key().unwrap_or_default()).or_insert(i) == i {
                    out.extend_from_slice(bytes);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn read(kind: Kind, data: &[u8]) -> Result<Vec<Entry<'_>>, DecodeError> {
        ChunkReader::new(kind, data)?.collect()
    }

    #[test]
    fn a_writer_with_room_writes_the_same_chunk() {
        let mut plain = ChunkWriter::new(Kind::KeyedValue);
        let mut roomy = ChunkWriter::with_capacity(Kind::KeyedValue, 1 << 10);
        for w in [&mut plain, &mut roomy] {
            w.keyed_value(b"k", b"v");
        }
        assert_eq!(roomy.finish(), plain.finish());
    }

    #[test]
    fn every_kind_round_trips() {
        let mut w = ChunkWriter::new(Kind::KeyedMap);
        w.keyed_map(b"k", b"mk", b"v");
        let data = w.finish();
        assert_eq!(
            read(Kind::KeyedMap, &data).unwrap(),
            vec![Entry::KeyedMap { key: b"k", map_key: b"mk", value: b"v" }]
        );

        let mut w = ChunkWriter::new(Kind::KeyedList);
        let values: [&[u8]; 3] = [b"a", b"", b"ccc"];
        w.keyed_list(b"k1", values.iter().copied());
        w.keyed_list(b"k2", std::iter::empty());
        let data = w.finish();
        let entries = read(Kind::KeyedList, &data).unwrap();
        let Entry::KeyedList { key, values: got } = &entries[0] else { panic!("wrong entry {entries:?}") };
        assert_eq!(*key, b"k1");
        assert_eq!(got.clone().collect::<Vec<_>>(), values.to_vec());
        let Entry::KeyedList { values: empty, .. } = &entries[1] else { panic!() };
        assert!(empty.is_empty());

        let mut w = ChunkWriter::new(Kind::OperatorList);
        w.operator_list(b"x");
        w.operator_list(b"y");
        assert_eq!(w.entries(), 2);
        assert_eq!(read(Kind::OperatorList, &w.finish()).unwrap().len(), 2);
        let mut w = ChunkWriter::new(Kind::BroadcastMap);
        w.broadcast_map(b"apple", b"3");
        assert_eq!(
            read(Kind::BroadcastMap, &w.finish()).unwrap(),
            [Entry::BroadcastMap { map_key: b"apple", value: b"3" }]
        );

        let mut w = ChunkWriter::new(Kind::OperatorValue);
        w.operator_value(b"only");
        assert_eq!(read(Kind::OperatorValue, &w.finish()).unwrap(), vec![Entry::OperatorValue { value: b"only" }]);
    }

    #[test]
    fn refuses_damaged_chunks() {
        let mut w = ChunkWriter::new(Kind::KeyedList);
        w.keyed_list(b"key", [b"one".as_slice(), b"two"].into_iter());
        let good = w.finish();
        assert!(read(Kind::KeyedList, &good).is_ok());
        // The version byte alone is a valid empty chunk; any other cut is not.
        assert!(read(Kind::KeyedList, &good[..1]).unwrap().is_empty());
        for cut in (0..good.len()).filter(|&cut| cut != 1) {
            assert!(read(Kind::KeyedList, &good[..cut]).is_err(), "accepted a chunk cut at {cut}");
        }
        let mut bad_version = good.clone();
        bad_version[0] = 2;
        assert_eq!(read(Kind::KeyedList, &bad_version).unwrap_err(), DecodeError::UnknownVersion(2));
        // A declared list length far beyond the bytes.
        let mut long_list = good;
        long_list[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read(Kind::KeyedList, &long_list).is_err());
    }

    #[test]
    fn chunk_version_is_the_first_byte() {
        assert_eq!(chunk_version(&[]), Err(DecodeError::Truncated { what: "state chunk version" }));
        assert_eq!(chunk_version(&ChunkWriter::new(Kind::OperatorList).finish()), Ok(VERSION));
        assert_eq!(chunk_version(&DeltaWriter::new(Kind::KeyedMap).finish()), Ok(DELTA_VERSION));
        assert_eq!(chunk_version(&[7, 0]), Ok(7));
    }

    /// A delta's removed keys and entries, read back with the reference reader.
    fn read_delta(kind: Kind, data: &[u8]) -> Result<(Vec<&[u8]>, Vec<Entry<'_>>), DecodeError> {
        let reader = DeltaReader::new(kind, data)?;
        Ok((reader.removed().collect(), reader.entries().collect::<Result<_, _>>()?))
    }

    #[test]
    fn delta_layout_matches_the_spec_byte_for_byte() {
        // Removals interleaved with entries still come first in the chunk.
        let mut w = DeltaWriter::new(Kind::KeyedValue);
        assert!(w.is_empty());
        w.keyed_value(b"k", b"v");
        w.remove(b"gone");
        w.remove(b"");
        assert_eq!((w.entries(), w.removed(), w.is_empty()), (1, 2, false));
        let len = w.byte_len();
        let data = w.finish();
        assert_eq!(len, data.len());
        let expected = [
            &[2u8][..],
            &2u32.to_le_bytes(),
            &4u32.to_le_bytes(),
            b"gone",
            &0u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            b"k",
            &1u32.to_le_bytes(),
            b"v",
        ]
        .concat();
        assert_eq!(data, expected);
        // No removals: only the header before the entries.
        assert_eq!(DeltaWriter::new(Kind::KeyedList).finish(), [2, 0, 0, 0, 0]);
    }

    #[test]
    fn delta_round_trips_every_keyed_kind() {
        let mut w = DeltaWriter::new(Kind::KeyedValue);
        w.remove(b"a");
        w.keyed_value(b"a", b"1");
        w.remove(b"b");
        let data = w.finish();
        let (removed, entries) = read_delta(Kind::KeyedValue, &data).unwrap();
        assert_eq!(removed, [b"a".as_slice(), b"b"]);
        assert_eq!(entries, [Entry::KeyedValue { key: b"a", value: b"1" }]);

        let mut w = DeltaWriter::new(Kind::KeyedMap);
        w.keyed_map(b"k", b"m1", b"v1");
        w.remove(b"x");
        w.keyed_map(b"k", b"m2", b"v2");
        let data = w.finish();
        let (removed, entries) = read_delta(Kind::KeyedMap, &data).unwrap();
        assert_eq!(removed, [b"x".as_slice()]);
        assert_eq!(
            entries,
            [
                Entry::KeyedMap { key: b"k", map_key: b"m1", value: b"v1" },
                Entry::KeyedMap { key: b"k", map_key: b"m2", value: b"v2" }
            ]
        );

        let mut w = DeltaWriter::new(Kind::KeyedList);
        let values: [&[u8]; 2] = [b"a", b"bb"];
        w.keyed_list(b"k", values.iter().copied());
        w.keyed_list(b"empty", std::iter::empty());
        let data = w.finish();
        let (removed, entries) = read_delta(Kind::KeyedList, &data).unwrap();
        assert!(removed.is_empty());
        assert_eq!(entries[0].key(), Some(b"k".as_slice()));
        let Entry::KeyedList { values: got, .. } = &entries[0] else { panic!("wrong entry {entries:?}") };
        assert_eq!(got.len(), 2);
        assert_eq!(got.clone().collect::<Vec<_>>(), values);
        let Entry::KeyedList { values: empty, .. } = &entries[1] else { panic!("wrong entry {entries:?}") };
        assert!(empty.is_empty());
    }

    #[test]
    #[should_panic(expected = "a delta chunk is for a keyed kind")]
    fn a_delta_writer_for_an_operator_kind_panics() {
        DeltaWriter::new(Kind::OperatorList);
    }

    #[test]
    fn delta_reader_refuses_damaged_deltas() {
        let mut w = DeltaWriter::new(Kind::KeyedList);
        w.remove(b"old");
        w.keyed_list(b"key", [b"one".as_slice(), b"two"].into_iter());
        let good = w.finish();
        let (removed, entries) = read_delta(Kind::KeyedList, &good).unwrap();
        assert_eq!((removed.len(), entries.len()), (1, 1));
        // Only two cuts are whole deltas: after the removed keys, and the end.
        let after_removed = DELTA_HEADER + 4 + 3;
        assert_eq!(read_delta(Kind::KeyedList, &good[..after_removed]).unwrap().1, []);
        for cut in (0..good.len()).filter(|&cut| cut != after_removed) {
            assert!(read_delta(Kind::KeyedList, &good[..cut]).is_err(), "accepted a delta cut at {cut}");
        }
        // A removed count far beyond the bytes.
        let mut many = good.clone();
        many[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            read_delta(Kind::KeyedList, &many).unwrap_err(),
            DecodeError::Truncated { what: "delta removed key" }
        );
        // A removed key's length beyond the bytes.
        let mut long_key = good.clone();
        long_key[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_delta(Kind::KeyedList, &long_key).is_err());
        // Other versions, and operator kinds.
        let full = ChunkWriter::new(Kind::KeyedList).finish();
        assert_eq!(read_delta(Kind::KeyedList, &full).unwrap_err(), DecodeError::UnknownVersion(1));
        let mut v3 = good.clone();
        v3[0] = 3;
        assert_eq!(read_delta(Kind::KeyedList, &v3).unwrap_err(), DecodeError::UnknownVersion(3));
        for kind in [Kind::OperatorValue, Kind::OperatorList] {
            assert_eq!(read_delta(kind, &[2, 0, 0, 0, 0]).unwrap_err(), DecodeError::DeltaForOperatorKind);
        }
        // The v1 reader refuses a delta.
        assert_eq!(read(Kind::KeyedList, &good).unwrap_err(), DecodeError::UnknownVersion(2));
    }

    /// Decoded state: key -> the set of its entries, each as its fields after
    /// the key (`[value]`, `[map_key, value]` or the list's values). For
    /// operator kinds, the one "key" is empty and the entries keep their order.
    type State = BTreeMap<Vec<u8>, Vec<Vec<Vec<u8>>>>;

    fn decode_state(kind: Kind, data: &[u8]) -> State {
        let mut state = State::new();
        for entry in ChunkReader::new(kind, data).unwrap() {
            let entry = entry.unwrap();
            let fields = match &entry {
                Entry::KeyedValue { value, .. } => vec![value.to_vec()],
                Entry::KeyedMap { map_key, value, .. } => vec![map_key.to_vec(), value.to_vec()],
                Entry::KeyedList { values, .. } => values.clone().map(<[u8]>::to_vec).collect(),
                Entry::OperatorValue { value } | Entry::OperatorList { value } => vec![value.to_vec()],
                Entry::BroadcastMap { map_key, value } => vec![map_key.to_vec(), value.to_vec()],
            };
            state.entry(entry.key().unwrap_or_default().to_vec()).or_default().push(fields);
        }
        if kind.is_keyed() {
            for entries in state.values_mut() {
                entries.sort();
            }
        }
        state
    }

    fn state(entries: &[(&str, &[&str])]) -> State {
        let mut state = State::new();
        for (key, fields) in entries {
            let fields = fields.iter().map(|f| f.as_bytes().to_vec()).collect();
            state.entry(key.as_bytes().to_vec()).or_default().push(fields);
        }
        for entries in state.values_mut() {
            entries.sort();
        }
        state
    }

    fn merged(kind: Kind, chain: &[&[u8]]) -> State {
        decode_state(kind, &merge(kind, chain).unwrap())
    }

    #[test]
    fn merge_replaces_a_changed_keys_whole_state() {
        let mut full = ChunkWriter::new(Kind::KeyedValue);
        for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
            full.keyed_value(key.as_bytes(), value.as_bytes());
        }
        let full = full.finish();
        let mut d1 = DeltaWriter::new(Kind::KeyedValue);
        d1.keyed_value(b"a", b"10");
        d1.remove(b"b");
        d1.keyed_value(b"new", b"4");
        let d1 = d1.finish();
        let mut d2 = DeltaWriter::new(Kind::KeyedValue);
        d2.remove(b"a");
        d2.remove(b"b"); // already gone: nothing to do
        d2.keyed_value(b"b", b"20"); // removed and set again
        d2.remove(b"c");
        d2.keyed_value(b"c", b"30");
        let d2 = d2.finish();
        assert_eq!(merged(Kind::KeyedValue, &[&full, &d1]), state(&[("a", &["10"]), ("c", &["3"]), ("new", &["4"])]));
        assert_eq!(
            merged(Kind::KeyedValue, &[&full, &d1, &d2]),
            state(&[("b", &["20"]), ("c", &["30"]), ("new", &["4"])])
        );

        // keyed-map: the delta's map entries of a key replace all of them.
        let mut full = ChunkWriter::new(Kind::KeyedMap);
        full.keyed_map(b"k", b"x", b"1");
        full.keyed_map(b"other", b"x", b"1");
        full.keyed_map(b"k", b"y", b"2");
        let full = full.finish();
        let mut delta = DeltaWriter::new(Kind::KeyedMap);
        delta.keyed_map(b"k", b"y", b"3");
        delta.keyed_map(b"k", b"z", b"4");
        let delta = delta.finish();
        assert_eq!(
            merged(Kind::KeyedMap, &[&full, &delta]),
            state(&[("k", &["y", "3"]), ("k", &["z", "4"]), ("other", &["x", "1"])])
        );

        // keyed-list: the delta's list replaces the whole list.
        let mut full = ChunkWriter::new(Kind::KeyedList);
        full.keyed_list(b"k", [b"1".as_slice(), b"2"].into_iter());
        full.keyed_list(b"j", [b"1".as_slice()].into_iter());
        let full = full.finish();
        let mut delta = DeltaWriter::new(Kind::KeyedList);
        delta.keyed_list(b"k", [b"3".as_slice()].into_iter());
        delta.remove(b"j");
        let delta = delta.finish();
        assert_eq!(merged(Kind::KeyedList, &[&full, &delta]), state(&[("k", &["3"])]));
    }

    #[test]
    fn merge_edge_cases() {
        // An empty chain is an empty chunk.
        assert_eq!(merge(Kind::KeyedMap, &[]).unwrap(), [VERSION]);
        assert_eq!(merge(Kind::OperatorValue, &[]).unwrap(), [VERSION]);

        // One v1 chunk merges to itself.
        let mut full = ChunkWriter::new(Kind::KeyedValue);
        full.keyed_value(b"a", b"1");
        let full = full.finish();
        assert_eq!(merge(Kind::KeyedValue, &[&full]).unwrap(), full);

        // A chain may start with a delta: it applies to an empty state.
        let mut delta = DeltaWriter::new(Kind::KeyedValue);
        delta.remove(b"a");
        delta.keyed_value(b"b", b"2");
        let delta = delta.finish();
        assert_eq!(merged(Kind::KeyedValue, &[&delta]), state(&[("b", &["2"])]));
        // A v1 chunk replaces everything before it.
        assert_eq!(merged(Kind::KeyedValue, &[&delta, &full]), state(&[("a", &["1"])]));
        assert_eq!(merged(Kind::KeyedValue, &[&delta, &full, &delta]), state(&[("b", &["2"])]));
        // An empty v1 chunk says "now empty"; an empty delta changes nothing.
        let empty = ChunkWriter::new(Kind::KeyedValue).finish();
        let nothing = DeltaWriter::new(Kind::KeyedValue).finish();
        assert_eq!(merge(Kind::KeyedValue, &[&full, &delta, &empty]).unwrap(), [VERSION]);
        assert_eq!(merge(Kind::KeyedValue, &[&full, &nothing, &nothing]).unwrap(), full);

        // Operator kinds: the last chunk wins; a delta is refused.
        let mut a = ChunkWriter::new(Kind::OperatorList);
        a.operator_list(b"1");
        let a = a.finish();
        let mut b = ChunkWriter::new(Kind::OperatorList);
        b.operator_list(b"2");
        b.operator_list(b"3");
        let b = b.finish();
        assert_eq!(merge(Kind::OperatorList, &[&a, &b]).unwrap(), b);
        assert_eq!(merge(Kind::OperatorList, &[&b, &a]).unwrap(), a);
        assert_eq!(merge(Kind::OperatorList, &[&a, &nothing]).unwrap_err(), DecodeError::DeltaForOperatorKind);
    }

    #[test]
    fn merge_refuses_damaged_chains() {
        let mut full = ChunkWriter::new(Kind::KeyedMap);
        full.keyed_map(b"k", b"m", b"v");
        let full = full.finish();
        let mut delta = DeltaWriter::new(Kind::KeyedMap);
        delta.remove(b"gone");
        delta.keyed_map(b"k", b"m", b"w");
        let delta = delta.finish();
        assert!(merge(Kind::KeyedMap, &[&full, &delta]).is_ok());

        assert_eq!(
            merge(Kind::KeyedMap, &[&full, &[]]).unwrap_err(),
            DecodeError::Truncated { what: "state chunk version" }
        );
        assert_eq!(merge(Kind::KeyedMap, &[&[9], &full]).unwrap_err(), DecodeError::UnknownVersion(9));
        // (A cut after the version byte is a valid empty chunk.)
        for cut in 2..full.len() - 1 {
            assert!(merge(Kind::KeyedMap, &[&full[..cut]]).is_err(), "accepted a base cut at {cut}");
            assert!(merge(Kind::KeyedMap, &[&full[..cut], &delta]).is_err(), "accepted a base cut at {cut}");
        }
        for cut in (1..delta.len()).filter(|&cut| cut != DELTA_HEADER + 4 + 4) {
            assert!(merge(Kind::KeyedMap, &[&full, &delta[..cut]]).is_err(), "accepted a delta cut at {cut}");
        }
        // Operator kinds check the chunk that wins, too.
        assert!(merge(Kind::OperatorValue, &[&[1, 5, 0, 0, 0]]).is_err());
    }

    /// A small deterministic generator (xorshift64*), so that the property
    /// tests need no dependency and replay the same cases every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn bytes(&mut self, max_len: u64) -> Vec<u8> {
            (0..self.below(max_len + 1)).map(|_| self.below(4) as u8).collect()
        }
    }

    /// The entries of one key for `kind`, at random (never empty for
    /// keyed-map: a map key with no entries has no state).
    fn random_key_state(rng: &mut Rng, kind: Kind) -> Vec<Vec<Vec<u8>>> {
        let mut entries = match kind {
            Kind::KeyedValue => vec![vec![rng.bytes(3)]],
            Kind::KeyedMap => {
                let map: BTreeMap<Vec<u8>, Vec<u8>> =
                    (0..1 + rng.below(4)).map(|_| (rng.bytes(2), rng.bytes(3))).collect();
                map.into_iter().map(|(k, v)| vec![k, v]).collect()
            }
            Kind::KeyedList => vec![(0..rng.below(4)).map(|_| rng.bytes(3)).collect()],
            Kind::OperatorValue | Kind::OperatorList | Kind::BroadcastMap => unreachable!("keyed kinds only"),
        };
        entries.sort();
        entries
    }

    fn put_full(w: &mut ChunkWriter, key: &[u8], fields: &[Vec<u8>]) {
        match w.kind() {
            Kind::KeyedValue => w.keyed_value(key, &fields[0]),
            Kind::KeyedMap => w.keyed_map(key, &fields[0], &fields[1]),
            _ => w.keyed_list(key, fields.iter().map(Vec::as_slice)),
        }
    }

    fn put_delta(w: &mut DeltaWriter, key: &[u8], fields: &[Vec<u8>]) {
        match w.kind() {
            Kind::KeyedValue => w.keyed_value(key, &fields[0]),
            Kind::KeyedMap => w.keyed_map(key, &fields[0], &fields[1]),
            _ => w.keyed_list(key, fields.iter().map(Vec::as_slice)),
        }
    }

    /// Property: for random chains of random changes, merging the chain
    /// gives exactly the state a model reached by applying the same changes.
    /// Deltas remove keys at random, set keys (some both removed and set),
    /// re-send unchanged keys, and name absent keys; some chains start with
    /// a delta, some get a fresh v1 chunk midway.
    #[test]
    fn merge_agrees_with_a_model_on_random_chains() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..600 {
            let kind = [Kind::KeyedValue, Kind::KeyedMap, Kind::KeyedList][case % 3];
            let mut model = State::new();
            let mut chain: Vec<Vec<u8>> = Vec::new();
            if rng.below(4) != 0 {
                for key in 0..rng.below(8) {
                    model.insert(vec![key as u8], random_key_state(&mut rng, kind));
                }
                let mut w = ChunkWriter::new(kind);
                for (key, entries) in &model {
                    for fields in entries {
                        put_full(&mut w, key, fields);
                    }
                }
                chain.push(w.finish());
            }
            for _ in 0..1 + rng.below(6) {
                if rng.below(8) == 0 {
                    // A fresh complete chunk midway.
                    let mut w = ChunkWriter::new(kind);
                    for (key, entries) in &model {
                        for fields in entries {
                            put_full(&mut w, key, fields);
                        }
                    }
                    chain.push(w.finish());
                    continue;
                }
                let mut w = DeltaWriter::new(kind);
                // A delta describes each key's end state once: a key is named
                // by at most one change per delta.
                let mut named = BTreeSet::new();
                for _ in 0..rng.below(10) {
                    let key = vec![rng.below(12) as u8];
                    if !named.insert(key.clone()) {
                        continue;
                    }
                    match rng.below(4) {
                        0 => {
                            w.remove(&key);
                            model.remove(&key);
                        }
                        1 => {
                            let entries = random_key_state(&mut rng, kind);
                            if rng.below(2) == 0 {
                                w.remove(&key);
                            }
                            for fields in &entries {
                                put_delta(&mut w, &key, fields);
                            }
                            model.insert(key, entries);
                        }
                        2 => {
                            // Re-send a key unchanged (an SDK's dirty key).
                            if let Some(entries) = model.get(&key) {
                                for fields in entries {
                                    put_delta(&mut w, &key, fields);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                chain.push(w.finish());
            }
            let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
            let result = merge(kind, &chain).unwrap();
            assert_eq!(decode_state(kind, &result), model, "case {case}: {kind:?} chain {chain:?}");
            // The result is canonical: merging it again changes nothing.
            assert_eq!(merge(kind, &[&result]).unwrap(), result);
        }
    }

    /// Property: a delta the writer produced reads back as written, whatever
    /// the interleaving of removals and entries; and any cut of it that is
    /// not at an entry boundary is refused.
    #[test]
    fn deltas_round_trip_and_refuse_cuts_at_random() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for case in 0..300 {
            let kind = [Kind::KeyedValue, Kind::KeyedMap, Kind::KeyedList][case % 3];
            let mut w = DeltaWriter::new(kind);
            let (mut removed, mut written) = (Vec::new(), Vec::new());
            for _ in 0..rng.below(6) {
                if rng.below(2) == 0 {
                    let key = rng.bytes(3);
                    w.remove(&key);
                    removed.push(key);
                } else {
                    let key = rng.bytes(3);
                    let entries = random_key_state(&mut rng, kind);
                    for fields in &entries {
                        put_delta(&mut w, &key, fields);
                    }
                    written.extend(entries.into_iter().map(|fields| (key.clone(), fields)));
                }
            }
            let data = w.finish();
            let reader = DeltaReader::new(kind, &data).unwrap();
            assert_eq!(reader.removed().len(), removed.len());
            assert_eq!(reader.removed().map(<[u8]>::to_vec).collect::<Vec<_>>(), removed);
            let mut boundaries = BTreeSet::new();
            let mut entries = reader.entries();
            boundaries.insert(data.len() - entries.cursor.remaining());
            let mut read = Vec::new();
            while let Some(entry) = entries.next_spanned() {
                let (entry, _) = entry.unwrap();
                boundaries.insert(data.len() - entries.cursor.remaining());
                let key = entry.key().unwrap().to_vec();
                let fields = match entry {
                    Entry::KeyedValue { value, .. } => vec![value.to_vec()],
                    Entry::KeyedMap { map_key, value, .. } => vec![map_key.to_vec(), value.to_vec()],
                    Entry::KeyedList { values, .. } => values.map(<[u8]>::to_vec).collect(),
                    _ => unreachable!("keyed kinds only"),
                };
                read.push((key, fields));
            }
            assert_eq!(read, written);
            for cut in (0..data.len()).filter(|cut| !boundaries.contains(cut)) {
                assert!(read_delta(kind, &data[..cut]).is_err(), "case {case}: accepted a cut at {cut}");
            }
        }
    }

    /// A large chain merges without decoding values and touches each base
    /// entry once: 200k keys in the base, 1% of them changed.
    #[test]
    fn merge_of_a_large_chain() {
        let keys = 200_000u32;
        let mut full = ChunkWriter::new(Kind::KeyedValue);
        for key in 0..keys {
            full.keyed_value(&key.to_le_bytes(), b"old value");
        }
        let full = full.finish();
        let mut delta = DeltaWriter::new(Kind::KeyedValue);
        for key in (0..keys).step_by(100) {
            delta.keyed_value(&key.to_le_bytes(), b"new");
        }
        for key in (1..keys).step_by(1000) {
            delta.remove(&key.to_le_bytes());
        }
        let delta = delta.finish();
        let result = merge(Kind::KeyedValue, &[&full, &delta]).unwrap();
        let mut count = 0;
        let mut new = 0;
        for entry in ChunkReader::new(Kind::KeyedValue, &result).unwrap() {
            let Entry::KeyedValue { value, .. } = entry.unwrap() else { panic!("wrong kind") };
            count += 1;
            new += usize::from(value == b"new");
        }
        assert_eq!((count, new), (keys as usize - 200, 2000));
    }
}

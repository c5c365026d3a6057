//! State chunk layout, version 1 (`wit/STATE.md`).
//!
//! A state chunk's `data` is a version byte followed by entries whose shape
//! depends on the chunk's [`Kind`]. Values are opaque bytes here; the SDKs
//! encode them with their value codec.
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

use crate::{Cursor, DecodeError, len_u32, put_bytes};

/// The chunk layout version this crate reads and writes.
pub const VERSION: u8 = 1;

/// The kinds of state, mirroring `state-kind` in `operator.wit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    KeyedValue,
    KeyedMap,
    KeyedList,
    OperatorValue,
    OperatorList,
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
}

/// Writes the entries of one chunk. Call only the method matching the kind
/// given to [`ChunkWriter::new`].
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    kind: Kind,
    buf: Vec<u8>,
    entries: usize,
}

impl ChunkWriter {
    pub fn new(kind: Kind) -> Self {
        ChunkWriter { kind, buf: vec![VERSION], entries: 0 }
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
        let buf = self.entry(Kind::KeyedValue);
        put_bytes(buf, key);
        put_bytes(buf, value);
    }

    pub fn keyed_map(&mut self, key: &[u8], map_key: &[u8], value: &[u8]) {
        let buf = self.entry(Kind::KeyedMap);
        put_bytes(buf, key);
        put_bytes(buf, map_key);
        put_bytes(buf, value);
    }

    pub fn keyed_list<'v>(&mut self, key: &[u8], values: impl ExactSizeIterator<Item = &'v [u8]>) {
        let buf = self.entry(Kind::KeyedList);
        put_bytes(buf, key);
        buf.extend_from_slice(&len_u32(values.len()).to_le_bytes());
        for value in values {
            put_bytes(buf, value);
        }
    }

    pub fn operator_value(&mut self, value: &[u8]) {
        put_bytes(self.entry(Kind::OperatorValue), value);
    }

    pub fn operator_list(&mut self, value: &[u8]) {
        put_bytes(self.entry(Kind::OperatorList), value);
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Walks the entries of one chunk. Yields an error (once, then stops) when
/// the bytes do not match their declared lengths.
#[derive(Debug, Clone)]
pub struct ChunkReader<'a> {
    kind: Kind,
    cursor: Cursor<'a>,
    failed: bool,
}

impl<'a> ChunkReader<'a> {
    /// Checks the version byte.
    pub fn new(kind: Kind, data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut cursor = Cursor::new(data);
        let version = cursor.u8("state chunk version")?;
        if version != VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        Ok(ChunkReader { kind, cursor, failed: false })
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
        })
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
        if self.failed || self.cursor.remaining() == 0 {
            return None;
        }
        let entry = self.read_entry();
        self.failed = entry.is_err();
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(kind: Kind, data: &[u8]) -> Result<Vec<Entry<'_>>, DecodeError> {
        ChunkReader::new(kind, data)?.collect()
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
}

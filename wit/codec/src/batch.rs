//! Batch framing, versions 1 and 2 (`wit/FRAMING.md`).
//!
//! [`BatchWriter`] packs events into one buffer; [`BatchReader`] walks a
//! packed buffer without copying keys or values.
//!
//! ```
//! use weir_wire::batch::{BatchReader, BatchWriter, NO_KEY_GROUP, NO_TIMESTAMP};
//!
//! let mut writer = BatchWriter::new();
//! writer.push(7, NO_TIMESTAMP, b"a", b"1");
//! writer.push(NO_KEY_GROUP, 1_700_000_000_000, b"b", b"2");
//! let bytes = writer.finish();
//!
//! let events: Vec<_> = BatchReader::new(&bytes)?.collect::<Result<_, _>>()?;
//! assert_eq!(events[0].key, b"a");
//! assert_eq!(events[0].key_group, 7);
//! assert_eq!(events[1].timestamp, 1_700_000_000_000);
//! # Ok::<(), weir_wire::DecodeError>(())
//! ```

use crate::{Cursor, DecodeError, len_u32};

/// The first two bytes of every non-empty batch: "WB".
pub const MAGIC: [u8; 2] = *b"WB";
/// The framing version of input batches (what the host sends).
pub const VERSION: u8 = 1;
/// The framing version in which an output event's first field names its
/// output ([`MAIN_OUTPUT`] or the index of a side output).
pub const TAGGED_VERSION: u8 = 2;
/// The output tag of an event for the main output (version 2).
pub const MAIN_OUTPUT: u16 = u16::MAX;
/// Size of the batch header in bytes.
pub const HEADER_LEN: usize = 8;
/// Fixed bytes per event besides its key and value.
pub const EVENT_OVERHEAD: usize = 2 + 8 + 4 + 4;
/// `key_group` of an event whose operator input is not keyed.
pub const NO_KEY_GROUP: u16 = u16::MAX;
/// `timestamp` of an event that has none.
pub const NO_TIMESTAMP: i64 = i64::MIN;

/// One event inside a packed batch, borrowing its key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub key_group: u16,
    pub timestamp: i64,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Packs events into a batch. Reuse one writer with [`BatchWriter::reset`]
/// to avoid an allocation per batch.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    buf: Vec<u8>,
    count: u32,
    version: u8,
}

impl Default for BatchWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchWriter {
    pub fn new() -> Self {
        Self::with_capacity(256)
    }

    /// A writer whose buffer starts with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(HEADER_LEN));
        write_header(&mut buf, VERSION);
        BatchWriter { buf, count: 0, version: VERSION }
    }

    /// Makes this a version 2 batch ([`TAGGED_VERSION`]): the first field
    /// of every event is its output tag, not a key group. For a guest's
    /// output that uses side outputs.
    pub fn tag_outputs(&mut self) {
        self.version = TAGGED_VERSION;
        self.buf[2] = TAGGED_VERSION;
    }

    /// The framing version this writer produces.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Appends one event.
    ///
    /// # Panics
    /// If the key or value is larger than 4 GiB (it could not cross the
    /// canonical ABI anyway).
    #[inline]
    pub fn push(&mut self, key_group: u16, timestamp: i64, key: &[u8], value: &[u8]) {
        self.buf.reserve(EVENT_OVERHEAD + key.len() + value.len());
        self.buf.extend_from_slice(&key_group.to_le_bytes());
        self.buf.extend_from_slice(&timestamp.to_le_bytes());
        self.buf.extend_from_slice(&len_u32(key.len()).to_le_bytes());
        self.buf.extend_from_slice(&len_u32(value.len()).to_le_bytes());
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(value);
        self.count += 1;
    }

    /// Appends an event read from another batch, keeping its fields.
    #[inline]
    pub fn push_event(&mut self, event: &EventRef<'_>) {
        self.push(event.key_group, event.timestamp, event.key, event.value);
    }

    /// Number of events pushed since the last reset.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the packed batch so far, header included.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Forgets all events, keeping the buffer's capacity.
    pub fn reset(&mut self) {
        self.buf.clear();
        write_header(&mut self.buf, self.version);
        self.count = 0;
    }

    /// The packed batch so far, count patched in, without giving up the buffer.
    pub fn as_bytes(&mut self) -> &[u8] {
        self.buf[4..8].copy_from_slice(&self.count.to_le_bytes());
        &self.buf
    }

    /// The packed batch.
    pub fn finish(mut self) -> Vec<u8> {
        self.as_bytes();
        self.buf
    }

    /// The packed batch, leaving this writer empty with a fresh buffer of the
    /// same capacity (for the next batch).
    pub fn take(&mut self) -> Vec<u8> {
        self.as_bytes();
        let capacity = self.buf.capacity();
        let mut next = Vec::with_capacity(capacity);
        write_header(&mut next, self.version);
        self.count = 0;
        std::mem::replace(&mut self.buf, next)
    }
}

/// A header with a count of 0 (patched when the batch is taken).
fn write_header(buf: &mut Vec<u8>, version: u8) {
    buf.extend_from_slice(&MAGIC);
    buf.push(version);
    buf.push(0);
    buf.extend_from_slice(&0u32.to_le_bytes());
}

/// Walks the events of a packed batch. Yields an error (once, then stops)
/// when the bytes do not match their declared lengths.
#[derive(Debug, Clone)]
pub struct BatchReader<'a> {
    cursor: Cursor<'a>,
    remaining_events: u32,
    failed: bool,
    version: u8,
}

impl<'a> BatchReader<'a> {
    /// Checks the header. An empty slice is an empty batch.
    pub fn new(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut cursor = Cursor::new(bytes);
        if bytes.is_empty() {
            return Ok(BatchReader { cursor, remaining_events: 0, failed: false, version: VERSION });
        }
        if cursor.array::<2>("batch header")? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = cursor.u8("batch header")?;
        if version != VERSION && version != TAGGED_VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let flags = cursor.u8("batch header")?;
        if flags != 0 {
            return Err(DecodeError::UnknownFlags(flags));
        }
        let count = cursor.u32("batch header")?;
        // Each event takes at least EVENT_OVERHEAD bytes: a count that cannot
        // fit is refused now, before any caller sizes a buffer from it.
        if count as usize > cursor.remaining() / EVENT_OVERHEAD {
            return Err(DecodeError::Truncated { what: "event count" });
        }
        Ok(BatchReader { cursor, remaining_events: count, failed: false, version })
    }

    /// The batch's framing version: with [`TAGGED_VERSION`] each event's
    /// `key_group` field holds its output tag. An empty slice is version 1.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Events not yet read, as declared by the header.
    pub fn remaining_events(&self) -> usize {
        self.remaining_events as usize
    }

    fn read_event(&mut self) -> Result<EventRef<'a>, DecodeError> {
        let key_group = self.cursor.u16("event key group")?;
        let timestamp = self.cursor.i64("event timestamp")?;
        let key_len = self.cursor.u32("event key length")? as usize;
        let value_len = self.cursor.u32("event value length")? as usize;
        let key = self.cursor.take(key_len, "event key")?;
        let value = self.cursor.take(value_len, "event value")?;
        Ok(EventRef { key_group, timestamp, key, value })
    }
}

impl<'a> Iterator for BatchReader<'a> {
    type Item = Result<EventRef<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining_events == 0 {
            if self.cursor.remaining() != 0 {
                self.failed = true;
                return Some(Err(DecodeError::TrailingBytes(self.cursor.remaining())));
            }
            return None;
        }
        self.remaining_events -= 1;
        let event = self.read_event();
        self.failed = event.is_err();
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining_events as usize + 1))
    }
}

/// Number of events a batch declares, without walking it. Zero for an empty
/// slice; an error for a bad header.
pub fn event_count(bytes: &[u8]) -> Result<usize, DecodeError> {
    Ok(BatchReader::new(bytes)?.remaining_events())
}

/// Checks a whole batch and overwrites every event's key group with
/// `key_group`, in place, making it a version 1 batch. Returns the number
/// of events. This lets a host pass a guest's output on to an unkeyed edge
/// without re-packing it.
pub fn stamp_key_groups(bytes: &mut [u8], key_group: u16) -> Result<usize, DecodeError> {
    let count = event_count(bytes)?;
    if bytes.is_empty() {
        return Ok(0);
    }
    bytes[2] = VERSION;
    let mut offset = HEADER_LEN;
    for _ in 0..count {
        let mut cursor = Cursor::new(&bytes[offset..]);
        cursor.take(2 + 8, "event header")?;
        let key_len = cursor.u32("event key length")? as usize;
        let value_len = cursor.u32("event value length")? as usize;
        cursor.take(key_len, "event key")?;
        cursor.take(value_len, "event value")?;
        let next = bytes.len() - cursor.remaining();
        bytes[offset..offset + 2].copy_from_slice(&key_group.to_le_bytes());
        offset = next;
    }
    if offset != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - offset));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Vec<EventRef<'_>>, DecodeError> {
        BatchReader::new(bytes)?.collect()
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let mut writer = BatchWriter::new();
        writer.push(0, 0, b"", b"");
        writer.push(127, -5, b"key", &[0xff; 300]);
        writer.push(NO_KEY_GROUP, NO_TIMESTAMP, "ünï".as_bytes(), b"v");
        let bytes = writer.finish();
        let events = decode(&bytes).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1], EventRef { key_group: 127, timestamp: -5, key: b"key", value: &[0xff; 300] });
        assert_eq!(events[2].key, "ünï".as_bytes());
        assert_eq!(event_count(&bytes).unwrap(), 3);
    }

    #[test]
    fn matches_the_example_in_the_spec() {
        let mut writer = BatchWriter::new();
        writer.push(7, NO_TIMESTAMP, b"a", b"1");
        let expected: Vec<u8> = vec![
            0x57, 0x42, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, // header
            0x07, 0x00, // key group
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, // timestamp none
            0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // lengths
            0x61, 0x31,
        ];
        assert_eq!(writer.finish(), expected);
    }

    #[test]
    fn empty_slice_and_zero_count_are_empty_batches() {
        assert!(decode(&[]).unwrap().is_empty());
        assert!(decode(&BatchWriter::new().finish()).unwrap().is_empty());
    }

    #[test]
    fn take_and_reset_start_a_new_batch() {
        let mut writer = BatchWriter::new();
        writer.push(1, 1, b"a", b"b");
        let first = writer.take();
        assert!(writer.is_empty());
        writer.push(2, 2, b"c", b"d");
        assert_eq!(decode(&first).unwrap()[0].key, b"a");
        assert_eq!(decode(writer.as_bytes()).unwrap()[0].key, b"c");
        writer.reset();
        assert_eq!(event_count(writer.as_bytes()).unwrap(), 0);
    }

    #[test]
    fn stamp_rewrites_key_groups_and_checks_the_batch() {
        let mut writer = BatchWriter::new();
        writer.push(1, 10, b"a", b"x");
        writer.push(2, 20, b"bb", b"");
        let mut bytes = writer.finish();
        assert_eq!(stamp_key_groups(&mut bytes, NO_KEY_GROUP).unwrap(), 2);
        let events = decode(&bytes).unwrap();
        assert!(events.iter().all(|e| e.key_group == NO_KEY_GROUP));
        assert_eq!((events[1].key, events[1].timestamp), (&b"bb"[..], 20));
        assert_eq!(stamp_key_groups(&mut [], 0).unwrap(), 0);

        let mut trailing = bytes.clone();
        trailing.push(7);
        assert!(stamp_key_groups(&mut trailing, 0).is_err());
        let mut empty_with_tail = BatchWriter::new().finish();
        empty_with_tail.push(7);
        assert!(stamp_key_groups(&mut empty_with_tail, 0).is_err());
        for cut in 1..bytes.len() {
            assert!(stamp_key_groups(&mut bytes[..cut].to_vec(), 0).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn refuses_damaged_batches() {
        let mut writer = BatchWriter::new();
        writer.push(1, 2, b"key", b"value");
        let good = writer.finish();

        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert_eq!(decode(&bad_magic).unwrap_err(), DecodeError::BadMagic);

        let mut tagged = good.clone();
        tagged[2] = TAGGED_VERSION;
        assert_eq!(BatchReader::new(&tagged).unwrap().version(), TAGGED_VERSION);
        assert_eq!(decode(&tagged).unwrap().len(), decode(&good).unwrap().len());
        let mut bad_version = good.clone();
        bad_version[2] = 9;
        assert_eq!(decode(&bad_version).unwrap_err(), DecodeError::UnknownVersion(9));

        let mut bad_flags = good.clone();
        bad_flags[3] = 1;
        assert_eq!(decode(&bad_flags).unwrap_err(), DecodeError::UnknownFlags(1));

        for cut in 1..good.len() {
            assert!(decode(&good[..cut]).is_err(), "accepted a batch cut at {cut}");
        }

        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing).unwrap_err(), DecodeError::TrailingBytes(1));

        // A count far beyond what the bytes can hold is refused up front.
        let mut huge_count = good.clone();
        huge_count[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(BatchReader::new(&huge_count).is_err());

        // A key length beyond the end.
        let mut long_key = good;
        long_key[HEADER_LEN + 10..HEADER_LEN + 14].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(decode(&long_key).unwrap_err(), DecodeError::Truncated { what: "event key" });
    }
}

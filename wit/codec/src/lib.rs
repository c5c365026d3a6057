//! The byte formats that cross Weir's host/guest boundary.
//!
//! Both sides of the boundary use this crate: the host (`weir-host`) and the
//! Rust guest SDK (`weir-guest`). It has no dependencies and allocates only in
//! the writers and in [`state::merge`], so it is cheap to pull into a guest.
//!
//! - [`batch`]: the packed framing of a batch of events (`wit/FRAMING.md`).
//! - [`state`]: the entry layout inside a state chunk, full or delta, and the
//!   merge of a chain of them (`wit/STATE.md`).
//!
//! Readers never trust a length they read: every length is checked against
//! the bytes actually present before anything is sliced or allocated.

pub mod batch;
pub mod state;

use std::fmt;

/// Why a batch or a state chunk could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes do not start with the format's magic.
    BadMagic,
    /// The format version is not one this reader knows.
    UnknownVersion(u8),
    /// A reserved field holds a value this reader does not know.
    UnknownFlags(u8),
    /// A length or count runs past the end of the bytes.
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// Bytes are left after the last declared entry.
    TrailingBytes(usize),
    /// A delta (version 2) state chunk for an operator kind: only keyed kinds
    /// have deltas (`wit/STATE.md`).
    DeltaForOperatorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadMagic => write!(f, "bad magic (not a Weir batch)"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown format version {v}"),
            DecodeError::UnknownFlags(v) => write!(f, "unknown flags {v:#04x}"),
            DecodeError::Truncated { what } => write!(f, "truncated while reading {what}"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes left after the last entry"),
            DecodeError::DeltaForOperatorKind => {
                write!(f, "a delta (version 2) chunk for an operator kind (only keyed kinds have deltas)")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A little-endian cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(DecodeError::Truncated { what });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// A `u32` length followed by that many bytes.
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Lengths in both formats are `u32`. Nothing this large fits through the
/// canonical ABI (lists are capped at 4 GiB there too), so a larger value is a
/// programming error, not bad input.
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a key, value or batch is larger than 4 GiB")
}

//! State TTL (`wit/STATE.md`, "State TTL"): what a keyed store keeps of
//! an entry's expiry, how the expiry is laid out in front of a value, and
//! what purging a key's expired state did. The handles (`value.rs`,
//! `map.rs`, `list.rs`) apply it; the keyed table (`store.rs`) only carries
//! out a purge.

use super::store::Current;
use crate::{Error, Result};

/// A value with its expiry (`i64::MAX` for a handle without a TTL).
pub(crate) struct Timed<T> {
    pub(crate) value: T,
    pub(crate) expires: i64,
}

/// The time to live of a handle, and a lower bound of the expiry of what it
/// holds (so that the context skips purging it until something can have
/// expired).
#[derive(Clone, Copy)]
pub(crate) struct Ttl {
    pub(crate) ttl_ms: i64,
    pub(crate) next_expiry: i64,
}

impl Ttl {
    pub(crate) fn new(ttl_ms: i64) -> Self {
        Ttl { ttl_ms, next_expiry: i64::MAX }
    }

    /// The expiry of an entry written now; lowers the bound.
    pub(crate) fn stamp(&mut self, current: &Current) -> i64 {
        let expires = current.expires_at(self.ttl_ms);
        self.next_expiry = self.next_expiry.min(expires);
        expires
    }

    /// Notes the expiry of a restored entry.
    pub(crate) fn restored(&mut self, expires: i64) {
        self.next_expiry = self.next_expiry.min(expires);
    }
}

/// Appends an entry's expiry to a value being encoded (STATE.md, "State TTL").
pub(crate) fn encode_expiry(expires: i64, buf: &mut Vec<u8>) {
    buf.extend_from_slice(&expires.to_le_bytes());
}

/// Splits a restored value of a TTL handle into its expiry and its bytes.
pub(crate) fn split_expiry<'b>(handle: &str, bytes: &'b [u8]) -> Result<(i64, &'b [u8])> {
    match bytes.split_first_chunk::<8>() {
        Some((expires, rest)) => Ok((i64::from_le_bytes(*expires), rest)),
        None => Err(Error::msg(format!(
            "state `{handle}` has a TTL, but a restored value is {} bytes long, shorter than its 8-byte \
             expiry (was the checkpoint written without a TTL?)",
            bytes.len()
        ))),
    }
}

/// What expiring a key's state (TTL) did to it.
pub(crate) enum Purge {
    /// Nothing expired.
    Kept,
    /// Some of it expired (map entries, list elements); some is left.
    Changed,
    /// All of it expired: the key has no state left.
    Empty,
}

//! Timers: [`Timer`] and [`TimeDomain`], and the store behind
//! [`Context::register_event_timer`](crate::Context::register_event_timer)
//! and its siblings.
//!
//! Timers are keyed state (`wit/STATE.md`, "Timers"): the reserved handle
//! `weir.timers`, a `keyed-map` whose map key is the domain (one byte: 0
//! event time, 1 processing time) followed by the timestamp (i64
//! little-endian), with an empty value. They are snapshotted, tracked for
//! incremental snapshots, rescaled by key group and restored across
//! languages like any other keyed state.
//!
//! In memory each key's timers are a sorted set (what snapshots write), and
//! the due order is kept by one queue per domain, ordered by (timestamp,
//! key), each entry with its key group so that a firing timer can make its
//! key current.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use weir_wire::state::{Entry, Kind};

use crate::state::store::{
    CurrentKey, KeyHasher, KeyedTable, duplicate, for_each_entry, restored_key_group, wrong_entry,
};
use crate::state::{Chunk, SnapshotMode};
use crate::{Error, Result};

/// The handle timers are saved under (reserved: `open` cannot declare it).
pub const TIMERS_HANDLE: &str = "weir.timers";

/// Which clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeDomain {
    /// Due when the watermark reaches its timestamp.
    EventTime,
    /// Due when the host's clock (`now` of `advance`) reaches its timestamp.
    ProcessingTime,
}

impl TimeDomain {
    /// The byte that stands for the domain in the state layout.
    fn code(self) -> u8 {
        match self {
            TimeDomain::EventTime => 0,
            TimeDomain::ProcessingTime => 1,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(TimeDomain::EventTime),
            1 => Some(TimeDomain::ProcessingTime),
            _ => None,
        }
    }
}

/// A timer that fired, handed to [`Operator::on_timer`](crate::Operator::on_timer).
///
/// A timer is the triple (key, domain, timestamp): registering the same one
/// twice keeps one, whoever registered it (the operator itself, or its
/// [`Windows`](crate::window::Windows)).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Timer {
    /// The event key the timer belongs to (also the current key while the
    /// callback runs).
    pub key: Vec<u8>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub domain: TimeDomain,
}

impl Timer {
    /// The key as UTF-8 text; an error if it is not UTF-8.
    pub fn key_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.key).map_err(|e| Error::msg(format!("timer key is not UTF-8 ({e})")))
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("timestamp", &self.timestamp)
            .field("domain", &self.domain)
            .finish()
    }
}

/// (timestamp, key) -> the key's key group: the due order of one domain.
type Queue = BTreeMap<(i64, Box<[u8]>), u16>;

/// Every timer of the instance.
pub(crate) struct Timers {
    /// Per key, its timers as (domain code, timestamp).
    table: KeyedTable<BTreeSet<(u8, i64)>>,
    event: Queue,
    processing: Queue,
}

/// The map key of a timer in the state layout: domain byte, timestamp LE.
fn map_key(domain: u8, timestamp: i64) -> [u8; 9] {
    let mut bytes = [0; 9];
    bytes[0] = domain;
    bytes[1..].copy_from_slice(&timestamp.to_le_bytes());
    bytes
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers { table: KeyedTable::new(), event: Queue::new(), processing: Queue::new() }
    }

    fn queue(&mut self, domain: TimeDomain) -> &mut Queue {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }

    /// Whether any timer was restored or registered.
    pub(crate) fn is_empty(&self) -> bool {
        self.event.is_empty() && self.processing.is_empty()
    }

    /// Adds a timer for the current key (no change if it exists).
    pub(crate) fn register(&mut self, at: CurrentKey<'_>, domain: TimeDomain, timestamp: i64) {
        let timer = (domain.code(), timestamp);
        if self.table.get(at).is_some_and(|timers| timers.contains(&timer)) {
            return;
        }
        self.table.get_or_insert_with(at, BTreeSet::new).insert(timer);
        self.queue(domain).insert((timestamp, at.key().into()), at.key_group());
    }

    /// Removes a timer of the current key (no change if there is none).
    pub(crate) fn delete(&mut self, at: CurrentKey<'_>, domain: TimeDomain, timestamp: i64) {
        let timer = (domain.code(), timestamp);
        if !self.table.get(at).is_some_and(|timers| timers.contains(&timer)) {
            return;
        }
        self.remove_from_table(at, timer);
        self.queue(domain).remove(&(timestamp, at.key().into()));
    }

    fn remove_from_table(&mut self, at: CurrentKey<'_>, timer: (u8, i64)) {
        if let Some(timers) = self.table.get_mut(at) {
            timers.remove(&timer);
            if timers.is_empty() {
                self.table.remove(at);
            }
        }
    }

    /// The earliest processing-time timer, what `wake-at` asks for.
    pub(crate) fn earliest_processing(&self) -> Option<i64> {
        self.processing.first_key_value().map(|((timestamp, _), _)| *timestamp)
    }

    /// Removes and returns the next due timer: the earliest of the event
    /// timers at or before `watermark` and the processing timers at or
    /// before `now`, event time first at equal timestamps (then by key).
    /// Also returns the key's hash and key group.
    pub(crate) fn pop_due(&mut self, watermark: i64, now: i64, keys: &KeyHasher) -> Option<(Timer, u64, u16)> {
        let event = self.event.first_key_value().map(|((ts, _), _)| *ts).filter(|&ts| ts <= watermark);
        let processing = self.processing.first_key_value().map(|((ts, _), _)| *ts).filter(|&ts| ts <= now);
        let domain = match (event, processing) {
            (None, None) => return None,
            (Some(_), None) => TimeDomain::EventTime,
            (None, Some(_)) => TimeDomain::ProcessingTime,
            (Some(e), Some(p)) if p < e => TimeDomain::ProcessingTime,
            (Some(_), Some(_)) => TimeDomain::EventTime,
        };
        let ((timestamp, key), key_group) = self.queue(domain).pop_first().expect("a due timer");
        let hash = keys.hash(&key);
        self.remove_from_table(CurrentKey::new(&key, hash, key_group), (domain.code(), timestamp));
        Some((Timer { key: key.into_vec(), timestamp, domain }, hash, key_group))
    }

    /// The current key's timers of a domain, in timestamp order.
    pub(crate) fn of_key(&self, at: CurrentKey<'_>, domain: TimeDomain) -> Vec<i64> {
        let code = domain.code();
        self.table.get(at).map_or_else(Vec::new, |timers| {
            timers.iter().filter(|(d, _)| *d == code).map(|(_, timestamp)| *timestamp).collect()
        })
    }

    /// Loads one restored `weir.timers` chunk.
    pub(crate) fn restore(&mut self, key_group: Option<u16>, data: &[u8], keys: &KeyHasher) -> Result<()> {
        let name = TIMERS_HANDLE;
        let group = restored_key_group(name, Kind::KeyedMap, key_group)?;
        let Timers { table, event, processing } = self;
        for_each_entry(name, Kind::KeyedMap, key_group, data, |entry| {
            let Entry::KeyedMap { key, map_key, value } = entry else {
                return Err(wrong_entry(name));
            };
            let (domain, timestamp) = match map_key.split_first() {
                Some((&code, timestamp)) if timestamp.len() == 8 => {
                    (TimeDomain::from_code(code), i64::from_le_bytes(timestamp.try_into().expect("8 bytes")))
                }
                _ => (None, 0),
            };
            let Some(domain) = domain else {
                return Err(Error::msg(format!(
                    "state `{name}` (key group {group}): a restored timer's map key is not a domain byte (0 or 1) \
                     and an 8-byte timestamp: {map_key:02x?}"
                )));
            };
            if !value.is_empty() {
                return Err(Error::msg(format!(
                    "state `{name}` (key group {group}): a restored timer has a {}-byte value (it must be empty)",
                    value.len()
                )));
            }
            let hash = keys.hash(key);
            let timers = match table.restored_mut(hash, key) {
                Some(timers) => timers,
                None => table.restore_insert(hash, group, key, BTreeSet::new()),
            };
            if !timers.insert((domain.code(), timestamp)) {
                return Err(duplicate(name, key_group, key, "with the same timer twice"));
            }
            let queue = match domain {
                TimeDomain::EventTime => &mut *event,
                TimeDomain::ProcessingTime => &mut *processing,
            };
            queue.insert((timestamp, key.into()), group);
            Ok(())
        })
    }

    /// Appends the timers' chunks (one per key group, as keyed state).
    pub(crate) fn snapshot(&mut self, mode: SnapshotMode, out: &mut Vec<Chunk>) -> Result<()> {
        self.table.snapshot(TIMERS_HANDLE, Kind::KeyedMap, mode, out, |writer, slot| {
            for &(domain, timestamp) in slot.value() {
                writer.keyed_map(slot.key(), &map_key(domain, timestamp), &[]);
            }
            Ok(())
        })
    }
}

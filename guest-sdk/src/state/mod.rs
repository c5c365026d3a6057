//! Typed state handles and the snapshot format they are saved in.
//!
//! An operator declares its state in [`Operator::open`](crate::Operator::open)
//! through [`OpenContext`](crate::OpenContext) and gets back a handle: a typed
//! index into the stores its [`Context`](crate::Context) owns. Values live in
//! guest memory as ordinary Rust values; reading or writing one costs a hash
//! lookup and no serialization. Values are encoded only by `snapshot`, and
//! decoded only when `open` declares a handle that the restored checkpoint
//! holds.
//!
//! | handle                      | keyed scope (`keyed_*`) | subtask scope (`operator_*`, `broadcast_map`) |
//! |-----------------------------|-------------------------|-----------------------------------------------|
//! | [`ValueState<T>`]           | `keyed-value`           | `operator-value`                              |
//! | [`MapState<K, V>`]          | `keyed-map`             | —                                             |
//! | [`ListState<T>`]            | `keyed-list`            | `operator-list`                               |
//! | [`BroadcastMapState<K, V>`] | —                       | `broadcast-map`                               |
//!
//! **Keyed** state is scoped by the key of the event being processed, like
//! Flink's keyed state: the same handle reads another value for another key.
//! Each entry is tagged with the key group the host passed with the event that
//! created it, and snapshots hold one [`Chunk`] per (handle, key group), so
//! the host can hand key groups to other subtasks when it rescales. Using
//! keyed state outside `process` (there is no current key) panics.
//!
//! **Operator** state is one value or list per subtask, usable from `process`
//! and `finish`, and saved as one chunk per handle.
//!
//! **Broadcast** state is a map every subtask holds the same copy of, built
//! from the events of broadcast inputs; usable anywhere, saved as one chunk
//! (no key group). The host keeps subtask 0's copy and gives it to every
//! subtask on restore, so it rescales by copying.
//!
//! Keyed handles can also be walked whole, whatever the current key (in
//! `finish`, say): `iter_all_keys`, `retain_all` and `key_count` on
//! [`ValueState`] and [`ListState`].
//!
//! **Incremental snapshots.** Keyed tables track which keys were written or
//! removed since the previous snapshot, so that a [`SnapshotMode::Incremental`]
//! snapshot saves only those, as delta chunks (`wit/STATE.md`, version 2):
//! a key is the unit of change, and a changed key is written whole (all its
//! map entries, its whole list). Operator state is written whole every time;
//! a broadcast map is written whole when it changed since the previous
//! snapshot, and left out otherwise.
//!
//! Values and map keys are encoded with [postcard] (the value codec `wit/STATE.md`
//! documents), so any `Serialize + DeserializeOwned` type works; see
//! [`StateValue`].
//!
//! [postcard]: https://postcard.jamesmunns.com/wire-format

mod broadcast;
mod list;
mod map;
pub(crate) mod store;
mod ttl;
mod value;

pub use broadcast::BroadcastMapState;
pub use list::ListState;
pub use map::MapState;
pub use value::ValueState;
pub use weir_wire::state::Kind;

pub(crate) use broadcast::BroadcastMapStore;
pub(crate) use list::ListStore;
pub(crate) use map::MapStore;
pub(crate) use store::{Current, KeyHasher, Store};
pub(crate) use value::ValueStore;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a state value (or map key) must be: encodable with serde, owned.
/// Implemented for every such type.
pub trait StateValue: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> StateValue for T {}

/// The state of one handle for one key group (keyed kinds) or for the whole
/// subtask (operator kinds and `broadcast-map`): the WIT `state-chunk`, with
/// `data` laid out as `wit/STATE.md` says: a complete (version 1) chunk, readable with
/// [`weir_wire::state::ChunkReader`], or in an incremental [`Snapshot`] a
/// delta (version 2), readable with [`weir_wire::state::DeltaReader`].
#[derive(Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The name given to the handle in `open`.
    pub handle: String,
    pub kind: Kind,
    /// The key group of every entry; `None` for operator kinds and
    /// `broadcast-map`.
    pub key_group: Option<u16>,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk")
            .field("handle", &self.handle)
            .field("kind", &kind_name(self.kind))
            .field("key_group", &self.key_group)
            .field("data", &format_args!("{} bytes", self.data.len()))
            .finish()
    }
}

/// What a snapshot is asked for: the WIT `snapshot-mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SnapshotMode {
    /// The complete state, as version 1 chunks.
    #[default]
    Full,
    /// Only what changed since the previous snapshot call of the instance
    /// (`wit/STATE.md`, "Incremental snapshots"): a delta (version 2) chunk
    /// per keyed (handle, key group) that changed, a version 1 chunk per
    /// operator-scope handle, and a version 1 chunk per broadcast map that
    /// changed.
    Incremental,
}

/// What a snapshot returned: the WIT `state-snapshot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `false`: `chunks` is the complete state; a handle or key group not in
    /// it is empty. `true`: `chunks` holds what changed since the previous
    /// snapshot; a (handle, key group) not in it is unchanged.
    pub incremental: bool,
    pub chunks: Vec<Chunk>,
}

/// The WIT name of a kind (`keyed-value`, ...), for messages.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::KeyedValue => "keyed-value",
        Kind::KeyedMap => "keyed-map",
        Kind::KeyedList => "keyed-list",
        Kind::OperatorValue => "operator-value",
        Kind::OperatorList => "operator-list",
        Kind::BroadcastMap => "broadcast-map",
    }
}

#[cfg(test)]
mod broadcast_tests;
#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ttl_tests;

// State handles and the stores behind them.
//
// An operator declares its state in `open` through the OpenContext and gets
// handles back. Values live in memory as ordinary JS values; reading or
// writing one costs a Map lookup and no encoding. Values are encoded (with
// the handle's codec) only by `snapshot`, and decoded only when a handle
// that the restored checkpoint holds is declared.
//
//   handle         keyed scope (keyed*)   operator scope (operator*)
//   ValueState     keyed-value            operator-value
//   MapState       keyed-map              -
//   ListState      keyed-list             operator-list
//   BroadcastMapState  -                  broadcast-map (one map per
//                                         operator, the same in every subtask)
//
// Keyed state is scoped by the key of the event being processed, as in
// Flink: the same handle reads another value for another key. Each key is
// tagged with the key group the host passed with the event that created
// it, and snapshots hold one chunk per (handle, key group).
//
// Incremental snapshots: every keyed write marks its event key dirty; an
// incremental snapshot writes, per key group, a delta chunk with the dirty
// keys' complete state and the dirty keys that have none left. Reading a
// value that is an object (or array, or Uint8Array) marks the key dirty too,
// since the operator may change it in place. Operator handles are written
// whole by every incremental snapshot; a broadcast map only when it changed.
//
// Keyed handles declared with `{ ttlMs }` are the TTL variants of state/ttl.js
// (TtlValueState, TtlMapState, TtlListState): each value is stored after its
// expiry (wit/STATE.md, "State TTL").
//
// The handles and their stores live in state/: store.js (what they share),
// value.js, map.js, list.js, broadcast.js and ttl.js, as the Rust SDK splits
// them. The timers (time.js) and windows (window.js) are keyed state too.

export { Current } from './state/store.js';
export { ValueState, ValueStore } from './state/value.js';
export { MapState, MapStore } from './state/map.js';
export { ListState, ListStore } from './state/list.js';
export { BroadcastMapState, BroadcastMapStore } from './state/broadcast.js';

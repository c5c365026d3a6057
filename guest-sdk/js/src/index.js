// @weir/operator: the JavaScript SDK for Weir operators.
//
// An operator is a class: its constructor declares state handles through an
// OpenContext, `process(ctx, event)` handles one event, and the optional
// `finish(ctx)` runs at the end of bounded input. The component's entry
// module exports it with `exportOperator` (import it from
// '@weir/operator/component' there, so that logs reach the host):
//
//   import { codecs, exportOperator } from '@weir/operator/component';
//
//   class Counter {
//     constructor(ctx) {
//       this.count = ctx.keyedValue('count', codecs.u64);
//     }
//     process(ctx, event) {
//       const n = this.count.update((n) => (n ?? 0) + 1);
//       ctx.emit(event.key, String(n));
//     }
//   }
//
//   export const operator = exportOperator(Counter);
//
// The SDK hides the WIT bindings (weir:operator@0.2.0), the batch framing
// (wit/FRAMING.md) and the state format (wit/STATE.md); snapshots, restores
// and incremental deltas need no code from the operator. Events name their
// input (`event.input`, `event.inputName`), `ctx.emitTo(name, key, value)`
// emits to a side output, and `ctx.broadcastMap(name)` declares state that
// every subtask holds the same copy of. Time: `ctx.watermark`,
// `ctx.processingTime`, timers (`ctx.registerEventTimer(ts)`... and the
// operator's `onTimer(ctx, timer)`), state with a time to live (`{ ttlMs }`
// on keyed handles) and event-time windows (`ctx.tumblingWindows(name,
// sizeMs, aggregates.count())`, sliding, session, `WindowedOperator`).

export { exportOperator, errorMessage } from './glue.js';
export { Runtime } from './runtime.js';
export { Context, OpenContext } from './context.js';
export {
  Event,
  BatchWriter,
  NO_KEY_GROUP,
  MAIN_OUTPUT,
  TAGGED_VERSION,
  forEachEvent,
  forEachOutputEvent,
  readBatch,
  readOutputBatch,
} from './batch.js';
export { OperatorInfo, DEFAULT_MAX_PARALLELISM, DEFAULT_INPUT } from './info.js';
export { ValueState, MapState, ListState, BroadcastMapState } from './state.js';
export { codecs, encode, decode, Writer, Reader, DEFAULT_CODEC } from './codecs.js';
export {
  ChunkWriter,
  DeltaWriter,
  KINDS,
  FULL_VERSION,
  DELTA_VERSION,
  chunkVersion,
  forEachEntry,
  isKeyed,
  mergeChain,
  readChunk,
  readDelta,
} from './chunk.js';
export { DecodeError } from './bytes.js';
export { TimeDomain, Timer, TIMERS_HANDLE, setWakeAtSink } from './time.js';
export { Window, Windows, WindowedOperator, aggregates, LATE_OUTPUT } from './window.js';
export { log, setLogSink, LEVELS } from './log.js';

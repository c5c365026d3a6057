// The entry point for a component's own entry module: everything
// '@weir/operator' exports, with the SDK's log wired to the host's `log`
// import and its timers to the host's `wake-at` (`weir:operator/host`). It imports that WIT interface, so it only
// loads inside a component built by componentize-js; unit tests under Node
// import '@weir/operator' (or '../src/index.js') instead.

import { log as hostLog, wakeAt as hostWakeAt } from 'weir:operator/host@0.2.0';
import { setLogSink } from './log.js';
import { setWakeAtSink, timeToBigInt } from './time.js';

setLogSink((level, message) => hostLog(level, message));
// option<s64>: a BigInt, or undefined for none.
setWakeAtSink((at) => hostWakeAt(at === null ? undefined : timeToBigInt(at)));

export * from './index.js';

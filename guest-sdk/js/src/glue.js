// The glue between componentize-js and the Runtime: `exportOperator`
// returns the object the component exports as `weir:operator/operator`.
//
// componentize-js (0.23) maps the WIT (weir:operator@0.2.0) to JS like this:
// the exported interface is the module export named `operator` (or
// 'weir:operator/operator@0.2.0'); list<u8> arrives as a Uint8Array and may
// be returned as any Uint8Array view; u64 arrives as a BigInt; enums are
// their case names ('keyed-value', 'incremental'); s64 arrives as a BigInt
// (`advance`'s times); option<T> is undefined (or null) for none; records are plain objects with camelCase fields. A
// `result<T, string>` is returned as { tag: 'ok', val } or { tag: 'err',
// val: message }. A thrown Error would trap the component (the bindings only
// turn thrown non-Error values into `err`), so every call catches here.

import { log } from './log.js';
import { OperatorInfo } from './info.js';
import { Runtime, checkDefinition } from './runtime.js';

/** The text of anything thrown: the message, then each cause's. */
export function errorMessage(error) {
  if (!(error instanceof Error)) return String(error);
  let message = error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
  let cause = error.cause;
  for (let depth = 0; cause !== undefined && depth < 8; depth++) {
    message += `: ${cause instanceof Error ? cause.message : String(cause)}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return message;
}

function failed(call, error) {
  if (error instanceof Error && error.stack) log.debug(`\`${call}\` failed: ${error.stack}`);
  return { tag: 'err', val: errorMessage(error) };
}

/**
 * The implementation of the WIT interface `weir:operator/operator` for an
 * operator class (or factory function). Export it from the component's
 * entry module as `operator`:
 *
 *   export const operator = exportOperator(Counter);
 */
export function exportOperator(definition) {
  checkDefinition(definition);
  let runtime = null;

  const call = (name, f) => {
    if (runtime === null) return { tag: 'err', val: `\`${name}\` was called before \`init\`` };
    try {
      return { tag: 'ok', val: f(runtime) };
    } catch (e) {
      return failed(name, e);
    }
  };

  return {
    init(context, restored) {
      // Drop a previous instance's state before building the new one.
      runtime = null;
      try {
        runtime = new Runtime(definition, OperatorInfo.fromWit(context), restored);
        return { tag: 'ok', val: undefined };
      } catch (e) {
        return failed('init', e);
      }
    },

    process(input, events) {
      return call('process', (r) => r.process(events, input));
    },

    snapshot(checkpointId, mode) {
      return call('snapshot', (r) => r.snapshot(checkpointId, mode));
    },

    advance(watermark, now) {
      return call('advance', (r) => r.advance(watermark, now));
    },

    finish() {
      return call('finish', (r) => r.finish());
    },
  };
}

// Weir example operator `counter-js`: the `counter` example in JavaScript.
// For each event it emits the event's key with the number of events seen so
// far for that key, in decimal. The count lives in a keyed value named
// "count" with the u64 codec: the same state as the Rust `counter`
// (`ValueState<u64>` named "count"), so a checkpoint taken by one restores
// in the other.
//
// The operator's input must be keyed (`key_by = true` in the job file).

import { codecs } from '../../guest-sdk/js/src/index.js';

export class Counter {
  constructor(ctx) {
    this.count = ctx.keyedValue('count', codecs.u64);
  }

  process(ctx, event) {
    const n = this.count.update((n) => (n ?? 0) + 1);
    ctx.emit(event.key, String(n));
  }
}

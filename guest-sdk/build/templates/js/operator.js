// `{{name}}`: a keyed Weir operator. For every event it adds to its key's
// total (events seen, value bytes seen) and emits `KEY<TAB>EVENTS BYTES`.
//
// The total lives in keyed state: the host snapshots it at every checkpoint
// and restores it after a crash or a rescale, so the counts continue
// exactly. The input must be keyed (`key_by = true`).

import { codecs } from '@weir/operator';

// Two u64 varints, as Rust's postcard writes a struct.
const TOTAL = codecs.struct({ events: codecs.u64, bytes: codecs.u64 });

export class Totals {
  constructor(ctx) {
    this.total = ctx.keyedValue('total', TOTAL);
  }

  process(ctx, event) {
    if (event.value.length === 0) {
      // Fails the job with this message, naming the operator and the
      // input; the job restarts from its newest checkpoint.
      throw new Error('an event without a value');
    }
    const total = this.total.update((t) => {
      const { events, bytes } = t ?? { events: 0, bytes: 0 };
      return { events: events + 1, bytes: bytes + event.value.length };
    });
    ctx.emit(event.key, `${total.events} ${total.bytes}`);
  }
}

// Weir example operator `session-js`: per key, sessions of activity in
// event time.
//
// Per key (the operator's input must be keyed: `key_by = true`, and its
// events must carry timestamps, e.g. a `lines` source with `format =
// "tsv"`), events less than `gap_ms` apart belong to one session: an event
// at t opens [t, t + gap_ms), merged with every session of the key it
// overlaps or touches. A session closes when the watermark reaches its end
// (the last event's timestamp + gap_ms); the operator then emits key = the
// event key, value = `<session_start_ms>\t<session_end_ms>\t<count>` (the
// number of events in it). An event whose own session [t, t + gap_ms) ends
// at or before the watermark is late: it goes unchanged to the side output
// `late` (declare it with `side_outputs = ["late"]`; without it late events
// are dropped).
//
// Config (`[operators.config]` in the job file):
//   gap_ms = "30000"   the inactivity that closes a session (default 30 s)
//
// State, checkpointed by the SDK and laid out as every SDK lays out session
// windows (a checkpoint restores into a Rust or Python operator declaring
// the same windows):
//   sessions     keyed map: session start (i64) -> session end (i64) then
//                the count (u64)
//   weir.timers  the SDK's timers: an event-time timer at each session's end

import { WindowedOperator, aggregates } from '../../guest-sdk/js/src/index.js';

export const DEFAULT_GAP_MS = 30_000;

export class Sessions extends WindowedOperator {
  constructor(ctx) {
    super();
    const gap = ctx.info.configNumber('gap_ms', DEFAULT_GAP_MS);
    if (!Number.isSafeInteger(gap) || gap <= 0) {
      throw new Error(`config \`gap_ms\` = ${gap} is not valid: a positive whole number of milliseconds`);
    }
    this.windows = ctx.sessionWindows('sessions', gap, aggregates.count());
  }

  onWindow(ctx, key, session, count) {
    ctx.emit(key, `${session.start}\t${session.end}\t${count}`);
  }
}

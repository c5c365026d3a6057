// Logging through the host's `log` import: each line lands in the host's
// log, tagged with the operator and subtask. Outside a component (unit tests
// under Node, the Harness) lines go to standard error instead.
//
//   import { log } from '@weir/operator';
//   log.info('starting');
//   log.warn(`skipped ${n} words`);

/** The WIT `log-level` cases, least important first. */
export const LEVELS = Object.freeze(['trace', 'debug', 'info', 'warn', 'error']);

function consoleSink(level, message) {
  console.error(`[${level.toUpperCase()}] ${message}`);
}

let sink = consoleSink;

/**
 * Where log lines go: `(level, message) => void`. The component entry
 * (`component.js`) points it at the host's `log` import; pass null to go
 * back to standard error.
 */
export function setLogSink(next) {
  sink = next ?? consoleSink;
}

function write(level, message) {
  sink(level, typeof message === 'string' ? message : String(message));
}

export const log = Object.freeze({
  /** Writes one line at `level` ('trace', 'debug', 'info', 'warn' or 'error'). */
  log(level, message) {
    if (!LEVELS.includes(level)) throw new TypeError(`unknown log level ${JSON.stringify(level)}`);
    write(level, message);
  },
  trace: (message) => write('trace', message),
  debug: (message) => write('debug', message),
  info: (message) => write('info', message),
  warn: (message) => write('warn', message),
  error: (message) => write('error', message),
});

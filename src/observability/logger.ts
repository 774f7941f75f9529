/**
 * pino JSON logs to stdout. Redaction (exact paths only: wildcard paths cost on every line) is a safety net: the code never logs secrets, Authorization
 * headers, tokens or request bodies in the first place. Every line written inside a span carries
 * `trace_id`/`span_id` so logs and traces correlate.
 */
import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: string;
  /** Defaults to an asynchronous stdout destination; tests pass a stream to capture lines. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
  /**
   * Buffer stdout writes up to this many bytes (flushed at least every FLUSH_INTERVAL_MS and on
   * shutdown): one write per line costs a system call per hook call, which the benchmark shows as
   * the largest part of logging's cost. 0 writes every line at once. A crash can lose at most the
   * last FLUSH_INTERVAL_MS of lines (the crash itself still goes to stderr).
   */
  bufferBytes?: number;
}

export const FLUSH_INTERVAL_MS = 250;

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'secret',
  'secrets',
  'token',
  'password',
];

function traceContext(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const context = span.spanContext();
  if (!context.traceId || context.traceId === '00000000000000000000000000000000') return {};
  return { trace_id: context.traceId, span_id: context.spanId, trace_flags: `0${context.traceFlags.toString(16)}` };
}

export function createLogger(options: LoggerOptions): Logger {
  let destination = options.destination;
  if (!destination) {
    const minLength = options.bufferBytes ?? 0;
    // SonicBoom requires minLength < maxWrite (the largest single write).
    const stdout = pino.destination({ dest: 1, sync: false, minLength, maxWrite: Math.max(16 * 1024, 2 * minLength) });
    if (options.bufferBytes) setInterval(() => stdout.flush(), FLUSH_INTERVAL_MS).unref();
    destination = stdout;
  }
  return pino(
    {
      level: options.level,
      base: options.base ?? { service: 'okta-token-hook' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      mixin: traceContext,
    },
    destination,
  );
}

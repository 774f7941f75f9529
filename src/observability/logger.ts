/**
 * pino JSON logs to stdout. Redaction (exact paths only: wildcard paths cost on every line) is a safety net: the code never logs secrets, Authorization
 * headers, tokens or request bodies in the first place. Every line written inside a span carries
 * `trace_id`/`span_id` so logs and traces correlate.
 */
import { createRequire } from 'node:module';
import { trace } from '@opentelemetry/api';
import bundledPino, { type DestinationStream, type Logger } from 'pino';
import { TELEMETRY_SYMBOL, type TelemetryHandle } from './tracing';

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

/**
 * pino's `isoTime` (`,"time":"<ISO 8601>"`), formatted once per millisecond: at a few thousand
 * calls per second several lines share a millisecond, and `toISOString()` was the largest single
 * item of a log line after serialization. Same text as `pino.stdTimeFunctions.isoTime`.
 */
let lastTimeMs = -1;
let lastTimeField = '';
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastTimeMs) {
    lastTimeMs = now;
    lastTimeField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTimeField;
}

function traceContext(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const context = span.spanContext();
  if (!context.traceId || context.traceId === '00000000000000000000000000000000') return {};
  return { trace_id: context.traceId, span_id: context.spanId, trace_flags: `0${context.traceFlags.toString(16)}` };
}

/**
 * stdout in batches: lines are kept in an array and handed to one asynchronous SonicBoom write
 * when `bufferBytes` are pending or every FLUSH_INTERVAL_MS. SonicBoom's own `minLength` buffering
 * re-measures the whole pending buffer on every line (about `bufferBytes` copied per line); here a
 * line costs its own length. Same bytes, same order; flushed synchronously at exit.
 */
export class BatchedDestination implements DestinationStream {
  private lines: string[] = [];
  private pending = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly stream: ReturnType<typeof bundledPino.destination>,
    private readonly bufferBytes: number,
  ) {
    this.timer = setInterval(() => this.drain(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  write(line: string): void {
    this.lines.push(line);
    this.pending += line.length;
    if (this.pending >= this.bufferBytes) this.drain();
  }

  /** Hands the pending lines to the stream (one write). */
  private drain(): void {
    if (this.lines.length === 0) return;
    const chunk = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join('');
    this.lines = [];
    this.pending = 0;
    this.stream.write(chunk);
  }

  /** Writes what is pending; `cb` runs once the stream has written everything. */
  flush(cb?: (err?: Error) => void): void {
    this.drain();
    if (!cb) return;
    // SonicBoom without minLength calls a flush callback at once, even with a write in flight;
    // its 'drain' event is what tells that the last write completed.
    if ((this.stream as unknown as { _writing: boolean })._writing) this.stream.once('drain', () => cb());
    else cb();
  }

  flushSync(): void {
    this.drain();
    this.stream.flushSync();
  }

  end(): void {
    clearInterval(this.timer);
    this.drain();
    this.stream.end();
  }
}

/**
 * pino. In the image, the copy in the service bundle (dist/main.js): nothing to resolve and read
 * from node_modules at start (about 28 ms), and its code is in the bundle's code cache. When the
 * tracing bootstrap instruments pino (log records exported over OTLP), pino is loaded through
 * Node's require instead, from node_modules, which is where @opentelemetry/instrumentation-pino
 * patches it. In a tsc build both are the same module.
 */
function pinoModule(): typeof bundledPino {
  const telemetry = (globalThis as Record<symbol, TelemetryHandle | undefined>)[TELEMETRY_SYMBOL];
  return telemetry?.pinoInstrumented ? (createRequire(__filename)('pino') as typeof bundledPino) : bundledPino;
}

export function createLogger(options: LoggerOptions): Logger {
  const pino = pinoModule();
  let destination = options.destination;
  if (!destination) {
    const stdout = pino.destination({ dest: 1, sync: false });
    if (options.bufferBytes) {
      const batched = new BatchedDestination(stdout, options.bufferBytes);
      // Lines still pending when the process exits are written before it does.
      process.once('exit', () => batched.flushSync());
      destination = batched;
    } else destination = stdout;
  }
  return pino(
    {
      level: options.level,
      base: options.base ?? { service: 'okta-token-hook' },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      mixin: traceContext,
    },
    destination,
  );
}

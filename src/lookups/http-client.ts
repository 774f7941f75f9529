/**
 * The fetch layer of lookups: undici 7's own `request` with one `Agent` per lookup (its connection
 * pool, and its CA when `tls.caFile` is set). undici's `request` is used rather than Node 20's
 * global fetch: the global fetch is undici 6 inside Node, and mixing it with an undici 7 `Agent`
 * as `dispatcher` is a cross-version contract nobody tests; `request` is also cheaper (no WHATWG
 * streams) and aborts the socket when the signal fires, so a cancelled call reaches the upstream.
 */
import type { Agent as UndiciAgent, Dispatcher } from 'undici';

/**
 * The two pieces of undici used here, required from their own modules: undici's index also loads
 * fetch, WebSocket, cookies, EventSource, the cache stores and the mock agents (and through its
 * cookie module's `TextDecoder`, Node's internal copy of undici), about 20 ms of start-up for a
 * service with an HTTP lookup and 0.4 MB of the bundle (docs/performance.md "Start-up"). Both
 * paths are in undici 7's published files (no `exports` map); `test/lookups/http-client.test.ts`
 * fails if they move. The instrumentation is unaffected: it listens on undici's diagnostics channels.
 */
const Agent = require('undici/lib/dispatcher/agent') as typeof UndiciAgent;
const dispatchRequest = require('undici/lib/api/api-request') as (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type UpstreamErrorKind = 'timeout' | 'error';

/**
 * An upstream call that failed. `countsAsFailure` tells the circuit breaker whether the upstream
 * looks unhealthy (connection errors, timeouts, 5xx, 408, 429, unreadable bodies) rather than
 * answering a request it does not like (other 4xx). Messages never contain URLs or credentials.
 */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    message: string,
    readonly kind: UpstreamErrorKind,
    readonly countsAsFailure: boolean,
    readonly status?: number,
    /** The upstream asked to be left alone this long (`Retry-After` on a 429 or 503), capped. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Longest `Retry-After` honoured: a lookup is never held open longer on an upstream's word. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * `Retry-After` of a 429 or 503 answer in ms (delta-seconds or an HTTP date), capped at
 * `MAX_RETRY_AFTER_MS`; undefined when absent, unparsable, in the past, or another status.
 */
export function retryAfterMs(response: UpstreamResponse, now = Date.now()): number | undefined {
  if (response.status !== 429 && response.status !== 503) return undefined;
  const value = headerValue(response, 'retry-after')?.trim();
  if (!value) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/** Status codes that say the upstream is overloaded or broken (the breaker counts them). */
export function isUnhealthyStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export interface AgentOptions {
  /** PEM with the CA(s) to trust instead of the public roots. */
  ca?: string;
  /** Upper bound of connections per origin (the lookup's concurrency limit). */
  connections: number;
}

export function createAgent(options: AgentOptions): UndiciAgent {
  return new Agent({
    connections: options.connections,
    keepAliveTimeout: 30_000,
    connect: options.ca ? { ca: options.ca, timeout: 10_000 } : { timeout: 10_000 },
  });
}

/** Why `signal` was aborted, as reported by whoever aborted it (see `Lookup`). */
function abortMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.message ? reason.message : 'aborted';
}

function describeNetworkError(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  return code ? `connection failed (${code})` : 'connection failed';
}

/**
 * Sends one request and reads the whole body (at most `maxBytes`). Throws `UpstreamError` for
 * network errors, aborts (kind `timeout`) and oversized bodies; any HTTP status is returned.
 */
export async function send(
  dispatcher: Dispatcher,
  upstream: UpstreamRequest,
  options: { signal: AbortSignal; maxBytes: number },
): Promise<UpstreamResponse> {
  const { signal, maxBytes } = options;
  if (signal.aborted) throw new UpstreamError(abortMessage(signal), 'timeout', true);
  let response: Dispatcher.ResponseData;
  try {
    const url = new URL(upstream.url);
    response = await dispatchRequest.call(dispatcher, {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: upstream.method,
      headers: upstream.headers,
      body: upstream.body,
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw new UpstreamError(abortMessage(signal), 'timeout', true);
    throw new UpstreamError(describeNetworkError(err), 'error', true);
  }
  const { statusCode, headers, body } = response;
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    body.destroy();
    throw new UpstreamError(`response larger than ${maxBytes} bytes`, 'error', true, statusCode);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        body.destroy();
        throw new UpstreamError(`response larger than ${maxBytes} bytes`, 'error', true, statusCode);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    if (signal.aborted) throw new UpstreamError(abortMessage(signal), 'timeout', true, statusCode);
    throw new UpstreamError('response body could not be read', 'error', true, statusCode);
  }
  return { status: statusCode, headers, body: Buffer.concat(chunks, size) };
}

/** Parses a JSON body; garbage is an upstream failure. */
export function parseJson(response: UpstreamResponse): unknown {
  try {
    return JSON.parse(response.body.toString('utf8')) as unknown;
  } catch {
    throw new UpstreamError(`invalid JSON in HTTP ${response.status} response`, 'error', true, response.status);
  }
}

/** Single header value (first one when repeated). */
export function headerValue(response: UpstreamResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

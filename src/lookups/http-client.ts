/**
 * The fetch layer of lookups: undici 7's own `request` with one `Agent` per lookup (its connection
 * pool, and its CA when `tls.caFile` is set). undici's `request` is used rather than Node 20's
 * global fetch: the global fetch is undici 6 inside Node, and mixing it with an undici 7 `Agent`
 * as `dispatcher` is a cross-version contract nobody tests; `request` is also cheaper (no WHATWG
 * streams) and aborts the socket when the signal fires, so a cancelled call reaches the upstream.
 */
import type { Socket } from 'node:net';
import type { Agent as UndiciAgent, buildConnector as BuildConnector, Dispatcher } from 'undici';

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
const buildConnector = require('undici/lib/core/connect') as typeof BuildConnector;

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
  /** Connections opened ahead of the first call (its CA is used; `ca` is then ignored). */
  preopened?: PreopenedConnections;
}

/** How long it may take to open a connection (TCP and TLS), in ms. */
export const CONNECT_TIMEOUT_MS = 10_000;

export function createAgent(options: AgentOptions): UndiciAgent {
  return new Agent({
    connections: options.connections,
    keepAliveTimeout: 30_000,
    connect: options.preopened ? options.preopened.connect : options.ca ? { ca: options.ca, timeout: CONNECT_TIMEOUT_MS } : { timeout: CONNECT_TIMEOUT_MS },
  });
}

/** What happened to a pre-opened connection; a closed set, used as a metric label. */
export type PreopenResult = 'opened' | 'failed' | 'used' | 'expired' | 'closed';

/** How long a pre-opened connection waits for its first call before it is closed (undici's keep-alive for used ones). */
export const PREOPENED_IDLE_MS = 30_000;

export interface PreopenReport {
  /** Connections now waiting for a call. */
  opened: number;
  failed: number;
  /** Still opening when the wait ended; they are kept if they open later. */
  pending: number;
  /** Why the first failure failed (`connection failed (ECONNREFUSED)`), never a URL. */
  error?: string;
}

interface Parked {
  socket: Socket;
  /** The origin's list it waits in. */
  list: Parked[];
  timer: NodeJS.Timeout;
  release: () => void;
}

/**
 * Connections to a lookup's upstream opened before its first call (at start-up, during the
 * warm-up, and when a reload adds or changes a lookup), so the first logins after a deploy do not
 * wait for DNS, TCP and the TLS handshake inside the lookup's timeout. `connect` is the undici
 * Agent's connector: it hands out a parked connection to the same origin first and opens a new
 * one (undici's own connector, same CA and timeout) otherwise. A parked connection that the
 * upstream closes, that receives anything, or that waits longer than `idleMs` is closed and
 * never handed out. Nothing is sent on a parked connection: the upstream sees a connection and,
 * for https, a TLS handshake (which also verifies its certificate at start-up), no request.
 */
export class PreopenedConnections {
  readonly #connector: BuildConnector.connector;
  readonly #parked = new Map<string, Parked[]>();
  readonly #idleMs: number;
  readonly #onEvent: ((result: PreopenResult) => void) | undefined;
  #closed = false;

  constructor(options: { ca?: string; connectTimeoutMs?: number; idleMs?: number; onEvent?: (result: PreopenResult) => void } = {}) {
    const timeout = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.#connector = buildConnector(options.ca ? { ca: options.ca, timeout } : { timeout });
    this.#idleMs = options.idleMs ?? PREOPENED_IDLE_MS;
    this.#onEvent = options.onEvent;
  }

  /** The Agent's `connect`: a parked connection to the origin when there is one, else a new one. */
  readonly connect: BuildConnector.connector = (options, callback) => {
    const parked = this.#take(originKey(options.protocol, options.host ?? options.hostname));
    if (!parked) {
      this.#connector(options, callback);
      return;
    }
    // Asynchronously, as a new connection would be.
    queueMicrotask(() => callback(null, parked));
  };

  /** Connections parked now (all origins). */
  get idle(): number {
    let count = 0;
    for (const list of this.#parked.values()) count += list.length;
    return count;
  }

  /**
   * Opens `count` connections to `origin` (`https://host:port`) and parks them. Resolves when all
   * are open or failed, or after `waitMs`; those still opening then are parked when they open.
   * Never rejects.
   */
  open(origin: string, count: number, waitMs: number): Promise<PreopenReport> {
    if (!(count > 0) || this.#closed) return Promise.resolve({ opened: 0, failed: 0, pending: 0 });
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return Promise.resolve({ opened: 0, failed: count, pending: 0, error: 'invalid origin' });
    }
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const options: BuildConnector.Options = { host: url.host, hostname, protocol: url.protocol, port: url.port };
    const key = originKey(url.protocol, url.host);
    const report: PreopenReport = { opened: 0, failed: 0, pending: count };
    return new Promise<PreopenReport>((resolve) => {
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(wait);
        resolve({ ...report });
      };
      const wait = setTimeout(finish, waitMs);
      wait.unref();
      const settle = (err: unknown, socket: Socket | null): void => {
        report.pending--;
        if (err || !socket) {
          report.failed++;
          report.error ??= describeNetworkError(err);
          this.#onEvent?.('failed');
        } else if (this.#closed) {
          socket.destroy();
        } else {
          report.opened++;
          this.#onEvent?.('opened');
          this.#park(key, socket);
        }
        if (report.pending === 0) finish();
      };
      for (let i = 0; i < count; i++) {
        try {
          this.#connector(options, settle);
        } catch (err) {
          settle(err, null);
        }
      }
    });
  }

  /** Closes every parked connection; connections still opening are closed when they open. */
  close(): void {
    this.#closed = true;
    for (const list of this.#parked.values()) for (const parked of [...list]) this.#drop(parked, undefined);
    this.#parked.clear();
  }

  #park(key: string, socket: Socket): void {
    const list = this.#parked.get(key) ?? [];
    this.#parked.set(key, list);
    // Any readable event on a parked connection is the upstream closing it (EOF) or sending
    // something unasked: either way it must not carry a request.
    const onGone = (): void => this.#drop(parked, 'closed');
    const parked: Parked = {
      socket,
      list,
      timer: setTimeout(() => this.#drop(parked, 'expired'), this.#idleMs),
      release: () => {
        socket.off('readable', onGone);
        socket.off('close', onGone);
        socket.off('error', onGone);
      },
    };
    parked.timer.unref();
    socket.on('readable', onGone);
    socket.on('close', onGone);
    socket.on('error', onGone);
    list.push(parked);
  }

  #take(key: string): Socket | undefined {
    const list = this.#parked.get(key);
    while (list && list.length > 0) {
      const parked = list.pop()!;
      clearTimeout(parked.timer);
      parked.release();
      if (!parked.socket.destroyed && parked.socket.readyState === 'open') {
        this.#onEvent?.('used');
        return parked.socket;
      }
      parked.socket.destroy();
      this.#onEvent?.('closed');
    }
    return undefined;
  }

  #drop(parked: Parked, result: PreopenResult | undefined): void {
    const index = parked.list.indexOf(parked);
    if (index === -1) return;
    parked.list.splice(index, 1);
    clearTimeout(parked.timer);
    parked.release();
    parked.socket.destroy();
    if (result) this.#onEvent?.(result);
  }
}

function originKey(protocol: string, host: string): string {
  return `${protocol}//${host}`;
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

/**
 * Cold-start warm-up, run before the instance listens: the rules (CEL), the envelope parser, the
 * response builder and the whole HTTP request path are run on the built-in requests of every flow
 * (the `test`/`preview` templates: authorization code, refresh, client credentials, implicit, a
 * Preview call without an identity token), in turn, so that
 * V8 has compiled them and lazy modules are loaded before Okta's first calls arrive. Lookups are
 * not called (a warm-up must not touch upstreams): rules that need one take their `fallback` path.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { ClaimsEngine } from './hook/engine';
import { TokenHookService } from './hook/service';
import { RulesEngine } from './rules/engine';
import { template, TEMPLATE_NAMES } from './rules/testing/templates';

export interface WarmUpResult {
  iterations: number;
  ms: number;
}

/**
 * Runs the hook's own code path (envelope, rules without lookups, builder) on the sample until
 * `iterations` or `maxMs`, whichever comes first. Never throws: a warm-up failure is not fatal.
 */
export async function warmUpEngine(engine: ClaimsEngine, options: { iterations?: number; maxMs?: number; deadlineMs: number }): Promise<WarmUpResult> {
  const started = performance.now();
  const iterations = options.iterations ?? 300;
  const maxMs = options.maxMs ?? 500;
  const offline = offlineEngine(engine);
  const service = new TokenHookService({ engine: () => offline, debugContext: true, deadlineMs: options.deadlineMs });
  // One copy of each request, reused: the hook does not alter what it handles beyond dropping
  // `null` optional objects, which these requests have none of (a fresh deep copy per call was
  // about a fifth of the warm-up's time, spent in JSON.parse, which needs no warming).
  const events = TEMPLATE_NAMES.map((name) => template(name));
  let done = 0;
  try {
    while (done < iterations && performance.now() - started < maxMs) {
      const result = await service.handle(events[done % events.length]);
      if (result.build) JSON.parse(result.build.json);
      done++;
    }
  } catch {
    // Warm-up is best effort.
  }
  return { iterations: done, ms: performance.now() - started };
}

/**
 * The HTTP path, over loopback, on a private server that is closed again: `app` is a copy of the
 * hook's Koa app built for the warm-up (no metrics, no logs, an authenticator that accepts the
 * warm-up calls, the offline engine), so Node's HTTP parser, Koa, the router, the body parser and
 * the builder take their first requests here and the real counters and logs see none of them.
 * The calls are written as bytes on plain sockets: Node's HTTP client is not on the service's path,
 * so warming it would be start-up time spent for nothing (about a third of this step's CPU when it
 * was used). `requests` probe-and-hook pairs, `perConnection` pairs on each keep-alive connection
 * (the last call asks the server to close it), as Okta's calls arrive: opening and closing a
 * connection per call cost about 17 ms more of start-up for the same first second after ready
 * (docs/performance.md "Start-up").
 */
export async function warmUpHttp(app: Koa, requests = 30, perConnection = 5): Promise<{ calls: number; ms: number }> {
  const started = performance.now();
  const server = createServer(app.callback());
  let calls = 0;
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const bodies = TEMPLATE_NAMES.map((name) => JSON.stringify(template(name)));
    const health = wireRequest('GET', '/healthz', undefined, 'keep-alive');
    const posts = bodies.map((body) => wireRequest('POST', '/hooks/token', body, 'keep-alive'));
    const lastPosts = bodies.map((body) => wireRequest('POST', '/hooks/token', body, 'close'));
    // A probe call before each hook call: they share Node's HTTP server, Koa and the router, and
    // without them the first second after ready was slower (p99 at 1,000/s about 27 against 14 ms
    // in 6 interleaved runs), for about 30 ms less start-up.
    for (let i = 0; i < requests; i += perConnection) {
      const pairs = Math.min(perConnection, requests - i);
      const connection = await openConnection(port);
      for (let j = 0; j < pairs; j++) {
        await connection.exchange(health);
        await connection.exchange((j === pairs - 1 ? lastPosts : posts)[(i + j) % bodies.length]!);
        calls += 2;
      }
      await connection.closed;
    }
  } catch {
    // Best effort: a failed warm-up only means a slower first call.
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return { calls, ms: performance.now() - started };
}

/** A parent that is not sampled: with the default parent-based sampler no warm-up span is recorded or exported. */
const WARM_UP_TRACEPARENT = '00-0000000000000000000000000000a11e-000000000000a11e-00';

/** One HTTP/1.1 request as it goes on the wire; `close` asks the server to close the connection after its answer. */
export function wireRequest(method: 'GET' | 'POST', path: string, body?: string, connection: 'keep-alive' | 'close' = 'close'): string {
  const head = [`${method} ${path} HTTP/1.1`, 'host: 127.0.0.1', `connection: ${connection}`, `traceparent: ${WARM_UP_TRACEPARENT}`];
  if (body !== undefined) head.push('content-type: application/json', `content-length: ${Buffer.byteLength(body)}`);
  return `${head.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

interface WarmUpConnection {
  /** Writes one request and resolves once its whole answer is in (or the connection is gone). */
  exchange(request: string): Promise<void>;
  /** Resolves when the connection has closed. */
  closed: Promise<void>;
}

/**
 * A loopback connection for requests one after another. An answer is complete when its head and
 * `content-length` bytes of body are in (the service's answers always carry one; one without it
 * ends the connection). Gives up after 2 s without traffic, or on any error: never rejects.
 */
function openConnection(port: number): Promise<WarmUpConnection> {
  return new Promise((opened) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(2000, () => socket.destroy());
    socket.setEncoding('latin1');
    let received = '';
    let answered: (() => void) | undefined;
    const settle = (): void => {
      const resolve = answered;
      answered = undefined;
      resolve?.();
    };
    const closed = new Promise<void>((resolve) =>
      socket.on('close', () => {
        settle();
        resolve();
      }),
    );
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      received += chunk;
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(received.slice(0, headEnd));
      if (!length) {
        socket.destroy();
        return;
      }
      if (received.length < headEnd + 4 + Number(length[1])) return;
      received = '';
      settle();
    });
    const connection: WarmUpConnection = {
      exchange: (request) =>
        socket.destroyed
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              answered = resolve;
              socket.write(request);
            }),
      closed,
    };
    socket.once('connect', () => opened(connection));
    socket.once('close', () => opened(connection));
  });
}

/** The engine used by warm-ups: rules without I/O (a rule that needs a lookup takes its fallback/onError path). */
export function offlineEngine(engine: ClaimsEngine): ClaimsEngine {
  return engine instanceof RulesEngine ? { version: engine.version, evaluate: (event, opts) => engine.evaluateNow(event, opts) } : engine;
}

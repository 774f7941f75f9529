/**
 * Slow, oversized and too many clients against the real hook server (startService on 127.0.0.1,
 * raw sockets where HTTP clients would hide the behaviour): nothing holds a connection for long,
 * a 413 never wedges a keep-alive connection, overload is refused fast and counted, and the
 * probes on the metrics port stay answerable. Bounds are seconds, tied to the configured timeouts.
 */
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { composeAuthenticators } from '../../src/http/auth';
import { HeaderAuthenticator, SecretStore } from '../../src/http/header-auth';
import { HealthState } from '../../src/http/health';
import { LoadShedder } from '../../src/http/load-shedding';
import { createLogger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { createMetricsServer } from '../../src/observability/metrics-server';
import { startService, type RunningService } from '../../src/server';
import { LogCapture, metricValue, TEST_SECRET } from '../helpers/app';
import { fixedEngine, sleep } from '../helpers/engines';
import { oktaFixture } from '../helpers/fixtures';

const PAYLOAD = JSON.stringify(oktaFixture('token-hook-minimal'));

interface Started {
  service: RunningService;
  metrics: Metrics;
}

const services: RunningService[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const service of services.splice(0)) await service.shutdown('test');
});

async function start(env: Record<string, string>, options: { engineDelayMs?: number; shedder?: LoadShedder } = {}): Promise<Started> {
  const config = loadConfig({ NODE_ENV: 'test', HOOK_PORT: '0', METRICS_PORT: '0', HOOK_HOST: '127.0.0.1', METRICS_HOST: '127.0.0.1', SHUTDOWN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '100', ...env });
  const metrics = new Metrics({ version: 'test' });
  const health = new HealthState();
  const engine = fixedEngine(async () => {
    if (options.engineDelayMs) await sleep(options.engineDelayMs);
    return { changes: [], lifetimes: [] };
  });
  const authenticate = composeAuthenticators({ mode: 'header', header: new HeaderAuthenticator('authorization', SecretStore.fromValues([TEST_SECRET])) });
  const app = createApp({ config, logger: createLogger({ level: 'silent', destination: new LogCapture() }), metrics, engine: () => engine, authenticate, health, shedder: options.shedder });
  const service = await startService({
    config,
    app,
    health,
    logger: createLogger({ level: 'silent', destination: new LogCapture() }),
    metricsServer: createMetricsServer(metrics.registry, { notReadyReason: () => health.notReadyReason(), rulesVersion: () => engine.version }),
  });
  services.push(service);
  return { service, metrics };
}

/** A raw connection that records what the server sends and when it closes. */
function rawSocket(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let data = '';
    const opened = performance.now();
    const closed = new Promise<number>((done) => socket.on('close', () => done(performance.now() - opened)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

/** Resolves with the close time, or rejects when the socket is still open after `ms`. */
function closedWithin(closed: Promise<number>, ms: number): Promise<number> {
  return Promise.race([closed, sleep(ms).then(() => Promise.reject(new Error(`connection still open after ${ms} ms`)))]);
}

const head = (headers: Record<string, string>): string =>
  `POST /hooks/token HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

describe('413 never wedges a keep-alive connection', () => {
  it('answers 413 with Connection: close and closes while a chunked body is still arriving', async () => {
    const { service } = await start({ HOOK_BODY_LIMIT_BYTES: '1024' });
    const { socket, received, closed } = await rawSocket(service.hookPort);
    socket.write(head({ 'Content-Type': 'application/json', Authorization: TEST_SECRET, 'Transfer-Encoding': 'chunked', Connection: 'keep-alive' }));
    const chunk = (text: string): string => `${text.length.toString(16)}\r\n${text}\r\n`;
    // The body arrives in pieces, as a proxy streams it: the limit is hit on the second one.
    socket.write(chunk(`{"pad":"${'x'.repeat(600)}`));
    await sleep(100);
    socket.write(chunk('x'.repeat(600)));
    await sleep(300);
    // The proxy finishes the body and reuses the connection for the next call.
    socket.write(`${chunk(`${'x'.repeat(600)}"}`)}0\r\n\r\n`);
    socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await closedWithin(closed, 5000);
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(received().toLowerCase()).toContain('connection: close');
  });

  it('answers 413 with Connection: close for a gzip body whose inflated size is over the limit', async () => {
    const { service } = await start({ HOOK_BODY_LIMIT_BYTES: '1024' });
    const body = gzipSync(Buffer.from(`{"pad":"${'x'.repeat(200_000)}"}`));
    const { socket, received, closed } = await rawSocket(service.hookPort);
    socket.write(head({ 'Content-Type': 'application/json', Authorization: TEST_SECRET, 'Content-Encoding': 'gzip', 'Content-Length': String(body.length) }));
    socket.write(body);
    socket.write(head({ 'Content-Type': 'application/json', 'Content-Length': '2' }));
    await closedWithin(closed, 5000);
    expect(received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(received().toLowerCase()).toContain('connection: close');
  });
});

describe('slow clients are disconnected after the configured timeouts', () => {
  it('drops a client that never finishes its headers (slowloris) after HOOK_HEADERS_TIMEOUT_MS', async () => {
    const { service } = await start({ HOOK_HEADERS_TIMEOUT_MS: '1000', HOOK_REQUEST_TIMEOUT_MS: '2000' });
    const { socket, closed } = await rawSocket(service.hookPort);
    socket.write('POST /hooks/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    // Timeout + the 1 s sweep + scheduling slack; Node's defaults held such a socket for about a minute.
    await closedWithin(closed, 1000 + 1000 + 4000);
  });

  it('drops a client that never finishes its body after HOOK_REQUEST_TIMEOUT_MS', async () => {
    const { service } = await start({ HOOK_HEADERS_TIMEOUT_MS: '1000', HOOK_REQUEST_TIMEOUT_MS: '1500' });
    const { socket, closed } = await rawSocket(service.hookPort);
    socket.write(head({ 'Content-Type': 'application/json', Authorization: TEST_SECRET, 'Content-Length': '500' }));
    socket.write('{"eventType":');
    await closedWithin(closed, 1500 + 1000 + 4000);
  });
});

describe('connection cap and load shedding', () => {
  it('closes connections beyond HOOK_MAX_CONNECTIONS at once, while the probes on the metrics port answer', async () => {
    const { service } = await start({ HOOK_MAX_CONNECTIONS: '3' });
    const held = await Promise.all([1, 2, 3].map(() => rawSocket(service.hookPort)));
    for (const { socket } of held) socket.write('POST /hooks/token HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await sleep(100);
    const extra = await rawSocket(service.hookPort);
    await closedWithin(extra.closed, 3000);
    expect(extra.received()).toBe('');
    const ready = await fetch(`http://127.0.0.1:${service.metricsPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', rulesVersion: 'test-1' });
  });

  it('refuses calls beyond HOOK_MAX_IN_FLIGHT with a fast 503, counted by reason, and admits again once calls finish', async () => {
    const shedder = new LoadShedder({ maxInFlight: 1, maxEventLoopLagMs: 0 });
    const { service, metrics } = await start({}, { engineDelayMs: 500, shedder });
    const url = `http://127.0.0.1:${service.hookPort}/hooks/token`;
    const post = (): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: TEST_SECRET }, body: PAYLOAD });
    const slow = post();
    await sleep(100);
    const refused = await post();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toEqual({ error: 'overloaded', message: 'The hook is overloaded; try again later' });
    expect((await slow).status).toBe(200);
    expect(shedder.inFlight).toBe(0);
    expect((await post()).status).toBe(200);
    expect(await metricValue(metrics, 'okta_hook_shed_requests_total', { reason: 'in_flight' })).toBe(1);
    expect(await metricValue(metrics, 'okta_hook_shed_requests_total', { reason: 'event_loop_lag' })).toBe(0);
  });

  it('sheds on event-loop lag once a sample shows the loop was blocked longer than the threshold', async () => {
    const samples: number[] = [];
    const shedder = new LoadShedder({ maxInFlight: 0, maxEventLoopLagMs: 100, sampleIntervalMs: 20, onLagSample: (s) => samples.push(s) }).start();
    try {
      await sleep(50);
      const blockUntil = performance.now() + 400;
      while (performance.now() < blockUntil) {
        // Hold the event loop, as a runaway computation would.
      }
      await sleep(30);
      expect(shedder.lagMs).toBeGreaterThan(100);
      expect(shedder.admit()).toBe('event_loop_lag');
      expect(Math.max(...samples)).toBeGreaterThan(0.1);
    } finally {
      shedder.stop();
    }
  });
});

import http from 'node:http';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { composeAuthenticators } from '../../src/http/auth';
import { HeaderAuthenticator, SecretStore } from '../../src/http/header-auth';
import { HealthState } from '../../src/http/health';
import { createLogger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { createMetricsServer } from '../../src/observability/metrics-server';
import { startService, type RunningService } from '../../src/server';
import { LogCapture, TEST_SECRET } from '../helpers/app';
import { fixedEngine, sleep } from '../helpers/engines';
import { oktaFixture } from '../helpers/fixtures';

interface Reply {
  status: number;
  body: string;
  connection?: string;
}

function call(port: number, method: string, path: string, body?: string, agent?: http.Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent: agent ?? false, headers: body ? { 'content-type': 'application/json', authorization: TEST_SECRET } : {} },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data, connection: res.headers.connection }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function start(engineDelayMs: number, env: Record<string, string>): Promise<{ service: RunningService; logs: LogCapture; cleaned: string[] }> {
  const config = loadConfig({ NODE_ENV: 'test', HOOK_PORT: '0', METRICS_PORT: '0', HOOK_HOST: '127.0.0.1', METRICS_HOST: '127.0.0.1', ...env });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'info', destination: logs });
  const metrics = new Metrics({ version: 'test' });
  const health = new HealthState();
  const engine = fixedEngine(async () => {
    await sleep(engineDelayMs);
    return { changes: [{ kind: 'set', token: 'access', claim: 'slow', value: true }], lifetimes: [] };
  });
  const authenticate = composeAuthenticators({ mode: 'header', header: new HeaderAuthenticator('authorization', SecretStore.fromValues([TEST_SECRET])) });
  const app = createApp({ config, logger, metrics, engine: () => engine, authenticate, health });
  const cleaned: string[] = [];
  const service = await startService({
    config,
    app,
    health,
    logger,
    metricsServer: createMetricsServer(metrics.registry),
    cleanups: [() => void cleaned.push('telemetry flushed')],
  });
  return { service, logs, cleaned };
}

describe('graceful shutdown', () => {
  const payload = JSON.stringify(oktaFixture('token-hook-minimal'));

  it('answers a request that is in flight when shutdown starts with its 200', async () => {
    const { service, cleaned } = await start(600, { SHUTDOWN_DELAY_MS: '100', SHUTDOWN_TIMEOUT_MS: '5000' });
    const inFlight = call(service.hookPort, 'POST', '/hooks/token', payload);
    await sleep(50);
    const stopped = service.shutdown('SIGTERM');
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body).commands[0].value[0]).toEqual({ op: 'add', path: '/claims/slow', value: true });
    await stopped;
    expect(cleaned).toEqual(['telemetry flushed']);
    await expect(call(service.hookPort, 'GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('turns readiness off first and keeps serving during the delay, then stops accepting', async () => {
    const { service, logs } = await start(0, { SHUTDOWN_DELAY_MS: '400', SHUTDOWN_TIMEOUT_MS: '1000' });
    expect((await call(service.hookPort, 'GET', '/readyz')).status).toBe(200);
    const stopped = service.shutdown('SIGTERM');
    const ready = await call(service.hookPort, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toEqual({ status: 'not_ready', reason: 'shutting down' });
    const duringDelay = await call(service.hookPort, 'POST', '/hooks/token', payload);
    expect(duringDelay.status).toBe(200);
    expect(duringDelay.connection).toBe('close');
    await stopped;
    await expect(call(service.hookPort, 'POST', '/hooks/token', payload)).rejects.toThrow(/ECONNREFUSED/);
    expect(logs.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutdown: readiness off', 'shutdown: no longer accepting connections, draining', 'shutdown: complete']));
  });

  it('closes requests still running after the drain deadline', async () => {
    const { service, logs } = await start(3000, { SHUTDOWN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '200', HOOK_DEADLINE_MS: '2900' });
    const inFlight = call(service.hookPort, 'POST', '/hooks/token', payload).catch((err: Error) => err);
    await sleep(50);
    const started = Date.now();
    await service.shutdown('SIGTERM');
    // The drain deadline (200 ms) with seconds of headroom; the request itself would run for 3 s.
    expect(Date.now() - started).toBeLessThan(200 + 2000);
    expect(String(await inFlight)).toMatch(/socket hang up|ECONNRESET/);
    expect(logs.lines.some((l) => l.msg === 'shutdown: drain deadline reached, closing remaining connections')).toBe(true);
  });

  it('is idempotent when a second signal arrives', async () => {
    const { service } = await start(0, { SHUTDOWN_DELAY_MS: '50' });
    const first = service.shutdown('SIGTERM');
    const second = service.shutdown('SIGINT');
    expect(second).toBe(first);
    await first;
  });
});

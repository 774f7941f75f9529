/**
 * The hook app on a real listener (127.0.0.1, random port) with a given engine provider (and
 * shadow provider), capturing logs and metrics: "real traffic through the service" for tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import type { ClaimsEngine, EngineProvider } from '../../src/hook/engine';
import { composeAuthenticators } from '../../src/http/auth';
import { HeaderAuthenticator, SecretStore } from '../../src/http/header-auth';
import { HealthState } from '../../src/http/health';
import { createLogger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { LogCapture, TEST_SECRET } from './app';

export interface RunningHook {
  url: string;
  metrics: Metrics;
  logs: LogCapture;
  /** POSTs a payload with the test secret; the body as received (text) and the time it took. */
  call(body: unknown): Promise<{ status: number; text: string; ms: number }>;
  close(): Promise<void>;
}

export async function startHook(options: { engine: EngineProvider; shadow?: () => ClaimsEngine | undefined; env?: Record<string, string>; metrics?: Metrics }): Promise<RunningHook> {
  const config = loadConfig({ NODE_ENV: 'test', ...options.env });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'info', destination: logs });
  const metrics = options.metrics ?? new Metrics({ version: 'test' });
  const store = SecretStore.fromValues([TEST_SECRET]);
  const app = createApp({
    config,
    logger,
    metrics,
    engine: options.engine,
    shadow: options.shadow,
    authenticate: composeAuthenticators({ mode: 'header', header: new HeaderAuthenticator(config.auth.header, store) }),
    health: new HealthState(),
  });
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/hooks/token`;
  return {
    url,
    metrics,
    logs,
    async call(body) {
      const started = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: TEST_SECRET }, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, text, ms: performance.now() - started };
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

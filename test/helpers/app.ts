import { Writable } from 'node:stream';
import type Koa from 'koa';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { ClaimsEngine } from '../../src/hook/engine';
import { composeAuthenticators, type AuthenticatorSet } from '../../src/http/auth';
import type { Authenticator } from '../../src/http/auth-types';
import { HeaderAuthenticator, SecretStore } from '../../src/http/header-auth';
import { HealthState } from '../../src/http/health';
import { createLogger, type Logger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { fixedEngine } from './engines';

export const TEST_SECRET = 'Basic dGVzdDpzdXBlcnNlY3JldA==';

/** Collects pino's JSON lines so tests can assert log fields. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim().length === 0) continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    callback();
  }
}

export interface TestAppOptions {
  env?: Record<string, string>;
  engine?: ClaimsEngine;
  secrets?: string[];
  oauth?: Authenticator;
  mode?: AuthenticatorSet['mode'];
}

export interface TestApp {
  app: Koa;
  callback: ReturnType<Koa['callback']>;
  metrics: Metrics;
  logs: LogCapture;
  logger: Logger;
  health: HealthState;
  config: Readonly<Config>;
  store: SecretStore;
}

export function buildTestApp(options: TestAppOptions = {}): TestApp {
  const config = loadConfig({ NODE_ENV: 'test', ...options.env });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'info', destination: logs });
  const metrics = new Metrics({ version: 'test' });
  const health = new HealthState();
  const store = SecretStore.fromValues(options.secrets ?? [TEST_SECRET]);
  const engine = options.engine ?? fixedEngine({ changes: [{ kind: 'set', token: 'identity', claim: 'custom-claim', value: 'hello-from-hook' }], lifetimes: [] });
  const authenticate = composeAuthenticators({
    mode: options.mode ?? 'header',
    header: new HeaderAuthenticator(config.auth.header, store),
    oauth: options.oauth,
  });
  const app = createApp({ config, logger, metrics, engine: () => engine, authenticate, health });
  return { app, callback: app.callback(), metrics, logs, logger, health, config, store };
}

/** Value of one series from the registry, or undefined when absent. */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return undefined;
  const data = await metric.get();
  const match = data.values.find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val) && (!('metricName' in v) || v.metricName === name || v.metricName === undefined));
  return match?.value;
}

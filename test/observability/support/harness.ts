/**
 * A service assembled from the real parts (createApp, header auth with SecretStore, Metrics,
 * pino logger, metrics server) around a small but real ClaimsEngine, and the calls that make it
 * produce every outcome. Shared by the observability tests.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type Koa from 'koa';
import request from 'supertest';
import { createApp } from '../../../src/app';
import { loadConfig } from '../../../src/config';
import type { ClaimChange, Decision } from '../../../src/hook/decision';
import type { ClaimsEngine, Evaluation, RuleOutcome } from '../../../src/hook/engine';
import type { TokenHookEvent } from '../../../src/hook/types';
import { composeAuthenticators } from '../../../src/http/auth';
import { HeaderAuthenticator, SecretStore } from '../../../src/http/header-auth';
import { HealthState } from '../../../src/http/health';
import { createLogger } from '../../../src/observability/logger';
import { Metrics } from '../../../src/observability/metrics';
import { createMetricsServer } from '../../../src/observability/metrics-server';
import { oktaFixture } from '../../helpers/fixtures';

export const SECRET = 'obs-test-secret-value-5bd1c9';
/** A second accepted secret (rotation), so `credential="slot-2"` appears too. */
export const NEXT_SECRET = 'obs-test-next-secret-77e0aa';

/** Client ids the engine reacts to (set in the fixture before sending). */
export const CLIENT = { deny: '0oaDENYclient00000001', fail: '0oaFAILclient00000001', quiet: '0oaQUIETclient0000001' } as const;

/**
 * Four rules, evaluated in order:
 * - `tenant-claim` (always matches): sets `tenant` in both tokens and a 1 h access-token lifetime;
 * - `no-sub-override` (always matches): asks to set the reserved `sub` in the ID token (skipped by the builder);
 * - `broken-lookup` (always errors, onError skip);
 * - `deny-blocked` (matches CLIENT.deny): denies the token.
 * CLIENT.quiet gets no change at all (outcome unchanged); CLIENT.fail makes the engine throw (outcome error).
 */
export class ObservabilityTestEngine implements ClaimsEngine {
  readonly version = 'obs-rules-1';

  async evaluate(event: TokenHookEvent): Promise<Evaluation> {
    const clientId = event.data.context?.protocol?.client?.id ?? event.data.context?.protocol?.request?.client_id;
    if (clientId === CLIENT.fail) throw new Error('engine exploded while holding jordan.lee@example.com');
    if (clientId === CLIENT.quiet) {
      return { decision: { changes: [], lifetimes: [] }, rules: [{ rule: 'tenant-claim', result: 'not_matched', condition: false }] };
    }
    const changes: ClaimChange[] = [
      { kind: 'set', token: 'identity', claim: 'tenant', value: 'north', rule: 'tenant-claim' },
      { kind: 'set', token: 'access', claim: 'tenant', value: 'north', rule: 'tenant-claim' },
      { kind: 'set', token: 'identity', claim: 'sub', value: 'someone-else', rule: 'no-sub-override' },
    ];
    const rules: RuleOutcome[] = [
      { rule: 'tenant-claim', result: 'matched', condition: true },
      { rule: 'no-sub-override', result: 'matched', condition: true },
      { rule: 'broken-lookup', result: 'error', error: 'lookup failed', onError: 'skip' },
    ];
    const decision: Decision = { changes, lifetimes: [{ token: 'access', seconds: 3600, rule: 'tenant-claim' }] };
    if (clientId === CLIENT.deny) {
      rules.push({ rule: 'deny-blocked', result: 'matched', condition: true });
      decision.deny = { summary: 'Client is blocked', rule: 'deny-blocked' };
    } else {
      rules.push({ rule: 'deny-blocked', result: 'not_matched', condition: false });
    }
    return { decision, rules };
  }
}

/** Collects pino's JSON lines. */
export class LogLines extends Writable {
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.raw.push(line);
    callback();
  }
  get lines(): Array<Record<string, unknown>> {
    return this.raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

export interface Harness {
  app: Koa;
  callback: ReturnType<Koa['callback']>;
  metrics: Metrics;
  logs: LogLines;
  health: HealthState;
}

export function buildHarness(options: { defaultMetrics?: boolean } = {}): Harness {
  const config = loadConfig({ NODE_ENV: 'test' });
  const logs = new LogLines();
  const logger = createLogger({ level: 'info', destination: logs });
  const metrics = new Metrics({ version: 'obs-test', defaultMetrics: options.defaultMetrics ?? false });
  const health = new HealthState();
  metrics.observeReadiness(() => health.notReadyReason() === undefined);
  const store = SecretStore.fromValues([SECRET, NEXT_SECRET]);
  metrics.secretsLoaded.set(store.size);
  const engine = new ObservabilityTestEngine();
  metrics.recordRulesReload('success', Date.now() / 1000, { version: engine.version, rules: 4 });
  const authenticate = composeAuthenticators({ mode: 'header', header: new HeaderAuthenticator(config.auth.header, store) });
  const app = createApp({ config, logger, metrics, engine: () => engine, authenticate, health });
  return { app, callback: app.callback(), metrics, logs, health };
}

export function eventFor(clientId?: string): TokenHookEvent {
  const event = oktaFixture('token-hook-authcode-full');
  if (clientId && event.data.context?.protocol) {
    event.data.context.protocol.client = { ...event.data.context.protocol.client, id: clientId };
    if (event.data.context.protocol.request) event.data.context.protocol.request.client_id = clientId;
  }
  return event;
}

type Callback = Harness['callback'] | string;

export function postHook(target: Callback, body: unknown, headers: Record<string, string> = {}): request.Test {
  return request(target)
    .post('/hooks/token')
    .set({ 'content-type': 'application/json', authorization: SECRET, ...headers })
    .send(typeof body === 'string' ? body : JSON.stringify(body));
}

/** One call per outcome (and per auth result), with the expected HTTP status. */
export async function driveEveryOutcome(target: Callback): Promise<void> {
  const expectStatus = async (call: request.Test, status: number): Promise<void> => {
    const res = await call;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  };
  await expectStatus(postHook(target, eventFor()), 200); // patched
  await expectStatus(postHook(target, eventFor(), { authorization: NEXT_SECRET }), 200); // patched, slot-2
  await expectStatus(postHook(target, eventFor(CLIENT.quiet)), 200); // unchanged
  await expectStatus(postHook(target, eventFor(CLIENT.deny)), 200); // denied
  await expectStatus(postHook(target, eventFor(CLIENT.fail)), 500); // error
  await expectStatus(postHook(target, eventFor(), { authorization: 'not-the-secret' }), 401); // unauthorized, invalid_credentials
  await expectStatus(request(target).post('/hooks/token').set('content-type', 'application/json').send('{}'), 401); // missing_credentials
  await expectStatus(postHook(target, '{"eventType": '), 400); // bad_request: not JSON
  await expectStatus(postHook(target, { eventType: 'com.okta.something.else', data: {} }), 400); // bad_request: wrong type
}

/** Starts the metrics server of a harness on 127.0.0.1 with a random port. */
export async function startMetricsServer(metrics: Metrics): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const server = createMetricsServer(metrics.registry);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Starts the hook app on 127.0.0.1 with a random port (for Prometheus-driven tests). */
export async function startHookServer(app: Koa): Promise<{ url: string; close: () => Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer(app.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The built service process (`node dist/main.js`) against hostile inputs: it stays up, answers,
 * and its log lines say what happened without losing fields. Needs `npm run build` (npm test does).
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeUnhandled, installProcessGuard } from '../../src/process-guard';
import { Metrics } from '../../src/observability/metrics';
import { metricValue } from '../helpers/app';
import { oktaFixture } from '../helpers/fixtures';
import { freePort, startProcess, type ServiceProcess } from '../helpers/process';
import { startUpstream, type Upstream } from '../helpers/upstream';

const SECRET = 'hostile-process-test-secret';

describe('the service process under hostile inputs', () => {
  let dir: string;
  let upstream: Upstream;
  const running: ServiceProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hostile-process-'));
    upstream = await startUpstream(() => ({ status: 200, text: `${'['.repeat(10_000)}${']'.repeat(10_000)}`, headers: { 'content-type': 'application/json' } }));
  });
  afterEach(async () => {
    for (const proc of running.splice(0)) {
      if (proc.child.exitCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function launch(env: Record<string, string>): Promise<{ proc: ServiceProcess; hook: string; metrics: string }> {
    const hookPort = await freePort();
    const metricsPort = await freePort();
    const proc = startProcess({
      NODE_ENV: 'test',
      HOOK_PORT: String(hookPort),
      HOOK_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.1',
      SHUTDOWN_DELAY_MS: '0',
      OTEL_SDK_DISABLED: 'true',
      ...env,
    });
    running.push(proc);
    await proc.waitFor('okta-token-hook ready', 15000);
    return { proc, hook: `http://127.0.0.1:${hookPort}`, metrics: `http://127.0.0.1:${metricsPort}` };
  }

  it('survives a lookup answer nested 10,000 levels deep (cached lookup): the call gets the fallback, the process stays up', async () => {
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(
      rulesFile,
      `lookups:
  crm:
    type: http
    url: ${upstream.url('/users/{user.id}')}
rules:
  - name: tier
    claims:
      - { name: tier, expr: 'string(lookup.crm.size())', fallback: basic, tokens: [access] }
`,
    );
    const secretFile = join(dir, 'secret');
    await writeFile(secretFile, `${SECRET}\n`);
    const { proc, hook, metrics } = await launch({ RULES_FILE: rulesFile, HOOK_SECRET_FILE: secretFile });
    const call = (): Promise<Response> =>
      fetch(`${hook}/hooks/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: SECRET }, body: JSON.stringify(oktaFixture('token-hook-authcode-full')) });
    for (let i = 0; i < 3; i++) {
      const response = await call();
      expect(response.status).toBe(200);
      expect(((await response.json()) as { commands: unknown }).commands).toEqual([{ type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/tier', value: 'basic' }] }]);
    }
    expect(proc.child.exitCode).toBeNull();
    expect((await fetch(`${hook}/healthz`)).status).toBe(200);
    const exposition = await (await fetch(`${metrics}/metrics`)).text();
    expect(exposition).toContain('okta_hook_unhandled_errors_total{kind="rejection"} 0');
    expect(exposition).toContain('okta_hook_unhandled_errors_total{kind="exception"} 0');

    // Log lines keep every field: the rules hash does not overwrite the service version.
    const loaded = proc.stdout().split('\n').find((line) => line.includes('"rules loaded"')) ?? '';
    expect(loaded.match(/"version":/g)).toHaveLength(1);
    expect(JSON.parse(loaded)).toMatchObject({ version: expect.any(String), rulesVersion: expect.stringMatching(/^[0-9a-f]{12}$/) });

    // Secret rotation is logged with its count (not caught by the redaction of `secrets`).
    await writeFile(secretFile, `${SECRET}\nnext-secret-value\n`);
    await proc.waitFor('header secrets reloaded', 10000);
    const reloaded = proc.stdout().split('\n').find((line) => line.includes('"header secrets reloaded"')) ?? '';
    expect(JSON.parse(reloaded)).toMatchObject({ secretCount: 2 });
    expect(reloaded).not.toContain('[redacted]');
  });

  it('answers /healthz and /readyz on the metrics port as well, so probes do not depend on the hook port', async () => {
    const { metrics } = await launch({ HOOK_SECRET: SECRET });
    const health = await fetch(`${metrics}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${metrics}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', rulesVersion: 'none' });
    expect((await fetch(`${metrics}/hooks/token`)).status).toBe(404);
  });
});

describe('the process guard', () => {
  it('logs and counts an unhandled rejection and an uncaught exception instead of letting the process die', async () => {
    const target = new EventEmitter();
    const metrics = new Metrics({ version: 'test' });
    const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const remove = installProcessGuard(target, { logger: { error: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) }, onError: (kind) => metrics.unhandledErrors.inc({ kind }) });
    target.emit('unhandledRejection', new RangeError('Maximum call stack size exceeded'), Promise.resolve());
    target.emit('uncaughtException', new TypeError('boom'));
    target.emit('unhandledRejection', { secret: 'never logged' }, Promise.resolve());
    expect(await metricValue(metrics, 'okta_hook_unhandled_errors_total', { kind: 'rejection' })).toBe(2);
    expect(await metricValue(metrics, 'okta_hook_unhandled_errors_total', { kind: 'exception' })).toBe(1);
    expect(lines.map((l) => [l.msg, (l.obj.err as { type: string }).type])).toEqual([
      ['unhandled promise rejection; the process keeps serving (this is a bug)', 'RangeError'],
      ['unhandled exception; the process keeps serving (this is a bug)', 'TypeError'],
      ['unhandled promise rejection; the process keeps serving (this is a bug)', 'object'],
    ]);
    expect(JSON.stringify(lines)).not.toContain('never logged');
    remove();
    expect(target.listenerCount('unhandledRejection')).toBe(0);
    expect(describeUnhandled(new Error('x'.repeat(500))).message).toHaveLength(200);
  });
});

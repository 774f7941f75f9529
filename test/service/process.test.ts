import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oktaFixture } from '../helpers/fixtures';
import { freePort, startProcess, type ServiceProcess } from '../helpers/process';

/** Black-box tests of the built service: real process, real signals, real ports. */
describe('the service process', () => {
  const running: ServiceProcess[] = [];
  afterEach(async () => {
    for (const proc of running.splice(0)) {
      if (proc.child.exitCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
  });
  const launch = (env: Record<string, string>): ServiceProcess => {
    const proc = startProcess(env);
    running.push(proc);
    return proc;
  };
  const post = (port: number, secret: string) =>
    fetch(`http://127.0.0.1:${port}/hooks/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: secret },
      body: JSON.stringify(oktaFixture('token-hook-minimal')),
    });

  it('refuses to start in production without a configured secret', async () => {
    const proc = launch({ NODE_ENV: 'production', HOOK_PORT: String(await freePort()), METRICS_ENABLED: 'false' });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toContain('No hook secret configured');
    expect(proc.stderr()).not.toMatch(/generated one/);
  });

  it('exits 1 with a message naming the key on invalid configuration', async () => {
    const proc = launch({ HOOK_PORT: 'not-a-port' });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toMatch(/Invalid configuration: server\.port: must be a TCP port/);
  });

  it('generates and prints a secret once in development, and accepts it', async () => {
    const port = await freePort();
    const proc = launch({ NODE_ENV: 'development', HOOK_PORT: String(port), METRICS_ENABLED: 'false' });
    await proc.waitFor('okta-token-hook ready');
    const match = /authorization: (\S+)/.exec(proc.stderr());
    expect(match).not.toBeNull();
    const secret = (match as RegExpExecArray)[1] as string;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(proc.stderr().split(secret).length - 1).toBe(1);
    expect(proc.stdout()).not.toContain(secret);
    expect((await post(port, secret)).status).toBe(200);
    expect((await post(port, 'wrong')).status).toBe(401);
  });

  it('serves with secrets from HOOK_SECRET_FILE and exits 0 on SIGTERM after draining', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hook-proc-'));
    try {
      await writeFile(join(dir, 'hook-secret'), 'file-secret-1\nfile-secret-2\n');
      const [port, metricsPort] = [await freePort(), await freePort()];
      const proc = launch({
        NODE_ENV: 'production',
        HOOK_PORT: String(port),
        METRICS_PORT: String(metricsPort),
        HOOK_SECRET_FILE: join(dir, 'hook-secret'),
        SHUTDOWN_DELAY_MS: '300',
        SHUTDOWN_TIMEOUT_MS: '2000',
      });
      await proc.waitFor('okta-token-hook ready');
      expect((await post(port, 'file-secret-2')).status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain('okta_hook_auth_success_total{method="header",credential="slot-2"} 1');
      expect(metrics).toContain('okta_hook_secrets_loaded 2');
      expect(metrics).toContain('nodejs_eventloop_lag_seconds');
      proc.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
      expect(await proc.exited).toBe(0);
      expect(proc.stdout()).toContain('shutdown: complete');
      expect(proc.stdout() + proc.stderr()).not.toContain('file-secret');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

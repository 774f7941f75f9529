/**
 * The image's entry point (Dockerfile: ENTRYPOINT ["/nodejs/bin/node", "/app/dist/entrypoint.js"],
 * CMD []): the built dist/entrypoint.js run as the container runs it, with the argument lists of
 * `docker run IMAGE` (the service) and `docker run IMAGE check /rules/rules.yaml` (the CLI).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT, startProcess, type ServiceProcess } from '../helpers/process';

const ENTRYPOINT = join(ROOT, 'dist', 'entrypoint.js');
const EXAMPLE_RULES = join(ROOT, 'examples', 'rules.yaml');

function runEntrypoint(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [ENTRYPOINT, ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('image entry point: arguments run the CLI', () => {
  it('`check RULES_FILE` validates the file like `okta-token-hook check` and exits 0', () => {
    const result = runEntrypoint(['check', EXAMPLE_RULES]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`${EXAMPLE_RULES}: OK`);
    expect(result.status).toBe(0);
  });

  it('`check` on an invalid rules file exits 1 with the errors, and starts no server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'entrypoint-'));
    try {
      const file = join(dir, 'rules.yaml');
      await writeFile(file, 'rules:\n  - name: broken\n    claims: 42\n');
      const result = runEntrypoint(['check', file]);
      expect(result.status).toBe(1);
      expect(result.stderr).not.toBe('');
      expect(`${result.stdout}${result.stderr}`).not.toContain('okta-token-hook ready');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an unknown command exits 2 with the CLI usage', () => {
    const result = runEntrypoint(['frobnicate']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('Usage:');
  });
});

describe('image entry point: no arguments start the service', () => {
  let proc: ServiceProcess | undefined;
  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  });

  it('serves the hook and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    proc = startProcess(
      { NODE_ENV: 'development', HOOK_PORT: String(port), METRICS_ENABLED: 'false', OTEL_SDK_DISABLED: 'true', SHUTDOWN_DELAY_MS: '0', RULES_FILE: EXAMPLE_RULES },
      [ENTRYPOINT],
    );
    await proc.waitFor('okta-token-hook ready', 20000);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });
});

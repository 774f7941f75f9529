/**
 * The built service (`node dist/main.js`) opens its lookups' connections during the warm-up,
 * before it reports ready: the first login after a start does not pay for DNS, TCP and TLS inside
 * the lookup's timeout, and an unreachable upstream is said at start-up, not found at the first
 * login. Needs `npm run build` (npm test does).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oktaFixture } from '../helpers/fixtures';
import { freePort, startProcess, type ServiceProcess } from '../helpers/process';
import { reply, startUpstream, type Upstream } from '../helpers/upstream';

const SECRET = 'lookup-preopen-test-secret';

describe('lookup connections opened before ready', () => {
  let dir: string;
  let upstream: Upstream;
  const running: ServiceProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookup-preopen-'));
    upstream = await startUpstream(reply.json({ tier: 'gold' }));
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

  async function launch(crmUrl: string, env: Record<string, string> = {}): Promise<{ proc: ServiceProcess; hook: string; metrics: string }> {
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(
      rulesFile,
      `lookups:
  crm:
    type: http
    url: ${crmUrl}/users/{user.id}
    extract: tier
rules:
  - name: tier
    claims:
      - { name: tier, expr: lookup.crm, fallback: basic, tokens: [access] }
`,
    );
    const [hookPort, metricsPort] = [await freePort(), await freePort()];
    const proc = startProcess({
      NODE_ENV: 'test',
      HOOK_PORT: String(hookPort),
      HOOK_HOST: '127.0.0.1',
      HOOK_SECRET: SECRET,
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.1',
      SHUTDOWN_DELAY_MS: '0',
      OTEL_SDK_DISABLED: 'true',
      RULES_FILE: rulesFile,
      ...env,
    });
    running.push(proc);
    await proc.waitFor('okta-token-hook ready', 15000);
    return { proc, hook: `http://127.0.0.1:${hookPort}`, metrics: `http://127.0.0.1:${metricsPort}` };
  }

  const readyLine = (proc: ServiceProcess): Record<string, unknown> =>
    JSON.parse(proc.stdout().split('\n').find((line) => line.includes('"okta-token-hook ready"')) ?? '{}') as Record<string, unknown>;
  const login = (hook: string): Promise<Response> =>
    fetch(`${hook}/hooks/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: SECRET }, body: JSON.stringify(oktaFixture('token-hook-authcode-full')) });
  const exposition = async (metrics: string): Promise<string> => (await fetch(`${metrics}/metrics`)).text();
  const preopened = (text: string, result: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`okta_hook_lookup_preopened_connections_total{lookup="crm",result="${result}"} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };

  it("opens a connection to the lookup's upstream before ready, sends nothing on it, and the first login rides it", async () => {
    const { proc, hook, metrics } = await launch(upstream.origin);
    expect(readyLine(proc)).toMatchObject({ warmUp: { lookupConnections: { opened: 1, failed: 0, pending: 0 } } });
    expect(upstream.connections).toBe(1);
    expect(upstream.requests).toHaveLength(0);
    expect(preopened(await exposition(metrics), 'opened')).toBe(1);

    const response = await login(hook);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { commands: unknown }).commands).toEqual([{ type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/tier', value: 'gold' }] }]);
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.connections).toBe(1);
    expect(preopened(await exposition(metrics), 'used')).toBe(1);
  });

  it('starts when the upstream refuses connections: a warning naming the lookup and the reason, and the logins take the fallback', async () => {
    const closedPort = await freePort();
    const { proc, hook, metrics } = await launch(`http://127.0.0.1:${closedPort}`);
    expect(readyLine(proc)).toMatchObject({ warmUp: { lookupConnections: { opened: 0, failed: 1, pending: 0 } } });
    const warning = JSON.parse(proc.stdout().split('\n').find((line) => line.includes('opened ahead of its first call')) ?? '{}') as Record<string, unknown>;
    expect(warning).toMatchObject({ level: 'warn', lookup: 'crm', failed: 1, error: 'connection failed (ECONNREFUSED)' });
    expect(JSON.stringify(warning)).not.toContain(String(closedPort));
    expect(preopened(await exposition(metrics), 'failed')).toBe(1);
    expect((await fetch(`${hook}/readyz`)).status).toBe(200);
    const response = await login(hook);
    expect(((await response.json()) as { commands: unknown }).commands).toEqual([{ type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/tier', value: 'basic' }] }]);
  });

  it('opens none with LOOKUP_PREOPEN_CONNECTIONS=0', async () => {
    const { proc } = await launch(upstream.origin, { LOOKUP_PREOPEN_CONNECTIONS: '0' });
    expect(readyLine(proc)).not.toHaveProperty('warmUp.lookupConnections');
    expect(upstream.connections).toBe(0);
  });
});

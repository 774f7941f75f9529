import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { parse, parseAllDocuments } from 'yaml';

const STUB = join(__dirname, '..', '..', 'load-tests', 'stub-upstream.js');

interface Stub {
  url: string;
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcessWithoutNullStreams>();

/** Starts the stub as its own process on a free port; every stub also has a --max-seconds safety net. */
function startStub(args: string[]): Promise<Stub> {
  const child = spawn(process.execPath, [STUB, '--port', '0', '--max-seconds', '60', ...args], { stdio: 'pipe' });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    running.delete(child);
    resolve(code);
  }));
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve({ url: JSON.parse(line).url, child, output: () => stdout, exited });
    });
    void exited.then((code) => reject(new Error(`stub exited with ${code} before listening: ${stderr}`)));
  });
}

async function stopStub(stub: Stub): Promise<void> {
  if (stub.child.exitCode === null) stub.child.kill('SIGTERM');
  await stub.exited;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: performance.now() - started }));
    });
    req.on('error', reject);
  });
}

async function sequential(count: number, fn: (i: number) => Promise<Reply>): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < count; i++) replies.push(await fn(i));
  return replies;
}

afterAll(async () => {
  // Safety net for a failed test: stop whatever is still running, by its own handle.
  await Promise.all([...running].map((child) => new Promise((resolve) => {
    child.on('exit', resolve);
    child.kill('SIGKILL');
  })));
});

describe('stub upstream', () => {
  it('binds 127.0.0.1 by default and serves deterministic entitlements per user', async () => {
    const stub = await startStub(['--latency-ms', '0', '--jitter-ms', '0']);
    try {
      expect(stub.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const a = await get(`${stub.url}/users/00uload0000000000042/entitlements`);
      const b = await get(`${stub.url}/users/00uload0000000000042/entitlements`);
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe('application/json');
      expect(a.body).toBe(b.body);
      const body = JSON.parse(a.body);
      expect(body).toMatchObject({ userId: '00uload0000000000042', tier: expect.stringMatching(/^(bronze|silver|gold|platinum)$/), costCenter: expect.stringMatching(/^CC-\d{4}$/) });
      expect(Array.isArray(body.entitlements)).toBe(true);
    } finally {
      await stopStub(stub);
    }
  });

  it('adds the configured latency to lookups but not to /healthz', async () => {
    const stub = await startStub(['--latency-ms', '150', '--jitter-ms', '0']);
    try {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`${stub.url}/users/u${i}/entitlements`)));
      for (const reply of replies) {
        expect(reply.status).toBe(200);
        expect(reply.headers['x-stub-delay-ms']).toBe('150.0');
        // A timer never fires early: the wall time is at least the delay (less a millisecond of timer rounding).
        expect(reply.ms).toBeGreaterThanOrEqual(148);
      }
      const health = await get(`${stub.url}/healthz`);
      expect(health.status).toBe(200);
      expect(health.headers['x-stub-delay-ms']).toBeUndefined();
    } finally {
      await stopStub(stub);
    }
  });

  it('spreads latency uniformly within mean +/- jitter', async () => {
    const stub = await startStub(['--latency-ms', '100', '--jitter-ms', '50']);
    try {
      const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => get(`${stub.url}/users/u${i}/entitlements`)));
      // The draws (reported per answer), not wall times, which a busy machine stretches.
      const draws = replies.map((r) => Number(r.headers['x-stub-delay-ms']));
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(50);
      expect(Math.max(...draws)).toBeLessThanOrEqual(150);
      expect(Math.max(...draws) - Math.min(...draws)).toBeGreaterThan(30);
      for (const [i, reply] of replies.entries()) expect(reply.ms).toBeGreaterThanOrEqual(draws[i]! - 2);
    } finally {
      await stopStub(stub);
    }
  });

  it('fails every request with an Okta-style error at error rate 1, with Retry-After on 429', async () => {
    const stub = await startStub(['--latency-ms', '0', '--jitter-ms', '0', '--error-rate', '1', '--error-status', '429']);
    try {
      const replies = await sequential(20, (i) => get(`${stub.url}/api/v1/users/u${i}/groups`));
      for (const reply of replies) {
        expect(reply.status).toBe(429);
        expect(reply.headers['retry-after']).toBe('1');
        expect(JSON.parse(reply.body)).toMatchObject({ errorCode: 'E0000047' });
      }
      const stats = JSON.parse((await get(`${stub.url}/stats`)).body);
      expect(stats).toMatchObject({ requests: 20, injectedErrors: 20, byRoute: { groups: 20 } });
    } finally {
      await stopStub(stub);
    }
  });

  it('fails about the configured fraction of requests, reproducibly with a seed', async () => {
    const args = ['--latency-ms', '0', '--jitter-ms', '0', '--error-rate', '0.3', '--seed', 'load-test'];
    const runOnce = async (): Promise<number[]> => {
      const stub = await startStub(args);
      try {
        return (await sequential(300, (i) => get(`${stub.url}/users/u${i}/entitlements`))).map((r) => r.status);
      } finally {
        await stopStub(stub);
      }
    };
    const first = await runOnce();
    const second = await runOnce();
    expect(second).toEqual(first);
    const failures = first.filter((s) => s === 503).length;
    expect(first.filter((s) => s !== 503 && s !== 200)).toEqual([]);
    expect(failures).toBeGreaterThan(60); // mean 90, standard deviation about 8
    expect(failures).toBeLessThan(120);
  });

  it('never fails at error rate 0', async () => {
    const stub = await startStub(['--latency-ms', '0', '--jitter-ms', '0']);
    try {
      const replies = await sequential(100, (i) => get(`${stub.url}/users/u${i}/entitlements`));
      expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    } finally {
      await stopStub(stub);
    }
  });

  it('paginates Okta groups with Link headers, like /api/v1/users/:id/groups', async () => {
    const stub = await startStub(['--latency-ms', '0', '--jitter-ms', '0', '--groups', '25', '--page-size', '10']);
    try {
      const pages: unknown[][] = [];
      let next: string | undefined = `${stub.url}/api/v1/users/00uload0000000000007/groups`;
      while (next !== undefined && pages.length < 10) {
        const reply = await get(next);
        expect(reply.status).toBe(200);
        expect(reply.headers.link).toContain('rel="self"');
        pages.push(JSON.parse(reply.body));
        next = /<([^>]+)>; rel="next"/.exec(String(reply.headers.link))?.[1];
      }
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      const groups = pages.flat() as Array<{ id: string; type: string; profile: { name: string }; objectClass: string[] }>;
      expect(new Set(groups.map((g) => g.id)).size).toBe(25);
      for (const group of groups) {
        expect(group.id).toMatch(/^00g[0-9a-z]{17}$/);
        expect(group.objectClass).toEqual(['okta:user_group']);
      }
      expect(groups[0]).toMatchObject({ type: 'BUILT_IN', profile: { name: 'Everyone' } });

      const onePage = await get(`${stub.url}/api/v1/users/00uload0000000000007/groups?limit=100`);
      expect(JSON.parse(onePage.body)).toHaveLength(25);
      expect(onePage.headers.link).not.toContain('rel="next"');

      const badCursor = await get(`${stub.url}/api/v1/users/00uload0000000000007/groups?after=00gnotacursor`);
      expect(badCursor.status).toBe(400);
    } finally {
      await stopStub(stub);
    }
  });

  it('requires the configured Authorization header, answers 404 for unknown users and paths, 405 for non-GET', async () => {
    const stub = await startStub(['--latency-ms', '0', '--jitter-ms', '0', '--require-auth', 'SSWS stub-token']);
    try {
      expect(stub.output()).toContain('"require-auth":"(set)"');
      expect(stub.output()).not.toContain('stub-token');
      expect((await get(`${stub.url}/users/u1/entitlements`)).status).toBe(401);
      expect((await get(`${stub.url}/users/u1/entitlements`, { authorization: 'SSWS wrong' })).status).toBe(401);
      const auth = { authorization: 'SSWS stub-token' };
      expect((await get(`${stub.url}/users/u1/entitlements`, auth)).status).toBe(200);
      const missing = await get(`${stub.url}/api/v1/users/00unotfound000000001/groups`, auth);
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.body)).toMatchObject({ errorCode: 'E0000007' });
      expect((await get(`${stub.url}/nothing/here`, auth)).status).toBe(404);
      const post = await new Promise<number>((resolve, reject) => {
        const req = http.request(`${stub.url}/users/u1/entitlements`, { method: 'POST', agent: false, headers: auth }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(post).toBe(405);
    } finally {
      await stopStub(stub);
    }
  });

  it('holds requests at hang rate 1 and still shuts down promptly on SIGTERM', async () => {
    const stub = await startStub(['--hang-rate', '1', '--hang-ms', '60000']);
    const held = get(`${stub.url}/users/u1/entitlements`).then(
      () => 'answered',
      () => 'dropped',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stats = JSON.parse((await get(`${stub.url}/stats`)).body);
    expect(stats.injectedHangs).toBe(1);
    const started = Date.now();
    stub.child.kill('SIGTERM');
    expect(await stub.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await held).toBe('dropped');
    expect(stub.output()).toContain('"reason":"SIGTERM"');
  });

  it('answers a hung request after --hang-ms', async () => {
    const stub = await startStub(['--hang-rate', '1', '--hang-ms', '300', '--latency-ms', '0']);
    try {
      const reply = await get(`${stub.url}/users/u1/entitlements`);
      expect(reply.status).toBe(200);
      expect(reply.ms).toBeGreaterThanOrEqual(298);
    } finally {
      await stopStub(stub);
    }
  });

  it('stops by itself after --max-seconds', async () => {
    const child = spawn(process.execPath, [STUB, '--port', '0', '--max-seconds', '1'], { stdio: 'pipe' });
    running.add(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => {
      running.delete(child);
      resolve(c);
    }));
    expect(code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(stdout).toContain('"reason":"max-seconds"');
  });

  it.each([
    [['--error-rate', '1.5'], '--error-rate must be a number >= 0 and <= 1'],
    [['--port', 'http'], '--port must be an integer'],
    [['--bogus', '1'], 'unknown option --bogus'],
  ])('refuses %j with exit code 2', async (args, message) => {
    const child = spawn(process.execPath, [STUB, ...args], { stdio: 'pipe' });
    running.add(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => {
      running.delete(child);
      resolve(c);
    }));
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('takes its settings from STUB_* environment variables, flags winning', async () => {
    const child = spawn(process.execPath, [STUB, '--port', '0', '--max-seconds', '60', '--groups', '3'], {
      stdio: 'pipe',
      env: { ...process.env, STUB_LATENCY_MS: '0', STUB_JITTER_MS: '0', STUB_GROUPS: '7', STUB_PAGE_SIZE: '2' },
    });
    running.add(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => {
      running.delete(child);
      resolve(c);
    }));
    const url = await new Promise<string>((resolve) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n').find((l) => l.includes('"listening"'));
        if (line) resolve(JSON.parse(line).url);
      });
    });
    try {
      const reply = await get(`${url}/api/v1/users/u1/groups?limit=100`);
      expect(JSON.parse(reply.body)).toHaveLength(3);
      const firstPage = await get(`${url}/api/v1/users/u1/groups`);
      expect(JSON.parse(firstPage.body)).toHaveLength(2);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('stub upstream manifests (kubectl apply -k load-tests/)', () => {
  const dir = join(__dirname, '..', '..', 'load-tests');
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  const docs = parseAllDocuments(readFileSync(join(dir, 'k8s', 'stub-upstream.yaml'), 'utf8')).map((d) => d.toJSON());

  it('are a valid Deployment and Service', () => {
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'Service']);
    expect(() => new Deployment(docs[0]).validate()).not.toThrow();
    expect(() => new Service(docs[1]).validate()).not.toThrow();
  });

  it('run the generated script on all interfaces of the pod, hardened, with a readiness probe', () => {
    expect(kustomization.resources).toEqual(['k8s/stub-upstream.yaml']);
    expect(kustomization.configMapGenerator).toEqual([{ name: 'stub-upstream', files: ['stub-upstream.js'] }]);
    const pod = docs[0].spec.template.spec;
    const container = pod.containers[0];
    expect(pod.volumes).toEqual([{ name: 'script', configMap: { name: 'stub-upstream' } }]);
    expect(container.volumeMounts).toEqual([{ name: 'script', mountPath: '/app', readOnly: true }]);
    expect(container.command).toEqual(['node', '/app/stub-upstream.js', '--host', '0.0.0.0', '--port', '8090']);
    expect(container.readinessProbe.httpGet.path).toBe('/healthz');
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(docs[1].spec.ports).toEqual([{ name: 'http', port: 8090, targetPort: 'http' }]);
    // Every variable the manifest sets is one the script reads.
    const script = readFileSync(join(dir, 'stub-upstream.js'), 'utf8');
    for (const env of container.env as Array<{ name: string }>) expect(script).toContain(`env: '${env.name}'`);
  });
});

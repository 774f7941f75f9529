/**
 * What the built service (`node dist/main.js`) leaves unloaded: Node's internal fetch (undici) and
 * its web streams are lazy globals that cost about 25 ms and a few MB the first time anything reads
 * `Response`, `ReadableStream` or `Blob` (Koa does for any object body). The service uses neither,
 * so no answer it gives, from the warm-up to the shutdown, may load them. Needs `npm run build`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oktaFixture } from '../helpers/fixtures';
import { freePort, MAIN, startProcess } from '../helpers/process';

const SECRET = 'lazy-builtins-test-secret';

describe('built-in modules the service never loads', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lazy-builtins-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("answers probes, hook calls and every kind of error without loading Node's fetch or web streams, or the JWT library (tracing on)", async () => {
    const list = join(dir, 'modules.json');
    const files = join(dir, 'files.json');
    const preload = await writeTemp(
      dir,
      'record-modules.js',
      `process.on('exit', () => { const fs = require('node:fs'); fs.writeFileSync(${JSON.stringify(list)}, JSON.stringify(process.moduleLoadList)); fs.writeFileSync(${JSON.stringify(files)}, JSON.stringify(Object.keys(require.cache))); });\n`,
    );
    const [port, metricsPort, otlpPort] = [await freePort(), await freePort(), await freePort()];
    const proc = startProcess(
      {
        NODE_ENV: 'test',
        HOOK_HOST: '127.0.0.1',
        HOOK_PORT: String(port),
        METRICS_HOST: '127.0.0.1',
        METRICS_PORT: String(metricsPort),
        HOOK_SECRET: SECRET,
        SHUTDOWN_DELAY_MS: '0',
        RULES_FILE: join(__dirname, '..', '..', 'examples', 'rules.yaml'),
        // Tracing on, exporting to a port nobody listens on (no export is due within the test).
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
      },
      ['-r', preload, MAIN],
    );
    try {
      await proc.waitFor('okta-token-hook ready', 15000);
      const base = `http://127.0.0.1:${port}`;
      const post = (body: string, secret = SECRET): Promise<Response> =>
        fetch(`${base}/hooks/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: secret }, body });
      const statuses = [
        (await fetch(`${base}/healthz`)).status,
        (await fetch(`${base}/readyz`)).status,
        (await fetch(`${base}/healthz`, { method: 'HEAD' })).status,
        (await post(JSON.stringify(oktaFixture('token-hook-authcode-full')))).status,
        (await post('{"not":')).status,
        (await post('{}')).status,
        (await post('{}', 'wrong-secret')).status,
        (await fetch(`${base}/nope`)).status,
        (await fetch(`${base}/hooks/token`)).status,
        (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status,
      ];
      expect(statuses).toEqual([200, 200, 200, 200, 400, 400, 401, 404, 405, 200]);
    } finally {
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    }
    const loaded = JSON.parse(await readFile(list, 'utf8')) as string[];
    expect(loaded.length).toBeGreaterThan(100);
    expect(loaded.filter((name) => /internal\/deps\/undici|internal\/webstreams\//.test(name))).toEqual([]);
    // Nor the JWT library: header-secret deployments and lookups without `private_key_jwt` never sign or verify one
    // (the example rules have an HTTP lookup, so the lookups' credentials module is loaded).
    const required = JSON.parse(await readFile(files, 'utf8')) as string[];
    expect(required.some((file) => /[\\/]dist[\\/]lookups[\\/]credentials\.js$/.test(file))).toBe(true);
    expect(required.filter((file) => /[\\/]node_modules[\\/]jose[\\/]/.test(file))).toEqual([]);
  }, 30_000);
});

async function writeTemp(dir: string, name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

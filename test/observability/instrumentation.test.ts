import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { isBuiltin } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { freePort, MAIN, ROOT, startProcess, type ServiceProcess } from '../helpers/process';
import { eventFor, SECRET } from './support/harness';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver';

/**
 * The built service started the way the container starts it
 * (`node --require ./dist/instrumentation.js dist/main.js`), exporting to a local OTLP/HTTP
 * receiver through the SDK configured only by OTEL_* variables. Needs `npm run build` (npm test runs it).
 * Run three times: on the tsc build, on the esbuild bundles the image ships (scripts/bundle.js run
 * on a copy of dist/, the SDK and the app each in one file), and on those bundles started the way
 * the image starts them (dist/entrypoint.js, with the caches scripts/compile-cache.js makes).
 */
const { bundle } = require('../../scripts/bundle.js') as { bundle(distDir: string): Promise<void> };

interface Build {
  instrumentation: string;
  main: string;
  /** How the process is started; default `--require <instrumentation> <main>`. */
  args?: () => string[];
  env?: Record<string, string>;
}
const TSC_BUILD: Build = { instrumentation: join(ROOT, 'dist', 'instrumentation.js'), main: MAIN };
let bundledDir: string | undefined;
const BUNDLED_BUILD: Build = { instrumentation: '', main: '' };
/**
 * The image's entry point on the bundles, with the compile cache and the bundles' code cache made
 * by scripts/compile-cache.js (src/code-cache.ts loads them through vm.Script). Without a Node.js
 * that has a compile cache (>= 22.1) no cache is made and the entry point requires the bundles.
 */
const IMAGE_ENTRY: Build = { instrumentation: '', main: '', args: () => [join(bundledDir!, 'dist', 'entrypoint.js')], env: {} };

beforeAll(async () => {
  // The image's layout: /app/dist (bundled), /app/node_modules (pino and the rest stay resolvable).
  bundledDir = mkdtempSync(join(tmpdir(), 'bundled-'));
  cpSync(join(ROOT, 'dist'), join(bundledDir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(bundledDir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(bundledDir, 'node_modules'));
  await bundle(join(bundledDir, 'dist'));
  BUNDLED_BUILD.instrumentation = join(bundledDir, 'dist', 'instrumentation.js');
  BUNDLED_BUILD.main = join(bundledDir, 'dist', 'main.js');
  if (typeof (require('node:module') as { enableCompileCache?: unknown }).enableCompileCache === 'function') {
    const { generate } = require('../../scripts/compile-cache.js') as { generate(dir: string, options: { root: string }): Promise<unknown> };
    const cacheDir = join(bundledDir, '.compile-cache');
    await generate(cacheDir, { root: bundledDir });
    IMAGE_ENTRY.env = { NODE_COMPILE_CACHE: cacheDir };
  }
}, 120000);
afterAll(() => {
  if (bundledDir) rmSync(bundledDir, { recursive: true, force: true });
});
const { version: PACKAGE_VERSION } = require('../../package.json') as { version: string };

const TRACE_SAMPLED = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const TRACE_UNSAMPLED = '5cf92f3577b34da6a3ce929d0e0e4799';

describe.each([
  ['tsc build (npm run build)', TSC_BUILD],
  ['image bundles (npm run build:bundle)', BUNDLED_BUILD],
  ['image entry point (dist/entrypoint.js on the bundles, with their code cache)', IMAGE_ENTRY],
])('instrumentation.ts in the service process, %s', (_name, build) => {
  let receiver: OtlpReceiver;
  const running: ServiceProcess[] = [];

  beforeEach(async () => {
    receiver = await startOtlpReceiver();
  });
  afterEach(async () => {
    for (const proc of running.splice(0)) {
      if (proc.child.exitCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
    await receiver.close();
  });

  async function launch(extraEnv: Record<string, string>): Promise<{ proc: ServiceProcess; hook: string; metrics: string }> {
    const hookPort = await freePort();
    const metricsPort = await freePort();
    const proc = startProcess(
      {
        NODE_ENV: 'test',
        HOOK_SECRET: SECRET,
        HOOK_PORT: String(hookPort),
        HOOK_HOST: '127.0.0.1',
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '127.0.0.1',
        SHUTDOWN_DELAY_MS: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-scope-orgid=tenant-a',
        // Nothing is exported before shutdown: the spans below arrive through the shutdown flush.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
        K8S_POD_NAME: 'okta-token-hook-7d9f-abcde',
        K8S_NAMESPACE_NAME: 'identity',
        K8S_NODE_NAME: 'node-1',
        ...build.env,
        ...extraEnv,
      },
      build.args ? build.args() : ['--require', build.instrumentation, build.main],
    );
    running.push(proc);
    await proc.waitFor('okta-token-hook ready', 15000);
    return { proc, hook: `http://127.0.0.1:${hookPort}`, metrics: `http://127.0.0.1:${metricsPort}/metrics` };
  }

  const callHook = (hook: string, traceparent: string): Promise<Response> =>
    fetch(`${hook}/hooks/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: SECRET, traceparent },
      body: JSON.stringify(eventFor()),
    });

  async function stop(proc: ServiceProcess): Promise<number | null> {
    proc.child.kill('SIGTERM');
    return proc.exited;
  }

  it('exports the server span of a call, child of its traceparent, over OTLP/HTTP JSON at shutdown, and nothing for probes', async () => {
    const { proc, hook, metrics } = await launch({});
    expect((await fetch(`${hook}/healthz`)).status).toBe(200);
    expect((await fetch(`${hook}/readyz`)).status).toBe(200);
    expect((await fetch(metrics)).status).toBe(200);
    expect((await callHook(hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`)).status).toBe(200);
    // Parent-based sampling: a caller's "not sampled" decision is kept (default sampler parentbased_traceidratio).
    expect((await callHook(hook, `00-${TRACE_UNSAMPLED}-${PARENT_SPAN}-00`)).status).toBe(200);
    expect(receiver.spans).toHaveLength(0);

    expect(await stop(proc)).toBe(0);
    // No warning of any kind (the bundles run through vm.Script in the image: no experimental loader is needed).
    expect(proc.stderr()).toBe('');

    // Traces only: no OTLP metrics or logs exporter was started (the SDK's defaults would add both).
    expect(new Set(receiver.requests.map((r) => r.path))).toEqual(new Set(['/v1/traces']));
    const request = receiver.requests.find((r) => r.path === '/v1/traces');
    expect(request?.contentType).toMatch(/^application\/json/);
    expect(request?.headers['x-scope-orgid']).toBe('tenant-a');

    // One SERVER span per call, started by the service itself (no http/koa instrumentation spans).
    const hookSpan = receiver.spans.find((s) => s.name === 'POST /hooks/token');
    expect(hookSpan).toMatchObject({ traceId: TRACE_SAMPLED, parentSpanId: PARENT_SPAN, kind: 2, scope: 'okta-token-hook' });
    expect(hookSpan?.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/hooks/token',
      'http.response.status_code': 200,
      'okta.event_id': 'Vb7nQ2pXRk6Ty1wLmZ8sAc',
      'okta.hook.outcome': 'unchanged', // no RULES_FILE
    });

    // Exactly one call's worth of spans: no probe or scrape span, no unsampled trace, no fs/dns/net spans.
    expect(receiver.spans.map((s) => s.traceId)).toEqual([TRACE_SAMPLED]);

    expect(hookSpan?.resource).toMatchObject({
      'service.name': 'okta-token-hook',
      'service.version': PACKAGE_VERSION,
      'k8s.pod.name': 'okta-token-hook-7d9f-abcde',
      'k8s.namespace.name': 'identity',
      'k8s.node.name': 'node-1',
    });

    // The call's log line is in the same trace.
    const lines = proc
      .stdout()
      .split('\n')
      .filter((line) => line.includes('"token hook call"'))
      .map((line) => JSON.parse(line) as Record<string, string>);
    expect(lines).toHaveLength(2);
    expect(lines[0]?.trace_id).toBe(TRACE_SAMPLED);
    expect(receiver.spans.map((s) => s.spanId)).toContain(lines[0]?.span_id);
    expect(lines[1]?.trace_id).toBe(TRACE_UNSAMPLED);
    expect(lines[1]?.trace_flags).toBe('00');
  });

  it('traces a lookup\'s outgoing call as an undici CLIENT span inside the call\'s trace (undici is fed by diagnostics_channel, bundled or not)', async () => {
    const upstream = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"roles":["clinician"]}'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'lookup-rules-'));
    try {
      const rulesFile = join(dir, 'rules.yaml');
      const { port } = upstream.address() as AddressInfo;
      writeFileSync(
        rulesFile,
        `lookups:\n  entitlements:\n    type: http\n    url: http://127.0.0.1:${port}/entitlements/{client.id}\n    timeoutMs: 2000\nrules:\n  - name: looked-up\n    claims:\n      - name: roles\n        expr: 'lookup.entitlements.?roles.orValue([])'\n`,
      );
      const { proc, hook } = await launch({ RULES_FILE: rulesFile, RULES_WATCH: 'false' });
      const response = await callHook(hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`);
      expect(response.status).toBe(200);
      expect(JSON.stringify(await response.json())).toContain('clinician');
      expect(await stop(proc)).toBe(0);
      const client = receiver.spans.find((s) => s.kind === 3);
      expect(client).toMatchObject({ traceId: TRACE_SAMPLED });
      expect(client?.attributes).toMatchObject({ 'http.request.method': 'GET', 'server.address': '127.0.0.1' });
      expect(receiver.spans.map((s) => s.spanId)).toContain(client?.parentSpanId);
    } finally {
      upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a gzip-encoded hook call and exports gzip-compressed with OTEL_EXPORTER_OTLP_COMPRESSION=gzip (zlib is loaded on first use in the bundles)', async () => {
    const { proc, hook } = await launch({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' });
    const res = await fetch(`${hook}/hooks/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: SECRET, traceparent: `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01` },
      body: gzipSync(JSON.stringify(eventFor())),
    });
    expect(res.status).toBe(200);
    expect(await stop(proc)).toBe(0);
    await receiver.waitForSpan((s) => s.name === 'POST /hooks/token' && s.traceId === TRACE_SAMPLED);
    expect(receiver.requests.filter((r) => r.path === '/v1/traces').map((r) => r.headers['content-encoding'])).toEqual(['gzip']);
  });

  it('lets OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the defaults', async () => {
    const { proc, hook } = await launch({ OTEL_SERVICE_NAME: 'okta-hook-eu', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=staging' });
    await callHook(hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`);
    expect(await stop(proc)).toBe(0);
    const span = await receiver.waitForSpan((s) => s.name === 'POST /hooks/token');
    expect(span.resource).toMatchObject({ 'service.name': 'okta-hook-eu', 'deployment.environment': 'staging' });
  });

  it('exports no log records by default, and the call\'s log line as an OTLP log record with OTEL_LOGS_EXPORTER=otlp', async () => {
    const quiet = await launch({});
    await callHook(quiet.hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`);
    expect(await stop(quiet.proc)).toBe(0);
    await receiver.waitForSpan((s) => s.name === 'POST /hooks/token');
    expect(receiver.requests.filter((r) => r.path === '/v1/logs')).toEqual([]);

    const { proc, hook } = await launch({ OTEL_LOGS_EXPORTER: 'otlp', OTEL_BLRP_SCHEDULE_DELAY: '600000' });
    await callHook(hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`);
    expect(await stop(proc)).toBe(0);
    const deadline = Date.now() + 5000;
    while (!receiver.logs.some((l) => l.body === 'token hook call') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const record = receiver.logs.find((l) => l.body === 'token hook call');
    expect(record).toMatchObject({ traceId: TRACE_SAMPLED, scope: expect.stringContaining('pino') });
  });

  it('does nothing with OTEL_SDK_DISABLED=true: no export, no trace fields in logs', async () => {
    const { proc, hook } = await launch({ OTEL_SDK_DISABLED: 'true' });
    expect((await callHook(hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`)).status).toBe(200);
    expect(await stop(proc)).toBe(0);
    expect(receiver.requests).toHaveLength(0);
    const line = proc
      .stdout()
      .split('\n')
      .find((l) => l.includes('"token hook call"'));
    expect(line).toBeDefined();
    expect(line).not.toContain('trace_id');
  });

  it('exports over OTLP/gRPC when asked (the gRPC library is required from node_modules, not bundled)', async () => {
    // A TCP listener that records what arrives: a gRPC exporter opens an HTTP/2 connection (its preface first).
    const received: Buffer[] = [];
    const grpc = createNetServer((socket) => socket.on('data', (chunk: Buffer) => received.push(chunk)));
    grpc.listen(0, '127.0.0.1');
    await once(grpc, 'listening');
    try {
      const { port } = grpc.address() as AddressInfo;
      const { proc, hook } = await launch({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
      expect((await callHook(hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`)).status).toBe(200);
      expect(await stop(proc)).toBe(0);
      expect(proc.stderr()).not.toContain('tracing disabled');
      expect(Buffer.concat(received).toString('latin1')).toMatch(/^PRI \* HTTP\/2\.0/);
    } finally {
      grpc.close();
    }
  });

  it('still serves when the collector is unreachable, and shutdown does not hang on the flush', async () => {
    const deadPort = await freePort();
    const { proc, hook } = await launch({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${deadPort}`, OTEL_TRACES_SAMPLER: 'always_on' });
    expect((await callHook(hook, `00-${TRACE_SAMPLED}-${PARENT_SPAN}-01`)).status).toBe(200);
    const started = Date.now();
    expect(await stop(proc)).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
  });
});

describe('the image bundles (scripts/bundle.js)', () => {
  it('hold pino in the service bundle, so the service reads no module from node_modules at start (the tracing bootstrap leaves pino out: its instrumentation patches the copy Node loads)', () => {
    const main = readFileSync(BUNDLED_BUILD.main, 'utf8');
    for (const bundled of ['node_modules/pino/pino.js', 'node_modules/sonic-boom/index.js', 'node_modules/pino-std-serializers/index.js']) expect([bundled, main.includes(bundled)]).toEqual([bundled, true]);
    const nonBuiltin = [...main.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!).filter((name) => !isBuiltin(name));
    expect(nonBuiltin).toEqual([]);
    expect(readFileSync(BUNDLED_BUILD.instrumentation, 'utf8').includes('node_modules/pino/pino.js')).toBe(false);
  });

  it('start, answer probes, a hook call and metrics without loading HTTP/2, TLS, HTTPS or zlib (each deferred to its first use by scripts/bundle.js)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deferred-'));
    const list = join(dir, 'modules.json');
    const preload = join(dir, 'record-modules.js');
    writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(process.moduleLoadList)));\n`);
    const [hookPort, metricsPort, otlpPort] = [await freePort(), await freePort(), await freePort()];
    const proc = startProcess(
      {
        NODE_ENV: 'test',
        HOOK_SECRET: SECRET,
        HOOK_HOST: '127.0.0.1',
        HOOK_PORT: String(hookPort),
        METRICS_HOST: '127.0.0.1',
        METRICS_PORT: String(metricsPort),
        SHUTDOWN_DELAY_MS: '0',
        // Tracing on, OTLP over HTTP (the default protocol) to a port nobody listens on: nothing is due before the stop.
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
        OTEL_BSP_SCHEDULE_DELAY: '600000',
        ...IMAGE_ENTRY.env,
      },
      ['--require', preload, ...IMAGE_ENTRY.args!()],
    );
    try {
      await proc.waitFor('okta-token-hook ready', 15000);
      const hook = `http://127.0.0.1:${hookPort}`;
      expect((await fetch(`${hook}/healthz`)).status).toBe(200);
      expect((await fetch(`${hook}/readyz`)).status).toBe(200);
      const call = await fetch(`${hook}/hooks/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: SECRET }, body: JSON.stringify(eventFor()) });
      expect(call.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      const loaded = (JSON.parse(readFileSync(list, 'utf8')) as string[]).filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length));
      expect(loaded).toContain('http');
      for (const deferred of ['http2', 'tls', 'https', 'zlib']) expect([deferred, loaded.includes(deferred)]).toEqual([deferred, false]);
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hold no dynamic import() (the OTLP transport\'s `import("http")` is a require): the image runs them through vm.Script, where one would need an experimental loader', () => {
    for (const file of [BUNDLED_BUILD.instrumentation, BUNDLED_BUILD.main]) expect(readFileSync(file, 'utf8')).not.toMatch(/(^|[^\w.$])import\(/);
  });

  it('are ASCII only, so Node keeps each bundle\'s source as a one-byte string (half the memory of a two-byte one)', () => {
    for (const file of [BUNDLED_BUILD.instrumentation, BUNDLED_BUILD.main]) {
      const text = readFileSync(file, 'utf8');
      expect(text.length).toBeGreaterThan(100_000);
      expect(text.search(/[\u0080-\uffff]/)).toBe(-1);
    }
  });

  it('hold one copy of the MIME database (package.json overrides type-is and mime-types to the versions Koa uses)', () => {
    const main = readFileSync(BUNDLED_BUILD.main, 'utf8');
    expect(main.split('"application/1d-interleaved-parityfec"').length - 1).toBe(1);
  });

  it('take only undici\'s Agent and request into the service bundle (no fetch, WebSocket, EventSource, cookies, interceptors, cache stores or mocks)', () => {
    const main = readFileSync(BUNDLED_BUILD.main, 'utf8');
    for (const used of ['node_modules/undici/lib/dispatcher/agent.js', 'node_modules/undici/lib/api/api-request.js']) expect(main).toContain(used);
    for (const left of ['undici/lib/web/fetch/index.js', 'undici/lib/web/websocket/', 'undici/lib/web/eventsource/', 'undici/lib/interceptor/', 'undici/lib/web/cookies/', 'undici/lib/mock/', 'undici/lib/cache/', 'undici/index.js']) expect(main).not.toContain(`node_modules/${left}`);
  });

  it('leave the exporters the service does not use by default out of the tracing bootstrap (gRPC, protobufjs, the config-file loader)', () => {
    const bootstrap = readFileSync(BUNDLED_BUILD.instrumentation, 'utf8');
    for (const external of ['@grpc/grpc-js', '@opentelemetry/configuration']) expect(bootstrap).toContain(`require("${external}")`);
    // Neither they nor what only they use (protobufjs, the YAML parser) are in the file.
    for (const left of ['@grpc/grpc-js/', 'protobufjs/', 'yaml/dist/', '@opentelemetry/configuration/']) expect(bootstrap).not.toContain(`node_modules/${left}`);
    expect(bootstrap.length).toBeLessThan(1_200_000);
  });
});

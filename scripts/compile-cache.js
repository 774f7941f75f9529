#!/usr/bin/env node
/**
 * Produces Node's on-disk compile cache for the image (Dockerfile stage `compile-cache`): starts the
 * built service once, the way the image starts it (`node dist/entrypoint.js`), with everything on
 * (metrics, request logs, the tracing SDK, rules with a CEL condition and an HTTP lookup, so the
 * modules and paths a production start loads are the ones cached), sends it a few calls once it
 * is ready, stops it with SIGTERM, and leaves the V8 code cache Node writes at exit in DIR, and in
 * DIR/bundles the code cache of the two bundles (dist/instrumentation.js, dist/main.js) that
 * src/code-cache.ts writes at exit: all the bytecode the run compiled, warm-up and calls included,
 * where Node's own entry for a bundle holds little more than its outer function.
 *
 *   node scripts/compile-cache.js DIR [APP_DIR]     (APP_DIR: the built app, default this checkout)
 *
 * Node files the cache under DIR/v<version>-<arch>-<flags hash>-<uid>: it is used only by the same
 * Node version, the same user id and the same code-generation V8 flags, so run this with the
 * image's Node.js as the runtime user (65532) and with the ENTRYPOINT's Node flags (the service is
 * started with the flags this script was run with; `--always-sparkplug`, for one, changes the key,
 * while heap sizes such as `--max-semi-space-size` or `NODE_OPTIONS=--max-old-space-size` do not). Entries are keyed by each file's absolute path and checked against its contents, so run
 * it in the directory layout the image has (/app/dist, /app/node_modules): a file that differs is a
 * cache miss, never a wrong result. The files are made world-readable (Node writes them 0600) so
 * the runtime reads them whoever owns them. The bundles' cache is checked the same way (file size
 * and SHA-256, Node version; V8 refuses it for other flags). Talks only to 127.0.0.1: the service on
 * the ports it picks, and a stand-in OTLP collector in this process.
 */
'use strict';
const { spawn } = require('node:child_process');
const { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } = require('node:fs');
const http = require('node:http');
const { tmpdir } = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const SECRET = 'compile-cache-build-secret';
/** Rules that load what production rules load: CEL conditions and an HTTP lookup (undici); the lookup's upstream is never called. */
const RULES = `lookups:
  entitlements:
    type: http
    url: http://127.0.0.1:9/users/{user.id}/entitlements
    timeoutMs: 100
rules:
  - name: static
    claims:
      - name: custom-claim
        value: hello
  - name: conditional
    when: 'user != null && user.profile.login.endsWith("@example.com")'
    claims:
      - name: full_name
        expr: 'user.profile.firstName + " " + user.profile.lastName'
  - name: looked-up
    when: 'client.id == "never-sent"'
    claims:
      - name: entitlements
        expr: 'lookup.entitlements.roles'
`;

function request(port, method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: { ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? [path.join(dir, entry.name), ...walk(path.join(dir, entry.name))] : [path.join(dir, entry.name)]));
}

async function generate(cacheDir, { root = ROOT, timeoutMs = 60000 } = {}) {
  if (typeof require('node:module').enableCompileCache !== 'function') throw new Error(`Node ${process.version} has no compile cache (Node >= 22.1 has)`);
  const work = mkdtempSync(path.join(tmpdir(), 'compile-cache-'));
  // A stand-in OTLP/HTTP collector on 127.0.0.1: reads each export and answers 200 with an empty body.
  const sink = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const rulesFile = path.join(work, 'rules.yaml');
  writeFileSync(rulesFile, RULES);
  const env = {
    PATH: process.env.PATH || '',
    NODE_ENV: 'production',
    // Node enables the cache in DIR before anything loads (dist/entrypoint.js included).
    NODE_COMPILE_CACHE: cacheDir,
    HOOK_SECRET: SECRET,
    RULES_FILE: rulesFile,
    RULES_WATCH: 'false',
    HOOK_HOST: '127.0.0.1',
    HOOK_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    METRICS_PORT: '0',
    METRICS_ENABLED: 'true',
    LOG_REQUESTS: 'true',
    SHUTDOWN_DELAY_MS: '0',
    OTEL_SDK_DISABLED: 'false',
    // Every span recorded and exported, to a sink in this process that drops them: the code cache
    // then holds the span and export paths (the OTLP serializer above all) a traced call takes.
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.address().port}`,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    // dist/entrypoint.js loads the two bundles through src/code-cache.ts and writes their V8 code
    // cache here when the service exits: the bytecode of everything the run compiled.
    OKTA_HOOK_WRITE_CODE_CACHE: cacheDir,
  };
  const child = spawn(process.execPath, [...process.execArgv, path.join(root, 'dist', 'entrypoint.js')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const started = Date.now();
    let ready;
    while (!ready) {
      if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode} before it was ready:\n${stderr}`);
      if (Date.now() - started > timeoutMs) throw new Error(`the service was not ready within ${timeoutMs} ms:\n${stderr}`);
      const line = stdout.split('\n').find((l) => l.includes('okta-token-hook ready'));
      if (line) ready = JSON.parse(line);
      else await new Promise((r) => setTimeout(r, 20));
    }
    const body = JSON.stringify(require(path.join(root, 'dist', 'rules', 'testing', 'templates.js')).template('authorization_code'));
    for (let i = 0; i < 20; i++) {
      const status = await request(ready.port, 'POST', '/hooks/token', body, { authorization: SECRET });
      if (status !== 200) throw new Error(`a build-time call was answered ${status}`);
    }
    await request(ready.metricsPort, 'GET', '/metrics');
    await request(ready.port, 'GET', '/readyz');
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) throw new Error(`the service exited with ${code} on SIGTERM:\n${stderr}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
    sink.closeAllConnections();
    await new Promise((resolve) => sink.close(resolve));
  }
  const files = walk(cacheDir);
  for (const file of files) chmodSync(file, statSync(file).isDirectory() ? 0o755 : 0o644);
  const entries = files.filter((f) => statSync(f).isFile());
  if (entries.length === 0) throw new Error(`no compile cache was written to ${cacheDir}`);
  for (const bundle of ['instrumentation.js', 'main.js']) {
    if (!existsSync(path.join(cacheDir, 'bundles', `${bundle}.v8`))) throw new Error(`no code cache was written for dist/${bundle} (${cacheDir}/bundles)`);
  }
  return { entries: entries.length, bytes: entries.reduce((sum, f) => sum + statSync(f).size, 0) };
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node scripts/compile-cache.js DIR [APP_DIR]');
    process.exit(2);
  }
  generate(path.resolve(dir), { root: path.resolve(process.argv[3] || ROOT) }).then(
    ({ entries, bytes }) => console.log(`compile cache: ${entries} entries, ${Math.round(bytes / 1024)} KB in ${path.resolve(dir)}`),
    (err) => {
      console.error(`compile cache: ${err.message}`);
      process.exit(1);
    },
  );
}

module.exports = { generate };

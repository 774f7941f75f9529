/**
 * The compile cache the image ships (Dockerfile stage `compile-cache`): scripts/compile-cache.js
 * run on a copy of the built app laid out like the image (/app/dist, /app/node_modules,
 * /app/.compile-cache), then dist/entrypoint.js started the way the container starts it. Needs a
 * Node.js with a compile cache (>= 22.1): the one running the tests, else the .node-version build
 * that scripts/node-from-npm.sh caches (what CI and `npm run bench -- --node` use).
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT } from '../helpers/process';

const RUNTIME_UID = 65532;

function nodeWithCompileCache(): string | undefined {
  const probe = (bin: string): boolean => spawnSync(bin, ['-p', "typeof require('node:module').enableCompileCache"], { encoding: 'utf8' }).stdout?.trim() === 'function';
  if (probe(process.execPath)) return process.execPath;
  const version = readFileSync(join(ROOT, '.node-version'), 'utf8').trim();
  const cached = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'okta-token-hook', `node-${version}`, 'node_modules', `node-linux-${process.arch}`, 'bin', 'node');
  return existsSync(cached) && probe(cached) ? cached : undefined;
}

let NODE = nodeWithCompileCache();
const describeWithCache = NODE ? describe : describe.skip;
// As root, play the image: the cache is made and used by the runtime's user, and owned by root.
const asRoot = process.getuid?.() === 0;
const runAs: SpawnOptions = asRoot ? { uid: RUNTIME_UID, gid: RUNTIME_UID } : {};

/** A copy of the built app in the image's layout, readable by the runtime user. */
function imageLayout(): string {
  const base = mkdtempSync(join(tmpdir(), 'compile-cache-'));
  chmodSync(base, 0o755);
  const app = join(base, 'app');
  mkdirSync(app);
  cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
  if (asRoot) {
    // The runtime user must be able to run Node.js itself (a cached build under /root is not).
    const node = join(base, 'node');
    try {
      linkSync(NODE!, node);
    } catch {
      copyFileSync(NODE!, node);
      chmodSync(node, 0o755);
    }
    NODE = node;
  }
  return app;
}

function generate(app: string, cacheDir: string, nodeFlags: string[] = []): { status: number | null; stdout: string; stderr: string } {
  mkdirSync(cacheDir);
  if (asRoot) chownSync(cacheDir, RUNTIME_UID, RUNTIME_UID);
  const result = spawnSync(NODE!, [...nodeFlags, join(ROOT, 'scripts', 'compile-cache.js'), cacheDir, app], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 90000, ...runAs });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Every file under dir with its size and modification time. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => join(e.parentPath, e.name))
    .sort()
    .map((file) => `${file} ${statSync(file).size} ${statSync(file).mtimeMs}`);
}

/** Starts the app's dist/entrypoint.js with no arguments (the service), returns its ready line, stops it with SIGTERM. */
async function startAndStop(app: string, options: SpawnOptions = {}, nodeFlags: string[] = [], extraEnv: Record<string, string> = {}): Promise<{ ready: Record<string, unknown>; code: number | null; stderr: string; startupSeries: string[]; codeCacheSeries: string[] }> {
  const port = await freePort();
  const metricsPort = await freePort();
  const env = { ...extraEnv, PATH: process.env.PATH ?? '', NODE_ENV: 'development', HOOK_SECRET: 'compile-cache-test', HOOK_HOST: '127.0.0.1', HOOK_PORT: String(port), METRICS_HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), OTEL_SDK_DISABLED: 'true', SHUTDOWN_DELAY_MS: '0', RULES_FILE: join(ROOT, 'examples', 'rules.yaml'), RULES_WATCH: 'false' };
  const child = spawn(NODE!, [...nodeFlags, join(app, 'dist', 'entrypoint.js')], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30000;
    while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`not ready\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const startupSeries = metrics.split('\n').filter((l) => l.startsWith('okta_hook_startup_seconds{'));
    const codeCacheSeries = metrics.split('\n').filter((l) => l.startsWith('okta_hook_code_cache{'));
    child.kill('SIGTERM');
    const code = await exited;
    const line = stdout.split('\n').find((l) => l.includes('okta-token-hook ready'));
    if (!line) throw new Error(`no ready line\n${stdout}\n${stderr}`);
    return { ready: JSON.parse(line) as Record<string, unknown>, code, stderr, startupSeries, codeCacheSeries };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

describeWithCache(`compile cache shipped in the image (${NODE ?? 'no Node.js >= 22.1 available'})`, () => {
  let app: string;
  beforeAll(() => {
    app = imageLayout();
  });
  afterAll(() => rmSync(join(app, '..'), { recursive: true, force: true }));

  it('without a shipped cache the service starts as before, reports compileCache null, startupCpuMs and okta_hook_startup_seconds{compile_cache="none"}, and writes no cache', async () => {
    const { ready, code, stderr, startupSeries } = await startAndStop(app);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(ready.compileCache).toBeNull();
    expect(ready.codeCache).toEqual({ 'instrumentation.js': 'none', 'main.js': 'none' });
    expect(typeof ready.startupCpuMs).toBe('number');
    expect(ready.startupCpuMs as number).toBeGreaterThan(0);
    // The same figures in okta_hook_startup_seconds, in seconds.
    expect(startupSeries).toEqual([
      `okta_hook_startup_seconds{clock="wall",compile_cache="none"} ${(ready.startupMs as number) / 1000}`,
      `okta_hook_startup_seconds{clock="cpu",compile_cache="none"} ${(ready.startupCpuMs as number) / 1000}`,
    ]);
    expect(typeof ready.startupMs).toBe('number');
    expect(ready.warmUp).toMatchObject({ iterations: expect.any(Number), ms: expect.any(Number) });
    expect(existsSync(join(app, '.compile-cache'))).toBe(false);
  }, 60000);

  it('scripts/compile-cache.js starts the service once and leaves world-readable cache entries for this Node version and user', () => {
    const cacheDir = join(app, '.compile-cache');
    const result = generate(app, cacheDir);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^compile cache: \d+ entries, \d+ KB in /);
    // Node's entries in one directory, the bundles' code cache (src/code-cache.ts) in `bundles`.
    const [versionDir, ...others] = readdirSync(cacheDir).filter((d) => d !== 'bundles');
    expect(others).toEqual([]);
    expect(readdirSync(join(cacheDir, 'bundles')).sort()).toEqual(['instrumentation.js.json', 'instrumentation.js.v8', 'main.js.json', 'main.js.v8']);
    for (const entry of readdirSync(join(cacheDir, 'bundles'))) expect(statSync(join(cacheDir, 'bundles', entry)).mode & 0o444).toBe(0o444);
    // v<node version>-<arch>-<flags hash>-<uid>: only this Node.js, as this user, uses it.
    const nodeVersion = spawnSync(NODE!, ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(versionDir).toMatch(new RegExp(`^${nodeVersion.replace(/\./g, '\\.')}-${process.arch}-[0-9a-f]+-${asRoot ? RUNTIME_UID : process.getuid!()}$`));
    const entries = readdirSync(join(cacheDir, versionDir!));
    expect(entries.length).toBeGreaterThan(10);
    for (const entry of entries) expect(statSync(join(cacheDir, versionDir!, entry)).mode & 0o444).toBe(0o444);
  }, 120000);

  it('dist/entrypoint.js enables the shipped cache, read-only: the service starts, reports it (ready line, okta_hook_startup_seconds{compile_cache="used"}), exits 0, and the cache is not written', async () => {
    const cacheDir = join(app, '.compile-cache');
    if (!existsSync(cacheDir)) expect(generate(app, cacheDir).status).toBe(0);
    // Read-only as in the image (root-owned, or no write permission), and one bundled file changed
    // so Node has a module it would like to write a new entry for.
    if (asRoot) {
      spawnSync('chown', ['-R', 'root:root', cacheDir]);
    } else {
      for (const dir of [cacheDir, ...readdirSync(cacheDir).map((d) => join(cacheDir, d))]) chmodSync(dir, 0o555);
    }
    appendFileSync(join(app, 'dist', 'main.js'), '\n// changed after the cache was made\n');
    const before = snapshot(cacheDir);
    const { ready, code, stderr, startupSeries, codeCacheSeries } = await startAndStop(app, runAs);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(startupSeries.map((l) => l.replace(/ [\d.e+-]+$/, ''))).toEqual(['okta_hook_startup_seconds{clock="wall",compile_cache="used"}', 'okta_hook_startup_seconds{clock="cpu",compile_cache="used"}']);
    // The directory Node uses: this Node version's and this user's, inside the shipped one.
    expect(ready.compileCache).toBe(join(cacheDir, readdirSync(cacheDir).find((d) => d !== 'bundles')!));
    // The changed bundle is not run with a cache made from the old one; the other one is.
    expect(ready.codeCache).toEqual({ 'instrumentation.js': 'accepted', 'main.js': 'stale' });
    expect(codeCacheSeries).toEqual(['okta_hook_code_cache{bundle="instrumentation.js",result="accepted"} 1', 'okta_hook_code_cache{bundle="main.js",result="stale"} 1']);
    expect(snapshot(cacheDir)).toEqual(before);
  }, 60000);

  it('a cache made by scripts/compile-cache.js run with a code-generation flag is used by a service started with that flag (Node keys entries by such flags; the Dockerfile runs it with the ENTRYPOINT\'s)', async () => {
    // imageLayout() points NODE at a copy inside the new layout when run as root: put it back after.
    const node = NODE;
    const flagged = imageLayout();
    try {
      const flags = ['--always-sparkplug'];
      const cacheDir = join(flagged, '.compile-cache');
      expect(generate(flagged, cacheDir, flags).status).toBe(0);
      const versionDir = readdirSync(cacheDir).find((d) => d !== 'bundles');
      const { code, stderr, ready } = await startAndStop(flagged, runAs, flags, { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
      expect(code).toBe(0);
      expect(stderr).toContain(join(cacheDir, versionDir!));
      // The bundles are loaded through src/code-cache.ts; Node's cache serves the other files (pino, from node_modules, in every build).
      expect(stderr).toMatch(/V8 code cache for CommonJS \S+\/pino\/pino\.js was accepted/);
      expect(ready.codeCache).toEqual({ 'instrumentation.js': 'accepted', 'main.js': 'accepted' });
      // The chart's heap ceiling (NODE_OPTIONS=--max-old-space-size) is not a code-generation flag: both caches still used.
      const withHeapCeiling = await startAndStop(flagged, runAs, flags, { NODE_OPTIONS: '--max-old-space-size=205' });
      expect(withHeapCeiling.code).toBe(0);
      expect(withHeapCeiling.ready.codeCache).toEqual({ 'instrumentation.js': 'accepted', 'main.js': 'accepted' });
      // Without the flag the same cache is another key: nothing of it is used, and V8 refuses the bundles' cache.
      const without = await startAndStop(flagged, runAs, [], { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
      expect(without.stderr).not.toMatch(/pino\.js was accepted/);
      expect(without.ready.codeCache).toEqual({ 'instrumentation.js': 'rejected', 'main.js': 'rejected' });
    } finally {
      NODE = node;
      rmSync(join(flagged, '..'), { recursive: true, force: true });
    }
  }, 120000);

  it('NODE_DISABLE_COMPILE_CACHE=1 turns the shipped cache off', async () => {
    const port = await freePort();
    const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'development', HOOK_SECRET: 'x', HOOK_PORT: String(port), METRICS_ENABLED: 'false', OTEL_SDK_DISABLED: 'true', SHUTDOWN_DELAY_MS: '0', RULES_FILE: join(ROOT, 'examples', 'rules.yaml'), NODE_DISABLE_COMPILE_CACHE: '1' };
    const child = spawn(NODE!, [join(app, 'dist', 'entrypoint.js')], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const deadline = Date.now() + 30000;
    while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const ready = JSON.parse(stdout.split('\n').find((l) => l.includes('okta-token-hook ready'))!) as Record<string, unknown>;
    expect(ready.compileCache).toBeNull();
    // The bundles' code cache, in the same directory, is off too.
    expect(ready.codeCache).toEqual({ 'instrumentation.js': 'none', 'main.js': 'none' });
  }, 60000);
});

/**
 * The bundles' code cache (src/code-cache.ts, built as dist/code-cache.js): each case runs a small
 * CommonJS "bundle" in a fresh Node process through the loader, the way dist/entrypoint.js loads
 * dist/instrumentation.js and dist/main.js, and reads back what it reported.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/process';

const LOADER = join(ROOT, 'dist', 'code-cache.js');

/** Lazily compiled functions (as in an esbuild bundle), a relative require, module semantics, and a function that throws on a known line and column. */
const BUNDLE = [
  '"use strict";',
  'var helper = require("./helper.js");',
  'function lazyOne(n) { return n * 2; }',
  'function lazyTwo(s) { return s + "!"; }',
  'module.exports = { sum: lazyOne(21), shout: lazyTwo(helper.word), file: __filename, dir: __dirname, cached: require.cache[__filename] === module };',
  'module.exports.fail = function fail() {',
  '  throw new Error("from the bundle");',
  '};',
  '',
].join('\n');

interface Report {
  uses: Record<string, string>;
  written?: { name: string; bytes: number }[];
  exports: { sum: number; shout: string; file: string; dir: string; cached: boolean };
  stack: string;
}

function load(file: string, options: { cacheDir?: string; record?: boolean }, nodeFlags: string[] = []): Report {
  const script = `
    const cc = require(${JSON.stringify(LOADER)});
    cc.requireBundle(${JSON.stringify(file)}, ${JSON.stringify(options)});
    const written = ${options.record ? `cc.writeCodeCaches(${JSON.stringify(options.cacheDir)})` : 'undefined'};
    const exports = require(${JSON.stringify(file)});
    let stack = '';
    try { exports.fail(); } catch (err) { stack = err.stack; }
    process.stdout.write(JSON.stringify({ uses: cc.codeCacheUses(), written, exports, stack }));
  `;
  const result = spawnSync(process.execPath, [...nodeFlags, '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Report;
}

describe('code cache of the bundles (src/code-cache.ts)', () => {
  let dir: string;
  let bundle: string;
  let cacheDir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'code-cache-'));
    bundle = join(dir, 'main.js');
    cacheDir = join(dir, 'cache');
    writeFileSync(bundle, BUNDLE);
    writeFileSync(join(dir, 'helper.js'), 'exports.word = "hello";\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a bundle with module semantics: exports, __filename, __dirname, a require relative to it, its require.cache entry', () => {
    for (const options of [{}, { cacheDir, record: true }]) {
      const { exports } = load(bundle, options);
      expect(exports).toEqual({ sum: 42, shout: 'hello!', file: bundle, dir, cached: true });
    }
  });

  it('is a plain require, reported as none, without a cache directory or a cache in it', () => {
    expect(load(bundle, {}).uses).toEqual({ 'main.js': 'none' });
    expect(load(bundle, { cacheDir }).uses).toEqual({ 'main.js': 'none' });
  });

  it('writes the cache after the run, world-readable, and the next start uses it (accepted) and runs the same code', () => {
    const made = load(bundle, { cacheDir, record: true });
    expect(made.written).toEqual([{ name: 'main.js', bytes: expect.any(Number) }]);
    for (const file of ['main.js.v8', 'main.js.json']) expect(statSync(join(cacheDir, 'bundles', file)).mode & 0o444).toBe(0o444);
    const meta = JSON.parse(readFileSync(join(cacheDir, 'bundles', 'main.js.json'), 'utf8')) as Record<string, unknown>;
    expect(meta).toEqual({ format: 2, node: process.version, arch: process.arch, bytes: Buffer.byteLength(BUNDLE), sha256: createHash('sha256').update(BUNDLE).digest('base64') });
    const used = load(bundle, { cacheDir });
    expect(used.uses).toEqual({ 'main.js': 'accepted' });
    expect(used.exports).toEqual(made.exports);
  });

  it('holds the functions the run compiled, not only the top level (a cache taken after the run is larger than one taken at compile time)', () => {
    const many = Array.from({ length: 200 }, (_, i) => `function f${i}(x) { let s = 0; for (let j = 0; j < x; j++) s += j * ${i}; return s; }`).join('\n');
    writeFileSync(bundle, `${BUNDLE}\n${many}\nmodule.exports.total = [${Array.from({ length: 200 }, (_, i) => `f${i}(3)`).join(', ')}].length;\n`);
    const ran = load(bundle, { cacheDir, record: true }).written![0]!.bytes;
    // The same file, with nothing run: only the top level compiled.
    writeFileSync(join(dir, 'idle.js'), `${BUNDLE}\n${many}\n`);
    const idle = load(join(dir, 'idle.js'), { cacheDir, record: true }).written!.find((w) => w.name === 'idle.js')!.bytes;
    expect(ran).toBeGreaterThan(idle * 2);
  });

  it('never uses a cache made from another file: a same-size edit is stale (V8 alone checks only the length), and the edited file is what runs', () => {
    load(bundle, { cacheDir, record: true });
    const edited = BUNDLE.replace('n * 2', 'n * 3');
    expect(edited.length).toBe(BUNDLE.length);
    writeFileSync(bundle, edited);
    const report = load(bundle, { cacheDir });
    expect(report.uses).toEqual({ 'main.js': 'stale' });
    expect(report.exports.sum).toBe(63);
  });

  it('is rejected by V8, and the bundle compiled from source, under other code-generation flags', () => {
    load(bundle, { cacheDir, record: true });
    const report = load(bundle, { cacheDir }, ['--always-sparkplug']);
    expect(report.uses).toEqual({ 'main.js': 'rejected' });
    expect(report.exports.sum).toBe(42);
  });

  it('treats an unreadable cache (truncated data, a bad description) as no cache or a refused one, never as an error', () => {
    load(bundle, { cacheDir, record: true });
    const data = join(cacheDir, 'bundles', 'main.js.v8');
    writeFileSync(data, readFileSync(data).subarray(0, 64));
    expect(load(bundle, { cacheDir }).uses).toEqual({ 'main.js': 'rejected' });
    writeFileSync(join(cacheDir, 'bundles', 'main.js.json'), '{not json');
    expect(load(bundle, { cacheDir })).toMatchObject({ uses: { 'main.js': 'none' }, exports: { sum: 42 } });
  });

  it('keeps the file\'s own line and column numbers in stack traces, with and without a cache', () => {
    const line = BUNDLE.split('\n').findIndex((l) => l.includes('throw new Error')) + 1;
    const column = BUNDLE.split('\n')[line - 1]!.indexOf('new Error') + 1;
    expect(load(bundle, { cacheDir, record: true }).stack).toContain(`${bundle}:${line}:${column}`);
    expect(load(bundle, { cacheDir }).stack).toContain(`${bundle}:${line}:${column}`);
  });
});

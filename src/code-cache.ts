/**
 * The image's V8 code cache for its two bundles (`dist/instrumentation.js`, `dist/main.js`), taken
 * after the service has started, warmed up and answered calls, so it holds the bytecode of every
 * function that ran, not only the top level.
 *
 * Node's own compile cache (which `dist/entrypoint.js` also enables, and which still serves every
 * other file) makes a module's cache right after compiling it: for an esbuild bundle, whose modules
 * are functions compiled lazily when first required, that is little more than the outer function.
 * Here each bundle is compiled with `vm.Script` and the cache is `script.createCachedData()` at the
 * end of the build-time run (`scripts/compile-cache.js`); at start, V8 deserializes that instead of
 * parsing and compiling each function on first use (docs/performance.md, "Start-up").
 *
 * A cache is used only for the exact file it was made from (size and SHA-256 of its bytes; V8 checks
 * only the source's length) and the same Node version and architecture; V8 itself refuses it for another
 * V8 build or other code-generation flags (`rejected`: the bundle is compiled from source, as
 * without a cache). Anything unreadable or different means a plain `require`, never an error. Start-up
 * only: the synchronous reads here happen once, before the service listens.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { constants as vmConstants, Script } from 'node:vm';
import { hash } from 'node:crypto';

/** How a bundle was loaded: with its code cache, with one V8 refused, with one made from another file, or without one. */
export type CodeCacheUse = 'accepted' | 'rejected' | 'stale' | 'none';

/** Kept beside each cache: what it was made from. */
interface CodeCacheMeta {
  format: 2;
  node: string;
  arch: string;
  bytes: number;
  sha256: string;
}

/** The subdirectory of the compile cache directory that holds the bundles' caches (Node's own entries are in `v<version>-…`). */
const CODE_CACHE_SUBDIR = 'bundles';

interface Loaded {
  name: string;
  script: Script;
  bytes: number;
  sha256: string;
}

/**
 * Shared through a global symbol, not module state: `dist/main.js` is a bundle with its own copy of
 * this module, and reads what the entry point's copy recorded (for the ready line and the metric).
 */
const STATE = Symbol.for('okta-token-hook.code-cache');
interface State {
  uses: Record<string, CodeCacheUse>;
  loaded: Loaded[];
}
function state(): State {
  const holder = globalThis as unknown as Record<symbol, State | undefined>;
  return (holder[STATE] ??= { uses: {}, loaded: [] });
}

/** Per bundle file name, how it was loaded (`{}` when nothing was loaded through here). */
export function codeCacheUses(): Record<string, CodeCacheUse> {
  return { ...state().uses };
}

function paths(cacheDir: string, name: string): { data: string; meta: string } {
  return { data: join(cacheDir, CODE_CACHE_SUBDIR, `${name}.v8`), meta: join(cacheDir, CODE_CACHE_SUBDIR, `${name}.json`) };
}

function readCache(cacheDir: string, name: string): { meta: CodeCacheMeta; data: Buffer } | undefined {
  try {
    const files = paths(cacheDir, name);
    const meta = JSON.parse(readFileSync(files.meta, 'utf8')) as CodeCacheMeta;
    if (meta.format !== 2) return undefined;
    return { meta, data: readFileSync(files.data) };
  } catch {
    return undefined;
  }
}

/**
 * Loads `file` (a CommonJS bundle) as `require(file)` would, with its code cache from `cacheDir`
 * when there is a matching one. `record`: compile it through here even without a cache, so that
 * `writeCodeCaches` can write one at exit (the build-time run).
 */
export function requireBundle(file: string, options: { cacheDir?: string; record?: boolean } = {}): void {
  const name = basename(file);
  const uses = state().uses;
  const cached = options.cacheDir ? readCache(options.cacheDir, name) : undefined;
  if (!cached && !options.record) {
    uses[name] = 'none';
    require(file);
    return;
  }
  const bytes = readFileSync(file);
  // SHA-256, not zlib's CRC-32: crypto is loaded and initialised for the service anyway, zlib would
  // be loaded for this alone (docs/performance.md "Start-up").
  const checksum = hash('sha256', bytes, 'base64');
  const matches = cached !== undefined && cached.meta.bytes === bytes.length && cached.meta.sha256 === checksum && cached.meta.node === process.version && cached.meta.arch === process.arch;
  if (!matches && !options.record) {
    uses[name] = 'stale';
    require(file);
    return;
  }
  // The wrapper on its own line, and lineOffset -1: line and column numbers in stack traces are
  // the file's own (dist/*.map maps them back to the sources).
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {\n${bytes.toString('utf8')}\n})`, {
    filename: file,
    lineOffset: -1,
    cachedData: matches ? cached.data : undefined,
    importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  uses[name] = !matches ? (cached ? 'stale' : 'none') : script.cachedDataRejected ? 'rejected' : 'accepted';
  if (options.record) state().loaded.push({ name, script, bytes: bytes.length, sha256: checksum });
  const moduleRequire = createRequire(file);
  const module = { id: file, filename: file, path: dirname(file), exports: {}, loaded: false, children: [], paths: moduleRequire.resolve.paths('x') ?? [], require: moduleRequire };
  moduleRequire.cache[file] = module as unknown as NodeJS.Module;
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, moduleRequire, module, file, dirname(file));
  module.loaded = true;
}

/**
 * Writes the code cache of every bundle loaded with `record` into `cacheDir` (world-readable), from
 * what V8 has compiled so far: call it at the end of a run that did what production does.
 */
export function writeCodeCaches(cacheDir: string): { name: string; bytes: number }[] {
  const written: { name: string; bytes: number }[] = [];
  mkdirSync(join(cacheDir, CODE_CACHE_SUBDIR), { recursive: true, mode: 0o755 });
  for (const { name, script, bytes, sha256: checksum } of state().loaded) {
    const data = script.createCachedData();
    const files = paths(cacheDir, name);
    const meta: CodeCacheMeta = { format: 2, node: process.version, arch: process.arch, bytes, sha256: checksum };
    writeFileSync(files.data, data, { mode: 0o644 });
    writeFileSync(files.meta, `${JSON.stringify(meta)}\n`, { mode: 0o644 });
    written.push({ name, bytes: data.length });
  }
  return written;
}

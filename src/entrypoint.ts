/**
 * Container entry point (the image's ENTRYPOINT): one image serves both the service and the CLI.
 *
 *   docker run IMAGE                                   -> the service (tracing bootstrap, then main)
 *   docker run -v "$PWD:/rules" IMAGE check /rules/rules.yaml -> `okta-token-hook check ...`
 *
 * With no arguments the tracing bootstrap is required before the application, exactly like
 * `node --require ./dist/instrumentation.js dist/main.js`, so auto-instrumentation patches modules as
 * they are first required. With arguments nothing of the service is loaded: the CLI never starts a
 * server. Node stays PID 1 either way and receives SIGTERM directly.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CliIO } from './cli';
import { requireBundle, writeCodeCaches } from './code-cache';

/**
 * Node's on-disk compile cache (V8 code cache per module), produced at image build time by
 * scripts/compile-cache.js and shipped read-only beside dist/ (docs/performance.md "Start-up").
 * Used only when it is there: a checkout without one runs unchanged and never gets one written.
 * NODE_COMPILE_CACHE (another directory, already enabled by Node) and NODE_DISABLE_COMPILE_CACHE=1
 * take precedence. A read-only directory is fine: entries are read, nothing new can be written, and
 * Node ignores the failed writes; an unusable one (another Node version or user) is a cache miss.
 * The same directory holds the two bundles' own code cache (src/code-cache.ts), used the same way.
 */
const COMPILE_CACHE_DIR = join(__dirname, '..', '.compile-cache');

/** The compile cache directory in use, if any. */
function enableShippedCompileCache(): string | undefined {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  if (process.env.NODE_COMPILE_CACHE) return process.env.NODE_COMPILE_CACHE;
  const { enableCompileCache } = require('node:module') as { enableCompileCache?: (directory: string) => unknown };
  if (typeof enableCompileCache !== 'function' || !existsSync(COMPILE_CACHE_DIR)) return undefined;
  try {
    enableCompileCache(COMPILE_CACHE_DIR);
  } catch {
    // An optimisation only: start without it.
  }
  return COMPILE_CACHE_DIR;
}

const cacheDir = enableShippedCompileCache();
/**
 * Set by scripts/compile-cache.js only (the image build): load the bundles through the code-cache
 * loader and write their cache into this directory when the process exits.
 */
const writeCodeCacheTo = process.env.OKTA_HOOK_WRITE_CODE_CACHE;

const args = process.argv.slice(2);

if (args.length === 0) {
  if (writeCodeCacheTo) process.once('exit', () => writeCodeCaches(writeCodeCacheTo));
  const options = { cacheDir, record: writeCodeCacheTo !== undefined };
  requireBundle(join(__dirname, 'instrumentation.js'), options);
  requireBundle(join(__dirname, 'main.js'), options);
} else {
  const { runCli } = require('./cli') as typeof import('./cli');
  const io: CliIO = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };
  runCli(args, io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`okta-token-hook: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}

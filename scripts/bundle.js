#!/usr/bin/env node
/**
 * `npm run build:bundle` (tsc, then this; what the image ships): replaces the two files the
 * service starts from with esbuild bundles, so start-up reads two files instead of about a
 * thousand (module resolution, `package.json` lookups and the OpenTelemetry require hook on every
 * one of them were most of the start-up time; docs/performance.md "Start-up"):
 *
 * - dist/instrumentation.js: the tracing bootstrap and the OpenTelemetry SDK it loads. Still a
 *   file of its own, loaded before the application, and it still requires the SDK only when
 *   tracing is on (esbuild keeps `require()` lazy: a module's body runs when first required).
 * - dist/main.js: the service and its dependencies. pino stays external so that its OpenTelemetry
 *   instrumentation can still patch it when logs are exported; undici's is fed by
 *   diagnostics_channel, which works from a bundle.
 *
 * dist/entrypoint.js, dist/cli.js and the other files stay as tsc built them (the CLI is not on the
 * start-up path); node_modules ships as before (pino, and whatever a bundle cannot hold).
 */
'use strict';
const path = require('node:path');
const esbuild = require('esbuild');

const dist = path.join(__dirname, '..', 'dist');

/** The bundled entry files, relative to dist/. */
const ENTRIES = ['instrumentation.js', 'main.js'];

function bundle(distDir = dist) {
  for (const entry of ENTRIES) {
    esbuild.buildSync({
      entryPoints: [path.join(distDir, entry)],
      outfile: path.join(distDir, entry),
      allowOverwrite: true,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['pino', 'pino/*'],
      // Whitespace and comments out, identifiers kept: a third less to read, hash and parse at
      // start (about 60 ms of CPU), and stack frames still name their functions (dist/*.map maps
      // the columns back to the sources). License comments stay, at the end of each file.
      minifyWhitespace: true,
      minifySyntax: true,
      sourcemap: true,
      logLevel: 'warning',
    });
  }
}

if (require.main === module) bundle();

module.exports = { bundle, ENTRIES };

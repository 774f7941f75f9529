#!/usr/bin/env node
/**
 * `npm run build:bundle` (tsc, then this): replaces dist/main.js (the service entry point) with one
 * esbuild bundle of it and the modules it loads, so start-up reads one file instead of several
 * hundred (docs/performance.md). dist/instrumentation.js stays as tsc built it: it must load before
 * the application and pull in the OpenTelemetry SDK only when tracing is on. pino stays external
 * so that its OpenTelemetry instrumentation can still patch it when logs are exported.
 * The other dist/ files (cli.js, …) stay unbundled; node_modules ships as before.
 */
'use strict';
const path = require('node:path');
const esbuild = require('esbuild');

const dist = path.join(__dirname, '..', 'dist');
esbuild.buildSync({
  entryPoints: [path.join(dist, 'main.js')],
  outfile: path.join(dist, 'main.js'),
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['pino', 'pino/*'],
  sourcemap: true,
  logLevel: 'warning',
});

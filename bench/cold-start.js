#!/usr/bin/env node
/**
 * Cold start: time from spawning the built service to `/readyz` 200, the first hook call, then the
 * latency of the first seconds of traffic (20 calls/s, open loop, keep-alive off) on loopback.
 *
 *   npm run build && node bench/cold-start.js [RUNS] [REPO_DIR]
 *
 * REPO_DIR (default: this repository) lets two builds be compared run by run, e.g. an old checkout
 * with its own `dist/`. Uses examples/rules.yaml and test/fixtures/okta/token-hook-authcode-full.json.
 */
'use strict';
const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { createServer } = require('node:net');
const { join, resolve } = require('node:path');

const runs = Math.min(Number(process.argv[2]) || 3, 20);
const dir = resolve(process.argv[3] || join(__dirname, '..'));
const payload = readFileSync(join(dir, 'test/fixtures/okta/token-hook-authcode-full.json'), 'utf8');
const SECRET = 'cold-start-bench-secret';
const SECONDS = 3;
const RATE = 20;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
};
const call = (port) => {
  const started = performance.now();
  return fetch(`http://127.0.0.1:${port}/hooks/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: SECRET, connection: 'close' }, body: payload }).then(async (res) => {
    await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return performance.now() - started;
  });
};

async function once() {
  const port = await freePort();
  const metricsPort = await freePort();
  const started = performance.now();
  const env = { PATH: process.env.PATH, NODE_ENV: 'test', HOOK_SECRET: SECRET, RULES_FILE: join(dir, 'examples/rules.yaml'), HOOK_HOST: '127.0.0.1', HOOK_PORT: String(port), METRICS_HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn', SHUTDOWN_DELAY_MS: '0', OTEL_SDK_DISABLED: 'true' };
  const child = spawn(process.execPath, [join(dir, 'dist/main.js')], { cwd: dir, env, stdio: 'ignore' });
  try {
    let readyMs;
    while (readyMs === undefined) {
      if (child.exitCode !== null) throw new Error('service exited before it was ready');
      if (performance.now() - started > 30_000) throw new Error('not ready within 30 s');
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
      if (status === 200) readyMs = performance.now() - started;
      else await sleep(5);
    }
    const firstMs = await call(port);
    const perSecond = Array.from({ length: SECONDS }, () => []);
    const pending = [];
    const begin = performance.now();
    for (let i = 0; i < SECONDS * RATE; i++) {
      await sleep(Math.max(0, begin + (i * 1000) / RATE - performance.now()));
      const second = Math.floor(i / RATE);
      pending.push(call(port).then((ms) => perSecond[second].push(ms)));
    }
    await Promise.all(pending);
    return { readyMs, firstMs, perSecond };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.on('exit', r));
  }
}

(async () => {
  console.log(`cold start of ${dir}: ${runs} run(s), ${RATE} calls/s for ${SECONDS} s after ready`);
  for (let run = 1; run <= runs; run++) {
    const { readyMs, firstMs, perSecond } = await once();
    const seconds = perSecond.map((ms, i) => `s${i + 1} p50 ${percentile(ms, 0.5).toFixed(1)} / max ${Math.max(...ms).toFixed(1)} ms`).join(', ');
    console.log(`run ${run}: ready ${readyMs.toFixed(0)} ms, first call ${firstMs.toFixed(1)} ms, ${seconds}`);
  }
})().catch((err) => {
  console.error(err.message);
  process.exitCode = 1;
});

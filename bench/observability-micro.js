#!/usr/bin/env node
/**
 * In-process microbenchmarks of two observability changes, old and new interleaved (run after
 * `npm run build`): `node bench/observability-micro.js [ROUNDS]`.
 *
 * - metrics: one hook call's metric updates (in-flight, auth, 6 rule results, 2 patch operations,
 *   request counter, duration histogram with an exemplar on 10 % of calls) done with prom-client
 *   directly (before) and with the service's Metrics class, counting in cells (after);
 * - log line: one call's line through pino with SonicBoom's 32 KB `minLength` buffer (before) and
 *   with the batched destination (after), both to /dev/null.
 * Prints ns per call, median and fastest of the rounds.
 */
'use strict';
const { performance } = require('node:perf_hooks');
const path = require('node:path');
const pino = require('pino');
const { Counter, Gauge, Histogram, Registry, openMetricsContentType } = require('prom-client');

const dist = path.join(__dirname, '..', 'dist', 'observability');
const { Metrics, DURATION_BUCKETS } = require(path.join(dist, 'metrics.js'));
const { BatchedDestination, createLogger } = require(path.join(dist, 'logger.js'));

const ROUNDS = Number(process.argv[2]) || 7;
const CALLS = 100000;
const RULES = ['tier', 'roles', 'department', 'lifetime', 'deny-suspended', 'partner'].map((rule, i) => ({ rule, result: i % 3 === 0 ? 'matched' : 'not_matched' }));
const APPLIED = [{ token: 'identity', op: 'add' }, { token: 'access', op: 'add' }];
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** The metric updates as main had them before: prom-client on every call. */
function directMetrics() {
  const registry = new Registry(openMetricsContentType);
  const registers = [registry];
  const requests = new Counter({ name: 'r', help: 'h', labelNames: ['hook', 'outcome'], registers });
  const duration = new Histogram({ name: 'd', help: 'h', labelNames: ['hook', 'outcome'], buckets: DURATION_BUCKETS, enableExemplars: true, registers });
  const inFlight = new Gauge({ name: 'i', help: 'h', registers });
  const auth = new Counter({ name: 'a', help: 'h', labelNames: ['method', 'credential'], registers });
  const rules = new Counter({ name: 'e', help: 'h', labelNames: ['rule', 'result'], registers });
  const ops = new Counter({ name: 'o', help: 'h', labelNames: ['token', 'op'], registers });
  return (i) => {
    inFlight.inc();
    auth.inc({ method: 'header', credential: 'slot-1' });
    for (const r of RULES) rules.inc({ rule: r.rule, result: r.result });
    for (const op of APPLIED) ops.inc({ token: op.token, op: op.op });
    inFlight.dec();
    const labels = { hook: 'token', outcome: 'patched' };
    requests.inc(labels);
    duration.observe({ labels, value: 0.0004, exemplarLabels: i % 10 === 0 ? { trace_id: TRACE } : {} });
  };
}

function cellMetrics() {
  const metrics = new Metrics({ version: 'micro' });
  return (i) => {
    metrics.requestStarted();
    metrics.recordAuth({ ok: true, method: 'header', credential: 'slot-1' });
    metrics.recordEvaluation(RULES, APPLIED, []);
    metrics.requestEnded();
    metrics.recordRequest('patched', 0.0004, undefined, i % 10 === 0 ? TRACE : undefined);
  };
}

const FIELDS = { eventId: 'kP3xQ9vTRm2Lw8sYbN4aZg', clientId: '0oa1b2c3d4E5f6G7h8i9', grantType: 'authorization_code', rulesVersion: 'a1b2c3d4e5f6', matchedRules: 2, operations: 2, outcome: 'patched', status: 200, durationMs: 0.412 };
const base = { service: 'okta-token-hook', version: '0.1.0' };

function sonicBoomLogs() {
  const stream = pino.destination({ dest: '/dev/null', sync: false, minLength: 32 * 1024, maxWrite: 64 * 1024 });
  const logger = createLogger({ level: 'info', base, destination: stream });
  return () => logger.info({ ...FIELDS }, 'token hook call');
}

function batchedLogs() {
  const logger = createLogger({ level: 'info', base, destination: new BatchedDestination(pino.destination({ dest: '/dev/null', sync: false }), 32 * 1024) });
  return () => logger.info({ ...FIELDS }, 'token hook call');
}

async function time(fn) {
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) {
    fn(i);
    // Let the asynchronous log writes complete now and then, as the event loop does between calls.
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  return ((performance.now() - started) * 1e6) / CALLS;
}

async function main() {
  const cases = { 'metrics, prom-client per call (before)': directMetrics(), 'metrics, cells (after)': cellMetrics(), 'log line, SonicBoom minLength 32 KB (before)': sonicBoomLogs(), 'log line, batched destination (after)': batchedLogs() };
  const results = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (const fn of Object.values(cases)) await time(fn); // warm-up
  for (let round = 0; round < ROUNDS; round++) for (const [name, fn] of Object.entries(cases)) results[name].push(await time(fn));
  console.log(`node ${process.version}, ${ROUNDS} interleaved rounds of ${CALLS} calls`);
  for (const [name, values] of Object.entries(results)) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(`${name.padEnd(46)} median ${Math.round(sorted[Math.floor(sorted.length / 2)])} ns/call, fastest ${Math.round(sorted[0])} ns/call`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

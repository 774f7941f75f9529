#!/usr/bin/env node
/**
 * `npm run bench`: drives the built service (a separate process, pinned to one core when `taskset`
 * exists) at fixed arrival rates (open loop, bench/load.js, from the other core) with a realistic
 * payload mix and the example rules, and reports throughput, p50/p99 latency, the server's CPU time
 * per request (from /proc) and its peak RSS, for several observability profiles and two reference
 * servers (`koa`: the stack with no logic; `baseline`: bare node:http). Prints a table (medians of
 * --repeat interleaved runs) and writes JSON to bench/results/.
 *
 * Usage: node bench/run.js [--rates 1000,3000] [--duration 10] [--warmup 3] [--repeat N]
 *                          [--profiles all,metrics,off,shadow,koa,baseline] [--soak SECONDS] [--out FILE]
 *                          [--connections 64]
 *                          [--cpu-prof DIR]   (write a V8 CPU profile of each service run)
 *                          [--env NAME=VALUE] (extra service environment, repeatable)
 * Traffic goes to 127.0.0.1 only; every run is bounded by --duration (or --soak).
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { readFileSync, mkdirSync, writeFileSync, existsSync, openSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { openLoop, percentile } = require('./load');

const ROOT = path.join(__dirname, '..');
const SECRET = 'bench-secret-value';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const PROFILES = {
  // Everything a production install runs: metrics, tracing at 10% exported over OTLP/HTTP, one log line per call.
  all: { METRICS_ENABLED: 'true', LOG_REQUESTS: 'true', OTEL_SDK_DISABLED: 'false', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
  metrics: { METRICS_ENABLED: 'true', LOG_REQUESTS: 'false', OTEL_SDK_DISABLED: 'true' },
  // One feature at a time, to attribute the cost of `all`.
  tracing: { METRICS_ENABLED: 'false', LOG_REQUESTS: 'false', OTEL_SDK_DISABLED: 'false', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
  logs: { METRICS_ENABLED: 'false', LOG_REQUESTS: 'true', OTEL_SDK_DISABLED: 'true' },
  off: { METRICS_ENABLED: 'false', LOG_REQUESTS: 'false', OTEL_SDK_DISABLED: 'true' },
  // `metrics` plus shadow rules (issue 16): the example rules evaluated a second time after each answer and compared.
  shadow: { METRICS_ENABLED: 'true', LOG_REQUESTS: 'false', OTEL_SDK_DISABLED: 'true', RULES_SHADOW_FILE: path.join(ROOT, 'examples', 'rules.yaml') },
  // Not the hook: a bare node:http server answering static JSON, the floor on this machine.
  baseline: {},
  // Not the hook either: Koa + @koa/router + koa-bodyparser answering the same static JSON, the floor of the stack.
  koa: {},
};

/** What each profile runs: the service, or one of the two reference servers. */
const SERVICE_ENTRY = ['--require', './dist/instrumentation.js', 'dist/main.js'];
const REFERENCE_ENTRIES = { baseline: ['bench/baseline-server.js'], koa: ['bench/koa-floor-server.js'] };

const PAYLOADS = [
  // Weighted like a workforce login mix: mostly code flows, then refreshes, some machine tokens.
  ['token-hook-authcode-full.json', 4],
  ['token-hook-refresh.json', 3],
  ['token-hook-client-credentials.json', 2],
  ['token-hook-minimal.json', 1],
  ['token-hook-preview-no-identity.json', 1],
];

function parseArgs(argv) {
  const args = { rates: [1000, 3000], duration: 10, warmup: 3, profiles: ['all', 'metrics', 'off', 'baseline'], soak: 0, out: '', connections: 64, repeat: 1, env: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--rates') args.rates = value.split(',').map(Number);
    else if (flag === '--duration') args.duration = Number(value);
    else if (flag === '--warmup') args.warmup = Number(value);
    else if (flag === '--profiles') args.profiles = value.split(',');
    else if (flag === '--soak') args.soak = Number(value);
    else if (flag === '--out') args.out = value;
    else if (flag === '--connections') args.connections = Number(value);
    else if (flag === '--cpu-prof') args.cpuProf = path.resolve(value);
    else if (flag === '--repeat') args.repeat = Number(value);
    else if (flag === '--env') {
      const eq = value.indexOf('=');
      if (eq < 1) throw new Error('--env takes NAME=VALUE');
      args.env[value.slice(0, eq)] = value.slice(eq + 1);
    }
    else throw new Error(`unknown option ${flag}`);
    i++;
  }
  for (const p of args.profiles) if (!PROFILES[p]) throw new Error(`unknown profile ${p}`);
  if (!(args.duration > 0 && args.duration <= 900) || !(args.soak >= 0 && args.soak <= 3600)) throw new Error('duration/soak out of bounds');
  if (!(Number.isInteger(args.repeat) && args.repeat >= 1 && args.repeat <= 9)) throw new Error('--repeat takes 1..9');
  return args;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A minimal OTLP/HTTP sink so the traced profile pays the real export cost without a collector. */
function startOtlpSink() {
  let spans = 0;
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => {
      spans += bytes > 0 ? 1 : 0;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, exports: () => spans })));
}

function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK };
}

function procStatus(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number((new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status) || [0, 0])[1]);
  return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
}

async function waitReady(port, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('service not ready in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function startService(profile, otlpPort, cpuProf, extraEnv = {}) {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOOK_HOST: '127.0.0.1',
    METRICS_HOST: '127.0.0.1',
    HOOK_PORT: String(port),
    METRICS_PORT: String(metricsPort),
    HOOK_SECRET: SECRET,
    RULES_FILE: path.join(ROOT, 'examples', 'rules.yaml'),
    RULES_WATCH: 'false',
    SHUTDOWN_DELAY_MS: '0',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    ...PROFILES[profile],
    ...extraEnv,
  };
  const pin = existsSync('/usr/bin/taskset') && os.cpus().length > 1;
  const command = pin ? 'taskset' : process.execPath;
  const entry = REFERENCE_ENTRIES[profile] || SERVICE_ENTRY;
  const profiling = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`, `--cpu-prof-name=${profile}-${Date.now()}.cpuprofile`] : [];
  const args = [...(pin ? ['-c', '0', process.execPath] : []), ...profiling, ...entry];
  const devNull = openSync('/dev/null', 'w');
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', devNull, 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    await waitReady(port, child, 10000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${stderr}`);
  }
  const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { child, port, metricsPort, readyMs, pinned: pin };
}

function requestsFor() {
  const requests = [];
  for (const [file, weight] of PAYLOADS) {
    const body = readFileSync(path.join(ROOT, 'test', 'fixtures', 'okta', file), 'utf8');
    for (let i = 0; i < weight; i++) requests.push({ body, headers: { 'content-type': 'application/json', authorization: SECRET } });
  }
  return requests;
}

function drive(port, rate, seconds, connections) {
  return openLoop({ port, path: '/hooks/token', rate, seconds, connections, requests: requestsFor(), timeoutMs: 5000 });
}

const round2 = (ms) => (ms === null ? null : Math.round(ms * 100) / 100);

async function measure(profile, rate, args, otlp) {
  const service = await startService(profile, otlp.port, args.cpuProf, args.env);
  try {
    await drive(service.port, rate, args.warmup, args.connections);
    const cpuBefore = procStat(service.child.pid).cpuSeconds;
    const startedAt = process.hrtime.bigint();
    const result = await drive(service.port, rate, args.duration, args.connections);
    const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const cpuAfter = procStat(service.child.pid).cpuSeconds;
    const mem = procStatus(service.child.pid);
    const total = result.completed;
    return {
      profile,
      targetRate: rate,
      throughput: Math.round(total / elapsed),
      ok: result.ok,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      p50Ms: round2(percentile(result.latenciesMs, 50)),
      p99Ms: round2(percentile(result.latenciesMs, 99)),
      maxMs: round2(percentile(result.latenciesMs, 100)),
      maxQueued: result.maxQueued,
      cpuUsPerRequest: total > 0 ? Math.round(((cpuAfter - cpuBefore) * 1e6) / total) : null,
      cpuCoreShare: Number(((cpuAfter - cpuBefore) / elapsed).toFixed(2)),
      peakRssMb: Math.round(mem.peakRssMb),
      startToReadyMs: Math.round(service.readyMs),
      pinnedToOneCore: service.pinned,
    };
  } finally {
    service.child.kill('SIGTERM');
    await new Promise((r) => service.child.once('exit', r));
  }
}

async function soak(args, otlp) {
  const service = await startService('all', otlp.port);
  const samples = [];
  try {
    const rate = args.rates[args.rates.length - 1];
    const started = Date.now();
    const run = drive(service.port, rate, args.soak, args.connections);
    const timer = setInterval(() => {
      const mem = procStatus(service.child.pid);
      samples.push({ t: Math.round((Date.now() - started) / 1000), rssMb: Math.round(mem.rssMb), peakRssMb: Math.round(mem.peakRssMb) });
    }, 10000);
    const result = await run;
    clearInterval(timer);
    return { rate, seconds: args.soak, requests: result.completed, p99Ms: round2(percentile(result.latenciesMs, 99)), errors: result.errors + result.timeouts + result.non2xx, samples };
  } finally {
    service.child.kill('SIGTERM');
    await new Promise((r) => service.child.once('exit', r));
  }
}

/** Median of each numeric field over repeated runs (peak RSS: the maximum). */
function median(runs) {
  const mid = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  };
  const row = { ...runs[0], runs: runs.length };
  for (const key of Object.keys(row)) {
    if (typeof row[key] === 'number' && key !== 'targetRate' && key !== 'runs') row[key] = mid(runs.map((r) => r[key]));
  }
  row.peakRssMb = Math.max(...runs.map((r) => r.peakRssMb));
  row.cpuUsPerRequestRange = [Math.min(...runs.map((r) => r.cpuUsPerRequest)), Math.max(...runs.map((r) => r.cpuUsPerRequest))];
  // A busy host only ever adds CPU time to a run, so the least-disturbed run is the best estimate of the cost.
  row.cpuUsMin = row.cpuUsPerRequestRange[0];
  return row;
}

function table(rows) {
  const cols = ['profile', 'targetRate', 'throughput', 'p50Ms', 'p99Ms', 'cpuUsPerRequest', 'cpuUsMin', 'peakRssMb', 'startToReadyMs', 'non2xx', 'errors'];
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals) => vals.map((v, i) => String(v).padEnd(widths[i])).join('  ');
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => r[c])))].join('\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('dist/ missing: run `npm run build` (npm run bench does)');
  // Keep the load generator off the server's core.
  if (existsSync('/usr/bin/taskset') && os.cpus().length > 1) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  const otlp = await startOtlpSink();
  const rows = [];
  let runs = [];
  try {
    // Profiles are interleaved and repeated: this kind of machine is noisy, the median is reported.
    runs = [];
    for (const rate of args.rates) {
      for (let r = 0; r < args.repeat; r++) {
        for (const profile of args.profiles) {
          const row = await measure(profile, rate, args, otlp);
          runs.push(row);
          process.stderr.write(`${profile} @ ${rate}/s (run ${r + 1}/${args.repeat}): p99 ${row.p99Ms} ms, ${row.cpuUsPerRequest} µs CPU/request\n`);
        }
      }
      for (const profile of args.profiles) rows.push(median(runs.filter((x) => x.profile === profile && x.targetRate === rate)));
    }
    const soakResult = args.soak > 0 ? await soak(args, otlp) : undefined;
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0] && os.cpus()[0].model, node: process.version, memoryGb: Math.round(os.totalmem() / 2 ** 30) },
      settings: { duration: args.duration, warmup: args.warmup, connections: args.connections, rules: 'examples/rules.yaml', payloads: PAYLOADS.map(([f, w]) => `${f}×${w}`) },
      results: rows,
      runs,
      soak: soakResult,
    };
    console.log(table(rows));
    if (soakResult) console.log(`\nsoak ${soakResult.seconds}s @ ${soakResult.rate}/s: RSS samples (MB) ${soakResult.samples.map((s) => s.rssMb).join(' ')}; p99 ${soakResult.p99Ms} ms; errors ${soakResult.errors}`);
    const out = args.out || path.join(ROOT, 'bench', 'results', `bench-${Date.now()}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nwritten ${path.relative(ROOT, out)}`);
  } finally {
    otlp.server.close();
  }
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});

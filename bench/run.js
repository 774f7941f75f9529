#!/usr/bin/env node
/**
 * `npm run bench`: drives the built service (a separate process, pinned to one core when `taskset`
 * exists) at fixed arrival rates (open loop, bench/load.js, from the other core) with a realistic
 * payload mix and the example rules, and reports throughput, p50/p99 latency, the p99 of the first
 * second after readiness, the server's CPU time per request (from /proc), its peak RSS and its
 * spawn -> ready time, for several observability profiles and three reference servers:
 *   express   the seed article's Express sample (express.json(), header compare, one static patch);
 *   koa       the stack (Koa + @koa/router + koa-bodyparser) doing the same work, the framework floor;
 *   baseline  bare node:http answering static JSON.
 * Every row shows its CPU per call as a ratio to `express` (xSeed) and `koa` (xKoa), computed within
 * each repetition of interleaved runs, and of the least-disturbed runs (…Min). The goals
 * are checked on the `all` profile and printed met / NOT MET. Writes JSON to bench/results/.
 *
 * Usage: node bench/run.js [--rates 1000,3000] [--duration 10] [--warmup 10] [--warmup-calls 20000] [--repeat N] [--no-image-flags] [--no-compile-cache]
 *                          [--profiles all,off,koa,express] (also metrics, tracing, logs, shadow, baseline) [--node BIN[,BIN]] [--soak SECONDS]
 *                          [--breaking] (per profile: the rate where p99 crosses 250 ms, bounded search)
 *                          [--variant NAME=PROFILE[@DIR][:VAR=VALUE;VAR=VALUE]] (repeatable: a profile
 *                              run from another build directory and/or with extra environment, for A/B)
 *                          [--markdown] (tables as Markdown) [--out FILE] [--connections 64]
 *                          [--report FILE] (print the tables of a saved JSON report again; runs nothing)
 *                          [--cpu-prof DIR] [--env NAME=VALUE] (extra service environment, repeatable)
 * Traffic goes to 127.0.0.1 only; every run is bounded by --duration (or --soak), the breaking-point
 * search by a fixed ladder of short steps.
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { readFileSync, mkdirSync, writeFileSync, existsSync, rmSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { histogramOf } = require('./histogram');
const { openLoop, percentile } = require('./load');
const report = require('./report');

const ROOT = path.join(__dirname, '..');
const SECRET = 'bench-secret-value';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const TRACING = { OTEL_SDK_DISABLED: 'false', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' };
const PROFILES = {
  // Everything a production install runs: metrics, tracing at 10% exported over OTLP/HTTP, one log line per call.
  all: { METRICS_ENABLED: 'true', LOG_REQUESTS: 'true', ...TRACING },
  metrics: { METRICS_ENABLED: 'true', LOG_REQUESTS: 'false', OTEL_SDK_DISABLED: 'true' },
  // One feature at a time, to attribute the cost of `all`.
  tracing: { METRICS_ENABLED: 'false', LOG_REQUESTS: 'false', ...TRACING },
  logs: { METRICS_ENABLED: 'false', LOG_REQUESTS: 'true', OTEL_SDK_DISABLED: 'true' },
  off: { METRICS_ENABLED: 'false', LOG_REQUESTS: 'false', OTEL_SDK_DISABLED: 'true' },
  // `metrics` plus shadow rules (issue 16): the example rules evaluated a second time after each answer and compared.
  shadow: { METRICS_ENABLED: 'true', LOG_REQUESTS: 'false', OTEL_SDK_DISABLED: 'true', RULES_SHADOW_FILE: path.join(ROOT, 'examples', 'rules.yaml') },
  // Not the hook: a bare node:http server answering static JSON, the floor on this machine.
  baseline: {},
  // Not the hook either: Koa + @koa/router + koa-bodyparser doing the seed sample's work, the floor of the stack.
  koa: {},
  // The seed article's Express sample (express.json(), header compare, one static `add` patch).
  express: {},
};

/** What each profile runs: the service, or one of the reference servers. */
/** The image's entry point (Dockerfile ENTRYPOINT): tracing bootstrap, then the service; `npm run bench` builds the bundles it ships. */
const SERVICE_ENTRY = ['dist/entrypoint.js'];

/**
 * The Node/V8 flags the image's ENTRYPOINT passes (Dockerfile, e.g. the young generation's size):
 * the service runs here as it runs in the image. `--no-image-flags` leaves them out (A/B).
 */
function imageNodeFlags(root) {
  const dockerfile = path.join(root, 'Dockerfile');
  if (!existsSync(dockerfile)) return [];
  const line = readFileSync(dockerfile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT ['));
  if (!line) return [];
  const argv = JSON.parse(line.slice('ENTRYPOINT '.length));
  return argv.slice(1).filter((arg) => arg.startsWith('--'));
}
const REFERENCE_ENTRIES = { baseline: ['bench/baseline-server.js'], koa: ['bench/koa-floor-server.js'], express: ['bench/express-seed-server.js'] };

/** Rates tried by --breaking, then bisected once between the last one held and the first one not. */
const BREAKING_LADDER = [1000, 2000, 3000, 4500, 6000, 8000, 10000, 13000, 16000];
const BREAKING_P99_MS = 250;
const BREAKING_STEP_SECONDS = 3;
const BREAKING_WARMUP_RATE = 2000;

const PAYLOADS = [
  // Weighted like a workforce login mix: mostly code flows, then refreshes, some machine tokens.
  ['token-hook-authcode-full.json', 4],
  ['token-hook-refresh.json', 3],
  ['token-hook-client-credentials.json', 2],
  ['token-hook-minimal.json', 1],
  ['token-hook-preview-no-identity.json', 1],
];

/** A variant's extra environment, `VAR=VALUE;VAR=VALUE` (bench/run.js and bench/cold-start.js). */
function parseEnvPairs(pairs, spec) {
  const env = {};
  for (const pair of (pairs || '').split(';').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--variant ${spec}: ${pair} is not VAR=VALUE`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

function parseVariant(spec) {
  const match = /^([\w.-]+)=(\w+)(?:@([^:]+))?(?::(.*))?$/.exec(spec);
  if (!match || !PROFILES[match[2]]) throw new Error(`--variant takes NAME=PROFILE[@DIR][:VAR=VALUE;…], got ${spec}`);
  const root = match[3] ? path.resolve(match[3]) : ROOT;
  return { name: match[1], base: match[2], root, env: parseEnvPairs(match[4], spec) };
}

function parseArgs(argv) {
  const args = {
    rates: [1000, 3000],
    duration: 10,
    warmup: 10,
    // At least this many calls before the measured window, whatever the rate (below).
    warmupCalls: 20000,
    profiles: ['all', 'off', 'koa', 'express'],
    soak: 0,
    out: '',
    connections: 64,
    repeat: 1,
    env: {},
    nodes: [process.execPath],
    variants: {},
    breaking: false,
    markdown: false,
    imageFlags: true,
    compileCache: true,
  };
  const flags = new Set(['--breaking', '--markdown']);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flags.has(flag)) {
      args[flag.slice(2)] = true;
      continue;
    }
    if (flag === '--no-image-flags') {
      args.imageFlags = false;
      continue;
    }
    if (flag === '--no-compile-cache') {
      args.compileCache = false;
      continue;
    }
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--rates') args.rates = value.split(',').map(Number);
    else if (flag === '--duration') args.duration = Number(value);
    else if (flag === '--warmup') args.warmup = Number(value);
    else if (flag === '--warmup-calls') args.warmupCalls = Number(value);
    else if (flag === '--profiles') args.profiles = value.split(',');
    else if (flag === '--soak') args.soak = Number(value);
    else if (flag === '--out') args.out = value;
    else if (flag === '--connections') args.connections = Number(value);
    else if (flag === '--cpu-prof') args.cpuProf = path.resolve(value);
    else if (flag === '--repeat') args.repeat = Number(value);
    else if (flag === '--report') args.report = path.resolve(value);
    else if (flag === '--node') args.nodes = value.split(',').map((bin) => path.resolve(bin));
    else if (flag === '--variant') {
      const variant = parseVariant(value);
      args.variants[variant.name] = variant;
    } else if (flag === '--env') {
      const eq = value.indexOf('=');
      if (eq < 1) throw new Error('--env takes NAME=VALUE');
      args.env[value.slice(0, eq)] = value.slice(eq + 1);
    } else throw new Error(`unknown option ${flag}`);
    i++;
  }
  for (const name of Object.keys(args.variants)) if (!args.profiles.includes(name)) args.profiles.push(name);
  for (const p of args.profiles) if (!PROFILES[p] && !args.variants[p]) throw new Error(`unknown profile ${p}`);
  for (const bin of args.nodes) if (!existsSync(bin)) throw new Error(`--node ${bin}: no such file`);
  if (!args.rates.every((r) => r > 0 && r <= 20000)) throw new Error('--rates: each between 1 and 20000');
  if (!(args.duration > 0 && args.duration <= 900) || !(args.soak >= 0 && args.soak <= 3600)) throw new Error('duration/soak out of bounds');
  if (!(args.warmup >= 1 && args.warmup <= 60)) throw new Error('--warmup takes 1..60 seconds (its first second is the first-second-after-ready measure)');
  if (!(Number.isInteger(args.warmupCalls) && args.warmupCalls >= 0 && args.warmupCalls <= 200000)) throw new Error('--warmup-calls takes 0..200000');
  if (!(Number.isInteger(args.repeat) && args.repeat >= 1 && args.repeat <= 9)) throw new Error('--repeat takes 1..9');
  return args;
}

function freePort() {
  return freePorts(1).then(([port]) => port);
}

/** `count` distinct free ports: each is held open until all are chosen (two ports taken one after the other can be the same one). */
async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise((resolve, reject) => {
        server.on('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((server) => server.address().port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
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

/** How one profile (or variant) is started: which directory, entry point and environment. */
function launchPlan(profile, args) {
  const variant = args.variants[profile];
  const base = variant ? variant.base : profile;
  return {
    base,
    root: variant ? variant.root : ROOT,
    entry: REFERENCE_ENTRIES[base] || [...(args.imageFlags ? imageNodeFlags(variant ? variant.root : ROOT) : []), ...SERVICE_ENTRY],
    env: { ...PROFILES[base], ...args.env, ...(variant ? variant.env : {}) },
  };
}

/** The service's environment in every benchmark (bench/cold-start.js too), before the profile's. */
function serviceEnv(port, metricsPort, otlpPort) {
  return {
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
  };
}

/**
 * The image ships a V8 compile cache made at build time by its own Node (scripts/compile-cache.js);
 * here one is made the same way per Node binary and build directory, once per run, and handed to the
 * service with NODE_COMPILE_CACHE. `--no-compile-cache` starts without one.
 */
const compileCaches = new Map();
function compileCacheFor(nodeBin, root, args) {
  if (!args.compileCache) return undefined;
  const key = `${nodeBin}\u0000${root}`;
  if (!compileCaches.has(key)) {
    const dir = path.join(os.tmpdir(), `okta-hook-bench-cache-${process.pid}-${compileCaches.size}`);
    // With the flags the service will run with: Node keys cache entries by code-generation flags.
    const flags = args.imageFlags ? imageNodeFlags(root) : [];
    const made = spawnSync(nodeBin, [...flags, path.join(root, 'scripts', 'compile-cache.js'), dir, root], { cwd: root, encoding: 'utf8', timeout: 60000 });
    if (made.status !== 0) throw new Error(`compile cache for ${nodeBin} in ${root}: ${made.stderr || made.error}`);
    compileCaches.set(key, dir);
  }
  return compileCaches.get(key);
}

async function startService(profile, nodeBin, args, otlpPort) {
  const plan = launchPlan(profile, args);
  const [port, metricsPort] = await freePorts(2);
  const env = { ...serviceEnv(port, metricsPort, otlpPort), ...plan.env };
  const cache = REFERENCE_ENTRIES[plan.base] ? undefined : compileCacheFor(nodeBin, plan.root, args);
  if (cache) env.NODE_COMPILE_CACHE = cache;
  const pin = existsSync('/usr/bin/taskset') && os.cpus().length > 1;
  const command = pin ? 'taskset' : nodeBin;
  const profiling = args.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${args.cpuProf}`, `--cpu-prof-name=${profile}-${Date.now()}.cpuprofile`] : [];
  const spawnArgs = [...(pin ? ['-c', '0', nodeBin] : []), ...profiling, ...plan.entry];
  const started = process.hrtime.bigint();
  // stdout is a pipe read (and dropped) here, as a container runtime reads a pod's stdout: the
  // service's log writes cost what they cost in a cluster (a file or /dev/null would be cheaper).
  const child = spawn(command, spawnArgs, { cwd: plan.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.resume();
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    await waitReady(port, child, 15000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${profile}: ${err.message}\n${stderr}`);
  }
  const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
  // CPU time spent until ready: what start-up costs, much less moved by a busy host than wall time.
  const readyCpuMs = procStat(child.pid).cpuSeconds * 1000;
  return { child, port, metricsPort, readyMs, readyCpuMs, pinned: pin };
}

async function stopService(service) {
  if (service.child.exitCode !== null) return;
  const exited = new Promise((r) => service.child.once('exit', r));
  service.child.kill('SIGTERM');
  await exited;
}

function requestsFor() {
  const requests = [];
  for (const [file, weight] of PAYLOADS) {
    const body = readFileSync(path.join(ROOT, 'test', 'fixtures', 'okta', file), 'utf8');
    for (let i = 0; i < weight; i++) requests.push({ body, headers: { 'content-type': 'application/json', authorization: SECRET } });
  }
  return requests;
}

function drive(port, rate, seconds, connections, measure = {}) {
  return openLoop({ port, path: '/hooks/token', rate, seconds, connections, requests: requestsFor(), timeoutMs: 5000, ...measure });
}

const round2 = (ms) => (ms === null ? null : Math.round(ms * 100) / 100);
const nodeLabel = (bin) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();

/** Seconds of warm-up the --warmup-calls floor needs at `rate` (whole seconds, at most 60). */
function warmupSeconds(rate, args) {
  return Math.min(60, Math.ceil(args.warmupCalls / rate));
}

async function measure(profile, nodeBin, rate, args, otlp) {
  const service = await startService(profile, nodeBin, args, otlp.port);
  try {
    // The first second after readiness, at the measured rate: what a restart under load serves.
    const first = await drive(service.port, rate, 1, args.connections);
    // The rest of the warm-up and the measured window are one run on the same connections: only
    // the requests due after the warm-up count, and the CPU time is read when they start.
    // The warm-up lasts --warmup seconds and at least --warmup-calls calls: V8 optimises a function
    // after a number of calls, not of seconds, so at 1,000/s its optimising compiler's main burst
    // (about 90 functions, 60 ms of compiling on the service's core) comes about 10.5 s after ready,
    // inside a 10 s warm-up's measured window; at 3,000/s it is over in the first seconds.
    const warm = Math.max(args.warmup, warmupSeconds(rate, args)) - 1;
    let cpuBefore = 0;
    const result = await drive(service.port, rate, warm + args.duration, args.connections, {
      measureAfter: warm,
      onMeasureStart: () => (cpuBefore = procStat(service.child.pid).cpuSeconds),
    });
    const elapsed = result.measuredSeconds;
    const cpuAfter = procStat(service.child.pid).cpuSeconds;
    const mem = procStatus(service.child.pid);
    const total = result.measured;
    return {
      profile,
      targetRate: rate,
      throughput: Math.round(total / elapsed),
      ok: result.ok,
      non2xx: result.non2xx + first.non2xx,
      errors: result.errors + result.timeouts + first.errors + first.timeouts,
      p50Ms: round2(percentile(result.latenciesMs, 50)),
      p99Ms: round2(percentile(result.latenciesMs, 99)),
      maxMs: round2(percentile(result.latenciesMs, 100)),
      // The whole distribution, so the repetitions of a row can be pooled (bench/histogram.js).
      latencyHistogram: histogramOf(result.latenciesMs),
      firstSecondP50Ms: round2(percentile(first.latenciesMs, 50)),
      firstSecondP99Ms: round2(percentile(first.latenciesMs, 99)),
      maxQueued: result.maxQueued,
      cpuUsPerRequest: total > 0 ? Math.round(((cpuAfter - cpuBefore) * 1e6) / total) : null,
      cpuCoreShare: Number(((cpuAfter - cpuBefore) / elapsed).toFixed(2)),
      peakRssMb: Math.round(mem.peakRssMb),
      startToReadyMs: Math.round(service.readyMs),
      startCpuMs: Math.round(service.readyCpuMs),
      pinnedToOneCore: service.pinned,
    };
  } finally {
    await stopService(service);
  }
}

/**
 * The rate where p99 crosses BREAKING_P99_MS: one service per profile, short steps up a fixed
 * ladder until a step fails (p99 over the limit, errors, or under 90 % of the rate served), then
 * one bisection between the last rate held and the first one not. Bounded: at most
 * BREAKING_LADDER.length + 1 steps of BREAKING_STEP_SECONDS.
 */
async function breakingPoint(profile, nodeBin, args, otlp) {
  const service = await startService(profile, nodeBin, args, otlp.port);
  const step = async (rate) => {
    const result = await drive(service.port, rate, BREAKING_STEP_SECONDS, args.connections);
    const p99 = percentile(result.latenciesMs, 99);
    const served = result.completed / (rate * BREAKING_STEP_SECONDS);
    const failed = !(p99 <= BREAKING_P99_MS) || result.errors + result.timeouts > 0 || served < 0.9;
    await new Promise((r) => setTimeout(r, 500));
    return { rate, p99Ms: round2(p99), served: round2(served), failed };
  };
  const steps = [];
  try {
    // Warmed as the measured rows are (--warmup seconds, at least --warmup-calls calls), at 2,000/s:
    // the ladder measures a warmed service's capacity. From a cold start its 3,000/s step came
    // about 8 s after ready, while V8 was still optimising the request path, and a step whose whole
    // 3 s stayed saturated set the breaking point at 3,000/s in some runs and 8,000/s in others
    // (the first seconds after a restart are measured on their own: firstSecondP99Ms).
    await drive(service.port, BREAKING_WARMUP_RATE, Math.max(args.warmup, warmupSeconds(BREAKING_WARMUP_RATE, args)), args.connections);
    let lastOk = null;
    let broke = null;
    for (const rate of BREAKING_LADDER) {
      const s = await step(rate);
      steps.push(s);
      if (s.failed) {
        broke = s;
        break;
      }
      lastOk = s;
    }
    if (broke && lastOk) {
      const between = Math.round((lastOk.rate + broke.rate) / 2 / 100) * 100;
      const s = await step(between);
      steps.push(s);
      if (s.failed) broke = s;
      else lastOk = s;
    }
    return {
      profile,
      lastOkRate: lastOk ? lastOk.rate : null,
      breakingRate: broke ? broke.rate : null,
      p99AtBreakMs: broke ? broke.p99Ms : null,
      note: broke ? (broke.p99Ms > BREAKING_P99_MS ? `p99 > ${BREAKING_P99_MS} ms` : `served ${Math.round(broke.served * 100)} % of the rate`) : `held up to ${BREAKING_LADDER[BREAKING_LADDER.length - 1]}/s (the ladder's top)`,
      steps,
    };
  } finally {
    await stopService(service);
  }
}

async function soak(args, otlp) {
  const service = await startService('all', args.nodes[0], args, otlp.port);
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
    await stopService(service);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.report) return printSaved(args);
  const loadBefore = os.loadavg();
  if (!existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('dist/ missing: run `npm run build:bundle` (npm run bench does)');
  for (const variant of Object.values(args.variants)) {
    if (!existsSync(path.join(variant.root, 'dist', 'main.js'))) throw new Error(`--variant ${variant.name}: ${variant.root}/dist/main.js missing`);
  }
  // Keep the load generator off the server's core.
  if (existsSync('/usr/bin/taskset') && os.cpus().length > 1) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  const nodes = args.nodes.map((bin) => ({ bin, version: nodeLabel(bin) }));
  const otlp = await startOtlpSink();
  const runs = [];
  const breaking = [];
  try {
    // Profiles (and Node versions) are interleaved within each repetition: this kind of machine is
    // noisy, and the ratios are taken between runs seconds apart.
    for (const rate of args.rates) {
      for (let r = 0; r < args.repeat; r++) {
        for (const node of nodes) {
          for (const profile of args.profiles) {
            const row = { node: node.version, repeat: r, ...(await measure(profile, node.bin, rate, args, otlp)) };
            runs.push(row);
            process.stderr.write(`${node.version} ${profile} @ ${rate}/s (run ${r + 1}/${args.repeat}): p99 ${row.p99Ms} ms, first second p99 ${row.firstSecondP99Ms} ms, ${row.cpuUsPerRequest} µs CPU/request, ready in ${row.startToReadyMs} ms (${row.startCpuMs} ms CPU)\n`);
          }
        }
      }
    }
    if (args.breaking) {
      for (const node of nodes) {
        for (const profile of args.profiles) {
          const result = { node: node.version, ...(await breakingPoint(profile, node.bin, args, otlp)) };
          breaking.push(result);
          process.stderr.write(`${node.version} ${profile}: breaking point ${result.breakingRate ?? '-'}/s (last held ${result.lastOkRate ?? '-'}/s) ${result.note}\n`);
        }
      }
    }
    const soakResult = args.soak > 0 ? await soak(args, otlp) : undefined;
    const rows = report.summarize(runs);
    const goals = report.goalRows(rows, nodes.map((n) => n.version));
    const render = args.markdown ? report.markdownTable : report.table;
    const output = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0] && os.cpus()[0].model, loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg(), memoryGb: Math.round(os.totalmem() / 2 ** 30) },
      nodes: nodes.map((n) => n.version),
      settings: { duration: args.duration, warmup: args.warmup, warmupCalls: args.warmupCalls, repeat: args.repeat, connections: args.connections, rules: 'examples/rules.yaml', payloads: PAYLOADS.map(([f, w]) => `${f}×${w}`), variants: args.variants, env: args.env, imageNodeFlags: args.imageFlags ? imageNodeFlags(ROOT) : [] },
      results: rows,
      goals,
      breaking,
      runs,
      soak: soakResult,
    };
    console.log(`host load average (1/5/15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after: ${output.machine.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')} (${output.machine.cpus} CPUs; above ~2 the runs shared their cores)\n`);
    console.log(render(rows, report.RESULT_COLUMNS));
    if (rows.some((r) => r.profile === 'all')) console.log(`\n${render(goals, report.GOAL_COLUMNS)}`);
    if (breaking.length > 0) console.log(`\n${render(breaking, report.BREAKING_COLUMNS)}`);
    if (soakResult) console.log(`\nsoak ${soakResult.seconds}s @ ${soakResult.rate}/s: RSS samples (MB) ${soakResult.samples.map((s) => s.rssMb).join(' ')}; p99 ${soakResult.p99Ms} ms; errors ${soakResult.errors}`);
    const out = args.out || path.join(ROOT, 'bench', 'results', `bench-${Date.now()}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(output, null, 2) + '\n');
    console.log(`\nwritten ${path.relative(ROOT, out)}`);
  } finally {
    otlp.server.close();
    for (const dir of compileCaches.values()) rmSync(dir, { recursive: true, force: true });
  }
}

/** --report FILE: the tables of a saved run, from its individual runs, with this version's report code. */
function printSaved(args) {
  const saved = JSON.parse(readFileSync(args.report, 'utf8'));
  const render = args.markdown ? report.markdownTable : report.table;
  const rows = report.summarize(saved.runs);
  const { loadAverageBefore, loadAverageAfter } = saved.machine;
  if (loadAverageBefore) console.log(`run of ${saved.date}; host load average (1/5/15 min) before: ${loadAverageBefore.join(' ')}, after: ${loadAverageAfter.join(' ')} (${saved.machine.cpus} CPUs)\n`);
  console.log(render(rows, report.RESULT_COLUMNS));
  if (rows.some((r) => r.profile === 'all')) console.log(`\n${render(report.goalRows(rows, saved.nodes), report.GOAL_COLUMNS)}`);
  if (saved.breaking && saved.breaking.length > 0) console.log(`\n${render(saved.breaking, report.BREAKING_COLUMNS)}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err.stack || String(err));
    process.exit(1);
  });
}

// Shared with bench/cold-start.js (same profiles, same OTLP sink, same CPU accounting).
module.exports = { PROFILES, requestsFor, freePort, freePorts, serviceEnv, startOtlpSink, procStat, waitReady, imageNodeFlags, parseEnvPairs, warmupSeconds };

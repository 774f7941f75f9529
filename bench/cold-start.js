#!/usr/bin/env node
/**
 * Cold start, the way the image starts the service (`node <the Dockerfile ENTRYPOINT's Node flags>
 * dist/entrypoint.js`, no arguments; with the build's compile cache when it has one): CPU time
 * and wall time from spawn to `/readyz` 200, the fields of the `okta-token-hook ready` log line, then
 * the latency of the first second of traffic after ready next to the seconds that follow (open loop
 * at --rate, keep-alive, the benchmark's payload mix; bench/load.js).
 *
 *   npm run build && node bench/cold-start.js [--runs 5] [--profile all|off|…] [--node BIN]
 *       [--variant NAME=DIR[:VAR=VALUE;VAR=VALUE]] (repeatable; default: this repository as `this`)
 *       [--rate 1000] [--seconds 3 | 0 for start-up only] [--cpu-prof DIR] [--pin]
 *
 * Variants are interleaved run by run (A B A B …), so a busy host moves them alike; the summary is
 * the median per variant. CPU time at ready (utime + stime from /proc) is the figure to compare on a
 * shared machine: it is what start-up costs, little moved by other processes. Profiles are those of
 * bench/run.js (`all`: metrics, one log line per call, tracing at 10 % exported over OTLP/HTTP to a
 * local sink). A variant's DIR is a built checkout (its own dist/, node_modules/); its extra
 * environment is how, e.g., NODE_COMPILE_CACHE is switched for one variant. Traffic goes to
 * 127.0.0.1 only and is bounded by --seconds. `--pin` runs the service on core 0 and this script on
 * core 1 (`taskset`, as `npm run bench` does), so V8's background compiler threads share the
 * service's one core, as in a pod limited to one CPU: start-up wall time then includes them.
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openLoop, percentile } = require('./load');
const { PROFILES, requestsFor, freePorts, serviceEnv, startOtlpSink, procStat, waitReady, imageNodeFlags, parseEnvPairs } = require('./run');

const ROOT = path.join(__dirname, '..');

function parseArgs(argv) {
  const args = { runs: 3, profile: 'all', node: process.execPath, variants: [], rate: 1000, seconds: 3, cpuProf: '', pin: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    // Old form: `node bench/cold-start.js [RUNS] [REPO_DIR]`.
    if (i === 0 && /^\d+$/.test(flag)) {
      args.runs = Number(flag);
      continue;
    }
    if (i === 1 && !flag.startsWith('--') && args.variants.length === 0) {
      args.variants.push({ name: 'this', root: path.resolve(flag), env: {} });
      continue;
    }
    if (flag === '--pin') {
      args.pin = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--runs') args.runs = Number(value);
    else if (flag === '--profile') args.profile = value;
    else if (flag === '--node') args.node = path.resolve(value);
    else if (flag === '--rate') args.rate = Number(value);
    else if (flag === '--seconds') args.seconds = Number(value);
    else if (flag === '--cpu-prof') args.cpuProf = path.resolve(value);
    else if (flag === '--variant') {
      const match = /^([\w.-]+)=([^:]+)(?::(.*))?$/.exec(value);
      if (!match) throw new Error(`--variant takes NAME=DIR[:VAR=VALUE;…], got ${value}`);
      args.variants.push({ name: match[1], root: path.resolve(match[2]), env: parseEnvPairs(match[3], value) });
    } else throw new Error(`unknown option ${flag}`);
  }
  if (args.variants.length === 0) args.variants.push({ name: 'this', root: ROOT, env: {} });
  if (!PROFILES[args.profile] || ['baseline', 'koa', 'express'].includes(args.profile)) throw new Error(`--profile: one of the service's profiles in bench/run.js, got ${args.profile}`);
  if (!(Number.isInteger(args.runs) && args.runs >= 1 && args.runs <= 20)) throw new Error('--runs takes 1..20');
  if (!(args.rate > 0 && args.rate <= 5000) || !(args.seconds === 0 || (args.seconds >= 2 && args.seconds <= 30))) throw new Error('--rate 1..5000, --seconds 0 (start-up only) or 2..30 (the first second is compared with the others)');
  for (const v of args.variants) if (!existsSync(path.join(v.root, 'dist', 'entrypoint.js'))) throw new Error(`${v.name}: ${v.root}/dist/entrypoint.js missing (npm run build)`);
  if (!existsSync(args.node)) throw new Error(`--node ${args.node}: no such file`);
  return args;
}

/** The `okta-token-hook ready` log line (JSON on stdout), or undefined. */
function readyLine(stdout) {
  for (const line of stdout.split('\n')) {
    if (!line.includes('okta-token-hook ready')) continue;
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function once(variant, args, otlpPort, run) {
  const [port, metricsPort] = await freePorts(2);
  const env = {
    ...serviceEnv(port, metricsPort, otlpPort),
    ...PROFILES[args.profile],
    ...variant.env,
  };
  const profiling = args.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${args.cpuProf}`, `--cpu-prof-name=${variant.name}-${args.profile}-${run}.cpuprofile`] : [];
  const started = process.hrtime.bigint();
  const nodeArgs = [...imageNodeFlags(variant.root), ...profiling, 'dist/entrypoint.js'];
  const child = args.pin
    ? spawn('taskset', ['-c', '0', args.node, ...nodeArgs], { cwd: variant.root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(args.node, nodeArgs, { cwd: variant.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.once('exit', r));
  let measured;
  try {
    try {
      await waitReady(port, child, 30000);
    } catch (err) {
      throw new Error(`${variant.name}: ${err.message}\n${stderr}`);
    }
    const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
    const readyCpuMs = procStat(child.pid).cpuSeconds * 1000;
    measured = { readyMs, readyCpuMs, failed: 0 };
    if (args.seconds > 0) {
      const drive = (seconds) => openLoop({ port, path: '/hooks/token', rate: args.rate, seconds, requests: requestsFor(), timeoutMs: 5000 });
      // The first second after ready (new connections included, as after a restart under load), then the rest.
      const first = await drive(1);
      const after = await drive(args.seconds - 1);
      measured.failed = first.non2xx + first.errors + first.timeouts + after.non2xx + after.errors + after.timeouts;
      measured.firstP99Ms = percentile(first.latenciesMs, 99);
      measured.firstMaxMs = percentile(first.latenciesMs, 100);
      measured.afterP99Ms = percentile(after.latenciesMs, 99);
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
  // The log is buffered and flushed at exit: the ready line is read once the service has stopped.
  return { ...measured, ready: readyLine(stdout) };
}

const median = (values) => {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (v, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.pin) {
    if (!existsSync('/usr/bin/taskset') || os.cpus().length < 2) throw new Error('--pin needs taskset and at least two cores');
    spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  }
  const otlp = await startOtlpSink();
  const rows = new Map(args.variants.map((v) => [v.name, []]));
  try {
    console.log(`cold start, profile ${args.profile}, ${args.node}: ${args.runs} interleaved run(s) of ${args.variants.map((v) => v.name).join(', ')}; ${args.rate} calls/s for ${args.seconds} s after ready`);
    for (let run = 1; run <= args.runs; run++) {
      for (const variant of args.variants) {
        const r = await once(variant, args, otlp.port, run);
        rows.get(variant.name).push(r);
        const warm = r.ready && r.ready.warmUp ? `${r.ready.warmUp.iterations} × ${r.ready.warmUp.ms} ms${r.ready.warmUp.httpMs !== undefined ? `, HTTP ${r.ready.warmUp.httpCalls} calls ${r.ready.warmUp.httpMs} ms` : ''}` : '-';
        console.log(
          `run ${run} ${variant.name}: ready ${fmt(r.readyMs)} ms wall, ${fmt(r.readyCpuMs)} ms CPU (log startupMs ${r.ready ? r.ready.startupMs : '-'}, warm-up ${warm}); first second p99 ${fmt(r.firstP99Ms, 1)} ms (max ${fmt(r.firstMaxMs, 1)}), seconds 2-${args.seconds} p99 ${fmt(r.afterP99Ms, 1)} ms${r.failed ? `, ${r.failed} failed` : ''}`,
        );
      }
    }
    console.log(`\nmedians of ${args.runs}:`);
    console.log(['variant', 'readyCpuMs', 'minCpuMs', 'readyWallMs', 'startupMs', 'firstSecondP99Ms', 'laterP99Ms', 'ratio'].join('\t'));
    for (const [name, list] of rows) {
      const first = median(list.map((r) => r.firstP99Ms));
      const later = median(list.map((r) => r.afterP99Ms));
      console.log([name, fmt(median(list.map((r) => r.readyCpuMs))), fmt(Math.min(...list.map((r) => r.readyCpuMs))), fmt(median(list.map((r) => r.readyMs))), fmt(median(list.map((r) => r.ready && r.ready.startupMs))), fmt(first, 1), fmt(later, 1), fmt(first / later, 2)].join('\t'));
    }
  } finally {
    otlp.server.close();
  }
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exitCode = 1;
});

'use strict';
/**
 * Pure reporting for `npm run bench` (bench/run.js): medians of interleaved repetitions, same-run
 * ratios against the two references (the seed article's Express sample and the Koa floor), the
 * issue's goals marked met or not, and plain-text tables. No I/O: tested in test/bench/report.test.ts.
 */

const histogram = require('./histogram');

/** The references every row is compared with. */
const SEED = 'express';
const FLOOR = 'koa';

/** The goals of the performance issue, checked on the `all` profile (everything on). */
const GOALS = {
  seedRatio: 0.7,
  floorRatio: 1.15,
  ratioRate: 3000,
  p99At1000Ms: 5,
  p99At3000Ms: 25,
  startToReadyMs: 500,
  firstSecondFactor: 2,
  peakRssMb: 150,
};

const mid = (values) => {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const m = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
};
const round = (value, digits = 2) => (value === null || value === undefined || !Number.isFinite(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits);

/** p99 and call count over all of a row's runs, from their latency histograms (older reports have none). */
function pooled(group) {
  if (!group.every((r) => r.latencyHistogram)) return {};
  const merged = histogram.merge(group.map((r) => r.latencyHistogram));
  return { p99AllMs: round(histogram.percentileOf(merged, 99)), calls: histogram.totalOf(merged) };
}

/**
 * One row per (node, rate, profile) from the individual runs: medians of each measure, the
 * least-disturbed CPU (a busy host only ever adds CPU time), peak RSS as the maximum, and the CPU
 * ratios to the seed and the Koa floor computed within each repetition (the runs a few seconds
 * apart) and then taken as the median, beside the ratio of the least-disturbed runs.
 */
function summarize(runs) {
  const groups = new Map();
  for (const run of runs) {
    const key = `${run.node}|${run.targetRate}|${run.profile}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(run);
  }
  const find = (node, rate, profile) => groups.get(`${node}|${rate}|${profile}`) || [];
  const rows = [];
  for (const group of groups.values()) {
    const first = group[0];
    const row = {
      node: first.node,
      profile: first.profile,
      targetRate: first.targetRate,
      runs: group.length,
      throughput: mid(group.map((r) => r.throughput)),
      p50Ms: round(mid(group.map((r) => r.p50Ms))),
      p99Ms: round(mid(group.map((r) => r.p99Ms))),
      p99MinMs: round(Math.min(...group.map((r) => r.p99Ms))),
      // Over every measured call of the row's runs (their histograms merged), when the runs have them.
      ...pooled(group),
      firstSecondP99Ms: round(mid(group.map((r) => r.firstSecondP99Ms))),
      cpuUs: mid(group.map((r) => r.cpuUsPerRequest)),
      cpuUsMin: Math.min(...group.map((r) => r.cpuUsPerRequest)),
      peakRssMb: Math.max(...group.map((r) => r.peakRssMb)),
      startToReadyMs: mid(group.map((r) => r.startToReadyMs)),
      startToReadyMinMs: Math.min(...group.map((r) => r.startToReadyMs)),
      startCpuMs: mid(group.map((r) => r.startCpuMs)),
      non2xx: group.reduce((n, r) => n + r.non2xx, 0),
      errors: group.reduce((n, r) => n + r.errors, 0),
    };
    for (const [name, reference] of [['xSeed', SEED], ['xKoa', FLOOR]]) {
      const refs = find(first.node, first.targetRate, reference);
      if (refs.length === 0) continue;
      const byRepeat = new Map(refs.map((r) => [r.repeat, r.cpuUsPerRequest]));
      row[name] = round(mid(group.map((r) => (byRepeat.get(r.repeat) ? r.cpuUsPerRequest / byRepeat.get(r.repeat) : null))));
      row[`${name}Min`] = round(row.cpuUsMin / Math.min(...refs.map((r) => r.cpuUsPerRequest)));
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The issue's goals for one Node version, from the `all` rows (and the breaking points if any).
 * Each goal: { goal, target, value, met } with met null when not measured in this run.
 */
function evaluateGoals(rows, node) {
  const all = (rate) => rows.find((r) => r.node === node && r.profile === 'all' && r.targetRate === rate);
  const atRatioRate = all(GOALS.ratioRate);
  const at1000 = all(1000);
  const at3000 = all(3000);
  const anyAll = rows.filter((r) => r.node === node && r.profile === 'all');
  const check = (goal, target, value, ok) => ({ goal, target, value: value ?? null, met: value === null || value === undefined ? null : ok(value) });
  // A latency goal only means something when the service kept up with the rate it was given.
  const keptUp = (r) => !r || r.throughput >= 0.9 * r.targetRate;
  const latency = (goal, target, r, value, ok) => {
    if (keptUp(r)) return check(goal, target, value, ok);
    return { goal, target, value: value ?? null, met: false, shown: `${value} (served ${r.throughput} of ${r.targetRate}/s: CPU-starved)` };
  };
  // The p99 of all the row's calls when the runs carry histograms (the median of the runs' p99s beside it), else that median.
  const p99Goal = (goal, limit, r) => {
    const value = r ? (r.p99AllMs ?? r.p99Ms) : null;
    const result = latency(goal, `<= ${limit} ms`, r, value, (v) => v <= limit);
    if (r && r.p99AllMs !== undefined && result.shown === undefined) result.shown = `${r.p99AllMs} ms over all ${r.calls} calls of ${r.runs} runs (median of the runs' p99: ${r.p99Ms} ms)`;
    return result;
  };
  const ratio = (r, key) => (r ? (r[key] !== undefined ? `${r[key]} (least-disturbed ${r[`${key}Min`]})` : null) : null);
  const steadyP99 = (r) => r.p99AllMs ?? r.p99Ms;
  const firstSecond = anyAll.map((r) => (steadyP99(r) ? r.firstSecondP99Ms / steadyP99(r) : null)).filter((v) => v !== null);
  const starved = anyAll.find((r) => !keptUp(r));
  return [
    { ...check('CPU/call vs seed sample @3,000/s', `<= ${GOALS.seedRatio}x`, atRatioRate && atRatioRate.xSeed, (v) => v <= GOALS.seedRatio), shown: ratio(atRatioRate, 'xSeed') },
    { ...check('CPU/call vs Koa floor @3,000/s', `<= ${GOALS.floorRatio}x`, atRatioRate && atRatioRate.xKoa, (v) => v <= GOALS.floorRatio), shown: ratio(atRatioRate, 'xKoa') },
    p99Goal('p99 @1,000/s', GOALS.p99At1000Ms, at1000),
    p99Goal('p99 @3,000/s', GOALS.p99At3000Ms, at3000),
    {
      ...check('start -> ready, tracing on', `<= ${GOALS.startToReadyMs} ms`, mid(anyAll.map((r) => r.startToReadyMs)), (v) => v <= GOALS.startToReadyMs),
      shown: anyAll.length ? `${mid(anyAll.map((r) => r.startToReadyMs))} ms (fastest ${Math.min(...anyAll.map((r) => r.startToReadyMinMs))} ms, ${mid(anyAll.map((r) => r.startCpuMs))} ms CPU)` : null,
    },
    starved
      ? { goal: 'first second after ready: p99 / steady p99', target: `<= ${GOALS.firstSecondFactor}x`, value: null, met: false, shown: `not comparable (steady state CPU-starved at ${starved.targetRate}/s)` }
      : check('first second after ready: p99 / steady p99', `<= ${GOALS.firstSecondFactor}x`, round(firstSecond.length ? Math.max(...firstSecond) : null), (v) => v <= GOALS.firstSecondFactor),
    check('peak RSS', `<= ${GOALS.peakRssMb} MB`, anyAll.length ? Math.max(...anyAll.map((r) => r.peakRssMb)) : null, (v) => v <= GOALS.peakRssMb),
  ];
}

function table(rows, cols) {
  const cell = (v) => (v === null || v === undefined ? '-' : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals) => vals.map((v, i) => cell(v).padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => r[c])))].join('\n');
}

/** The same table as Markdown, for docs/performance.md. */
function markdownTable(rows, cols) {
  const cell = (v) => (v === null || v === undefined ? '-' : String(v));
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => cell(r[c])).join(' | ')} |`)].join('\n');
}

const RESULT_COLUMNS = ['node', 'profile', 'targetRate', 'throughput', 'p50Ms', 'p99Ms', 'p99AllMs', 'firstSecondP99Ms', 'cpuUs', 'cpuUsMin', 'xSeed', 'xSeedMin', 'xKoa', 'xKoaMin', 'peakRssMb', 'startToReadyMs', 'startToReadyMinMs', 'startCpuMs', 'non2xx', 'errors'];
const GOAL_COLUMNS = ['node', 'goal', 'target', 'measured', 'status'];
const BREAKING_COLUMNS = ['node', 'profile', 'lastOkRate', 'breakingRate', 'p99AtBreakMs', 'note'];

function goalRows(rows, nodes) {
  const out = [];
  for (const node of nodes) {
    for (const g of evaluateGoals(rows, node)) out.push({ node, goal: g.goal, target: g.target, measured: g.shown ?? g.value, status: g.met === null ? 'not measured' : g.met ? 'met' : 'NOT MET' });
  }
  return out;
}

module.exports = { summarize, evaluateGoals, goalRows, table, markdownTable, GOALS, SEED, FLOOR, RESULT_COLUMNS, GOAL_COLUMNS, BREAKING_COLUMNS, median: mid };

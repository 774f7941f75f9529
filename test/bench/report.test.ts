/** The benchmark's report (bench/report.js): same-run ratios to the seed sample and the Koa floor, goals met or not. */
interface Row {
  node: string;
  profile: string;
  targetRate: number;
  cpuUs: number;
  cpuUsMin: number;
  xSeed?: number;
  xSeedMin?: number;
  xKoa?: number;
  xKoaMin?: number;
  p99Ms: number;
  peakRssMb: number;
}
interface GoalRow {
  node: string;
  goal: string;
  measured: unknown;
  status: string;
}
const { histogramOf } = require('../../bench/histogram.js') as { histogramOf(latenciesMs: number[]): Record<string, number> };
const report = require('../../bench/report.js') as {
  summarize(runs: object[]): Row[];
  goalRows(rows: Row[], nodes: string[]): GoalRow[];
};

const run = (profile: string, repeat: number, cpu: number, extra: object = {}): object => ({
  node: 'v24.0.0',
  repeat,
  profile,
  targetRate: 3000,
  throughput: 3000,
  p50Ms: 1,
  p99Ms: 10,
  firstSecondP99Ms: 12,
  cpuUsPerRequest: cpu,
  peakRssMb: 100,
  startToReadyMs: 450,
  startCpuMs: 300,
  non2xx: 0,
  errors: 0,
  ...extra,
});

describe('bench report', () => {
  it('takes each ratio within a repetition, then the median, beside the ratio of the least-disturbed runs', () => {
    // Repetition 1 ran on a busy host: every server's CPU doubled. Per-repetition ratios ignore that.
    const rows = report.summarize([
      run('all', 0, 120), run('koa', 0, 100), run('express', 0, 200),
      run('all', 1, 240), run('koa', 1, 200), run('express', 1, 400),
      run('all', 2, 126), run('koa', 2, 105), run('express', 2, 210),
    ]);
    const all = rows.find((r) => r.profile === 'all') as Row;
    expect(all).toMatchObject({ cpuUs: 126, cpuUsMin: 120, xSeed: 0.6, xSeedMin: 0.6, xKoa: 1.2, xKoaMin: 1.2 });
    expect(rows.find((r) => r.profile === 'express')).toMatchObject({ xSeed: 1, xKoa: 2 });
  });

  it('marks each goal met, NOT MET, or not measured, from the `all` rows of each Node version', () => {
    const rows = report.summarize([run('all', 0, 130, { p99Ms: 30 }), run('koa', 0, 100), run('express', 0, 200)]);
    const goals = report.goalRows(rows, ['v24.0.0']);
    const status = Object.fromEntries(goals.map((g) => [g.goal, g.status]));
    expect(status).toEqual({
      'CPU/call vs seed sample @3,000/s': 'met',
      'CPU/call vs Koa floor @3,000/s': 'NOT MET',
      'p99 @1,000/s': 'not measured',
      'p99 @3,000/s': 'NOT MET',
      'start -> ready, tracing on': 'met',
      'first second after ready: p99 / steady p99': 'met',
      'peak RSS': 'met',
    });
  });

  it('judges the p99 goals on all the calls of a row\'s runs when they carry latency histograms, with the runs\' median beside it', () => {
    // Three 1,000/s windows of 5,000 calls: one with a 60-call stall at 25 ms (its own p99 is 25 ms).
    const calm = Array.from({ length: 5000 }, (_, i) => 0.5 + (i % 100) / 100);
    const stalled = calm.map((ms, i) => (i < 60 ? 25 : ms));
    const rows = report.summarize([
      run('all', 0, 130, { targetRate: 1000, throughput: 1000, p99Ms: 25, latencyHistogram: histogramOf(stalled) }),
      run('all', 1, 130, { targetRate: 1000, throughput: 1000, p99Ms: 1.49, latencyHistogram: histogramOf(calm) }),
      run('all', 2, 130, { targetRate: 1000, throughput: 1000, p99Ms: 25, latencyHistogram: histogramOf(stalled) }),
    ]);
    const row = rows.find((r) => r.profile === 'all') as Row & { p99AllMs: number; calls: number };
    expect(row.p99Ms).toBe(25);
    expect(row.calls).toBe(15000);
    expect(row.p99AllMs).toBeGreaterThan(1.48);
    expect(row.p99AllMs).toBeLessThan(1.51);
    const goal = report.goalRows(rows, ['v24.0.0']).find((g) => g.goal === 'p99 @1,000/s')!;
    expect(goal.status).toBe('met');
    expect(goal.measured).toBe(`${row.p99AllMs} ms over all 15000 calls of 3 runs (median of the runs' p99: 25 ms)`);
    // Without histograms (older reports) the median of the runs' p99s is what is judged.
    const old = report.summarize([run('all', 0, 130, { targetRate: 1000, throughput: 1000, p99Ms: 25 })]);
    expect(report.goalRows(old, ['v24.0.0']).find((g) => g.goal === 'p99 @1,000/s')!.status).toBe('NOT MET');
  });
});

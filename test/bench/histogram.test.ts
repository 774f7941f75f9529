/** bench/histogram.js: the latency histograms each benchmark run keeps, so repetitions can be pooled. */
const histogram = require('../../bench/histogram.js') as {
  histogramOf(latenciesMs: number[]): Record<string, number>;
  merge(histograms: Array<Record<string, number> | undefined>): Record<string, number>;
  percentileOf(h: Record<string, number>, p: number): number | null;
  totalOf(h: Record<string, number>): number;
};
const { percentile } = require('../../bench/load.js') as { percentile(sorted: number[], p: number): number | null };

/** A deterministic spread of latencies (0.1–3 ms) with a stall of `stall` calls at 25 ms. */
function window(calls: number, stall: number, seed: number): number[] {
  const out: number[] = [];
  let x = seed;
  for (let i = 0; i < calls; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(i < stall ? 25 : 0.1 + (x / 2147483648) * 2.9);
  }
  return out;
}

describe('bench latency histograms', () => {
  it('reads percentiles within 1 % of the exact nearest-rank value, never below it', () => {
    const latencies = window(5000, 30, 7);
    const sorted = [...latencies].sort((a, b) => a - b);
    const h = histogram.histogramOf(latencies);
    expect(histogram.totalOf(h)).toBe(5000);
    for (const p of [50, 90, 99, 99.9, 100]) {
      const exact = percentile(sorted, p)!;
      const read = histogram.percentileOf(h, p)!;
      expect(read).toBeGreaterThanOrEqual(exact);
      expect(read).toBeLessThanOrEqual(exact * 1.0101);
    }
  });

  it('pools repetitions: one stall of 30 calls sets a 5,000-call window\'s p99, not the p99 of three windows', () => {
    const runs = [window(5000, 60, 1), window(5000, 0, 2), window(5000, 0, 3)];
    const p99s = runs.map((r) => percentile([...r].sort((a, b) => a - b), 99)!);
    expect(p99s[0]).toBe(25);
    const pooled = histogram.percentileOf(histogram.merge(runs.map((r) => histogram.histogramOf(r))), 99)!;
    expect(pooled).toBeLessThan(3.1);
    const exact = percentile(runs.flat().sort((a, b) => a - b), 99)!;
    expect(pooled).toBeGreaterThanOrEqual(exact);
    expect(pooled).toBeLessThanOrEqual(exact * 1.0101);
  });

  it('treats an empty histogram as no value and skips missing ones when merging', () => {
    expect(histogram.percentileOf({}, 99)).toBeNull();
    expect(histogram.merge([undefined, histogram.histogramOf([1, 2])])).toEqual(histogram.histogramOf([1, 2]));
    expect(histogram.percentileOf(histogram.histogramOf([0, 0.001]), 100)).toBeCloseTo(0.0101, 6);
  });
});

/** bench/run.js: how long the warm-up before each measured window lasts. */
const { warmupSeconds } = require('../../bench/run.js') as { warmupSeconds(rate: number, args: { warmupCalls: number }): number };

describe('bench warm-up length', () => {
  it('lasts at least --warmup-calls calls, so a low rate is measured after V8 has optimised the hot path too', () => {
    // The default floor of 20,000 calls: 20 s at 1,000/s, 7 s at 3,000/s (then --warmup's 10 s decides).
    expect(warmupSeconds(1000, { warmupCalls: 20000 })).toBe(20);
    expect(warmupSeconds(3000, { warmupCalls: 20000 })).toBe(7);
    expect(warmupSeconds(3000, { warmupCalls: 0 })).toBe(0);
    // Bounded, whatever the rate.
    expect(warmupSeconds(100, { warmupCalls: 200000 })).toBe(60);
  });
});

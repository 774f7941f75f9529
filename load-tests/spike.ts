/**
 * Spike: a sudden surge (the 9:00 login storm, a mobile app forcing re-authentication) and the
 * recovery after it. Wrong or failed answers abort the run; latency is judged over the whole run.
 *
 *   HOOK_SECRET=... BASE_RATE=20 SPIKE_RATE=400 k6 run load-tests/spike.ts
 *
 * BASE_RATE (20/s) for 1m, up to SPIKE_RATE (10 x BASE_RATE) in SPIKE_RAMP (10s), held for
 * SPIKE_HOLD (1m), back to BASE_RATE in 10s, then RECOVERY (2m) at BASE_RATE.
 */
import type { Options } from 'k6/options';
import { preflight, tokenHookCall } from './lib/scenario.ts';
import { durationParam, intParam, summaryHandler, SUMMARY_TREND_STATS, thresholdsFor, vusFor } from './lib/run.ts';
import type { SummaryData } from './lib/summary.ts';

const baseRate = intParam('BASE_RATE', 20, 1);
const spikeRate = intParam('SPIKE_RATE', baseRate * 10, 1);

export const options: Options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: baseRate,
      timeUnit: '1s',
      stages: [
        { target: baseRate, duration: '1m' },
        { target: spikeRate, duration: durationParam('SPIKE_RAMP', '10s') },
        { target: spikeRate, duration: durationParam('SPIKE_HOLD', '1m') },
        { target: baseRate, duration: '10s' },
        { target: baseRate, duration: durationParam('RECOVERY', '2m') },
      ],
      ...vusFor(spikeRate),
    },
  },
  thresholds: thresholdsFor('errors'),
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): void {
  preflight();
}

export default function (): void {
  tokenHookCall();
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryHandler('spike')(data);
}

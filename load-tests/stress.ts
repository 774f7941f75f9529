/**
 * Stress / breakpoint: raise the arrival rate steadily until an SLO breaks; every threshold aborts
 * the run (after ABORT_DELAY), so the rate at the abort is your breakpoint for this deployment.
 *
 *   HOOK_SECRET=... START_RATE=10 MAX_RATE=1000 RAMP_DURATION=10m k6 run load-tests/stress.ts
 *
 * Ramps from START_RATE (10/s) to MAX_RATE (1000/s) over RAMP_DURATION (10m). Read the rate at the
 * time of the abort from the summary's run time, or from your dashboards.
 */
import type { Options } from 'k6/options';
import { preflight, tokenHookCall } from './lib/scenario.ts';
import { durationParam, intParam, summaryHandler, SUMMARY_TREND_STATS, thresholdsFor, vusFor } from './lib/run.ts';
import type { SummaryData } from './lib/summary.ts';

const maxRate = intParam('MAX_RATE', 1000, 1);

export const options: Options = {
  scenarios: {
    stress: {
      executor: 'ramping-arrival-rate',
      startRate: intParam('START_RATE', 10, 0),
      timeUnit: '1s',
      stages: [{ target: maxRate, duration: durationParam('RAMP_DURATION', '10m') }],
      ...vusFor(maxRate),
    },
  },
  thresholds: thresholdsFor('all'),
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): void {
  preflight();
}

export default function (): void {
  tokenHookCall();
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryHandler('stress')(data);
}

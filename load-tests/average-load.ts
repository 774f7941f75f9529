/**
 * Average load: your normal peak login rate as an open model (Okta does not wait for us before
 * sending the next call, so neither does the constant-arrival-rate executor).
 *
 *   HOOK_SECRET=... RATE=50 DURATION=5m k6 run load-tests/average-load.ts
 *
 * RATE (50) calls per second for DURATION (5m). dropped_iterations > 0 means k6 ran out of VUs
 * (raise MAX_VUS) or the service is too slow to keep up.
 */
import type { Options } from 'k6/options';
import { preflight, tokenHookCall } from './lib/scenario.ts';
import { durationParam, intParam, summaryHandler, SUMMARY_TREND_STATS, thresholdsFor, vusFor } from './lib/run.ts';
import type { SummaryData } from './lib/summary.ts';

const rate = intParam('RATE', 50, 1);

export const options: Options = {
  scenarios: {
    average_load: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: durationParam('DURATION', '5m'),
      ...vusFor(rate),
    },
  },
  thresholds: thresholdsFor('none'),
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): void {
  preflight();
}

export default function (): void {
  tokenHookCall();
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return summaryHandler('average-load')(data);
}

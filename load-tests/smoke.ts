/**
 * Smoke test: one VU, a handful of calls covering every payload kind. Does the script work against
 * this target, and does the service answer correctly at all? Run it before any other test type.
 *
 *   HOOK_SECRET=... k6 run load-tests/smoke.ts
 *
 * ITERATIONS (60) calls in sequence.
 */
import type { Options } from 'k6/options';
import { preflight, tokenHookCall } from './lib/scenario.ts';
import { intParam, summaryHandler, SUMMARY_TREND_STATS, thresholdsFor } from './lib/run.ts';
import type { SummaryData } from './lib/summary.ts';

export const options: Options = {
  scenarios: {
    smoke: {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: intParam('ITERATIONS', 60, 1),
      maxDuration: '2m',
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
  return summaryHandler('smoke')(data);
}

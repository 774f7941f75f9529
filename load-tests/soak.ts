/**
 * Soak: a steady, realistic rate for hours. Finds what only time reveals: memory growth, cache or
 * connection-pool exhaustion, rules hot-reload or secret rotation under traffic, log volume.
 * Watch the service's RSS and event-loop lag on your dashboards while it runs.
 *
 *   HOOK_SECRET=... RATE=50 DURATION=2h k6 run load-tests/soak.ts
 *
 * RATE (50) calls per second for DURATION (2h).
 */
import type { Options } from 'k6/options';
import { preflight, tokenHookCall } from './lib/scenario.ts';
import { durationParam, intParam, summaryHandler, SUMMARY_TREND_STATS, thresholdsFor, vusFor } from './lib/run.ts';
import type { SummaryData } from './lib/summary.ts';

const rate = intParam('RATE', 50, 1);

export const options: Options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: durationParam('DURATION', '2h'),
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
  return summaryHandler('soak')(data);
}

/**
 * k6-side glue shared by the entry scripts: parameters from `__ENV`, the SLO thresholds of a test
 * type and handleSummary(). Everything here reads `__ENV`, so it only runs inside k6; the logic it
 * wires up lives in the pure modules jest tests.
 */
import { envBoolean, envDuration, envNumber, envString, hookUrl } from './env.ts';
import { DEFAULT_SLO, sloThresholds, type AbortPolicy, type Slo, type Threshold } from './thresholds.ts';
import { summaryReport, textSummary, type SummaryData } from './summary.ts';

export { SUMMARY_TREND_STATS } from './thresholds.ts';

/** An integer parameter, e.g. `intParam('RATE', 50)`. */
export function intParam(name: string, fallback: number, min = 0): number {
  return envNumber(__ENV, name, fallback, { min, integer: true });
}

/** A k6 duration parameter, e.g. `durationParam('DURATION', '5m')`. */
export function durationParam(name: string, fallback: string): string {
  return envDuration(__ENV, name, fallback);
}

/** VUs an arrival-rate executor may need: rate x latency, with headroom for a slow patch. */
export function vusFor(peakRate: number): { preAllocatedVUs: number; maxVUs: number } {
  const preAllocatedVUs = intParam('PRE_ALLOCATED_VUS', Math.max(5, Math.ceil(peakRate * 0.05)), 1);
  const maxVUs = intParam('MAX_VUS', Math.max(50, Math.ceil(peakRate * 0.5)), 1);
  return { preAllocatedVUs, maxVUs: Math.max(maxVUs, preAllocatedVUs) };
}

export function sloFromEnv(): Slo {
  return {
    p95Ms: envNumber(__ENV, 'SLO_P95_MS', DEFAULT_SLO.p95Ms, { min: 0 }),
    p99Ms: envNumber(__ENV, 'SLO_P99_MS', DEFAULT_SLO.p99Ms, { min: 0 }),
    maxFailedRate: envNumber(__ENV, 'SLO_MAX_FAILED_RATE', DEFAULT_SLO.maxFailedRate, { min: 0, max: 1 }),
    minValidRate: envNumber(__ENV, 'SLO_MIN_VALID_RATE', DEFAULT_SLO.minValidRate, { min: 0, max: 1 }),
    minChecksRate: envNumber(__ENV, 'SLO_MIN_CHECKS_RATE', DEFAULT_SLO.minChecksRate, { min: 0, max: 1 }),
  };
}

export function thresholdsFor(abort: AbortPolicy): Record<string, Threshold[]> {
  return sloThresholds(sloFromEnv(), {
    abort,
    abortEnabled: envBoolean(__ENV, 'ABORT_ON_FAIL', true),
    delayAbortEval: envDuration(__ENV, 'ABORT_DELAY', '30s'),
  });
}

/**
 * handleSummary() for a test type: text report on stdout, JSON report in SUMMARY_FILE (default
 * `load-tests/results/<type>-summary.json`, relative to the directory k6 runs in; k6 does not
 * create missing directories).
 */
export function summaryHandler(testType: string): (data: SummaryData) => Record<string, string> {
  return (data) => {
    const meta = { testType, target: hookUrl(__ENV), finishedAt: new Date().toISOString() };
    const file = envString(__ENV, 'SUMMARY_FILE', `load-tests/results/${testType}-summary.json`);
    return {
      stdout: textSummary(data, meta),
      [file]: JSON.stringify(summaryReport(data, meta), null, 2),
    };
  };
}

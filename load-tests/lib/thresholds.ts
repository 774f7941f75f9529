/**
 * SLO thresholds: a breached threshold makes `k6 run` exit non-zero (code 99).
 *
 * Okta waits synchronously and gives up after 3 s; our budget is far below that. Every value can be
 * overridden from the environment (`sloFromEnv` in run.ts) so a team can encode its own budget
 * without editing scripts. Pure module: the Threshold type is declared structurally (same shape
 * as k6/options' Threshold) so jest can import it.
 */
export type Threshold = string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string };

export const VALID_RESPONSE_METRIC = 'okta_valid_response';

export interface Slo {
  /** http_req_duration p(95) in milliseconds. */
  p95Ms: number;
  /** http_req_duration p(99) in milliseconds. */
  p99Ms: number;
  /** Highest acceptable http_req_failed rate. */
  maxFailedRate: number;
  /** Lowest acceptable okta_valid_response rate. */
  minValidRate: number;
  /** Lowest acceptable checks rate. */
  minChecksRate: number;
}

export const DEFAULT_SLO: Readonly<Slo> = {
  p95Ms: 50,
  p99Ms: 250,
  maxFailedRate: 0.001,
  minValidRate: 0.999,
  minChecksRate: 0.999,
};

/**
 * How a test type reacts to a breach while running:
 * - `none`: evaluate at the end only (smoke, average load, soak: the full picture matters);
 * - `errors`: stop early when responses fail or are invalid (spike: latency may legitimately
 *   wobble during the surge, wrong answers may not);
 * - `all`: stop at the first breached SLO (stress/breakpoint: that moment *is* the result).
 */
export type AbortPolicy = 'none' | 'errors' | 'all';

export interface ThresholdOptions {
  abort: AbortPolicy;
  /** `false` (ABORT_ON_FAIL=false) evaluates at the end only, whatever the policy: for exploratory runs. */
  abortEnabled?: boolean;
  /** Grace period before an abort is evaluated, so a few early samples cannot end the run. */
  delayAbortEval?: string;
}

function rule(expression: string, abort: boolean, delayAbortEval: string): Threshold {
  return abort ? { threshold: expression, abortOnFail: true, delayAbortEval } : expression;
}

/** Thresholds for one test type. */
export function sloThresholds(slo: Slo, options: ThresholdOptions): Record<string, Threshold[]> {
  const abortAllowed = options.abortEnabled !== false;
  const delay = options.delayAbortEval ?? '30s';
  const abortErrors = abortAllowed && options.abort !== 'none';
  const abortLatency = abortAllowed && options.abort === 'all';
  return {
    http_req_failed: [rule(`rate<${slo.maxFailedRate}`, abortErrors, delay)],
    http_req_duration: [rule(`p(95)<${slo.p95Ms}`, abortLatency, delay), rule(`p(99)<${slo.p99Ms}`, abortLatency, delay)],
    [VALID_RESPONSE_METRIC]: [rule(`rate>${slo.minValidRate}`, abortErrors, delay)],
    checks: [rule(`rate>${slo.minChecksRate}`, abortErrors, delay)],
  };
}

/** Trend statistics in the summary; p(99) must be listed to show up next to its threshold. */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'];

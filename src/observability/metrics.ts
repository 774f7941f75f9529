/**
 * Prometheus metrics on a private Registry (one per app, so tests can build many apps).
 * Every label is bounded: outcomes, reasons and token kinds are closed sets, rule and lookup names
 * come from configuration, client ids only when explicitly enabled and capped.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, openMetricsContentType, type RegistryContentType } from 'prom-client';
import type { AuthFailureReason, AuthMethod } from '../http/auth-types';
import type { AppliedOperation, SkippedChange } from '../hook/decision';
import type { RuleOutcome } from '../hook/engine';
import { SHADOW_DIFFERENCE_KINDS, SHADOW_RESULTS, type ShadowDifference, type ShadowResult } from '../hook/shadow';

export type HookOutcome = 'patched' | 'unchanged' | 'denied' | 'unauthorized' | 'bad_request' | 'error';
export const HOOK_OUTCOMES: readonly HookOutcome[] = ['patched', 'unchanged', 'denied', 'unauthorized', 'bad_request', 'error'];

/** 0.5 ms .. 5 s, dense below 50 ms, with Okta's 3 s budget as an edge. */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2, 3, 5,
];

export interface MetricsOptions {
  version: string;
  /** Collect Node default metrics (event loop lag, heap, GC). Off in most unit tests. */
  defaultMetrics?: boolean;
  clientIdLabel?: boolean;
  clientIdLimit?: number;
}

/**
 * Hot-path counting without prom-client on the call: plain numbers in cells keyed by two label
 * values (a nested Map, so a call allocates nothing), handed to the prom-client metric when it is
 * collected (every scrape, through its `collect()` hook). Names, labels, values and exemplars on the
 * exposition are the same as with direct `inc`/`observe`; a call costs a Map lookup and an addition
 * instead of prom-client's label validation, label hashing and object building (benchmark: see
 * docs/performance.md).
 */
class CounterCells {
  private readonly cells = new Map<string, Map<string, { labels: Record<string, string>; value: number; reported: number }>>();

  constructor(private readonly build: (a: string, b: string) => Record<string, string>) {}

  inc(a: string, b: string): void {
    let inner = this.cells.get(a);
    if (!inner) this.cells.set(a, (inner = new Map()));
    const cell = inner.get(b);
    if (cell) cell.value++;
    else inner.set(b, { labels: this.build(a, b), value: 1, reported: 0 });
  }

  /** Adds what was counted since the last flush to the prom-client counter. */
  flush(counter: Counter<string>): void {
    for (const inner of this.cells.values()) {
      for (const cell of inner.values()) {
        const delta = cell.value - cell.reported;
        if (delta > 0) {
          counter.inc(cell.labels, delta);
          cell.reported = cell.value;
        }
      }
    }
  }
}

/** prom-client's histogram series, as its `hashMap` holds them (prom-client 15). */
interface HistogramSeries {
  labels: Record<string, string>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
  bucketExemplars?: Record<number, { labelSet: Record<string, string>; value: number; timestamp?: number } | null>;
}

/**
 * One histogram series counted in plain arrays; `flush` adds the counts since the last flush to the
 * prom-client series and sets the newest exemplar of each bucket (value and time of its call).
 */
class HistogramCell {
  readonly buckets: Float64Array;
  private readonly flushed: Float64Array;
  sum = 0;
  count = 0;
  private flushedSum = 0;
  private flushedCount = 0;
  /** Per bucket (the last index is +Inf): the newest sampled call's trace id, value and time. */
  private readonly exemplars: Array<{ traceId: string; value: number; timestamp: number } | undefined>;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length + 1);
    this.flushed = new Float64Array(bounds.length + 1);
    this.exemplars = new Array(bounds.length + 1).fill(undefined);
  }

  observe(value: number, traceId: string | undefined): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.buckets[i]!++;
    this.sum += value;
    this.count++;
    if (traceId) this.exemplars[i] = { traceId, value, timestamp: Date.now() / 1000 };
  }

  flush(histogram: Histogram<string>): void {
    if (this.count === this.flushedCount) return;
    const map = (histogram as unknown as { hashMap: Record<string, HistogramSeries> }).hashMap;
    let series = Object.values(map).find((s) => sameLabels(s.labels, this.labels));
    if (!series) {
      histogram.zero(this.labels);
      series = Object.values(map).find((s) => sameLabels(s.labels, this.labels)) as HistogramSeries;
    }
    this.bounds.forEach((bound, i) => {
      series.bucketValues[bound] = (series.bucketValues[bound] ?? 0) + (this.buckets[i] as number) - (this.flushed[i] as number);
    });
    this.flushed.set(this.buckets);
    series.sum += this.sum - this.flushedSum;
    series.count += this.count - this.flushedCount;
    this.flushedSum = this.sum;
    this.flushedCount = this.count;
    this.exemplars.forEach((exemplar, i) => {
      // prom-client keeps no exemplar for +Inf (its bucket lookup returns -1 there).
      if (!exemplar || i >= this.bounds.length || !series.bucketExemplars) return;
      series.bucketExemplars[this.bounds[i] as number] = { labelSet: { trace_id: exemplar.traceId }, value: exemplar.value, timestamp: exemplar.timestamp };
      this.exemplars[i] = undefined;
    });
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}

function openMetricsRegistry(): Registry {
  const registry = new Registry() as unknown as Registry<RegistryContentType>;
  registry.setContentType(openMetricsContentType);
  return registry as unknown as Registry;
}

export class Metrics {
  /** OpenMetrics-typed so histograms may carry exemplars; the metrics server picks the format per scrape. */
  readonly registry: Registry = openMetricsRegistry();
  private readonly clientIds = new Set<string>();
  private readonly clientIdLabel: boolean;
  private readonly clientIdLimit: number;

  readonly requests: Counter<string>;
  readonly requestDuration: Histogram<'hook' | 'outcome'>;
  readonly inFlight: Gauge;
  readonly authFailures: Counter<'method' | 'reason'>;
  readonly authSuccess: Counter<'method' | 'credential'>;
  readonly ruleEvaluations: Counter<'rule' | 'result'>;
  readonly claimOperations: Counter<'token' | 'op'>;
  readonly skippedChanges: Counter<'token' | 'reason'>;
  readonly rulesReloads: Counter<'result'>;
  readonly rulesInfo: Gauge<'version'>;
  readonly rulesLoaded: Gauge;
  readonly rulesLastReload: Gauge<'result'>;
  readonly secretsLoaded: Gauge;
  readonly jwksRefreshes: Counter<'result'>;
  readonly lookupDuration: Histogram<'lookup' | 'result'>;
  readonly lookupCache: Counter<'lookup' | 'result'>;
  readonly lookupCircuitState: Gauge<'lookup'>;
  readonly lookupPreopened: Counter<'lookup' | 'result'>;
  readonly ready: Gauge;
  readonly unhandledErrors: Counter<'kind'>;
  readonly shedRequests: Counter<'reason'>;
  readonly eventLoopLag: Gauge;
  readonly startup: Gauge;
  readonly codeCache: Gauge;
  readonly ruleSetCalls: Counter<'rule_set'>;
  readonly shadowComparisons: Counter<'result'>;
  readonly shadowDifferences: Counter<'kind'>;
  readonly shadowReloads: Counter<'result'>;
  readonly shadowInfo: Gauge<'version'>;
  private readinessProbe: (() => boolean) | undefined;
  private readonly requestCells: CounterCells;
  private readonly durationCells = new Map<string, HistogramCell>();
  private readonly authSuccessCells = new CounterCells((method, credential) => ({ method, credential }));
  private readonly authFailureCells = new CounterCells((method, reason) => ({ method, reason }));
  private readonly ruleCells = new CounterCells((rule, result) => ({ rule, result }));
  private readonly operationCells = new CounterCells((token, op) => ({ token, op }));
  private readonly skippedCells = new CounterCells((token, reason) => ({ token, reason }));
  private inFlightCount = 0;

  constructor(options: MetricsOptions) {
    this.clientIdLabel = options.clientIdLabel ?? false;
    this.clientIdLimit = options.clientIdLimit ?? 50;
    const registers = [this.registry];
    const clientIdLabel = this.clientIdLabel;
    this.requestCells = new CounterCells((outcome, clientId) => (clientIdLabel ? { hook: 'token', outcome, client_id: clientId } : { hook: 'token', outcome }) as Record<string, string>);
    // Hot-path series are counted in cells (see CounterCells) and handed over here, at scrape time.
    const flushRequests = (): void => this.requestCells.flush(this.requests);
    const flushDurations = (): void => {
      for (const cell of this.durationCells.values()) cell.flush(this.requestDuration);
    };
    const cellsOf = (cells: () => CounterCells) =>
      function collect(this: Counter<string>): void {
        cells().flush(this);
      };
    this.requests = new Counter({
      name: 'okta_hook_requests_total',
      help: 'Hook calls answered, by hook and outcome (patched, unchanged, denied, unauthorized, bad_request, error).',
      labelNames: this.clientIdLabel ? ['hook', 'outcome', 'client_id'] : ['hook', 'outcome'],
      registers,
      collect: flushRequests,
    });
    this.requestDuration = new Histogram({
      name: 'okta_hook_request_duration_seconds',
      help: 'Time to answer a hook call, from request received to response written, by outcome.',
      labelNames: ['hook', 'outcome'],
      buckets: DURATION_BUCKETS,
      enableExemplars: true,
      registers,
      collect: flushDurations,
    });
    const inFlightCount = (): number => this.inFlightCount;
    this.inFlight = new Gauge({
      name: 'okta_hook_in_flight_requests',
      help: 'Hook calls being processed.',
      registers,
      collect() {
        this.set(inFlightCount());
      },
    });
    this.authFailures = new Counter({
      name: 'okta_hook_auth_failures_total',
      help: 'Rejected hook calls by authentication method and reason (the presented value is never recorded).',
      labelNames: ['method', 'reason'],
      registers,
      collect: cellsOf(() => this.authFailureCells),
    });
    this.authSuccess = new Counter({
      name: 'okta_hook_auth_success_total',
      help: 'Authenticated hook calls by method and credential slot (header secret line number, or oauth2); shows when an old secret is unused.',
      labelNames: ['method', 'credential'],
      registers,
      collect: cellsOf(() => this.authSuccessCells),
    });
    this.ruleEvaluations = new Counter({
      name: 'okta_hook_rule_evaluations_total',
      help: 'Rule evaluations by rule name and result (matched, not_matched, error).',
      labelNames: ['rule', 'result'],
      registers,
      collect: cellsOf(() => this.ruleCells),
    });
    this.claimOperations = new Counter({
      name: 'okta_hook_claim_operations_total',
      help: 'Patch operations sent to Okta by token (identity, access) and op (add, replace, remove, lifetime).',
      labelNames: ['token', 'op'],
      registers,
      collect: cellsOf(() => this.operationCells),
    });
    this.skippedChanges = new Counter({
      name: 'okta_hook_skipped_changes_total',
      help: 'Changes asked for by rules but left out of the response, by token and reason.',
      labelNames: ['token', 'reason'],
      registers,
      collect: cellsOf(() => this.skippedCells),
    });
    this.rulesReloads = new Counter({
      name: 'okta_hook_rules_reloads_total',
      help: 'Rules file (re)loads by result (success, failure).',
      labelNames: ['result'],
      registers,
    });
    this.rulesInfo = new Gauge({
      name: 'okta_hook_rules_info',
      help: 'Always 1; the version label is the content hash of the rules being served.',
      labelNames: ['version'],
      registers,
    });
    this.rulesLoaded = new Gauge({ name: 'okta_hook_rules_loaded', help: 'Number of rules being served.', registers });
    this.rulesLastReload = new Gauge({
      name: 'okta_hook_rules_last_reload_timestamp_seconds',
      help: 'Unix time of the last rules (re)load attempt, by result.',
      labelNames: ['result'],
      registers,
    });
    this.secretsLoaded = new Gauge({
      name: 'okta_hook_secrets_loaded',
      help: 'Number of header secrets currently accepted (2 during a rotation).',
      registers,
    });
    this.jwksRefreshes = new Counter({
      name: 'okta_hook_oauth_jwks_refreshes_total',
      help: 'OAuth 2.0 JWKS (and discovery) refresh attempts by result (success, failure).',
      labelNames: ['result'],
      registers,
    });
    this.lookupDuration = new Histogram({
      name: 'okta_hook_lookup_duration_seconds',
      help: 'Upstream lookup calls by lookup and result (success, error, timeout, circuit_open, rejected).',
      labelNames: ['lookup', 'result'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.lookupCache = new Counter({
      name: 'okta_hook_lookup_cache_total',
      help: 'Lookup cache results by lookup (hit, miss, stale, negative_hit, coalesced).',
      labelNames: ['lookup', 'result'],
      registers,
    });
    this.lookupCircuitState = new Gauge({
      name: 'okta_hook_lookup_circuit_state',
      help: 'Circuit breaker state per lookup: 0 closed, 1 half-open, 2 open.',
      labelNames: ['lookup'],
      registers,
    });
    this.lookupPreopened = new Counter({
      name: 'okta_hook_lookup_preopened_connections_total',
      help: 'Connections to lookup upstreams opened before their first call, by lookup and result (opened, failed, used, expired, closed).',
      labelNames: ['lookup', 'result'],
      registers,
    });
    this.ruleSetCalls = new Counter({
      name: 'okta_hook_rule_set_calls_total',
      help: 'Hook calls by the rule set (scope) their rules selected; `none` when no scoped set matched. Only with ruleSets or a rules directory.',
      labelNames: ['rule_set'],
      registers,
    });
    this.shadowComparisons = new Counter({
      name: 'okta_hook_shadow_comparisons_total',
      help: 'Calls whose answer was compared with the shadow rules (RULES_SHADOW_FILE), by result (same, differs, error).',
      labelNames: ['result'],
      registers,
    });
    this.shadowDifferences = new Counter({
      name: 'okta_hook_shadow_differences_total',
      help: 'Differences between the shadow and the live answer, per token and claim, by kind (claim_added, claim_changed, claim_removed, lifetime, deny, allow).',
      labelNames: ['kind'],
      registers,
    });
    this.shadowReloads = new Counter({
      name: 'okta_hook_shadow_rules_reloads_total',
      help: 'Shadow rules file (re)loads by result (success, failure).',
      labelNames: ['result'],
      registers,
    });
    this.shadowInfo = new Gauge({
      name: 'okta_hook_shadow_rules_info',
      help: 'Always 1 while shadow rules are loaded; the version label is their content hash.',
      labelNames: ['version'],
      registers,
    });
    const readinessProbe = (): (() => boolean) | undefined => this.readinessProbe;
    this.ready = new Gauge({
      name: 'okta_hook_ready',
      help: '1 when the instance reports ready on /readyz (rules loaded, not shutting down), 0 otherwise.',
      registers,
      collect() {
        const isReady = readinessProbe();
        if (isReady) this.set(isReady() ? 1 : 0);
        // Not wired to a probe: expose no sample rather than prom-client's default 0, which would
        // read as "not ready" and fire OktaTokenHookNoReadyPods.
        else (this as unknown as { hashMap: Record<string, unknown> }).hashMap = {};
      },
    });
    this.unhandledErrors = new Counter({
      name: 'okta_hook_unhandled_errors_total',
      help: 'Errors no code handled (kind: rejection, exception), logged and counted by the process guard instead of stopping the process. Any increase is a bug.',
      labelNames: ['kind'],
      registers,
    });
    this.shedRequests = new Counter({
      name: 'okta_hook_shed_requests_total',
      help: 'Hook calls refused at once with 503 because the instance is overloaded, by reason (in_flight, event_loop_lag); Okta issues the token unchanged.',
      labelNames: ['reason'],
      registers,
    });
    this.eventLoopLag = new Gauge({
      name: 'okta_hook_event_loop_lag_seconds',
      help: 'Event loop lag as seen by load shedding (the latest sample): how late a timer fired.',
      registers,
    });
    for (const kind of ['rejection', 'exception']) this.unhandledErrors.inc({ kind }, 0);
    for (const reason of ['in_flight', 'event_loop_lag']) this.shedRequests.inc({ reason }, 0);
    this.startup = new Gauge({
      name: 'okta_hook_startup_seconds',
      help: 'Time from process start to ready, set once when the instance starts serving: clock=wall (elapsed) and clock=cpu (CPU time used); compile_cache=used when Node\'s compile cache (shipped in the image) was in use, none otherwise.',
      labelNames: ['clock', 'compile_cache'],
      registers,
    });
    this.codeCache = new Gauge({
      name: 'okta_hook_code_cache',
      help: 'Set to 1 once at start, per bundle of the image (bundle=instrumentation.js|main.js): how it was loaded. result=accepted (its V8 code cache, made at image build time, was used), rejected (V8 refused it: another V8 build or other code-generation flags), stale (the cache was made from another file or Node.js version), none (no cache). No series when the service was not started from dist/entrypoint.js.',
      labelNames: ['bundle', 'result'],
      registers,
    });
    const buildInfo = new Gauge({
      name: 'okta_hook_build_info',
      help: 'Always 1; labels carry the service and Node.js versions.',
      labelNames: ['version', 'node_version'],
      registers,
    });
    buildInfo.set({ version: options.version, node_version: process.versions.node }, 1);
    // Pre-create the series so rates start at 0 instead of appearing with the first event (a series
    // born at 1 hides that first increment from increase(), and ratios would have no denominator).
    for (const outcome of HOOK_OUTCOMES) {
      if (!this.clientIdLabel) this.requests.inc({ hook: 'token', outcome }, 0);
      this.requestDuration.zero({ hook: 'token', outcome });
    }
    for (const result of ['success', 'failure'] as const) {
      this.rulesReloads.inc({ result }, 0);
      this.jwksRefreshes.inc({ result }, 0);
    }
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** What start-up cost (the ready line's startupMs, startupCpuMs, compileCache and codeCache). */
  recordStartup(startup: { wallMs: number; cpuMs: number; compileCache: boolean; codeCache?: Record<string, string> }): void {
    const compileCache = startup.compileCache ? 'used' : 'none';
    this.startup.set({ clock: 'wall', compile_cache: compileCache }, startup.wallMs / 1000);
    this.startup.set({ clock: 'cpu', compile_cache: compileCache }, startup.cpuMs / 1000);
    for (const [bundle, result] of Object.entries(startup.codeCache ?? {})) this.codeCache.set({ bundle, result }, 1);
  }

  /** Makes `okta_hook_ready` follow the readiness probe (evaluated at scrape time). */
  observeReadiness(isReady: () => boolean): void {
    this.readinessProbe = isReady;
  }

  /** Client id label value: the id itself for the first N distinct ids, then `other`. */
  private clientLabel(clientId: string | undefined): string {
    if (!clientId) return 'unknown';
    if (this.clientIds.has(clientId)) return clientId;
    if (this.clientIds.size < this.clientIdLimit) {
      this.clientIds.add(clientId);
      return clientId;
    }
    return 'other';
  }

  /** A hook call started / ended: okta_hook_in_flight_requests, read at scrape time. */
  requestStarted(): void {
    this.inFlightCount++;
  }

  requestEnded(): void {
    this.inFlightCount--;
  }

  /** A hook call answered: request counter, duration histogram (exemplar when traced). */
  recordRequest(outcome: HookOutcome, seconds: number, clientId?: string, traceId?: string): void {
    this.requestCells.inc(outcome, this.clientIdLabel ? this.clientLabel(clientId) : '');
    let cell = this.durationCells.get(outcome);
    if (!cell) this.durationCells.set(outcome, (cell = new HistogramCell({ hook: 'token', outcome }, DURATION_BUCKETS)));
    cell.observe(seconds, traceId);
  }

  recordAuth(result: { ok: true; method: AuthMethod; credential: string } | { ok: false; method: AuthMethod; reason: AuthFailureReason }): void {
    if (result.ok) this.authSuccessCells.inc(result.method, result.credential);
    else this.authFailureCells.inc(result.method, result.reason);
  }

  recordEvaluation(rules: readonly RuleOutcome[], applied: readonly AppliedOperation[], skipped: readonly SkippedChange[]): void {
    for (const rule of rules) this.ruleCells.inc(rule.rule, rule.result);
    for (const op of applied) this.operationCells.inc(op.token, op.op);
    for (const skip of skipped) this.skippedCells.inc(skip.token, skip.reason);
  }

  /** Only calls of rules with scoped sets (a set name, or `none`); bounded by the configuration. */
  recordRuleSet(ruleSet: string | undefined): void {
    if (ruleSet !== undefined) this.ruleSetCalls.inc({ rule_set: ruleSet });
  }

  /** Pre-creates the shadow series at 0 (when shadow rules are configured), so rates start at 0. */
  enableShadow(): void {
    for (const result of SHADOW_RESULTS) this.shadowComparisons.inc({ result }, 0);
    for (const kind of SHADOW_DIFFERENCE_KINDS) this.shadowDifferences.inc({ kind }, 0);
    for (const result of ['success', 'failure'] as const) this.shadowReloads.inc({ result }, 0);
  }

  recordShadow(result: ShadowResult, differences: readonly ShadowDifference[]): void {
    this.shadowComparisons.inc({ result });
    for (const difference of differences) this.shadowDifferences.inc({ kind: difference.kind });
  }

  recordShadowReload(result: 'success' | 'failure', version?: string): void {
    this.shadowReloads.inc({ result });
    if (version !== undefined) {
      this.shadowInfo.reset();
      this.shadowInfo.set({ version }, 1);
    }
  }

  recordRulesReload(result: 'success' | 'failure', nowSeconds: number, loaded?: { version: string; rules: number }): void {
    this.rulesReloads.inc({ result });
    this.rulesLastReload.set({ result }, nowSeconds);
    if (loaded) {
      this.rulesInfo.reset();
      this.rulesInfo.set({ version: loaded.version }, 1);
      this.rulesLoaded.set(loaded.rules);
    }
  }
}

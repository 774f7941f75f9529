import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeWithBinary, PrometheusApiError, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';
import { ROOT } from '../helpers/process';
import { buildHarness, driveEveryOutcome, startHookServer, startMetricsServer, type Harness } from './support/harness';
import { hookSpans, installTestTracing, type TestTracing } from './support/otel';

/**
 * The service (real app, real metrics endpoint) scraped by a real Prometheus on 127.0.0.1, with
 * the chart's rule file loaded: the series exist with the labels the dashboard and alerts select
 * on, every dashboard query and every rule expression is accepted by Prometheus, and exemplars
 * reach Prometheus' exemplar storage.
 */
const FILES = join(ROOT, 'charts', 'okta-token-hook', 'files');
const NAMESPACE = 'identity';
const POD = 'okta-token-hook-5d8c7b9f4-x2x7q';
const JOB = 'okta-token-hook';

interface DashboardTarget {
  expr: string;
  refId: string;
}
interface DashboardPanel {
  title: string;
  type: string;
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}
interface Dashboard {
  panels: DashboardPanel[];
  annotations: { list: Array<{ name: string; expr?: string }> };
  templating: { list: Array<{ name: string; type: string; definition?: string }> };
}

const dashboard = JSON.parse(readFileSync(join(FILES, 'grafana-dashboard.json'), 'utf8')) as Dashboard;

/** Grafana's variables replaced by the values a user would have selected. */
function concrete(expr: string): string {
  return expr
    .replace(/\$\{?namespace\}?/g, NAMESPACE)
    .replace(/\$\{?pod\}?/g, POD)
    .replace(/\$\{?__rate_interval\}?/g, '20s')
    .replace(/\$\{?__interval\}?/g, '5s')
    .replace(/\$\{?__range\}?/g, '5m')
    .replace(/\$\{?datasource\}?/g, 'prometheus');
}

const panelQueries = dashboard.panels
  .flatMap((panel) => [panel, ...(panel.panels ?? [])])
  .flatMap((panel) => (panel.targets ?? []).map((target) => ({ title: panel.title, refId: target.refId, expr: target.expr })));

/** Queries of the ```promql blocks of a docs page: comment lines dropped, a blank line ends a query. */
function docQueries(page: string): string[] {
  const text = readFileSync(join(ROOT, 'docs', page), 'utf8');
  const queries: string[] = [];
  for (const block of text.matchAll(/```promql\n([\s\S]*?)```/g)) {
    let current: string[] = [];
    for (const line of `${block[1] ?? ''}\n`.split('\n')) {
      const trimmed = line.trim();
      if (trimmed.startsWith('#')) continue;
      if (trimmed === '') {
        if (current.length > 0) queries.push(current.join(' '));
        current = [];
      } else current.push(trimmed);
    }
  }
  return queries;
}

/** Panels that stay empty until the corresponding feature is used (no lookup configured here). */
const MAY_BE_EMPTY = /^Lookup|^GC time/;

describeWithBinary('prometheus', 'the service scraped by a real Prometheus', (prometheusBinary) => {
  let tracing: TestTracing;
  let harness: Harness;
  let hook: Awaited<ReturnType<typeof startHookServer>>;
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>>;
  let prometheus: RunningPrometheus;

  beforeAll(async () => {
    tracing = installTestTracing();
    harness = buildHarness({ defaultMetrics: true });
    hook = await startHookServer(harness.app);
    metricsServer = await startMetricsServer(harness.metrics);
    const target = new URL(metricsServer.url).host;
    // The shipped rules, evaluated every second instead of every 30 s so the test sees their results.
    const rules = readFileSync(join(FILES, 'prometheus-rules.yaml'), 'utf8').replace(/interval: 30s/g, 'interval: 1s');
    prometheus = await startPrometheus(prometheusBinary, {
      files: { 'rules.yaml': rules },
      config: (dir) =>
        [
          'global:',
          '  scrape_interval: 1s',
          '  evaluation_interval: 1s',
          'rule_files:',
          `  - ${join(dir, 'rules.yaml')}`,
          'scrape_configs:',
          `  - job_name: ${JOB}`,
          '    static_configs:',
          `      - targets: ['${target}']`,
          '        labels:',
          // What the Prometheus Operator adds from the ServiceMonitor; the dashboard filters on them.
          `          namespace: ${NAMESPACE}`,
          `          pod: ${POD}`,
          '',
        ].join('\n'),
      flags: ['--enable-feature=exemplar-storage'],
    });
    // Traffic only after the first scrape, so rates see it as an increase.
    await prometheus.waitUntil('the first scrape', async () => (await prometheus.vector(`up{job="${JOB}"} == 1`)).length === 1);
    // Shadow comparisons and rule sets need their own configuration (test/hook/shadow-service.test.ts and
    // test/rules/rule-sets-service.test.ts drive them for real); here their series are recorded directly
    // so the dashboard's queries over them are evaluated on data.
    harness.metrics.enableShadow();
    harness.metrics.recordShadowReload('success', 'c82a2cd5b80d');
    for (let round = 0; round < 3; round++) {
      await driveEveryOutcome(hook.url);
      harness.metrics.recordShadow('same', []);
      harness.metrics.recordShadow('differs', [{ kind: 'claim_added', token: 'access', claim: 'tier' }]);
      harness.metrics.recordRuleSet('portal');
      harness.metrics.recordRuleSet('none');
    }
    const scrapedAfterTraffic = async () => {
      const result = await prometheus.vector(`okta_hook_requests_total{outcome="patched", namespace="${NAMESPACE}"}`);
      return Number(result[0]?.value[1]) === 6;
    };
    await prometheus.waitUntil('a scrape with the traffic', scrapedAfterTraffic);
    // A few more scrapes and rule evaluations.
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }, 90000);

  afterAll(async () => {
    await prometheus?.stop();
    await metricsServer?.close();
    await hook?.close();
    await tracing?.uninstall();
  });

  it('scrapes the target successfully, in OpenMetrics', async () => {
    const targets = await prometheus.api<{ activeTargets: Array<{ health: string; lastError: string; labels: Record<string, string> }> }>('/api/v1/targets');
    expect(targets.activeTargets).toHaveLength(1);
    expect(targets.activeTargets[0]).toMatchObject({ health: 'up', lastError: '', labels: { job: JOB, namespace: NAMESPACE, pod: POD } });
  });

  it('stores the request series with the expected labels and values', async () => {
    const requests = await prometheus.vector('okta_hook_requests_total');
    const byOutcome = Object.fromEntries(requests.map((s) => [s.metric.outcome, Number(s.value[1])]));
    expect(byOutcome).toEqual({ patched: 6, unchanged: 3, denied: 3, error: 3, unauthorized: 6, bad_request: 6 });
    for (const sample of requests) {
      expect(Object.keys(sample.metric).sort()).toEqual(['__name__', 'hook', 'instance', 'job', 'namespace', 'outcome', 'pod']);
    }
  });

  it('stores the histogram buckets the SLO rules select (le="0.5") and the 3 s edge', async () => {
    const slo = await prometheus.vector('okta_hook_request_duration_seconds_bucket{le="0.5", outcome="patched"}');
    expect(Number(slo[0]?.value[1])).toBe(6);
    expect(await prometheus.vector('okta_hook_request_duration_seconds_bucket{le="3", outcome="patched"}')).toHaveLength(1);
    expect(Number((await prometheus.vector('sum(okta_hook_request_duration_seconds_count)'))[0]?.value[1])).toBe(27);
  });

  it('stores the auth, rule, claim, skip, rules and runtime series with their labels', async () => {
    const expectSeries = async (expr: string, labels: string[]) => {
      const result = await prometheus.vector(expr);
      expect({ expr, found: result.length > 0 }).toEqual({ expr, found: true });
      for (const sample of result) for (const label of labels) expect(sample.metric).toHaveProperty(label);
    };
    await expectSeries('okta_hook_auth_failures_total{reason="invalid_credentials"}', ['method', 'reason', 'namespace', 'pod']);
    await expectSeries('okta_hook_auth_success_total{credential="slot-2"}', ['method', 'credential']);
    await expectSeries('okta_hook_rule_evaluations_total{rule="broken-lookup", result="error"}', ['rule', 'result']);
    await expectSeries('okta_hook_claim_operations_total{token="access", op="lifetime"}', ['token', 'op']);
    await expectSeries('okta_hook_skipped_changes_total{reason="reserved_claim"}', ['token', 'reason']);
    await expectSeries('okta_hook_rules_reloads_total{result="failure"}', ['result']);
    await expectSeries('okta_hook_rules_info{version="obs-rules-1"}', ['version']);
    await expectSeries('okta_hook_ready == 1', ['pod']);
    await expectSeries('okta_hook_build_info', ['version', 'node_version']);
    await expectSeries('nodejs_eventloop_lag_p99_seconds', ['pod']);
    await expectSeries('process_cpu_seconds_total', ['pod']);
  });

  it('keeps the trace ids of sampled calls as exemplars', async () => {
    const now = Date.now() / 1000;
    const data = await prometheus.api<Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string }> }>>(
      `/api/v1/query_exemplars?query=${encodeURIComponent('okta_hook_request_duration_seconds_bucket')}&start=${now - 600}&end=${now + 60}`,
    );
    const traceIds = new Set(hookSpans(tracing.exporter).map((span) => span.spanContext().traceId));
    const exemplars = data.flatMap((series) => series.exemplars);
    expect(exemplars.length).toBeGreaterThan(0);
    for (const exemplar of exemplars) expect(traceIds.has(exemplar.labels.trace_id as string)).toBe(true);
  });

  it('answers the dashboard variable queries', async () => {
    expect(dashboard.templating.list.map((v) => v.definition).filter(Boolean)).toEqual([
      'label_values(okta_hook_build_info, namespace)',
      'label_values(okta_hook_build_info{namespace="$namespace"}, pod)',
    ]);
    const namespaces = await prometheus.api<string[]>(`/api/v1/label/namespace/values?match[]=okta_hook_build_info`);
    expect(namespaces).toEqual([NAMESPACE]);
    const pods = await prometheus.api<string[]>(`/api/v1/label/pod/values?match[]=${encodeURIComponent(`okta_hook_build_info{namespace="${NAMESPACE}"}`)}`);
    expect(pods).toEqual([POD]);
  });

  it('reads a dashboard with panels for every concern', () => {
    expect(panelQueries.length).toBeGreaterThanOrEqual(30);
  });

  it.each(panelQueries.map((q) => [`${q.title} (${q.refId})`, q] as const))('evaluates dashboard query %s', async (_name, query) => {
    const expr = concrete(query.expr);
    expect(expr).not.toMatch(/\$/);
    let result: Awaited<ReturnType<RunningPrometheus['query']>>;
    try {
      result = await prometheus.query(expr);
    } catch (err) {
      if (err instanceof PrometheusApiError) throw new Error(`Prometheus rejected the query of panel "${query.title}": ${err.message}`);
      throw err;
    }
    if (!MAY_BE_EMPTY.test(query.title)) {
      expect({ panel: query.title, expr, empty: (result.result as unknown[]).length === 0 }).toEqual({ panel: query.title, expr, empty: false });
    }
  });

  // The PromQL docs/shadow-rollout.md tells operators to watch: accepted by Prometheus, and not empty here.
  it.each(docQueries('shadow-rollout.md'))('evaluates the shadow rollout query %s', async (expr) => {
    const result = await prometheus.query(expr.replace(/namespace="identity"/g, `namespace="${NAMESPACE}"`));
    expect({ expr, empty: (result.result as unknown[]).length === 0 }).toEqual({ expr, empty: false });
  });

  it('evaluates the dashboard annotation queries', async () => {
    for (const annotation of dashboard.annotations.list.filter((a) => a.expr)) {
      await expect(prometheus.query(concrete(annotation.expr as string))).resolves.toBeDefined();
    }
  });

  it('evaluates every recording and alerting rule without error', async () => {
    interface RuleStatus {
      name: string;
      query: string;
      health: string;
      lastError?: string;
      lastEvaluation: string;
      type: string;
    }
    const shipped = (readFileSync(join(FILES, 'prometheus-rules.yaml'), 'utf8').match(/^\s+- (record|alert): /gm) ?? []).length;
    let rules: RuleStatus[] = [];
    await prometheus.waitUntil('every rule to be evaluated', async () => {
      const data = await prometheus.api<{ groups: Array<{ rules: RuleStatus[] }> }>('/api/v1/rules');
      rules = data.groups.flatMap((group) => group.rules);
      return rules.length === shipped && rules.every((rule) => rule.health !== 'unknown');
    });
    expect(rules.filter((rule) => rule.health !== 'ok').map((rule) => `${rule.name}: ${rule.lastError}`)).toEqual([]);
    // And each expression once more as an instant query, as Grafana's alert list would.
    for (const rule of rules) await expect(prometheus.query(rule.query)).resolves.toBeDefined();
  });

  it('computes the recording rules from the scraped series', async () => {
    const rate = await prometheus.vector(`namespace_job_outcome:okta_hook_requests:rate5m{outcome="patched", namespace="${NAMESPACE}", job="${JOB}"}`);
    expect(Number(rate[0]?.value[1])).toBeGreaterThan(0);
    const errors = await prometheus.vector(`namespace_job:okta_hook_errors:ratio_rate5m{namespace="${NAMESPACE}"}`);
    // 3 errors out of 15 valid calls.
    expect(Number(errors[0]?.value[1])).toBeCloseTo(0.2, 5);
    const slo = await prometheus.vector(`namespace_job:okta_hook_slo_errors:ratio_rate5m{namespace="${NAMESPACE}"}`);
    expect(Number(slo[0]?.value[1])).toBeCloseTo(0.2, 5);
  });

  it('does not raise the availability alerts for a healthy instance', async () => {
    const firing = await prometheus.vector('ALERTS{alertname=~"OktaTokenHookDown|OktaTokenHookNoReadyPods|OktaTokenHookTargetDown"}');
    expect(firing).toEqual([]);
  });
});

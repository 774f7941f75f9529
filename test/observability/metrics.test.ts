import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DURATION_BUCKETS, Metrics } from '../../src/observability/metrics';
import { family, labelNames, parseExposition, type Family } from './support/exposition';
import { buildHarness, driveEveryOutcome, startMetricsServer, type Harness } from './support/harness';

interface DocumentedMetric {
  name: string;
  type: string;
  labels: string[];
}

/** The metrics table of docs/architecture.md, the contract other parts (dashboard, alerts) rely on. */
function documentedMetrics(): DocumentedMetric[] {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Metrics'));
  const rows: DocumentedMetric[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`(okta_hook_[a-z_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!name) continue;
    const labels = (cells[3] ?? '') === '-' ? [] : [...(cells[3] ?? '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1] as string);
    rows.push({ name, type: (cells[2] ?? '').split(' ')[0] as string, labels: labels.sort() });
  }
  return rows;
}

const scrape = async (url: string, accept?: string): Promise<{ contentType: string; body: string }> => {
  const res = await fetch(url, { headers: accept ? { accept } : {} });
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type') ?? '', body: await res.text() };
};

const sampleValue = (fam: Family | undefined, sampleName: string, labels: Record<string, string>): number | undefined =>
  fam?.samples.find((s) => s.name === sampleName && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('metrics after traffic through the hook', () => {
  let harness: Harness;
  let server: Awaited<ReturnType<typeof startMetricsServer>>;
  let families: Map<string, Family>;

  beforeAll(async () => {
    harness = buildHarness({ defaultMetrics: true });
    server = await startMetricsServer(harness.metrics);
    await driveEveryOutcome(harness.callback);
    families = parseExposition((await scrape(server.url)).body, 'prometheus');
  });
  afterAll(() => server.close());

  const documented = documentedMetrics();

  it('reads a complete table from docs/architecture.md', () => {
    expect(documented.length).toBeGreaterThanOrEqual(18);
    expect(documented.map((m) => m.name)).toContain('okta_hook_requests_total');
  });

  it.each(documented.map((m) => [m.name, m] as const))('exposes %s with the documented type and labels', (_name, metric) => {
    const fam = family(families, metric.name);
    expect(fam).toBeDefined();
    expect(fam?.type).toBe(metric.type);
    expect(fam?.help.length).toBeGreaterThan(10);
    // Lookup metrics are declared now and get series once a lookup runs (issue: lookups).
    if (metric.name.startsWith('okta_hook_lookup_')) return;
    // Shadow and rule-set metrics get series only with RULES_SHADOW_FILE / scoped rule sets (test/hook/shadow-service.test.ts, test/rules/rule-sets-service.test.ts).
    if (metric.name.startsWith('okta_hook_shadow_') || metric.name === 'okta_hook_rule_set_calls_total') return;
    // Set once by the entry point when the process is ready (test/packaging/compile-cache.test.ts scrapes them from a started service).
    if (metric.name === 'okta_hook_startup_seconds' || metric.name === 'okta_hook_code_cache') return;
    expect(fam?.samples.length).toBeGreaterThan(0);
    expect(labelNames(fam as Family)).toEqual(metric.labels);
  });

  it('exposes no okta_hook_* metric that is not documented', () => {
    const names = new Set(documented.map((m) => m.name));
    const undocumented = [...families.keys()].filter((name) => name.startsWith('okta_hook_') && !names.has(name));
    expect(undocumented).toEqual([]);
  });

  it('counts each call once under its outcome', () => {
    const requests = family(families, 'okta_hook_requests_total');
    const count = (outcome: string) => sampleValue(requests, 'okta_hook_requests_total', { hook: 'token', outcome });
    expect({
      patched: count('patched'),
      unchanged: count('unchanged'),
      denied: count('denied'),
      error: count('error'),
      unauthorized: count('unauthorized'),
      bad_request: count('bad_request'),
    }).toEqual({ patched: 2, unchanged: 1, denied: 1, error: 1, unauthorized: 2, bad_request: 2 });
  });

  it('observes every call in the duration histogram with the documented buckets, 0.5 s and 3 s among them', () => {
    const duration = family(families, 'okta_hook_request_duration_seconds');
    const buckets = new Set(duration?.samples.filter((s) => s.name.endsWith('_bucket')).map((s) => s.labels.le));
    expect([...buckets]).toEqual([...DURATION_BUCKETS.map(String), '+Inf']);
    expect(buckets.has('0.5') && buckets.has('3')).toBe(true);
    const total = duration?.samples.filter((s) => s.name === 'okta_hook_request_duration_seconds_count').reduce((sum, s) => sum + s.value, 0);
    expect(total).toBe(9);
    // Pre-created at zero: a ratio over a quiet outcome is 0, not "no data".
    expect(sampleValue(duration, 'okta_hook_request_duration_seconds_count', { outcome: 'denied' })).toBe(1);
  });

  it('records authentication results by reason and by credential slot', () => {
    const failures = family(families, 'okta_hook_auth_failures_total');
    expect(sampleValue(failures, 'okta_hook_auth_failures_total', { method: 'header', reason: 'invalid_credentials' })).toBe(1);
    expect(sampleValue(failures, 'okta_hook_auth_failures_total', { method: 'header', reason: 'missing_credentials' })).toBe(1);
    const success = family(families, 'okta_hook_auth_success_total');
    expect(sampleValue(success, 'okta_hook_auth_success_total', { method: 'header', credential: 'slot-1' })).toBe(6);
    expect(sampleValue(success, 'okta_hook_auth_success_total', { method: 'header', credential: 'slot-2' })).toBe(1);
  });

  it('records rule results, claim operations and skipped changes', () => {
    const rules = family(families, 'okta_hook_rule_evaluations_total');
    expect(sampleValue(rules, 'okta_hook_rule_evaluations_total', { rule: 'tenant-claim', result: 'matched' })).toBe(3);
    expect(sampleValue(rules, 'okta_hook_rule_evaluations_total', { rule: 'tenant-claim', result: 'not_matched' })).toBe(1);
    expect(sampleValue(rules, 'okta_hook_rule_evaluations_total', { rule: 'broken-lookup', result: 'error' })).toBe(3);
    expect(sampleValue(rules, 'okta_hook_rule_evaluations_total', { rule: 'deny-blocked', result: 'matched' })).toBe(1);
    const ops = family(families, 'okta_hook_claim_operations_total');
    expect(sampleValue(ops, 'okta_hook_claim_operations_total', { token: 'identity', op: 'add' })).toBe(2);
    expect(sampleValue(ops, 'okta_hook_claim_operations_total', { token: 'access', op: 'lifetime' })).toBe(2);
    const skipped = family(families, 'okta_hook_skipped_changes_total');
    expect(sampleValue(skipped, 'okta_hook_skipped_changes_total', { token: 'identity', reason: 'reserved_claim' })).toBe(2);
  });

  it('exposes rules, secrets, readiness and build state', () => {
    expect(sampleValue(family(families, 'okta_hook_rules_info'), 'okta_hook_rules_info', { version: 'obs-rules-1' })).toBe(1);
    expect(sampleValue(family(families, 'okta_hook_rules_loaded'), 'okta_hook_rules_loaded', {})).toBe(4);
    expect(sampleValue(family(families, 'okta_hook_rules_reloads_total'), 'okta_hook_rules_reloads_total', { result: 'failure' })).toBe(0);
    expect(sampleValue(family(families, 'okta_hook_secrets_loaded'), 'okta_hook_secrets_loaded', {})).toBe(2);
    expect(sampleValue(family(families, 'okta_hook_ready'), 'okta_hook_ready', {})).toBe(1);
    expect(sampleValue(family(families, 'okta_hook_in_flight_requests'), 'okta_hook_in_flight_requests', {})).toBe(0);
    expect(sampleValue(family(families, 'okta_hook_build_info'), 'okta_hook_build_info', { version: 'obs-test', node_version: process.versions.node })).toBe(1);
  });

  it('exposes the Node runtime metrics the dashboard uses', () => {
    for (const name of ['nodejs_eventloop_lag_p99_seconds', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      expect(family(families, name)?.samples.length).toBeGreaterThan(0);
    }
  });

  it('reports not ready while shutting down', async () => {
    harness.health.beginShutdown();
    const after = parseExposition((await scrape(server.url)).body, 'prometheus');
    expect(sampleValue(family(after, 'okta_hook_ready'), 'okta_hook_ready', {})).toBe(0);
  });
});

describe('the metrics endpoint', () => {
  let harness: Harness;
  let server: Awaited<ReturnType<typeof startMetricsServer>>;
  beforeAll(async () => {
    harness = buildHarness();
    server = await startMetricsServer(harness.metrics);
    await driveEveryOutcome(harness.callback);
  });
  afterAll(() => server.close());

  it('keeps counter names with _total in Prometheus text after an OpenMetrics scrape', async () => {
    const openMetrics = await scrape(server.url, 'application/openmetrics-text; version=1.0.0');
    expect(openMetrics.contentType).toMatch(/^application\/openmetrics-text/);
    parseExposition(openMetrics.body, 'openmetrics');
    const text = await scrape(server.url);
    expect(text.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    // parseExposition rejects a counter sample without _total.
    const families = parseExposition(text.body, 'prometheus');
    expect(families.get('okta_hook_requests_total')?.samples.length).toBeGreaterThan(0);
  });

  it('answers concurrent scrapes in both formats, each well-formed', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => scrape(server.url, i % 2 === 0 ? 'application/openmetrics-text' : 'text/plain')),
    );
    results.forEach((result, i) => {
      const format = i % 2 === 0 ? 'openmetrics' : 'prometheus';
      expect(() => parseExposition(result.body, format)).not.toThrow();
    });
  });

  it('exposes no okta_hook_ready sample when readiness is not wired, rather than a false "not ready"', async () => {
    const unwired = new Metrics({ version: 'x' });
    const families = parseExposition(await unwired.registry.metrics(), 'openmetrics');
    expect(families.get('okta_hook_ready')?.samples).toEqual([]);
    unwired.observeReadiness(() => false);
    const wired = parseExposition(await unwired.registry.metrics(), 'openmetrics');
    expect(wired.get('okta_hook_ready')?.samples.map((s) => s.value)).toEqual([0]);
  });

  it('serves only GET /metrics', async () => {
    expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${server.url}?debug=1`)).status).toBe(200);
  });

  it('keeps label values bounded: unknown paths and methods never become labels', async () => {
    const request = (await import('supertest')).default;
    await request(harness.callback).get('/hooks/token/../../etc/passwd');
    await request(harness.callback).get('/random-404-path-1234');
    const body = (await scrape(server.url)).body;
    expect(body).not.toMatch(/random-404-path|etc\/passwd/);
  });
});

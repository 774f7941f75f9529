import { Metrics } from '../../src/observability/metrics';
import { MetricsRenderer } from '../../src/observability/metrics-server';
import { family, parseExposition, type Family } from './support/exposition';

/**
 * Hot-path metrics are counted in cells and handed to prom-client when scraped: every scrape must
 * show exactly what happened up to it, whatever the scrape pattern.
 */
const scrape = async (metrics: Metrics, format: 'openmetrics' | 'prometheus' = 'openmetrics'): Promise<Map<string, Family>> =>
  parseExposition((await new MetricsRenderer(metrics.registry).render(format)).body, format);

/** Counter families are named `x` in OpenMetrics and `x_total` in Prometheus text. */
const value = (families: Map<string, Family>, name: string, sample: string, labels: Record<string, string>): number | undefined =>
  (family(families, name) ?? family(families, `${name}_total`))?.samples.find((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('metrics counted in cells', () => {
  it('shows each call once across repeated scrapes, counters and histogram alike', async () => {
    const metrics = new Metrics({ version: 'test' });
    const call = (outcome: 'patched' | 'unchanged', seconds: number): void => {
      metrics.requestStarted();
      metrics.recordAuth({ ok: true, method: 'header', credential: 'slot-1' });
      metrics.recordEvaluation([{ rule: 'tier', result: outcome === 'patched' ? 'matched' : 'not_matched' }], outcome === 'patched' ? [{ token: 'access', op: 'add' }] as never : [], []);
      metrics.requestEnded();
      metrics.recordRequest(outcome, seconds);
    };
    call('patched', 0.0004);
    call('patched', 0.2);
    call('unchanged', 0.003);
    let families = await scrape(metrics);
    const counts = (f: Map<string, Family>) => ({
      patched: value(f, 'okta_hook_requests', 'okta_hook_requests_total', { outcome: 'patched' }),
      unchanged: value(f, 'okta_hook_requests', 'okta_hook_requests_total', { outcome: 'unchanged' }),
      durationCount: value(f, 'okta_hook_request_duration_seconds', 'okta_hook_request_duration_seconds_count', { outcome: 'patched' }),
      under1ms: value(f, 'okta_hook_request_duration_seconds', 'okta_hook_request_duration_seconds_bucket', { outcome: 'patched', le: '0.001' }),
      under250ms: value(f, 'okta_hook_request_duration_seconds', 'okta_hook_request_duration_seconds_bucket', { outcome: 'patched', le: '0.25' }),
      matched: value(f, 'okta_hook_rule_evaluations', 'okta_hook_rule_evaluations_total', { rule: 'tier', result: 'matched' }),
      auth: value(f, 'okta_hook_auth_success', 'okta_hook_auth_success_total', { method: 'header', credential: 'slot-1' }),
      inFlight: value(f, 'okta_hook_in_flight_requests', 'okta_hook_in_flight_requests', {}),
    });
    expect(counts(families)).toEqual({ patched: 2, unchanged: 1, durationCount: 2, under1ms: 1, under250ms: 2, matched: 2, auth: 3, inFlight: 0 });
    // A second scrape with nothing new shows the same; new calls add to it, in either format.
    expect(counts(await scrape(metrics))).toEqual(counts(families));
    call('patched', 0.0002);
    metrics.requestStarted();
    families = await scrape(metrics, 'prometheus');
    expect(counts(families)).toEqual({ patched: 3, unchanged: 1, durationCount: 3, under1ms: 2, under250ms: 3, matched: 3, auth: 4, inFlight: 1 });
    const sum = value(families, 'okta_hook_request_duration_seconds', 'okta_hook_request_duration_seconds_sum', { outcome: 'patched' });
    expect(sum).toBeCloseTo(0.2006, 6);
  });

  it('keeps the newest traced call of each bucket as its exemplar, with the time of the call', async () => {
    const metrics = new Metrics({ version: 'test' });
    const before = Date.now() / 1000;
    metrics.recordRequest('patched', 0.0004, undefined, 'a'.repeat(32));
    metrics.recordRequest('patched', 0.0003, undefined, 'b'.repeat(32));
    metrics.recordRequest('patched', 0.0002);
    const bucket = family(await scrape(metrics), 'okta_hook_request_duration_seconds')?.samples.find((s) => s.labels.le === '0.0005' && s.labels.outcome === 'patched');
    expect(bucket?.exemplar).toMatchObject({ labels: { trace_id: 'b'.repeat(32) }, value: 0.0003 });
    expect(bucket?.exemplar?.timestamp).toBeGreaterThanOrEqual(before - 1);
    expect(bucket?.value).toBe(3);
  });
});

import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import { SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base';
import { describeWithBinary, runTool } from '../helpers/prometheus';
import { family, parseExposition, type Sample } from './support/exposition';
import { buildHarness, eventFor, postHook, startMetricsServer, type Harness } from './support/harness';
import { hookSpans, installTestTracing, type TestTracing } from './support/otel';

/** Samples while `on` is true: lets one test make sampled and unsampled calls deterministically. */
class SwitchSampler implements Sampler {
  on = true;
  shouldSample(_context: Context, _traceId: string, _name: string, _kind: SpanKind, _attributes: Attributes, _links: Link[]): SamplingResult {
    return { decision: this.on ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }
  toString(): string {
    return 'SwitchSampler';
  }
}

const OPENMETRICS = 'application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5';

describe('exemplars on the request duration histogram', () => {
  const sampler = new SwitchSampler();
  let tracing: TestTracing;
  let harness: Harness;
  let server: Awaited<ReturnType<typeof startMetricsServer>>;

  beforeAll(async () => {
    tracing = installTestTracing({ sampler });
    harness = buildHarness();
    server = await startMetricsServer(harness.metrics);
    sampler.on = true;
    for (let i = 0; i < 3; i++) await postHook(harness.callback, eventFor()).expect(200);
    sampler.on = false;
    for (let i = 0; i < 3; i++) await postHook(harness.callback, eventFor(), { authorization: 'wrong' }).expect(401);
  });
  afterAll(async () => {
    await server.close();
    await tracing.uninstall();
  });

  const buckets = (samples: Sample[], outcome: string) =>
    samples.filter((s) => s.name === 'okta_hook_request_duration_seconds_bucket' && s.labels.outcome === outcome);

  it('carries the trace id of sampled calls when the scrape asks for OpenMetrics', async () => {
    const res = await fetch(server.url, { headers: { accept: OPENMETRICS } });
    expect(res.headers.get('content-type')).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    const families = parseExposition(await res.text(), 'openmetrics');
    const samples = family(families, 'okta_hook_request_duration_seconds')?.samples ?? [];
    const sampledTraceIds = new Set(hookSpans(tracing.exporter).map((span) => span.spanContext().traceId));
    expect(sampledTraceIds.size).toBe(3);

    const withExemplar = buckets(samples, 'unchanged').concat(buckets(samples, 'patched')).filter((s) => s.exemplar);
    expect(withExemplar.length).toBeGreaterThan(0);
    for (const bucket of withExemplar) {
      const exemplar = bucket.exemplar as NonNullable<Sample['exemplar']>;
      expect(Object.keys(exemplar.labels)).toEqual(['trace_id']);
      expect(sampledTraceIds.has(exemplar.labels.trace_id as string)).toBe(true);
      // The exemplar sits on the first bucket whose bound holds the observed value.
      expect(exemplar.value).toBeLessThanOrEqual(Number(bucket.labels.le));
      expect(exemplar.value).toBeGreaterThan(0);
      expect(exemplar.timestamp).toBeGreaterThan(Date.now() / 1000 - 60);
    }
  });

  it('carries no exemplar for calls whose trace was not sampled', async () => {
    const families = parseExposition(await (await fetch(server.url, { headers: { accept: OPENMETRICS } })).text(), 'openmetrics');
    const unauthorized = buckets(family(families, 'okta_hook_request_duration_seconds')?.samples ?? [], 'unauthorized');
    expect(unauthorized.find((s) => s.labels.le === '+Inf')?.value).toBe(3);
    expect(unauthorized.filter((s) => s.exemplar)).toEqual([]);
  });

  it('serves plain Prometheus text without exemplars by default', async () => {
    const res = await fetch(server.url);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).not.toContain('trace_id');
    // Throws on an exemplar in the Prometheus text format.
    const families = parseExposition(text, 'prometheus');
    expect(family(families, 'okta_hook_request_duration_seconds')?.samples.length).toBeGreaterThan(0);
  });

  describeWithBinary('promtool', 'with promtool', (promtool) => {
    it('passes `promtool check metrics` for the Prometheus text format', async () => {
      const text = await (await fetch(server.url)).text();
      const result = runTool(promtool, ['check', 'metrics'], text);
      expect({ status: result.status, output: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, output: '' });
    });
  });
});

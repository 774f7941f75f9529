import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { HOOK_SPAN_NAME } from '../../src/app';
import { buildHarness, eventFor, postHook } from './support/harness';
import { installTestTracing, PATCHED_CALL_ATTRIBUTES, type TestTracing } from './support/otel';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver';

describe('OTLP/HTTP export of hook spans', () => {
  let receiver: OtlpReceiver;
  let tracing: TestTracing;
  let processor: BatchSpanProcessor;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const exporter = new OTLPTraceExporter({ url: `${receiver.url}/v1/traces`, headers: { 'x-scope-orgid': 'tenant-a' } });
    // A long delay: only forceFlush sends, as shutdown does in the service.
    processor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000 });
    tracing = installTestTracing({ processors: [processor], serviceName: 'okta-token-hook' });
  });
  afterAll(async () => {
    await tracing.uninstall();
    await receiver.close();
  });

  it('delivers the hook span with its attributes to a collector over OTLP/HTTP JSON', async () => {
    const harness = buildHarness();
    await postHook(harness.callback, eventFor()).expect(200);
    await postHook(harness.callback, eventFor(), { authorization: 'wrong' }).expect(401);
    expect(receiver.spans).toHaveLength(0);

    await processor.forceFlush();

    const request = receiver.requests.find((r) => r.path === '/v1/traces');
    expect(request?.contentType).toMatch(/^application\/json/);
    expect(request?.headers['x-scope-orgid']).toBe('tenant-a');
    const hookSpans = receiver.spans.filter((span) => span.name === HOOK_SPAN_NAME);
    expect(hookSpans).toHaveLength(2);
    const [patched, unauthorized] = hookSpans;
    expect(patched?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(patched?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(patched?.scope).toBe('okta-token-hook');
    expect(patched?.resource['service.name']).toBe('okta-token-hook');
    expect(patched?.kind).toBe(2); // SERVER
    expect(patched?.attributes).toEqual(PATCHED_CALL_ATTRIBUTES);
    expect(unauthorized?.attributes['okta.hook.outcome']).toBe('unauthorized');
    expect(unauthorized?.attributes['http.response.status_code']).toBe(401);
    expect(unauthorized?.attributes['okta.auth.failure']).toBe('invalid_credentials');
  });
});

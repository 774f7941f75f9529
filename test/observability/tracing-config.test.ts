import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ENABLED_INSTRUMENTATIONS,
  instrumentationConfig,
  isSdkDisabled,
  logsExportEnabled,
  resourceAttributes,
  tracingEnvDefaults,
} from '../../src/observability/tracing';
import { ROOT } from '../helpers/process';

describe('tracing settings from the environment', () => {
  it('disables the SDK only for OTEL_SDK_DISABLED=true (any case)', () => {
    expect(isSdkDisabled({ OTEL_SDK_DISABLED: 'true' })).toBe(true);
    expect(isSdkDisabled({ OTEL_SDK_DISABLED: ' TRUE ' })).toBe(true);
    expect(isSdkDisabled({ OTEL_SDK_DISABLED: 'false' })).toBe(false);
    expect(isSdkDisabled({ OTEL_SDK_DISABLED: '1' })).toBe(false);
    expect(isSdkDisabled({})).toBe(false);
  });

  it('defaults the sampler to parent-based 10%, span batches to 128 spans every second and log export to none, and keeps explicit choices', () => {
    const batching = { OTEL_BSP_SCHEDULE_DELAY: '1000', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '128', OTEL_LOGS_EXPORTER: 'none' };
    expect(tracingEnvDefaults({})).toEqual({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1', ...batching });
    expect(tracingEnvDefaults({ OTEL_TRACES_SAMPLER_ARG: '0.5' })).toEqual({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', ...batching });
    expect(tracingEnvDefaults({ OTEL_TRACES_SAMPLER: 'traceidratio' })).toEqual({ OTEL_TRACES_SAMPLER_ARG: '0.1', ...batching });
    expect(tracingEnvDefaults({ OTEL_TRACES_SAMPLER: 'always_on' })).toEqual(batching);
    const explicit = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1', OTEL_BSP_SCHEDULE_DELAY: '5000', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '512', OTEL_LOGS_EXPORTER: 'otlp' };
    expect(tracingEnvDefaults(explicit)).toEqual({});
    expect(tracingEnvDefaults({ ...explicit, OTEL_LOGS_EXPORTER: 'none' })).toEqual({});
  });

  it('names the service and adds the Kubernetes attributes given by the downward API', () => {
    expect(resourceAttributes({}, '1.2.3')).toEqual({ 'service.name': 'okta-token-hook', 'service.version': '1.2.3' });
    expect(resourceAttributes({ K8S_POD_NAME: 'p-1', K8S_NAMESPACE_NAME: 'identity', K8S_NODE_NAME: 'n-1', K8S_OTHER: 'x' }, '1.2.3')).toEqual({
      'service.name': 'okta-token-hook',
      'service.version': '1.2.3',
      'k8s.pod.name': 'p-1',
      'k8s.namespace.name': 'identity',
      'k8s.node.name': 'n-1',
    });
    expect(resourceAttributes({ K8S_POD_NAME: ' ' }, '1')).not.toHaveProperty('k8s.pod.name');
  });

  it('enables undici only (the hook route starts its own server span), and turns every other instrumentation off explicitly', () => {
    const config = instrumentationConfig({});
    const names = Object.keys(config);
    expect(names.length).toBeGreaterThan(30);
    const disabled = names.filter((name) => (config as Record<string, { enabled?: boolean }>)[name]?.enabled === false);
    expect(names.filter((name) => !disabled.includes(name)).sort()).toEqual([...ENABLED_INSTRUMENTATIONS].sort());
    for (const name of ['fs', 'dns', 'net', 'express', 'grpc', 'runtime-node']) expect(disabled).toContain(`@opentelemetry/instrumentation-${name}`);
    for (const name of ['http', 'koa', 'pino']) expect(disabled).toContain(`@opentelemetry/instrumentation-${name}`);
  });

  it('keeps only the origin of outgoing lookup URLs on undici client spans (no user ids)', async () => {
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const span = provider.getTracer('t').startSpan('GET', { attributes: { 'url.full': 'https://api.example.com/users/00u3e5r7t9Y1u3I5o7p9/groups?limit=200', 'url.path': '/users/00u3e5r7t9Y1u3I5o7p9/groups', 'url.query': '?limit=200' } });
    const hook = instrumentationConfig({})['@opentelemetry/instrumentation-undici']?.requestHook;
    hook?.(span, { origin: 'https://api.example.com', path: '/users/00u3e5r7t9Y1u3I5o7p9/groups?limit=200' } as never);
    span.end();
    const attributes = exporter.getFinishedSpans()[0]?.attributes ?? {};
    expect(attributes['url.full']).toBe('https://api.example.com');
    expect(JSON.stringify(attributes)).not.toContain('00u3e5r7t9Y1u3I5o7p9');
    await provider.shutdown();
  });

  it('sends pino records over OTLP only when OTEL_LOGS_EXPORTER asks for it', () => {
    expect(logsExportEnabled({})).toBe(false);
    expect(logsExportEnabled({ OTEL_LOGS_EXPORTER: 'none' })).toBe(false);
    expect(logsExportEnabled({ OTEL_LOGS_EXPORTER: 'otlp' })).toBe(true);
    expect(instrumentationConfig({})['@opentelemetry/instrumentation-pino']).toEqual({ enabled: false });
    expect(instrumentationConfig({ OTEL_LOGS_EXPORTER: 'otlp' })['@opentelemetry/instrumentation-pino']).toEqual({ disableLogCorrelation: true, disableLogSending: false });
  });

  it('loads nothing but the settings module when OTEL_SDK_DISABLED=true (built dist/instrumentation.js)', () => {
    const script = "const before = new Set(Object.keys(require.cache)); require(process.argv[1]); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => !before.has(k))))";
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['-e', script, join(ROOT, 'dist', 'instrumentation.js')], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
    const disabled = run({ OTEL_SDK_DISABLED: 'true' });
    expect(disabled.status).toBe(0);
    const loaded = JSON.parse(disabled.stdout) as string[];
    expect(loaded.map((file) => file.slice(ROOT.length + 1)).sort()).toEqual(['dist/instrumentation.js', 'dist/observability/tracing.js']);
    // For contrast: enabled, the SDK and the instrumentations are loaded.
    const enabled = run({ OTEL_TRACES_EXPORTER: 'none' });
    expect(enabled.status).toBe(0);
    expect((JSON.parse(enabled.stdout) as string[]).length).toBeGreaterThan(100);
  });
});

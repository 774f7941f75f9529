/**
 * A real OpenTelemetry tracer provider registered globally for one test file, with the same
 * AsyncLocalStorage context manager the NodeSDK installs, so spans made by app.ts through
 * `@opentelemetry/api` are recorded and the logger sees the active span.
 */
import { context, propagation, trace, type Attributes } from '@opentelemetry/api';
import { HOOK_SPAN_NAME } from '../../../src/app';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface TestTracing {
  provider: BasicTracerProvider;
  exporter: InMemorySpanExporter;
  /** Flushes, shuts the provider down and unregisters the globals. */
  uninstall(): Promise<void>;
}

export function installTestTracing(options: { sampler?: Sampler; processors?: SpanProcessor[]; serviceName?: string } = {}): TestTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    sampler: options.sampler ?? new AlwaysOnSampler(),
    resource: resourceFromAttributes({ 'service.name': options.serviceName ?? 'okta-token-hook-test' }),
    spanProcessors: [new SimpleSpanProcessor(exporter), ...(options.processors ?? [])],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  return {
    provider,
    exporter,
    async uninstall() {
      await provider.forceFlush();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The request-side HTTP attributes of every hook call's SERVER span (supertest, plain HTTP/1.1). */
export const HOOK_HTTP_ATTRIBUTES = {
  'http.request.method': 'POST',
  'http.route': '/hooks/token',
  'url.path': '/hooks/token',
  'url.scheme': 'http',
  'network.protocol.version': '1.1',
};

/** Okta's event id and client id in the shared fixture the harness posts. */
export const FIXTURE_EVENT_ID = 'Vb7nQ2pXRk6Ty1wLmZ8sAc';
export const FIXTURE_CLIENT_ID = '0oa7h3j5k7L9z1X3c5v7';

/** The span attributes of the harness's patched call (shared fixture, harness rules), bar the user agent. */
export const PATCHED_CALL_ATTRIBUTES = {
  ...HOOK_HTTP_ATTRIBUTES,
  'http.response.status_code': 200,
  'okta.hook': 'token',
  'okta.auth.method': 'header',
  'okta.event_id': FIXTURE_EVENT_ID,
  'okta.client_id': FIXTURE_CLIENT_ID,
  'okta.grant_type': 'authorization_code',
  'okta.hook.outcome': 'patched',
  'okta.rules.matched': 2,
  'okta.rules.errors': 1,
  'okta.patch.operations': 3,
  'okta.patch.skipped': 1,
};

export const hookSpans = (exporter: InMemorySpanExporter): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((span) => span.name === HOOK_SPAN_NAME);

/** Every string an attribute set carries, for PII checks. */
export function attributeStrings(attributes: Attributes): string[] {
  return Object.entries(attributes).flatMap(([key, value]) => [key, ...(Array.isArray(value) ? value.map(String) : [String(value)])]);
}

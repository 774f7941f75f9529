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

export const hookSpans = (exporter: InMemorySpanExporter): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((span) => span.name === HOOK_SPAN_NAME);

/** Every string an attribute set carries, for PII checks. */
export function attributeStrings(attributes: Attributes): string[] {
  return Object.entries(attributes).flatMap(([key, value]) => [key, ...(Array.isArray(value) ? value.map(String) : [String(value)])]);
}

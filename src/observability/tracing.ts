/**
 * Tracing bootstrap settings, as pure functions of the environment so they can be tested without
 * starting an SDK. This module is required by `instrumentation.ts` before anything else: it must
 * stay tiny and import nothing at runtime (type imports only), so that `OTEL_SDK_DISABLED=true`
 * costs one environment lookup.
 */
import type { InstrumentationConfigMap } from '@opentelemetry/auto-instrumentations-node';

/** Where `instrumentation.ts` publishes `{ shutdown }` for `main.ts` (a cleanup after the drain). */
export const TELEMETRY_SYMBOL = Symbol.for('okta-token-hook.telemetry');

export interface TelemetryHandle {
  /** Flushes pending spans and stops the SDK; resolves within `SHUTDOWN_TIMEOUT_MS`. */
  shutdown(): Promise<void>;
  /** True when @opentelemetry/instrumentation-pino is on (log records exported over OTLP): pino must then be loaded through Node's require, where it is patched. */
  pinoInstrumented?: boolean;
}

/** Upper bound for the span flush on shutdown, so an unreachable collector cannot hold the pod. */
export const SHUTDOWN_TIMEOUT_MS = 5000;

export const DEFAULT_SERVICE_NAME = 'okta-token-hook';
export const DEFAULT_SAMPLER = 'parentbased_traceidratio';
export const DEFAULT_SAMPLER_RATIO = '0.1';

type Env = Record<string, string | undefined>;

/** `OTEL_SDK_DISABLED=true` (case-insensitive, as the SDK reads it) turns all telemetry off. */
export function isSdkDisabled(env: Env): boolean {
  return (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true';
}

/**
 * Span batches: exported every second, at most 128 spans at a time, instead of the SDK's 5 s and
 * 512. Serializing a batch runs on the event loop; a 500-span batch held every call behind it for
 * 20–70 ms on the benchmark machine (p99 43 ms at 1,000 calls/s), 100-span batches for about 5 ms.
 */
export const DEFAULT_BSP_SCHEDULE_DELAY_MS = '1000';
export const DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE = '128';

/**
 * Standard `OTEL_*` variables whose default differs from the SDK's, to apply before the SDK reads
 * the environment: parent-based 10% sampling instead of always-on (a ratio sampler named without
 * an argument gets 0.1 too; the SDK would use 1), small, frequent span batches, and no log
 * export (`OTEL_LOGS_EXPORTER=none`; the SDK would default to `otlp`): logs go to stdout, and with
 * `none` the SDK sets up no logger provider at all, so sdk-logs is never even loaded
 * (docs/performance.md "Start-up"). Explicit values are never overridden.
 */
export function tracingEnvDefaults(env: Env): Record<string, string> {
  const defaults: Record<string, string> = {};
  if (!env.OTEL_BSP_SCHEDULE_DELAY?.trim()) defaults.OTEL_BSP_SCHEDULE_DELAY = DEFAULT_BSP_SCHEDULE_DELAY_MS;
  if (!env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE?.trim()) defaults.OTEL_BSP_MAX_EXPORT_BATCH_SIZE = DEFAULT_BSP_MAX_EXPORT_BATCH_SIZE;
  const sampler = env.OTEL_TRACES_SAMPLER?.trim() || DEFAULT_SAMPLER;
  if (!env.OTEL_TRACES_SAMPLER?.trim()) defaults.OTEL_TRACES_SAMPLER = sampler;
  if (sampler.endsWith('traceidratio') && !env.OTEL_TRACES_SAMPLER_ARG?.trim()) defaults.OTEL_TRACES_SAMPLER_ARG = DEFAULT_SAMPLER_RATIO;
  if (!env.OTEL_LOGS_EXPORTER?.trim()) defaults.OTEL_LOGS_EXPORTER = 'none';
  return defaults;
}

/**
 * Resource attributes set by the service. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` are
 * applied on top by the SDK's env detector, so they win over these defaults.
 */
export function resourceAttributes(env: Env, version: string): Record<string, string> {
  const attributes: Record<string, string> = { 'service.name': DEFAULT_SERVICE_NAME, 'service.version': version };
  // Kubernetes downward API (see the chart's Deployment): fieldRef metadata.name, metadata.namespace, spec.nodeName.
  const fromEnv: Array<[string, string]> = [
    ['k8s.pod.name', 'K8S_POD_NAME'],
    ['k8s.namespace.name', 'K8S_NAMESPACE_NAME'],
    ['k8s.node.name', 'K8S_NODE_NAME'],
  ];
  for (const [attribute, variable] of fromEnv) {
    const value = env[variable]?.trim();
    if (value) attributes[attribute] = value;
  }
  return attributes;
}

/**
 * The only instrumentations the service turns on; every other one costs time on the login path.
 * There is no `http` or `koa` instrumentation: the hook route starts the call's SERVER span itself
 * (see app.ts), which costs a fraction of the generic server span, its event-emitter binding and
 * the router span (measured with `npm run bench`). `undici` covers lookups and JWKS fetches.
 * `pino` is on only when log records are exported over OTLP (`logsExportEnabled`).
 */
export const ENABLED_INSTRUMENTATIONS = ['@opentelemetry/instrumentation-undici'] as const;

type InstrumentationName = keyof InstrumentationConfigMap;

/**
 * Every instrumentation auto-instrumentations-node knows, so each one not enabled above is turned
 * off explicitly. A complete `Record` on purpose: an upgrade that adds one fails the type check
 * until it is listed here.
 */
const ALL_INSTRUMENTATIONS: Record<InstrumentationName, true> = {
  '@opentelemetry/instrumentation-amqplib': true,
  '@opentelemetry/instrumentation-aws-lambda': true,
  '@opentelemetry/instrumentation-aws-sdk': true,
  '@opentelemetry/instrumentation-bunyan': true,
  '@opentelemetry/instrumentation-cassandra-driver': true,
  '@opentelemetry/instrumentation-connect': true,
  '@opentelemetry/instrumentation-cucumber': true,
  '@opentelemetry/instrumentation-dataloader': true,
  '@opentelemetry/instrumentation-dns': true,
  '@opentelemetry/instrumentation-express': true,
  '@opentelemetry/instrumentation-fs': true,
  '@opentelemetry/instrumentation-generic-pool': true,
  '@opentelemetry/instrumentation-graphql': true,
  '@opentelemetry/instrumentation-grpc': true,
  '@opentelemetry/instrumentation-hapi': true,
  '@opentelemetry/instrumentation-host-metrics': true,
  '@opentelemetry/instrumentation-http': true,
  '@opentelemetry/instrumentation-ioredis': true,
  '@opentelemetry/instrumentation-kafkajs': true,
  '@opentelemetry/instrumentation-knex': true,
  '@opentelemetry/instrumentation-koa': true,
  '@opentelemetry/instrumentation-lru-memoizer': true,
  '@opentelemetry/instrumentation-memcached': true,
  '@opentelemetry/instrumentation-mongodb': true,
  '@opentelemetry/instrumentation-mongoose': true,
  '@opentelemetry/instrumentation-mysql2': true,
  '@opentelemetry/instrumentation-mysql': true,
  '@opentelemetry/instrumentation-nestjs-core': true,
  '@opentelemetry/instrumentation-net': true,
  '@opentelemetry/instrumentation-openai': true,
  '@opentelemetry/instrumentation-oracledb': true,
  '@opentelemetry/instrumentation-pg': true,
  '@opentelemetry/instrumentation-pino': true,
  '@opentelemetry/instrumentation-redis': true,
  '@opentelemetry/instrumentation-restify': true,
  '@opentelemetry/instrumentation-router': true,
  '@opentelemetry/instrumentation-runtime-node': true,
  '@opentelemetry/instrumentation-socket.io': true,
  '@opentelemetry/instrumentation-tedious': true,
  '@opentelemetry/instrumentation-undici': true,
  '@opentelemetry/instrumentation-winston': true,
};

/** True when pino log records should also go to the OTel Logs SDK (`OTEL_LOGS_EXPORTER` set and not `none`). */
export function logsExportEnabled(env: Env): boolean {
  const exporters = (env.OTEL_LOGS_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  return exporters.length > 0 && !exporters.includes('none');
}

/** Configuration for `getNodeAutoInstrumentations()`. */
export function instrumentationConfig(env: Env): InstrumentationConfigMap {
  const config: InstrumentationConfigMap = {};
  const enabled = new Set<string>(ENABLED_INSTRUMENTATIONS);
  for (const name of Object.keys(ALL_INSTRUMENTATIONS) as InstrumentationName[]) {
    if (!enabled.has(name)) config[name] = { enabled: false };
  }
  // undici has no `enabled` key, so OTEL_NODE_DISABLED_INSTRUMENTATIONS=undici can still turn it off.
  config['@opentelemetry/instrumentation-undici'] = {
    // Lookup URLs can carry a user id (e.g. /users/{id}/groups): keep only the origin on the client
    // span. The lookup's own span records the URL template instead.
    requestHook: (span, request) => {
      span.setAttribute('url.full', request.origin);
      span.setAttribute('url.path', '/');
      span.setAttribute('url.query', '');
    },
  };
  // Logs go to stdout; sending them over OTLP as well is opt-in with OTEL_LOGS_EXPORTER, and only
  // then is pino patched. The logger's own mixin adds trace_id/span_id (it works without the SDK).
  if (logsExportEnabled(env)) config['@opentelemetry/instrumentation-pino'] = { disableLogCorrelation: true, disableLogSending: false };
  return config;
}

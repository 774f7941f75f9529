/**
 * OpenTelemetry bootstrap, loaded by the runtime before the application so the instrumented
 * module (undici; pino when logs are exported) is hooked before anything requires it:
 *
 *   node --require ./dist/instrumentation.js dist/main.js
 *
 * Never imported by the application. Configured only by the standard `OTEL_*` variables (OTLP
 * endpoint, protocol, headers, sampler…); the defaults that differ from the SDK's are in
 * `observability/tracing.ts`. With `OTEL_SDK_DISABLED=true` nothing but that small module is loaded.
 * Traces only: metrics are served by prom-client, logs go to stdout.
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { TelemetryHandle } from './observability/tracing';
import {
  SHUTDOWN_TIMEOUT_MS,
  TELEMETRY_SYMBOL,
  instrumentationConfig,
  isSdkDisabled,
  resourceAttributes,
  tracingEnvDefaults,
} from './observability/tracing';

type InstrumentationClass = new (config: object) => Instrumentation;

/**
 * The instrumentation classes the service can turn on, each loaded only when on. Not through
 * `getNodeAutoInstrumentations()`, which loads every instrumentation it knows (about 250 modules)
 * to construct the one or two that are enabled; that was the largest part of start-up with
 * tracing on (docs/performance.md).
 */
const INSTRUMENTATION_LOADERS: Record<string, () => InstrumentationClass> = {
  '@opentelemetry/instrumentation-undici': () => (require('@opentelemetry/instrumentation-undici') as typeof import('@opentelemetry/instrumentation-undici')).UndiciInstrumentation,
  '@opentelemetry/instrumentation-pino': () => (require('@opentelemetry/instrumentation-pino') as typeof import('@opentelemetry/instrumentation-pino')).PinoInstrumentation as InstrumentationClass,
};

/** Short names in OTEL_NODE_{ENABLED,DISABLED}_INSTRUMENTATIONS (`undici`, `pino`), as auto-instrumentations-node reads them. */
function listFromEnv(value: string | undefined): string[] | undefined {
  if (!value) return undefined;
  return value.split(',').map((name) => `@opentelemetry/instrumentation-${name.trim()}`);
}

/**
 * What `getNodeAutoInstrumentations(instrumentationConfig(env))` returns, for the instrumentations
 * `instrumentationConfig` leaves on: skipped when OTEL_NODE_DISABLED_INSTRUMENTATIONS names them
 * or OTEL_NODE_ENABLED_INSTRUMENTATIONS is set without them.
 */
function createInstrumentations(env: NodeJS.ProcessEnv): Instrumentation[] {
  const enabledFromEnv = listFromEnv(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS);
  const disabledFromEnv = listFromEnv(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS) ?? [];
  const instrumentations: Instrumentation[] = [];
  for (const [name, config] of Object.entries(instrumentationConfig(env)) as Array<[string, { enabled?: boolean }]>) {
    const explicit = config.enabled === true;
    if (config.enabled === false) continue;
    if (!explicit && (disabledFromEnv.includes(name) || (enabledFromEnv && !enabledFromEnv.includes(name)))) continue;
    const load = INSTRUMENTATION_LOADERS[name];
    if (!load) throw new Error(`no loader for ${name}`);
    const Instrumentation = load();
    instrumentations.push(new Instrumentation(config));
  }
  return instrumentations;
}

function startTracing(): void {
  for (const [name, value] of Object.entries(tracingEnvDefaults(process.env))) process.env[name] = value;

  // Required here, not imported at the top: a disabled SDK must not pay for loading them.
  const { NodeSDK, resources } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { version } = require('../package.json') as { version: string };

  const instrumentations = createInstrumentations(process.env);
  const sdk = new NodeSDK({
    resource: resources.defaultResource().merge(resources.resourceFromAttributes(resourceAttributes(process.env, version))),
    instrumentations,
    // No SDK meter provider: Prometheus metrics come from prom-client on METRICS_PORT.
    metricReaders: [],
    // No logger provider unless OTEL_LOGS_EXPORTER asks for one: tracingEnvDefaults makes it `none`.
  });
  sdk.start();

  const handle: TelemetryHandle = {
    shutdown: () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
        timer.unref();
      });
      return Promise.race([sdk.shutdown(), deadline]).finally(() => clearTimeout(timer));
    },
    pinoInstrumented: instrumentations.some((instrumentation) => instrumentation.instrumentationName === '@opentelemetry/instrumentation-pino'),
  };
  (globalThis as Record<symbol, unknown>)[TELEMETRY_SYMBOL] = handle;
}

if (!isSdkDisabled(process.env)) {
  try {
    startTracing();
  } catch (err) {
    // Tracing is an aid, never a reason not to serve logins.
    process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'tracing disabled: OpenTelemetry SDK failed to start', error: (err as Error).message })}\n`);
  }
}

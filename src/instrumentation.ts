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
import type { TelemetryHandle } from './observability/tracing';
import {
  SHUTDOWN_TIMEOUT_MS,
  TELEMETRY_SYMBOL,
  instrumentationConfig,
  isSdkDisabled,
  logsExportEnabled,
  resourceAttributes,
  tracingEnvDefaults,
} from './observability/tracing';

function startTracing(): void {
  for (const [name, value] of Object.entries(tracingEnvDefaults(process.env))) process.env[name] = value;

  // Required here, not imported at the top: a disabled SDK must not pay for loading them.
  const { NodeSDK, resources } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { getNodeAutoInstrumentations } = require('@opentelemetry/auto-instrumentations-node') as typeof import('@opentelemetry/auto-instrumentations-node');
  const { version } = require('../package.json') as { version: string };

  const sdk = new NodeSDK({
    resource: resources.defaultResource().merge(resources.resourceFromAttributes(resourceAttributes(process.env, version))),
    instrumentations: getNodeAutoInstrumentations(instrumentationConfig(process.env)),
    // No SDK meter provider: Prometheus metrics come from prom-client on METRICS_PORT.
    metricReaders: [],
    // The SDK would default OTEL_LOGS_EXPORTER to otlp; here log export is opt-in.
    ...(logsExportEnabled(process.env) ? {} : { logRecordProcessors: [] }),
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

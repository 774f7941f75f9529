/**
 * Entry point: the only module that touches `process` (env, signals, exit). Tracing is loaded
 * before this file by the runtime (`node --require ./dist/instrumentation.js dist/main.js`).
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createApp } from './app';
import { codeCacheUses, type CodeCacheUse } from './code-cache';
import { ConfigError, loadConfig, type Config } from './config';
import { composeAuthenticators } from './http/auth';
import { HeaderAuthenticator, SecretStore } from './http/header-auth';
import { HealthState } from './http/health';
import { createLogger, type Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { createMetricsServer } from './observability/metrics-server';
import { TELEMETRY_SYMBOL, type TelemetryHandle } from './observability/tracing';
import type { LookupPreopenReport } from './lookups/set';
import { lookupMetricsEvents } from './lookups/metrics';
import { RulesManager } from './rules/manager';
import { RulesFileError } from './rules/types';
import { LoadShedder } from './http/load-shedding';
import { installProcessGuard } from './process-guard';
import { createRulesEnvironment, LOOKUP_VARIABLE } from './rules/cel';
import { startService } from './server';
import { offlineEngine, warmUpEngine, warmUpHttp } from './warmup';
import { VERSION } from './version';

async function buildSecretStore(config: Readonly<Config>, logger: Logger, metrics: Metrics | undefined): Promise<SecretStore> {
  const { auth, env } = config;
  if (auth.secretFile) {
    const store = await SecretStore.fromFile(auth.secretFile, {
      onReload: (result) => {
        if (result.ok) {
          // `secretCount`: a field named `secrets` is caught by the log redaction list.
          logger.info({ secretCount: result.count }, 'header secrets reloaded');
          metrics?.secretsLoaded.set(result.count);
        } else logger.error({ error: result.error }, 'header secret reload failed; previous secrets stay valid');
      },
    });
    metrics?.secretsLoaded.set(store.size);
    return store;
  }
  if (auth.secret) {
    if (env === 'production') logger.warn('HOOK_SECRET is set in production; prefer HOOK_SECRET_FILE (a mounted Secret)');
    metrics?.secretsLoaded.set(1);
    return SecretStore.fromValues([auth.secret]);
  }
  if (env === 'production') {
    throw new ConfigError('No hook secret configured: set HOOK_SECRET_FILE (or AUTH_MODE=oauth2 with OAUTH_* settings). NODE_ENV=production never generates one.');
  }
  const generated = randomBytes(24).toString('base64url');
  // Printed once, on purpose, so a developer can call the local hook; never in production.
  process.stderr.write(`\nNo hook secret configured (development): generated one for this run.\n  ${config.auth.header}: ${generated}\n\n`);
  metrics?.secretsLoaded.set(1);
  return SecretStore.fromValues([generated]);
}

/**
 * What start-up cost, for the ready line: CPU time since the process started (what a busy host
 * moves little, unlike `startupMs`), the compile cache directory in use (dist/entrypoint.js
 * enables the one shipped in the image; null when none is in use), and how each bundle was loaded
 * (src/code-cache.ts; `{}` when the service was not started from dist/entrypoint.js).
 */
function startupCost(): { startupCpuMs: number; compileCache: string | null; codeCache: Record<string, CodeCacheUse> } {
  const { user, system } = process.cpuUsage();
  const { getCompileCacheDir } = require('node:module') as { getCompileCacheDir?: () => string | undefined };
  return { startupCpuMs: Math.round((user + system) / 1000), compileCache: getCompileCacheDir?.() ?? null, codeCache: codeCacheUses() };
}

/** Connections opened ahead of the lookups' first calls, all lookups together; undefined when none was tried. */
function summarizePreopen(reports: Record<string, LookupPreopenReport>): { opened: number; failed: number; pending: number; accessTokens?: { fetched: number; failed: number } } | undefined {
  const all = Object.values(reports);
  if (all.length === 0) return undefined;
  const sum = { opened: 0, failed: 0, pending: 0 };
  const tokens = { fetched: 0, failed: 0 };
  for (const r of all) {
    sum.opened += r.opened;
    sum.failed += r.failed;
    sum.pending += r.pending;
    if (r.accessToken) tokens[r.accessToken]++;
  }
  return tokens.fetched + tokens.failed > 0 ? { ...sum, accessTokens: tokens } : sum;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logging.level, base: { service: 'okta-token-hook', version: VERSION }, bufferBytes: 32 * 1024 });
  const metrics = config.metrics.enabled
    ? new Metrics({ version: VERSION, defaultMetrics: true, clientIdLabel: config.metrics.clientIdLabel, clientIdLimit: config.metrics.clientIdLimit })
    : undefined;
  installProcessGuard(process, { logger, onError: (kind) => metrics?.unhandledErrors.inc({ kind }) });
  const health = new HealthState();
  metrics?.observeReadiness(() => health.notReadyReason() === undefined);
  const cleanups: Array<() => Promise<void> | void> = [];

  const secretStore = config.auth.mode === 'oauth2' ? undefined : await buildSecretStore(config, logger, metrics);
  if (secretStore) cleanups.push(() => secretStore.close());
  const oauth =
    config.auth.mode === 'header'
      ? undefined
      : // Loaded only when used: header-secret deployments never load the JWT library.
        (require('./http/oauth') as typeof import('./http/oauth')).createOAuthAuthenticator(config.oauth, {
          onJwksFetch: (result, detail) => {
            metrics?.jwksRefreshes.inc({ result });
            if (result === 'failure') logger.warn({ jwksUri: detail.jwksUri, error: detail.error }, 'OAuth JWKS refresh failed');
            else logger.info({ jwksUri: detail.jwksUri }, 'OAuth JWKS refreshed');
          },
        });
  // Fetch the issuer's keys before taking traffic; requests still work (fetch on first use) if it fails.
  if (oauth) await oauth.refreshKeys();
  const authenticate = composeAuthenticators({
    mode: config.auth.mode,
    header: secretStore ? new HeaderAuthenticator(config.auth.header, secretStore) : undefined,
    oauth,
  });

  // Every rules file (live and shadow) is compiled under the configured CEL cost limits.
  const rulesEnv = createRulesEnvironment([LOOKUP_VARIABLE], {
    maxCost: config.rules.maxCost,
    maxIterations: config.rules.maxIterations,
    maxEvaluationMs: config.rules.maxEvaluationMs,
  });
  const rules = await RulesManager.create({
    file: config.rules.file,
    watch: config.rules.watch,
    parseOptions: { env: rulesEnv },
    logger,
    lookupEvents: metrics ? lookupMetricsEvents(metrics) : undefined,
    preopenConnections: config.rules.lookupConnections,
    onReload: (result) => {
      metrics?.recordRulesReload(result.result, Date.now() / 1000, result.result === 'success' ? { version: result.version, rules: result.rules } : undefined);
    },
  });
  metrics?.recordRulesReload('success', Date.now() / 1000, { version: rules.version, rules: rules.ruleCount });
  cleanups.push(() => rules.close());
  const engine = rules.provider;

  // Shadow rules: compared with the live answer on every call, never applied. A broken shadow file
  // at startup is fatal like the live one (the operator asked for it); on reload the old one keeps running.
  let shadowRules: RulesManager | undefined;
  if (config.rules.shadowFile) {
    metrics?.enableShadow();
    shadowRules = await RulesManager.create({
      file: config.rules.shadowFile,
      watch: config.rules.watch,
      parseOptions: { env: rulesEnv },
      logger: logger.child({ rulesKind: 'shadow' }),
      shareLookupsWith: engine,
      onReload: (result) => metrics?.recordShadowReload(result.result, result.result === 'success' ? result.version : undefined),
    });
    metrics?.recordShadowReload('success', shadowRules.version);
    const shadowManager = shadowRules;
    cleanups.push(() => shadowManager.close());
  }
  const shadow = shadowRules?.provider;

  const shedder = new LoadShedder({
    maxInFlight: config.server.maxInFlight,
    maxEventLoopLagMs: config.server.maxEventLoopLagMs,
    onLagSample: (seconds) => metrics?.eventLoopLag.set(seconds),
  }).start();
  cleanups.push(() => shedder.stop());
  const app = createApp({ config, logger, metrics, engine, shadow, authenticate, health, shedder });
  // Published by instrumentation.ts when the SDK started; flushed after the drain.
  const telemetry = (globalThis as Record<symbol, TelemetryHandle | undefined>)[TELEMETRY_SYMBOL];
  if (telemetry) cleanups.push(() => telemetry.shutdown());
  // Warm-up before listening: the lookups' connections opened (in the background while the rest
  // runs), rules compiled and run, the HTTP request path exercised on a private loopback server
  // with a copy of the app that records no metrics and writes no logs.
  // (Not the shadow rules' lookups: shadow evaluation runs after the answer, off Okta's clock.)
  const preopening = rules.preopenLookups();
  const warm = await warmUpEngine(engine(), { deadlineMs: config.server.deadlineMs });
  const warmEngine = offlineEngine(engine());
  const warmHttp = await warmUpHttp(
    createApp({
      config: { ...config, logging: { ...config.logging, requests: false } },
      logger: createLogger({ level: 'silent', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) }),
      engine: () => warmEngine,
      authenticate: () => ({ ok: true, method: 'header', credential: 'warm-up' }),
      health: new HealthState(),
    }),
  );
  const lookupConnections = summarizePreopen(await preopening);
  const service = await startService({
    config,
    app,
    health,
    logger,
    metricsServer: metrics ? createMetricsServer(metrics.registry, { notReadyReason: () => health.notReadyReason(), rulesVersion: () => engine().version }) : undefined,
    cleanups,
  });
  const startupMs = Math.round(performance.now());
  const cost = startupCost();
  metrics?.recordStartup({ wallMs: startupMs, cpuMs: cost.startupCpuMs, compileCache: cost.compileCache !== null, codeCache: cost.codeCache });
  logger.info(
    {
      port: service.hookPort,
      metricsPort: service.metricsPort,
      authMode: config.auth.mode,
      rulesVersion: engine().version,
      shadowRulesVersion: shadowRules?.version,
      env: config.env,
      warmUp: {
        iterations: warm.iterations,
        ms: Math.round(warm.ms),
        httpCalls: warmHttp.calls,
        httpMs: Math.round(warmHttp.ms),
        ...(lookupConnections ? { lookupConnections } : {}),
      },
      startupMs,
      ...cost,
    },
    'okta-token-hook ready',
  );

  const stop = (signal: NodeJS.Signals): void => {
    service
      .shutdown(signal)
      .then(() => logger.flush(() => process.exit(0)))
      .catch((err: Error) => {
        logger.error({ err: { message: err.message } }, 'shutdown failed');
        logger.flush(() => process.exit(1));
      });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.on('SIGHUP', () => {
    void rules.reload('signal');
    void shadowRules?.reload('signal');
  });
}

main().catch((err: Error) => {
  const message =
    err instanceof ConfigError
      ? err.message
      : err instanceof RulesFileError
        ? `Invalid rules file:\n  ${err.errors.join('\n  ')}`
        : `Startup failed: ${err.message}`;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});

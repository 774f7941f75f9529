/**
 * Listening and graceful shutdown. Order (house style): readiness off -> keep serving for the
 * readiness delay so endpoints update -> stop accepting and drain in-flight requests within a
 * deadline -> run cleanups (watchers, telemetry flush) -> close the metrics server.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Config } from './config';
import type { HealthState } from './http/health';
import type { Logger } from './observability/logger';

export interface ServiceOptions {
  config: Pick<Config, 'server' | 'metrics' | 'shutdown'>;
  app: Koa;
  health: HealthState;
  logger: Logger;
  /** The metrics HTTP server, not yet listening (absent when metrics are disabled). */
  metricsServer?: Server;
  /** Run after the hook server has drained, in order (close watchers, flush telemetry…). */
  cleanups?: Array<() => Promise<void> | void>;
}

export interface RunningService {
  hookServer: Server;
  hookPort: number;
  metricsPort?: number;
  /** Idempotent; resolves when everything is closed. */
  shutdown(reason: string): Promise<void>;
}

/** How often Node sweeps connections for the header and request timeouts. */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function listen(server: Server, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { config, app, health, logger, metricsServer } = options;
  // Slow clients: the header and request timeouts are enforced by a sweep every
  // `connectionsCheckingInterval` (Node's default, 30 s, let a slowloris socket live ~50 s).
  const hookServer = createServer(
    {
      headersTimeout: config.server.headersTimeoutMs,
      requestTimeout: config.server.requestTimeoutMs,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    },
    app.callback(),
  );
  hookServer.keepAliveTimeout = config.server.keepAliveTimeoutMs;
  // Beyond it new connections are closed at once; the metrics port (probes included) is separate.
  hookServer.maxConnections = config.server.maxConnections;
  const hookPort = await listen(hookServer, config.server.port, config.server.host);
  const metricsPort = metricsServer ? await listen(metricsServer, config.metrics.port, config.metrics.host) : undefined;

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    shuttingDown ??= (async () => {
      health.beginShutdown();
      logger.info({ reason, delayMs: config.shutdown.delayMs, timeoutMs: config.shutdown.timeoutMs }, 'shutdown: readiness off');
      await sleep(config.shutdown.delayMs);
      logger.info('shutdown: no longer accepting connections, draining');
      const closed = new Promise<void>((resolve) => hookServer.close(() => resolve()));
      hookServer.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), config.shutdown.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!drained) {
        logger.warn('shutdown: drain deadline reached, closing remaining connections');
        hookServer.closeAllConnections();
        await closed;
      }
      for (const cleanup of options.cleanups ?? []) {
        try {
          await cleanup();
        } catch (err) {
          logger.warn({ err: { message: (err as Error).message } }, 'shutdown: cleanup failed');
        }
      }
      if (metricsServer?.listening) {
        await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
        metricsServer.closeAllConnections();
      }
      logger.info('shutdown: complete');
    })();
    return shuttingDown;
  };
  return { hookServer, hookPort, metricsPort, shutdown };
}

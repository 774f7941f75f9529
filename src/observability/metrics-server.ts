/**
 * The metrics endpoint on its own port (never routed by the Ingress). Serves OpenMetrics (with
 * exemplars) when the scraper asks for it, as Prometheus does, and Prometheus text otherwise.
 */
import { createServer, type Server } from 'node:http';
import { openMetricsContentType, prometheusContentType, type Registry, type RegistryContentType } from 'prom-client';

export type MetricsFormat = 'openmetrics' | 'prometheus';

export function negotiateFormat(accept: string | undefined): MetricsFormat {
  return (accept ?? '').includes('application/openmetrics-text') ? 'openmetrics' : 'prometheus';
}

/**
 * Renders one registry in either format. prom-client decides the format from the registry's
 * content type, read during the (asynchronous) collection, and its OpenMetrics rendering renames
 * counters in place (`x_total` -> `x`), which would make every later Prometheus-text scrape lose
 * the `_total` suffix. So renders are serialized, and each one restores the counter names and the
 * content type it found. Scrapes are rare (seconds apart) and take about a millisecond.
 */
export class MetricsRenderer {
  private readonly registry: Registry<RegistryContentType>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(registry: Registry) {
    this.registry = registry as unknown as Registry<RegistryContentType>;
  }

  render(format: MetricsFormat): Promise<{ contentType: string; body: string }> {
    const run = this.queue.then(() => this.renderNow(format));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async renderNow(format: MetricsFormat): Promise<{ contentType: string; body: string }> {
    const registry = this.registry;
    const previousType = registry.contentType;
    const metrics = registry.getMetricsAsArray() as unknown as Array<{ name: string }>;
    const names = metrics.map((metric) => metric.name);
    const contentType = format === 'openmetrics' ? openMetricsContentType : prometheusContentType;
    registry.setContentType(contentType);
    try {
      return { contentType, body: await registry.metrics() };
    } finally {
      metrics.forEach((metric, i) => {
        metric.name = names[i] as string;
      });
      registry.setContentType(previousType);
    }
  }
}

/** Probes also served on the metrics port, so they answer while the hook port is saturated. */
export interface MetricsServerProbes {
  /** Reason the instance is not ready, or undefined when ready. */
  notReadyReason(): string | undefined;
  /** Rules version shown by /readyz. */
  rulesVersion(): string;
}

export function createMetricsServer(metricsRegistry: Registry, probes?: MetricsServerProbes): Server {
  const renderer = new MetricsRenderer(metricsRegistry);
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const isGet = req.method === 'GET' || req.method === 'HEAD';
    if (probes && isGet && (path === '/healthz' || path === '/readyz')) {
      const reason = path === '/readyz' ? probes.notReadyReason() : undefined;
      const body = path === '/healthz' ? { status: 'ok' } : reason ? { status: 'not_ready', reason } : { status: 'ready', rulesVersion: probes.rulesVersion() };
      res.writeHead(reason ? 503 : 200, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
      return;
    }
    if (!isGet || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","message":"Only GET /metrics, /healthz and /readyz are served here"}');
      return;
    }
    renderer
      .render(negotiateFormat(req.headers.accept))
      .then(({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body))
      .catch(() => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n'));
  });
}

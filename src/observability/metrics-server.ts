/**
 * The metrics endpoint on its own port (never routed by the Ingress). Serves OpenMetrics (with
 * exemplars) when the scraper asks for it, Prometheus text otherwise.
 */
import { createServer, type Server } from 'node:http';
import { openMetricsContentType, prometheusContentType, type Registry, type RegistryContentType } from 'prom-client';

export function createMetricsServer(metricsRegistry: Registry): Server {
  // One registry serves both formats; the type is switched per scrape (scrapes are rare and short).
  const registry = metricsRegistry as unknown as Registry<RegistryContentType>;
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","message":"Only GET /metrics is served here"}');
      return;
    }
    const wantsOpenMetrics = (req.headers.accept ?? '').includes('application/openmetrics-text');
    registry.setContentType(wantsOpenMetrics ? openMetricsContentType : prometheusContentType);
    registry
      .metrics()
      .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
      .catch(() => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n'));
  });
}

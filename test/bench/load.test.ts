import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The benchmark's open-loop load generator (bench/load.js), driven against real local servers. */
interface LoadResult {
  sent: number;
  completed: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  issued: number;
  latenciesMs: Float64Array;
  measured: number;
  measuredSeconds: number;
}
interface LoadOptions {
  port: number;
  path: string;
  rate: number;
  seconds: number;
  connections?: number;
  requests: Array<{ body: string; headers: Record<string, string> }>;
  timeoutMs?: number;
  host?: string;
  measureAfter?: number;
  onMeasureStart?: () => void;
}
const { openLoop, percentile } = require('../../bench/load.js') as {
  openLoop(options: LoadOptions): Promise<LoadResult>;
  percentile(sorted: Float64Array, p: number): number | null;
};

type Handler = (req: IncomingMessage, res: ServerResponse, body: string, index: number) => void;

async function serve(handler: Handler): Promise<{ server: Server; port: number; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      bodies.push(body);
      handler(req, res, body, bodies.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, bodies };
}

const json = (res: ServerResponse, status: number, extra: Record<string, string> = {}): void => {
  const body = '{"ok":true}';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length), ...extra }).end(body);
};

const REQUESTS = [
  { body: '{"n":"a"}', headers: { 'content-type': 'application/json' } },
  { body: '{"n":"b"}', headers: { 'content-type': 'application/json' } },
];

describe('bench load generator (open loop)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('sends exactly rate × seconds requests, cycling through the bodies, and counts 2xx and non-2xx', async () => {
    const target = await serve((_req, res, _body, index) => json(res, index % 4 === 3 ? 503 : 200));
    servers.push(target.server);
    const result = await openLoop({ port: target.port, path: '/hooks/token', rate: 200, seconds: 1, connections: 8, requests: REQUESTS });
    expect(result.issued).toBe(200);
    expect(result.completed).toBe(200);
    expect(result.ok).toBe(150);
    expect(result.non2xx).toBe(50);
    expect(result.errors + result.timeouts).toBe(0);
    expect(new Set(target.bodies)).toEqual(new Set(['{"n":"a"}', '{"n":"b"}']));
    expect(result.latenciesMs).toHaveLength(200);
  });

  it('counts the time a request waits for a free connection: one connection and a 20 ms server queue the calls', async () => {
    const target = await serve((_req, res) => setTimeout(() => json(res, 200), 20));
    servers.push(target.server);
    // 100/s for 0.5 s on one connection that serves 50/s at best: the last calls wait ~0.5 s.
    const result = await openLoop({ port: target.port, path: '/', rate: 100, seconds: 0.5, connections: 1, requests: REQUESTS });
    expect(result.completed).toBe(50);
    expect(percentile(result.latenciesMs, 50)).toBeGreaterThanOrEqual(20);
    expect(percentile(result.latenciesMs, 100)).toBeGreaterThan(400);
  });

  it('reconnects after a Connection: close answer and loses no request', async () => {
    const target = await serve((_req, res, _body, index) => json(res, 200, index % 10 === 0 ? { connection: 'close' } : {}));
    servers.push(target.server);
    const result = await openLoop({ port: target.port, path: '/', rate: 200, seconds: 0.5, connections: 2, requests: REQUESTS });
    expect(result.ok).toBe(100);
    expect(result.errors + result.timeouts).toBe(0);
  });

  it('counts a request without an answer as a timeout', async () => {
    const target = await serve((_req, res, _body, index) => {
      if (index !== 0) json(res, 200); // the first one is never answered
    });
    servers.push(target.server);
    const result = await openLoop({ port: target.port, path: '/', rate: 20, seconds: 0.5, connections: 2, requests: REQUESTS, timeoutMs: 300 });
    expect(result.timeouts).toBe(1);
    expect(result.ok).toBe(9);
  });

  it('measures only the requests due after the warm-up, on the connections the warm-up opened', async () => {
    const sockets = new Set<unknown>();
    // Warm-up calls are slow (a cold server), measured ones fast: the slow ones must not be counted.
    const target = await serve((req, res, _body, index) => {
      sockets.add(req.socket);
      if (index < 50) setTimeout(() => json(res, 200), 30);
      else json(res, 200);
    });
    servers.push(target.server);
    let receivedAtStart = -1;
    const result = await openLoop({
      port: target.port,
      path: '/',
      rate: 100,
      seconds: 1,
      connections: 4,
      requests: REQUESTS,
      measureAfter: 0.5,
      onMeasureStart: () => {
        receivedAtStart = target.bodies.length;
      },
    });
    expect(result.completed).toBe(100);
    expect(result.measured).toBe(50);
    expect(result.latenciesMs).toHaveLength(50);
    // Called once, half-way: the warm-up's requests had been sent, the window's not yet.
    expect(receivedAtStart).toBeGreaterThan(0);
    expect(receivedAtStart).toBeLessThanOrEqual(50);
    expect(result.measuredSeconds).toBeGreaterThan(0.4);
    // No reconnection between the warm-up and the window: only the pool's connections ever served
    // (how many of the 4 were needed depends on how fast the answers came).
    expect(sockets.size).toBeGreaterThanOrEqual(1);
    expect(sockets.size).toBeLessThanOrEqual(4);
  });

  it('only sends to loopback addresses', () => {
    expect(() => openLoop({ host: '10.0.0.1', port: 80, path: '/', rate: 1, seconds: 1, requests: REQUESTS })).toThrow(/loopback/);
  });
});

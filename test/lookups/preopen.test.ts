/**
 * Connections opened ahead of a lookup's first call (src/lookups/http-client.ts
 * `PreopenedConnections`, `LookupSet.preopen`), against real upstreams on 127.0.0.1: the first
 * calls ride them, a connection the upstream dropped or that waited too long is never handed out,
 * and a failure to open is reported, never thrown.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createAgent, PreopenedConnections, send, type PreopenResult } from '../../src/lookups/http-client';
import { LookupSet } from '../../src/lookups/set';
import { reply, startUpstream, type Upstream } from '../helpers/upstream';
import { contextForUser, defineLookups, eventually, useTestPki } from './helpers';

const signal = (): AbortSignal => AbortSignal.timeout(2900);

describe('connections opened ahead of the first call', () => {
  let upstream: Upstream;
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  beforeEach(async () => {
    upstream = await startUpstream(reply.json({ ok: true }));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await upstream.close();
  });

  /** An HTTP upstream answering `{}` that does `first` to the first connection it accepts; its origin. */
  async function upstreamWithFirstConnection(first: (socket: Socket) => void): Promise<string> {
    const server = createHttpServer((_req, res) => res.end('{}'));
    let seen = false;
    server.on('connection', (socket: Socket) => {
      if (seen) return;
      seen = true;
      first(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** A pool, its Agent and the events it reported, closed after the test. */
  function pool(options: { idleMs?: number; ca?: string; connectTimeoutMs?: number } = {}) {
    const events: PreopenResult[] = [];
    const preopened = new PreopenedConnections({ ...options, onEvent: (result) => events.push(result) });
    const agent = createAgent({ connections: 4, preopened });
    cleanups.push(() => agent.close(), () => preopened.close());
    return { preopened, agent, events };
  }

  it('opens connections before the first call, and the first calls ride them instead of opening their own', async () => {
    const { preopened, agent, events } = pool();
    const report = await preopened.open(upstream.origin, 2, 2000);
    expect(report).toEqual({ opened: 2, failed: 0, pending: 0 });
    // The server accepts on its own turn of the loop, shortly after the client saw the connection.
    await eventually(() => upstream.connections === 2);
    expect(upstream.requests).toHaveLength(0);
    expect(preopened.idle).toBe(2);

    const answers = await Promise.all([1, 2].map((n) => send(agent, { method: 'GET', url: upstream.url(`/u/${n}`), headers: {} }, { signal: signal(), maxBytes: 1000 })));
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.connections).toBe(2);
    expect(preopened.idle).toBe(0);
    expect(events).toEqual(['opened', 'opened', 'used', 'used']);
  });

  it('never hands out a connection the upstream closed while it waited; the call opens a new one', async () => {
    const { preopened, agent, events } = pool();
    // The upstream drops the first connection it gets without a word (an idle timeout, a restart).
    const origin = await upstreamWithFirstConnection((socket) => setImmediate(() => socket.destroy()));

    expect(await preopened.open(origin, 1, 2000)).toMatchObject({ opened: 1 });
    await eventually(() => events.includes('closed'));
    expect(preopened.idle).toBe(0);

    const answer = await send(agent, { method: 'GET', url: `${origin}/x`, headers: {} }, { signal: signal(), maxBytes: 1000 });
    expect(answer.status).toBe(200);
    expect(events).toEqual(['opened', 'closed']);
  });

  it('never hands out a connection on which the upstream sent something unasked', async () => {
    const { preopened, agent, events } = pool();
    // What a confused proxy might send: the client would read it as the answer to its request.
    const origin = await upstreamWithFirstConnection((socket) => socket.write('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n'));

    expect(await preopened.open(origin, 1, 2000)).toMatchObject({ opened: 1 });
    await eventually(() => events.includes('closed'));
    const answer = await send(agent, { method: 'GET', url: `${origin}/x`, headers: {} }, { signal: signal(), maxBytes: 1000 });
    expect(answer.status).toBe(200);
    expect(events).toEqual(['opened', 'closed']);
  });

  it('closes a connection nobody used once it has waited idleMs, and the upstream sees it go', async () => {
    const { preopened, events } = pool({ idleMs: 50 });
    await preopened.open(upstream.origin, 1, 2000);
    await eventually(() => upstream.openConnections === 1);
    await eventually(() => events.includes('expired'));
    await eventually(() => upstream.openConnections === 0);
    expect(preopened.idle).toBe(0);
  });

  it('reports an upstream that refuses connections, naming the error and never a URL, without throwing', async () => {
    const { preopened, events } = pool();
    const closed = await dropper(() => undefined);
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const report = await preopened.open(`http://127.0.0.1:${port}`, 2, 2000);
    expect(report).toEqual({ opened: 0, failed: 2, pending: 0, error: 'connection failed (ECONNREFUSED)' });
    expect(events).toEqual(['failed', 'failed']);
    expect(preopened.idle).toBe(0);
  });

  it('stops waiting after waitMs for a connection still opening, and closes it once the pool is closed', async () => {
    // Accepts TCP and never answers the TLS handshake.
    const held: Socket[] = [];
    const silent = await dropper((socket) => void held.push(socket));
    cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
    const { preopened, events } = pool({ connectTimeoutMs: 5000 });
    const report = await preopened.open(`https://127.0.0.1:${(silent.address() as AddressInfo).port}`, 1, 50);
    expect(report).toEqual({ opened: 0, failed: 0, pending: 1 });
    preopened.close();
    for (const socket of held) socket.destroy();
    await eventually(() => events.length === 1);
    expect(events).toEqual(['failed']);
    expect(preopened.idle).toBe(0);
  });

  it('opens nothing, and answers at once, for 0 connections or a closed pool', async () => {
    const { preopened } = pool();
    // A wait of a minute: the answer must not depend on it.
    expect(await preopened.open(upstream.origin, 0, 60_000)).toEqual({ opened: 0, failed: 0, pending: 0 });
    preopened.close();
    expect(await preopened.open(upstream.origin, 2, 60_000)).toEqual({ opened: 0, failed: 0, pending: 0 });
    expect(upstream.connections).toBe(0);
  });

  it('closes every parked connection when the pool closes', async () => {
    const { preopened, events } = pool();
    await preopened.open(upstream.origin, 3, 2000);
    await eventually(() => upstream.openConnections === 3);
    preopened.close();
    expect(preopened.idle).toBe(0);
    await eventually(() => upstream.openConnections === 0);
    expect(events).toEqual(['opened', 'opened', 'opened']);
  });

  describe('over TLS', () => {
    const testCa = useTestPki();

    it("completes the handshake with the lookup's CA at start-up, and fails it (with the reason) without", async () => {
      const pki = testCa();
      if (!pki) return;
      const secure = await startUpstream(reply.json({ ok: true }), { tls: { key: pki.key, cert: pki.cert } });
      cleanups.push(() => secure.close());
      const trusted = pool({ ca: pki.ca });
      expect(await trusted.preopened.open(secure.origin, 1, 2000)).toEqual({ opened: 1, failed: 0, pending: 0 });
      const answer = await send(trusted.agent, { method: 'GET', url: secure.url('/x'), headers: {} }, { signal: signal(), maxBytes: 1000 });
      expect(answer.status).toBe(200);
      expect(secure.connections).toBe(1);
      expect(trusted.events).toEqual(['opened', 'used']);

      const untrusted = pool();
      const report = await untrusted.preopened.open(secure.origin, 1, 2000);
      expect(report).toMatchObject({ opened: 0, failed: 1 });
      expect(report.error).toMatch(/connection failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
    });
  });

  describe('per lookup set', () => {
    const spec = (url: string, extra: Record<string, unknown> = {}) => ({
      crm: { type: 'http', url: `${url}/users/{user.id}`, extract: 'ok' },
      roles: { type: 'http', url: `${url}/roles/{user.id}`, concurrency: { limit: 1 }, ...extra },
    });

    it('opens connections for each new lookup, at most its concurrency limit, once; the first lookup call uses one', async () => {
      const seen: Array<{ lookup: string; result: PreopenResult }> = [];
      const set = await LookupSet.create(defineLookups(spec(upstream.origin)), { events: { preopened: (event) => seen.push(event) } });
      cleanups.push(() => set.close());
      const reports = await set.preopen(2);
      expect(reports).toEqual({ crm: { opened: 2, failed: 0, pending: 0 }, roles: { opened: 1, failed: 0, pending: 0 } });
      await eventually(() => upstream.connections === 3);
      expect(await set.preopen(2)).toEqual({});
      expect(upstream.connections).toBe(3);

      const outcome = await set.get('crm')!.resolve(contextForUser('00u1'));
      expect(outcome).toMatchObject({ ok: true, value: true });
      expect(upstream.connections).toBe(3);
      expect(seen.filter((e) => e.result === 'used')).toEqual([{ lookup: 'crm', result: 'used' }]);
    });

    it('opens none with 0 connections', async () => {
      const set = await LookupSet.create(defineLookups(spec(upstream.origin)));
      cleanups.push(() => set.close());
      expect(await set.preopen(0)).toEqual({});
      expect(upstream.connections).toBe(0);
    });

    it('on reload, opens connections only for the lookups the new rules added or changed', async () => {
      const first = await LookupSet.create(defineLookups(spec(upstream.origin)));
      await first.preopen(1);
      await eventually(() => upstream.connections === 2);
      const second = await LookupSet.create(defineLookups(spec(upstream.origin, { timeoutMs: 400 })), { previous: first });
      cleanups.push(() => second.close());
      expect(await second.preopen(1)).toEqual({ roles: { opened: 1, failed: 0, pending: 0 } });
      await eventually(() => upstream.connections === 3);
    });
  });
});

/** A bare TCP server on 127.0.0.1 handing each connection to `onConnection`. */
async function dropper(onConnection: (socket: Socket) => void): Promise<NetServer> {
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/**
 * The lookups' fetch layer (src/lookups/http-client.ts) against a real upstream on 127.0.0.1: it
 * takes undici's Agent and request from their own modules, so these check that what goes on the
 * wire and what comes back are what a lookup asked for, and that failures keep their kinds.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAgent, send, UpstreamError } from '../../src/lookups/http-client';
import { reply, startUpstream, type Upstream } from '../helpers/upstream';

describe('lookup HTTP client', () => {
  let upstream: Upstream;
  const agent = createAgent({ connections: 4 });

  beforeAll(async () => {
    upstream = await startUpstream(reply.json({ ok: true }));
  });
  afterEach(() => upstream.reset());
  afterAll(async () => {
    await agent.close();
    await upstream.close();
  });

  const signal = (): AbortSignal => AbortSignal.timeout(2900);

  it('sends the method, the path with its query, the headers and the body the lookup built', async () => {
    upstream.handler = (req) => ({ status: 201, json: { echo: req.body }, headers: { 'x-upstream': 'yes' } });
    const response = await send(
      agent,
      { method: 'POST', url: upstream.url('/users/00u1%2F2/roles?expand=groups&limit=2'), headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '{"a":1}' },
      { signal: signal(), maxBytes: 10_000 },
    );
    expect(response.status).toBe(201);
    expect(response.headers['x-upstream']).toBe('yes');
    expect(JSON.parse(response.body.toString('utf8'))).toEqual({ echo: '{"a":1}' });
    const [seen] = upstream.requests;
    expect(seen).toMatchObject({ method: 'POST', path: '/users/00u1%2F2/roles', body: '{"a":1}' });
    expect(seen!.query.get('expand')).toBe('groups');
    expect(seen!.query.get('limit')).toBe('2');
    expect(seen!.headers.authorization).toBe('Bearer t');
  });

  it('returns error statuses as answers, not as failures', async () => {
    upstream.handler = () => ({ status: 503, text: 'down' });
    const response = await send(agent, { method: 'GET', url: upstream.url('/x'), headers: {} }, { signal: signal(), maxBytes: 100 });
    expect(response.status).toBe(503);
    expect(response.body.toString()).toBe('down');
  });

  it('reports a refused connection with its code', async () => {
    const closed: Server = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const failure = send(agent, { method: 'GET', url: `http://127.0.0.1:${port}/x`, headers: {} }, { signal: signal(), maxBytes: 100 });
    await expect(failure).rejects.toBeInstanceOf(UpstreamError);
    await expect(failure).rejects.toMatchObject({ message: 'connection failed (ECONNREFUSED)', kind: 'error' });
  });

  it('gives up when the signal fires, as a timeout, and the upstream sees the call cancelled', async () => {
    upstream.handler = reply.hang();
    const controller = new AbortController();
    const pending = send(agent, { method: 'GET', url: upstream.url('/slow'), headers: {} }, { signal: controller.signal, maxBytes: 100 });
    setTimeout(() => controller.abort(new Error('lookup deadline')), 50);
    await expect(pending).rejects.toMatchObject({ message: 'lookup deadline', kind: 'timeout' });
    await upstream.waitForCancelled(1, 5000);
  });

  it('refuses a body larger than the limit, declared or streamed', async () => {
    upstream.handler = () => ({ text: 'x'.repeat(500) });
    await expect(send(agent, { method: 'GET', url: upstream.url('/big'), headers: {} }, { signal: signal(), maxBytes: 100 })).rejects.toMatchObject({ message: 'response larger than 100 bytes' });
  });

  it('reports a URL that cannot be parsed as a failed call, without throwing anything else', async () => {
    await expect(send(agent, { method: 'GET', url: 'not a url', headers: {} }, { signal: signal(), maxBytes: 100 })).rejects.toBeInstanceOf(UpstreamError);
  });
});

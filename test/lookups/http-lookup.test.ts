import type { LookupSet } from '../../src/lookups/set';
import { reply, routes, startUpstream, type Upstream } from '../helpers/upstream';
import { contextForUser, deadline, EventLog, lookupSet, secretDir, useTestPki } from './helpers';

describe('http lookups against a real upstream', () => {
  let upstream: Upstream;
  let set: LookupSet | undefined;

  beforeEach(async () => {
    upstream = await startUpstream(reply.json({}));
  });
  afterEach(async () => {
    await set?.close();
    set = undefined;
    await upstream.close();
  });

  it('builds the URL and headers from the request, sends the bearer token from a file, and extracts a field', async () => {
    const secrets = await secretDir();
    try {
      const tokenFile = await secrets.write('token', 'crm-token-123\n');
      upstream.handler = routes({ '/users/': reply.json({ data: { tier: 'gold', flags: ['a'] } }) });
      set = await lookupSet({
        crm: {
          type: 'http',
          url: `${upstream.origin}/users/{user.id}/tier?client={client.id}`,
          headers: { 'X-Tenant': '{user.profile.login.split("@")[1]}', 'X-Static': 'okta-token-hook' },
          auth: { bearerTokenFile: tokenFile },
          extract: 'data.tier',
        },
      });
      const outcome = await set.get('crm')!.resolve(contextForUser('00u1/../admin'));
      expect(outcome).toMatchObject({ ok: true, status: 'success', value: 'gold', cache: 'miss', httpStatus: 200 });
      const request = upstream.requests[0]!;
      // The user id is one path segment, whatever it contains.
      expect(request.path).toBe('/users/00u1%2F..%2Fadmin/tier');
      expect(request.query.get('client')).toBe('0oa7h3j5k7L9z1X3c5v7');
      expect(request.headers['x-tenant']).toBe('example.com');
      expect(request.headers['x-static']).toBe('okta-token-hook');
      expect(request.headers.authorization).toBe('Bearer crm-token-123');
    } finally {
      await secrets.cleanup();
    }
  });

  it('sends a header value read from a file and a POST body built with CEL', async () => {
    const secrets = await secretDir();
    try {
      const keyFile = await secrets.write('api-key', 'k-999');
      upstream.handler = reply.json({ roles: ['reader'] });
      set = await lookupSet({
        roles: {
          type: 'http',
          method: 'POST',
          url: `${upstream.origin}/roles/query`,
          body: '{"user": user.id, "scopes": scopes}',
          auth: { header: 'X-Api-Key', valueFile: keyFile },
          extract: 'roles',
        },
      });
      const outcome = await set.get('roles')!.resolve(contextForUser('00uABC'));
      expect(outcome).toMatchObject({ ok: true, value: ['reader'] });
      const request = upstream.requests[0]!;
      expect(request.method).toBe('POST');
      expect(request.headers['x-api-key']).toBe('k-999');
      expect(request.headers['content-type']).toBe('application/json');
      expect(JSON.parse(request.body)).toEqual({ user: '00uABC', scopes: ['openid', 'profile', 'email', 'offline_access', 'patients:read'] });
    } finally {
      await secrets.cleanup();
    }
  });

  it('skips the call and gives null when a URL placeholder is null (no user)', async () => {
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.?id.orValue(null)}` } });
    const outcome = await set.get('crm')!.resolve(contextForUser(null));
    expect(outcome).toMatchObject({ ok: true, status: 'skipped', value: null });
    expect(upstream.count()).toBe(0);
  });

  it('reports a placeholder that fails at runtime without request data', async () => {
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.profile.employeeNumber}` } });
    const outcome = await set.get('crm')!.resolve(contextForUser('00uSECRET'));
    expect(outcome.ok).toBe(false);
    expect(outcome.status).toBe('error');
    expect(outcome.error).toContain('{user.profile.employeeNumber}');
    expect(outcome.error).not.toContain('00uSECRET');
    expect(upstream.count()).toBe(0);
  });

  it('treats a 200 with a body that is not JSON as an upstream error', async () => {
    upstream.handler = reply.garbage();
    const events = new EventLog();
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}` } }, events);
    const outcome = await set.get('crm')!.resolve(contextForUser('00u1'));
    expect(outcome).toMatchObject({ ok: false, status: 'error', error: 'invalid JSON in HTTP 200 response', httpStatus: 200 });
    expect(events.callResults()).toEqual(['error']);
  });

  it('gives null for a 404 and a missing extract path, and an error for a 5xx', async () => {
    upstream.handler = routes({ '/users/missing': reply.fail(404), '/users/broken': reply.fail(502), '/users/': reply.json({ other: 1 }) });
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}`, extract: 'tier' } });
    const crm = set.get('crm')!;
    expect(await crm.resolve(contextForUser('missing'))).toMatchObject({ ok: true, status: 'not_found', value: null, httpStatus: 404 });
    expect(await crm.resolve(contextForUser('present'))).toMatchObject({ ok: true, status: 'success', value: null });
    expect(await crm.resolve(contextForUser('broken'))).toMatchObject({ ok: false, status: 'error', error: 'upstream answered HTTP 502', httpStatus: 502 });
  });

  it('refuses a response larger than maxResponseBytes', async () => {
    upstream.handler = reply.json({ blob: 'x'.repeat(5000) });
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/big`, maxResponseBytes: 1024 } });
    expect(await set.get('crm')!.resolve(contextForUser('00u1'))).toMatchObject({ ok: false, status: 'error', error: 'response larger than 1024 bytes' });
  });

  it('answers within the request deadline when the upstream hangs, and the upstream sees the connection closed', async () => {
    upstream.handler = reply.hang();
    const events = new EventLog();
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}`, timeoutMs: 2900 } }, events);
    const limit = deadline(150);
    const started = performance.now();
    const outcome = await set.get('crm')!.resolve(contextForUser('00u1'), { signal: limit.signal });
    const elapsed = performance.now() - started;
    limit.clear();
    expect(outcome).toMatchObject({ ok: false, status: 'timeout', error: 'request deadline reached' });
    expect(elapsed).toBeGreaterThanOrEqual(140);
    // Seconds of headroom; without the deadline the call would wait for its own timeout (2900 ms).
    expect(elapsed).toBeLessThan(150 + 2000);
    await upstream.waitForCancelled(1);
    expect(events.callResults()).toEqual(['timeout']);
  });

  it('gives up at its own timeout before the request deadline', async () => {
    upstream.handler = reply.hang();
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}`, timeoutMs: 80 } });
    const limit = deadline(10_000);
    const started = performance.now();
    const outcome = await set.get('crm')!.resolve(contextForUser('00u1'), { signal: limit.signal });
    limit.clear();
    expect(outcome).toMatchObject({ ok: false, status: 'timeout', error: 'timed out after 80 ms' });
    // The lookup's timeout, well before the request deadline (10 s), with seconds of headroom.
    expect(performance.now() - started).toBeLessThan(80 + 2000);
    await upstream.waitForCancelled(1);
  });

  it('does not call upstream once the request deadline has passed', async () => {
    set = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}` } });
    const controller = new AbortController();
    controller.abort();
    expect(await set.get('crm')!.resolve(contextForUser('00u1'), { signal: controller.signal })).toMatchObject({ ok: false, status: 'timeout' });
    expect(upstream.count()).toBe(0);
  });

  it('reports a connection failure as an error without the URL', async () => {
    const closed = await startUpstream(reply.json({}));
    const origin = closed.origin;
    await closed.close();
    set = await lookupSet({ crm: { type: 'http', url: `${origin}/users/{user.id}` } });
    const outcome = await set.get('crm')!.resolve(contextForUser('00u1'));
    expect(outcome).toMatchObject({ ok: false, status: 'error' });
    expect(outcome.error).toMatch(/^connection failed/);
    expect(outcome.error).not.toContain('127.0.0.1');
  });
});

describe('http lookups over TLS with a custom CA', () => {
  const testCa = useTestPki();

  it('trusts the server through tls.caFile, and fails without it', async () => {
    const pki = testCa();
    if (!pki) return;
    const { key, cert, caFile } = pki;
    const upstream = await startUpstream(reply.json({ tier: 'platinum' }), { tls: { key, cert } });
    const trusted = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}`, tls: { caFile }, extract: 'tier' } });
    const untrusted = await lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}` } });
    try {
      expect(await trusted.get('crm')!.resolve(contextForUser('00u1'))).toMatchObject({ ok: true, value: 'platinum' });
      const failed = await untrusted.get('crm')!.resolve(contextForUser('00u1'));
      expect(failed).toMatchObject({ ok: false, status: 'error' });
      expect(failed.error).toMatch(/connection failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
      expect(upstream.count()).toBe(1);
    } finally {
      await trusted.close();
      await untrusted.close();
      await upstream.close();
    }
  });
});

/**
 * OAuth 2.0 authenticator: discovery, JWKS caching, key rotation, refetch rate limits and outages,
 * against a real discovery + JWKS server on 127.0.0.1. The authenticator's clock is driven by the
 * test (cooldowns, max age); timeouts are real and measured.
 */
import { createOAuthAuthenticator, type OAuthAuthenticator, type OAuthDeps } from '../../src/http/oauth';
import { FAILED_FETCH_RETRY_MS, STALE_IF_ERROR_MS, type JwksFetchDetail, type JwksFetchResult } from '../../src/http/jwks';
import type { Config } from '../../src/config';
import {
  accessTokenClaims,
  bearer,
  createSigningKey,
  oauthOptions,
  refusedOrigin,
  signToken,
  startJwksServer,
  type JwksServer,
  type SigningKey,
} from '../helpers/jwks-server';

const START = Date.UTC(2026, 0, 15, 12, 0, 0);

let keyA: SigningKey;
let keyB: SigningKey;
let server: JwksServer;
let clock: number;
let fetches: Array<{ result: JwksFetchResult; detail: JwksFetchDetail }>;

beforeAll(async () => {
  [keyA, keyB] = await Promise.all([createSigningKey('RS256', 'key-a'), createSigningKey('ES256', 'key-b')]);
});

beforeEach(async () => {
  clock = START;
  fetches = [];
  server = await startJwksServer({ keys: [keyA.publicJwk] });
});

afterEach(async () => {
  await server.close();
});

function authenticator(overrides: Partial<Config['oauth']> = {}, target: Pick<JwksServer, 'issuer'> = server, deps: OAuthDeps = {}): OAuthAuthenticator {
  return createOAuthAuthenticator(oauthOptions(target, overrides), {
    now: () => clock,
    onJwksFetch: (result, detail) => fetches.push({ result, detail }),
    ...deps,
  });
}

const tokenFor = (key: SigningKey, issuer = server.issuer, overrides = {}): Promise<string> =>
  signToken(key, accessTokenClaims(issuer, clock, overrides));

/** Resolves once `count` JWKS refresh attempts have been reported (background refreshes). */
async function fetchesReported(count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (fetches.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} JWKS fetch reports, got ${fetches.length}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('JWKS discovery', () => {
  it('discovers the JWKS from <issuer>/.well-known/oauth-authorization-server', async () => {
    const auth = authenticator();
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    expect(server.hits).toEqual({ oauthMetadata: 1, oidcMetadata: 0, jwks: 1 });
    expect(fetches).toEqual([{ result: 'success', detail: { jwksUri: server.jwksUri } }]);
  });

  it('falls back to openid-configuration when the RFC 8414 document is missing', async () => {
    server.modes.oauthMetadata = 'not_found';
    const auth = authenticator();
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    expect(server.hits).toEqual({ oauthMetadata: 1, oidcMetadata: 1, jwks: 1 });
  });

  it('uses OAUTH_JWKS_URI without discovery when it is configured', async () => {
    const auth = authenticator({ jwksUri: server.jwksUri });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    expect(server.hits).toEqual({ oauthMetadata: 0, oidcMetadata: 0, jwks: 1 });
  });

  it('refuses discovery documents that name another issuer', async () => {
    server.metadataIssuer = 'https://attacker.example.com/oauth2/default';
    const auth = authenticator();
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    expect(server.hits.jwks).toBe(0);
    expect(fetches).toHaveLength(1);
    expect(fetches[0]).toMatchObject({ result: 'failure', detail: { error: expect.stringContaining('another issuer') } });
  });

  it('retries a failed discovery on later requests, at most once per retry interval', async () => {
    server.modes.oauthMetadata = 'error';
    server.modes.oidcMetadata = 'error';
    const auth = authenticator({ jwksCooldownMs: 30_000 });
    const token = await tokenFor(keyA);
    await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    expect(server.hits).toEqual({ oauthMetadata: 1, oidcMetadata: 1, jwks: 0 });

    // Within the retry interval: answered at once, no traffic to the issuer.
    clock += FAILED_FETCH_RETRY_MS - 1;
    for (let i = 0; i < 3; i++) {
      await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    }
    expect(server.hits).toEqual({ oauthMetadata: 1, oidcMetadata: 1, jwks: 0 });

    // The issuer recovers; the next request after the interval retries and succeeds.
    server.modes.oauthMetadata = 'ok';
    clock += 1;
    await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
    expect(server.hits).toEqual({ oauthMetadata: 2, oidcMetadata: 1, jwks: 1 });
    expect(fetches.map((f) => f.result)).toEqual(['failure', 'success']);
  });

  it('retries after the cooldown when the cooldown is shorter than the retry interval', async () => {
    server.modes.jwks = 'error';
    const auth = authenticator({ jwksCooldownMs: 1000 });
    const token = await tokenFor(keyA);
    await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ reason: 'jwks_unavailable' });
    server.modes.jwks = 'ok';
    clock += 999;
    await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ reason: 'jwks_unavailable' });
    clock += 1;
    await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
    expect(server.hits.jwks).toBe(2);
  });
});

describe('JWKS caching and key rotation', () => {
  it('refetches on an unknown kid and accepts the rotated key on the first call', async () => {
    const auth = authenticator({ jwksCooldownMs: 30_000 });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    expect(server.hits.jwks).toBe(1);

    // The issuer rotates: it now publishes key B only, and signs with it.
    server.keys = [keyB.publicJwk];
    clock += 30_000;
    await expect(auth.authenticate(bearer(await tokenFor(keyB)))).resolves.toMatchObject({ ok: true });
    expect(server.hits.jwks).toBe(2);
    // Discovery is not repeated for a refetch.
    expect(server.hits.oauthMetadata).toBe(1);
  });

  it('refetches for an unknown kid at most once per cooldown', async () => {
    const auth = authenticator({ jwksCooldownMs: 30_000 });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });

    // Within the cooldown after the initial fetch: no refetch at all.
    clock += 10_000;
    const unknown = await tokenFor(keyB);
    await expect(auth.authenticate(bearer(unknown))).resolves.toMatchObject({ ok: false, reason: 'unknown_key' });
    expect(server.hits.jwks).toBe(1);

    // After the cooldown: one refetch, then none for the next tokens with unknown kids.
    clock += 20_000;
    for (let i = 0; i < 5; i++) {
      await expect(auth.authenticate(bearer(await signToken(keyB, accessTokenClaims(server.issuer, clock), { kid: `random-${i}` })))).resolves.toMatchObject({
        ok: false,
        reason: 'unknown_key',
      });
      clock += 1000;
    }
    expect(server.hits.jwks).toBe(2);

    // Known keys keep working meanwhile, without traffic.
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    expect(server.hits.jwks).toBe(2);

    clock += 30_000;
    await expect(auth.authenticate(bearer(unknown))).resolves.toMatchObject({ reason: 'unknown_key' });
    expect(server.hits.jwks).toBe(3);
  });

  it('coalesces concurrent fetches: one discovery and one JWKS request for a burst of calls', async () => {
    const auth = authenticator();
    const token = await tokenFor(keyA);
    const results = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(bearer(token))));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(server.hits).toEqual({ oauthMetadata: 1, oidcMetadata: 0, jwks: 1 });

    server.keys = [keyA.publicJwk, keyB.publicJwk];
    clock += 30_000;
    const rotated = await tokenFor(keyB);
    const afterRotation = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(bearer(rotated))));
    expect(afterRotation.every((r) => r.ok)).toBe(true);
    expect(server.hits.jwks).toBe(2);
  });

  it('serves a stale key set while refreshing it in the background, and picks up new keys', async () => {
    const auth = authenticator({ jwksCacheMaxAgeMs: 60_000, jwksTimeoutMs: 1000 });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });

    // Past max age with the JWKS endpoint hanging: the request is answered from the old set at
    // once, without waiting for the refresh (which times out in the background).
    clock += 60_000;
    server.modes.jwks = 'hang';
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    // Answered while the refresh still hangs: it has not been reported yet.
    expect(fetches).toHaveLength(1);
    await fetchesReported(2);
    expect(fetches.map((f) => f.result)).toEqual(['success', 'failure']);

    // The endpoint recovers with an added key; the next stale request refreshes in the background.
    server.modes.jwks = 'ok';
    server.keys = [keyA.publicJwk, keyB.publicJwk];
    clock += FAILED_FETCH_RETRY_MS;
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    await fetchesReported(3);
    expect(fetches[2]?.result).toBe('success');
    const jwksHits = server.hits.jwks;
    await expect(auth.authenticate(bearer(await tokenFor(keyB)))).resolves.toMatchObject({ ok: true });
    expect(server.hits.jwks).toBe(jwksHits);
  });

  it('stops trusting a key set that could not be refreshed for a day past its max age', async () => {
    const auth = authenticator({ jwksCacheMaxAgeMs: 60_000 });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    server.modes.jwks = 'error';
    clock += 60_000 + STALE_IF_ERROR_MS - 1;
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    await fetchesReported(2);
    clock += FAILED_FETCH_RETRY_MS;
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: false, reason: 'jwks_unavailable' });
  });

  it('keeps the previous key set when the endpoint serves something that is not a key set', async () => {
    const auth = authenticator({ jwksCooldownMs: 0 });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    server.keys = 'not-a-list' as never;
    await expect(auth.authenticate(bearer(await tokenFor(keyB)))).resolves.toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    expect(fetches.map((f) => f.result)).toEqual(['success', 'failure']);
    expect(fetches[1]?.detail.error).toBe(`${server.jwksUri} did not return a JSON Web Key Set`);
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
  });

  it('answers jwks_unavailable for a token whose key is published in a form that cannot be imported', async () => {
    server.keys = [keyA.publicJwk, { kty: 'RSA', kid: 'broken', n: 'AQAB' }];
    const auth = authenticator();
    await expect(auth.authenticate(bearer(await signToken(keyA, accessTokenClaims(server.issuer, clock), { kid: 'broken' })))).resolves.toMatchObject({
      ok: false,
      reason: 'jwks_unavailable',
    });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
  });

  it('keeps working when the fetch callback throws', async () => {
    const auth = authenticator({}, server, {
      onJwksFetch: () => {
        throw new Error('metrics exploded');
      },
    });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
  });

  it('warms up with refreshKeys so the first call needs no network', async () => {
    const auth = authenticator();
    await expect(auth.refreshKeys()).resolves.toBe(true);
    server.resetHits();
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    expect(server.hits).toEqual({ oauthMetadata: 0, oidcMetadata: 0, jwks: 0 });
  });
});

describe('JWKS outages', () => {
  it('answers jwks_unavailable quickly when the JWKS endpoint refuses connections', async () => {
    const dead = { issuer: `${await refusedOrigin()}/oauth2/test` };
    const auth = authenticator({ jwksTimeoutMs: 2500 }, dead);
    const token = await tokenFor(keyA, dead.issuer);
    const started = performance.now();
    await expect(auth.authenticate(bearer(token))).resolves.toEqual({ ok: false, method: 'oauth2', reason: 'jwks_unavailable' });
    // A refused connection fails at once, not at the 2.5 s timeout (1.5 s of headroom for a busy machine).
    expect(performance.now() - started).toBeLessThan(1500);
    expect(fetches).toEqual([{ result: 'failure', detail: { error: expect.stringMatching(/^discovery failed: .*oauth-authorization-server: network error ECONNREFUSED; .*openid-configuration: network error ECONNREFUSED$/) } }]);
    await expect(auth.refreshKeys()).resolves.toBe(false);
  });

  it('answers within the timeout when the JWKS endpoint hangs, and does not wait again right after', async () => {
    server.modes.jwks = 'hang';
    const timeoutMs = 300;
    const auth = authenticator({ jwksTimeoutMs: timeoutMs });
    const token = await tokenFor(keyA);
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 5 }, () => auth.authenticate(bearer(token))));
    const elapsed = performance.now() - started;
    expect(results.every((r) => !r.ok && r.reason === 'jwks_unavailable')).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(elapsed).toBeLessThan(timeoutMs + 1000);
    expect(server.hits.jwks).toBe(1);
    expect(fetches).toEqual([{ result: 'failure', detail: { error: 'timed out', jwksUri: server.jwksUri } }]);

    await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ reason: 'jwks_unavailable' });
    // Not fetched again right after (cooldown), so not waited for.
    expect(server.hits.jwks).toBe(1);
  });

  it('answers within the timeout when discovery hangs', async () => {
    server.modes.oauthMetadata = 'hang';
    const auth = authenticator({ jwksTimeoutMs: 300 });
    const started = performance.now();
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ reason: 'jwks_unavailable' });
    expect(performance.now() - started).toBeLessThan(1300);
    // The whole refresh (both discovery documents and the JWKS) shares one deadline.
    expect(server.hits).toEqual({ oauthMetadata: 1, oidcMetadata: 0, jwks: 0 });
  });

  it('bounds the wait by the timeout even with an HTTP client that ignores the abort signal', async () => {
    const neverSettles: typeof fetch = () => new Promise<Response>(() => undefined);
    const auth = authenticator({ jwksTimeoutMs: 200 }, server, { fetch: neverSettles });
    const started = performance.now();
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ reason: 'jwks_unavailable' });
    expect(performance.now() - started).toBeLessThan(1200);
  });

  it('answers jwks_unavailable, not unknown_key, for a new kid while the JWKS endpoint is down', async () => {
    const auth = authenticator({ jwksCooldownMs: 1000 });
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
    server.modes.jwks = 'error';
    clock += 1000;
    await expect(auth.authenticate(bearer(await tokenFor(keyB)))).resolves.toMatchObject({ reason: 'jwks_unavailable' });
    // Known keys are unaffected by the outage.
    await expect(auth.authenticate(bearer(await tokenFor(keyA)))).resolves.toMatchObject({ ok: true });
  });

  it('never puts the token in fetch reports', async () => {
    server.modes.jwks = 'error';
    const auth = authenticator();
    const token = await tokenFor(keyA);
    await auth.authenticate(bearer(token));
    expect(JSON.stringify(fetches)).not.toContain(token.split('.')[2]);
    expect(fetches[0]).toEqual({ result: 'failure', detail: { error: `${server.jwksUri} answered HTTP 500`, jwksUri: server.jwksUri } });
  });
});

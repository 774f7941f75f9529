/**
 * OAuth 2.0 authenticator: token checks (signature, algorithms, claims, shape) against a real JWKS
 * served on 127.0.0.1 and real RS256/ES256 tokens. JWKS fetching behaviour is in oauth-jwks.test.ts.
 */
import { createPublicKey } from 'node:crypto';
import { exportSPKI, SignJWT } from 'jose';
import { createOAuthAuthenticator, hasBearerJwt, type OAuthAuthenticator } from '../../src/http/oauth';
import type { Config } from '../../src/config';
import {
  accessTokenClaims,
  b64url,
  bearer,
  createSigningKey,
  oauthOptions,
  signToken,
  startJwksServer,
  TEST_AUDIENCE,
  TEST_SCOPE,
  type JwksServer,
  type SigningKey,
} from '../helpers/jwks-server';

let server: JwksServer;
let rsaKey: SigningKey;
let ecKey: SigningKey;
let strangerKey: SigningKey;
/** Fixed clock, so claim-time tests do not depend on the wall clock. */
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

beforeAll(async () => {
  [rsaKey, ecKey, strangerKey] = await Promise.all([
    createSigningKey('RS256', 'rsa-1'),
    createSigningKey('ES256', 'ec-1'),
    createSigningKey('RS256', 'rsa-1'),
  ]);
  server = await startJwksServer({ keys: [rsaKey.publicJwk, ecKey.publicJwk] });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => server.resetHits());

function authenticator(overrides: Partial<Config['oauth']> = {}): OAuthAuthenticator {
  return createOAuthAuthenticator(oauthOptions(server, overrides), { now: () => NOW });
}

const claims = (overrides: Parameters<typeof accessTokenClaims>[2] = {}) => accessTokenClaims(server.issuer, NOW, overrides);
const nowSeconds = Math.floor(NOW / 1000);

describe('OAuth 2.0 authenticator: valid tokens', () => {
  it('accepts a valid RS256 token from the configured issuer', async () => {
    const token = await signToken(rsaKey, claims());
    await expect(authenticator().authenticate(bearer(token))).resolves.toEqual({ ok: true, method: 'oauth2', credential: 'oauth2' });
  });

  it('accepts a valid ES256 token', async () => {
    const token = await signToken(ecKey, claims());
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
  });

  it('accepts the Bearer scheme in any case and surrounding spaces', async () => {
    const token = await signToken(rsaKey, claims());
    await expect(authenticator().authenticate({ authorization: `  bearer   ${token} ` })).resolves.toMatchObject({ ok: true });
  });

  it('accepts scopes as a space-separated string and an audience array containing the audience', async () => {
    const token = await signToken(rsaKey, claims({ scp: `openid ${TEST_SCOPE}`, aud: ['other', TEST_AUDIENCE] }));
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
  });

  it('accepts a token without kid by trying the keys that fit its algorithm', async () => {
    const second = await createSigningKey('RS256', 'rsa-2');
    const local = await startJwksServer({ keys: [rsaKey.publicJwk, second.publicJwk] });
    try {
      const auth = createOAuthAuthenticator(oauthOptions(local), { now: () => NOW });
      const token = await signToken(second, accessTokenClaims(local.issuer, NOW), { noKid: true });
      await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
    } finally {
      await local.close();
    }
  });

  it('fetches the key set once and reuses it for later tokens', async () => {
    const auth = authenticator();
    for (let i = 0; i < 5; i++) {
      await expect(auth.authenticate(bearer(await signToken(rsaKey, claims({ jti: `AT.${i}` }))))).resolves.toMatchObject({ ok: true });
    }
    expect(server.hits).toEqual({ jwks: 1, oauthMetadata: 1, oidcMetadata: 0 });
  });
});

describe('OAuth 2.0 authenticator: time claims', () => {
  it('rejects an expired token', async () => {
    const token = await signToken(rsaKey, claims({ iat: nowSeconds - 7200, exp: nowSeconds - 31 }));
    await expect(authenticator().authenticate(bearer(token))).resolves.toEqual({ ok: false, method: 'oauth2', reason: 'expired' });
  });

  it('accepts a token expired by less than the clock skew', async () => {
    const token = await signToken(rsaKey, claims({ iat: nowSeconds - 3600, exp: nowSeconds - 20 }));
    await expect(authenticator({ clockSkewSeconds: 30 }).authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
    await expect(authenticator({ clockSkewSeconds: 0 }).authenticate(bearer(token))).resolves.toMatchObject({ reason: 'expired' });
  });

  it('rejects a token that is not yet valid', async () => {
    const token = await signToken(rsaKey, claims({ nbf: nowSeconds + 120 }));
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'not_yet_valid' });
  });

  it('accepts a token whose nbf is ahead by less than the clock skew', async () => {
    const token = await signToken(rsaKey, claims({ nbf: nowSeconds + 20 }));
    await expect(authenticator({ clockSkewSeconds: 30 }).authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
    await expect(authenticator({ clockSkewSeconds: 10 }).authenticate(bearer(token))).resolves.toMatchObject({ reason: 'not_yet_valid' });
  });

  it('rejects a token without exp', async () => {
    const { exp: _exp, ...rest } = claims();
    const token = await signToken(rsaKey, rest);
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'malformed_token' });
  });
});

describe('OAuth 2.0 authenticator: issuer, audience, scopes, client', () => {
  it('rejects a token from another issuer, even a prefix of the configured one', async () => {
    for (const iss of ['https://other.example.com/oauth2/default', server.issuer + '/', server.origin + '/oauth2']) {
      const token = await signToken(rsaKey, claims({ iss }));
      await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'wrong_issuer' });
    }
  });

  it('rejects a token for another audience, including near matches and a missing aud', async () => {
    for (const aud of ['api://default', `${TEST_AUDIENCE}/`, ['api://default'], undefined]) {
      const token = await signToken(rsaKey, claims({ aud }));
      await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'wrong_audience' });
    }
  });

  it('rejects a token missing one of the required scopes', async () => {
    const auth = authenticator({ requiredScopes: [TEST_SCOPE, 'hooks:read'] });
    const partial = await signToken(rsaKey, claims({ scp: [TEST_SCOPE] }));
    await expect(auth.authenticate(bearer(partial))).resolves.toMatchObject({ ok: false, reason: 'missing_scope' });
    const none = await signToken(rsaKey, claims({ scp: undefined }));
    await expect(auth.authenticate(bearer(none))).resolves.toMatchObject({ ok: false, reason: 'missing_scope' });
    const substring = await signToken(rsaKey, claims({ scp: `${TEST_SCOPE}hooks:read` }));
    await expect(auth.authenticate(bearer(substring))).resolves.toMatchObject({ ok: false, reason: 'missing_scope' });
    const both = await signToken(rsaKey, claims({ scp: ['hooks:read', TEST_SCOPE] }));
    await expect(auth.authenticate(bearer(both))).resolves.toMatchObject({ ok: true });
  });

  it('rejects a client id outside the allow-list, and a token without cid when a list is set', async () => {
    const auth = authenticator({ allowedClientIds: ['0oahookclient', '0oasecondclient'] });
    const stranger = await signToken(rsaKey, claims({ cid: '0oastranger' }));
    await expect(auth.authenticate(bearer(stranger))).resolves.toMatchObject({ ok: false, reason: 'client_not_allowed' });
    const missing = await signToken(rsaKey, claims({ cid: undefined }));
    await expect(auth.authenticate(bearer(missing))).resolves.toMatchObject({ ok: false, reason: 'client_not_allowed' });
    const allowed = await signToken(rsaKey, claims({ cid: '0oasecondclient' }));
    await expect(auth.authenticate(bearer(allowed))).resolves.toMatchObject({ ok: true });
  });

  it('accepts any client id when no allow-list is configured', async () => {
    const token = await signToken(rsaKey, claims({ cid: '0oaanyclient' }));
    await expect(authenticator({ allowedClientIds: [] }).authenticate(bearer(token))).resolves.toMatchObject({ ok: true });
  });
});

describe('OAuth 2.0 authenticator: signatures and algorithms', () => {
  it('rejects a token signed by another key published under the same kid', async () => {
    const token = await signToken(strangerKey, claims());
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'invalid_signature' });
  });

  it('rejects a token whose payload was altered after signing', async () => {
    const token = await signToken(rsaKey, claims({ scp: ['openid'] }));
    const [head, , signature] = token.split('.');
    const forged = `${head}.${b64url(claims())}.${signature}`;
    await expect(authenticator().authenticate(bearer(forged))).resolves.toMatchObject({ ok: false, reason: 'invalid_signature' });
  });

  it('rejects alg none before any key lookup', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`;
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'disallowed_algorithm' });
    expect(server.hits).toEqual({ jwks: 0, oauthMetadata: 0, oidcMetadata: 0 });
  });

  it('rejects HS256 signed with the public key bytes (key confusion), even if HS256 were configured', async () => {
    const spki = await exportSPKI(rsaKey.publicKey);
    const derBytes = createPublicKey(spki).export({ type: 'spki', format: 'der' });
    for (const secret of [new TextEncoder().encode(spki), new Uint8Array(derBytes)]) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rsaKey.kid }).sign(secret);
      for (const algorithms of [['RS256'], ['RS256', 'HS256']]) {
        await expect(authenticator({ algorithms }).authenticate(bearer(token))).resolves.toMatchObject({
          ok: false,
          reason: 'disallowed_algorithm',
        });
      }
    }
    expect(server.hits).toEqual({ jwks: 0, oauthMetadata: 0, oidcMetadata: 0 });
  });

  it('rejects an asymmetric algorithm that is not configured', async () => {
    const token = await signToken(ecKey, claims());
    await expect(authenticator({ algorithms: ['RS256'] }).authenticate(bearer(token))).resolves.toMatchObject({
      ok: false,
      reason: 'disallowed_algorithm',
    });
    expect(server.hits.jwks).toBe(0);
  });

  it('rejects a token whose header claims RS256 but uses the EC key id', async () => {
    const token = await signToken(rsaKey, claims(), { kid: ecKey.kid });
    // No RSA key carries that kid: unknown key (after one refetch attempt), never a verification with the EC key.
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'unknown_key' });
  });

  it('refuses to be built with no asymmetric algorithm or with a plain-http remote issuer', () => {
    expect(() => authenticator({ algorithms: ['HS256', 'none'] })).toThrow(/asymmetric/);
    expect(() => createOAuthAuthenticator(oauthOptions({ issuer: 'http://example.com/oauth2/default' }))).toThrow(/https/);
    expect(() => createOAuthAuthenticator(oauthOptions(server, { jwksUri: 'http://example.com/keys' }))).toThrow(/https/);
  });
});

describe('OAuth 2.0 authenticator: missing and malformed credentials', () => {
  it.each([
    ['no headers at all', {}],
    ['an empty Authorization header', { authorization: '' }],
    ['another scheme', { authorization: 'Basic YWRtaW46c3VwZXJzZWNyZXQ=' }],
    ['a bare secret', { authorization: 'my-shared-secret' }],
    ['a scheme that only starts with Bearer', { authorization: 'BearerX abc.def.ghi' }],
    ['the token in another header', { 'x-api-key': 'Bearer abc.def.ghi' }],
  ])('reports missing credentials for %s', async (_name, headers) => {
    await expect(authenticator().authenticate(headers)).resolves.toEqual({ ok: false, method: 'oauth2', reason: 'missing_credentials' });
  });

  it.each([
    ['Bearer without a token', 'Bearer'],
    ['Bearer with only spaces', 'Bearer    '],
    ['an opaque token', 'Bearer 2YotnFZFEjr1zCsicMWpAA'],
    ['two segments', 'Bearer abc.def'],
    ['a JWE (five segments)', 'Bearer a.b.c.d.e'],
    ['non-base64url characters', 'Bearer ab$c.def.ghi'],
    ['a header that is not JSON', `Bearer ${b64url('not json')}.${b64url({})}.c2ln`],
    ['whitespace inside the token', 'Bearer abc. def.ghi'],
    ['an oversized token', `Bearer ${'a'.repeat(20_000)}.${'b'.repeat(10)}.${'c'.repeat(10)}`],
  ])('reports a malformed token for %s', async (_name, authorization) => {
    await expect(authenticator().authenticate({ authorization })).resolves.toMatchObject({ ok: false, reason: 'malformed_token' });
    expect(server.hits.jwks).toBe(0);
  });

  it('reports a malformed token when the payload is not JSON', async () => {
    const [head] = (await signToken(rsaKey, claims())).split('.');
    const token = `${head}.${b64url('garbage')}.${b64url('sig')}`;
    // The signature is checked first, so garbage with a valid header fails the signature.
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'invalid_signature' });
  });

  it('reports a disallowed algorithm when the header has no alg', async () => {
    const token = `${b64url({ kid: rsaKey.kid })}.${b64url(claims())}.${b64url('sig')}`;
    await expect(authenticator().authenticate(bearer(token))).resolves.toMatchObject({ ok: false, reason: 'disallowed_algorithm' });
  });

  it('never echoes the token in its result', async () => {
    const token = await signToken(rsaKey, claims({ exp: nowSeconds - 3600 }));
    const result = await authenticator().authenticate(bearer(token));
    expect(JSON.stringify(result)).not.toContain(token.split('.')[1]);
    expect(Object.keys(result).sort()).toEqual(['method', 'ok', 'reason']);
  });
});

describe('hasBearerJwt (routing for AUTH_MODE=either)', () => {
  it('is true only for Authorization: Bearer with a compact JWS', async () => {
    const token = await signToken(rsaKey, claims());
    expect(hasBearerJwt(bearer(token))).toBe(true);
    expect(hasBearerJwt({ authorization: `bearer ${token}` })).toBe(true);
    expect(hasBearerJwt({ authorization: 'Bearer opaque-secret' })).toBe(false);
    expect(hasBearerJwt({ authorization: 'my-shared-secret' })).toBe(false);
    expect(hasBearerJwt({ authorization: 'Basic YWRtaW46c3VwZXJzZWNyZXQ=' })).toBe(false);
    expect(hasBearerJwt({ 'x-api-key': `Bearer ${token}` })).toBe(false);
    expect(hasBearerJwt({})).toBe(false);
  });
});

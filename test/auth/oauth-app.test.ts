/** OAuth 2.0 through the real hook endpoint: AUTH_MODE=oauth2 and the `either` migration mode. */
import request from 'supertest';
import { createOAuthAuthenticator } from '../../src/http/oauth';
import { buildTestApp, metricValue, TEST_SECRET } from '../helpers/app';
import { oktaFixture } from '../helpers/fixtures';
import { accessTokenClaims, createSigningKey, oauthOptions, signToken, startJwksServer, type JwksServer, type SigningKey } from '../helpers/jwks-server';

let server: JwksServer;
let key: SigningKey;
beforeAll(async () => {
  key = await createSigningKey('RS256', 'k1');
  server = await startJwksServer({ keys: [key.publicJwk] });
});
afterAll(async () => server.close());

const body = JSON.stringify(oktaFixture('token-hook-minimal'));
const call = (callback: ReturnType<typeof buildTestApp>['callback'], authorization?: string) => {
  const req = request(callback).post('/hooks/token').set('content-type', 'application/json');
  if (authorization !== undefined) req.set('authorization', authorization);
  return req.send(body);
};

describe('OAuth 2.0 authentication of the hook endpoint', () => {
  it('accepts a valid Bearer JWT in oauth2 mode and rejects the header secret', async () => {
    const { callback, metrics } = buildTestApp({ mode: 'oauth2', oauth: createOAuthAuthenticator(oauthOptions(server)) });
    const token = await signToken(key, accessTokenClaims(server.issuer, Date.now()));
    expect((await call(callback, `Bearer ${token}`)).status).toBe(200);
    expect(await metricValue(metrics, 'okta_hook_auth_success_total', { method: 'oauth2', credential: 'oauth2' })).toBe(1);
    const res = await call(callback, TEST_SECRET);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: 'Unauthorized' });
    expect(await metricValue(metrics, 'okta_hook_auth_failures_total', { method: 'oauth2', reason: 'missing_credentials' })).toBe(1);
  });

  it('counts an expired token by reason and answers the generic 401', async () => {
    const { callback, metrics } = buildTestApp({ mode: 'oauth2', oauth: createOAuthAuthenticator(oauthOptions(server)) });
    const token = await signToken(key, accessTokenClaims(server.issuer, Date.now() - 7200_000));
    const res = await call(callback, `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: 'Unauthorized' });
    expect(await metricValue(metrics, 'okta_hook_auth_failures_total', { method: 'oauth2', reason: 'expired' })).toBe(1);
  });

  it('accepts both the header secret and a Bearer JWT in either mode', async () => {
    const { callback, metrics } = buildTestApp({ mode: 'either', oauth: createOAuthAuthenticator(oauthOptions(server)) });
    const token = await signToken(key, accessTokenClaims(server.issuer, Date.now()));
    expect((await call(callback, TEST_SECRET)).status).toBe(200);
    expect((await call(callback, `Bearer ${token}`)).status).toBe(200);
    expect((await call(callback, 'Bearer not-a-jwt')).status).toBe(401);
    expect(await metricValue(metrics, 'okta_hook_auth_success_total', { method: 'header', credential: 'slot-1' })).toBe(1);
    expect(await metricValue(metrics, 'okta_hook_auth_success_total', { method: 'oauth2', credential: 'oauth2' })).toBe(1);
    expect(await metricValue(metrics, 'okta_hook_auth_failures_total', { method: 'header', reason: 'invalid_credentials' })).toBe(1);
  });
});

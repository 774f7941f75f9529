import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import type { LookupSet } from '../../src/lookups/set';
import { nextLink } from '../../src/lookups/sources';
import { oktaGroupsApi, oktaTokenEndpoint, reply, routes, startUpstream, type Upstream } from '../helpers/upstream';
import { contextForUser, EventLog, lookupSet, secretDir } from './helpers';

const JORDAN = '00u3e5r7t9Y1u3I5o7p9';
/** 45 groups: with 10 per page the lookup must follow 4 `next` links. */
const JORDAN_GROUPS = ['Everyone', ...Array.from({ length: 40 }, (_, i) => `dept-${i}`), 'app-portal-admin', 'app-portal-viewer', 'app-billing-admin', 'App-Portal-Legacy'];

describe('oktaGroups lookup against a local Okta Management API', () => {
  let upstream: Upstream;
  let set: LookupSet | undefined;
  let secrets: Awaited<ReturnType<typeof secretDir>>;
  let tokenFile: string;

  beforeEach(async () => {
    secrets = await secretDir();
    tokenFile = await secrets.write('okta-api-token', '00aApiTokenForTests\n');
    upstream = await startUpstream(oktaGroupsApi({ users: { [JORDAN]: JORDAN_GROUPS, '00uNoGroups': [] }, authorize: (a) => a === 'SSWS 00aApiTokenForTests' }));
  });
  afterEach(async () => {
    await set?.close();
    set = undefined;
    await upstream.close();
    await secrets.cleanup();
  });

  const groups = (extra: Record<string, unknown> = {}, events?: EventLog) =>
    lookupSet({ groups: { type: 'oktaGroups', orgUrl: upstream.origin, auth: { apiTokenFile: tokenFile }, ...extra } }, events);

  it('follows Link rel="next" pages with the SSWS token from the file and filters by prefix', async () => {
    set = await groups({ pageSize: 10, filter: { prefix: 'app-portal-' } });
    const outcome = await set.get('groups')!.resolve(contextForUser(JORDAN));
    expect(outcome).toMatchObject({ ok: true, status: 'success', value: ['app-portal-admin', 'app-portal-viewer'], httpStatus: 200 });
    expect(upstream.count()).toBe(5);
    expect(upstream.requests.every((r) => r.headers.authorization === 'SSWS 00aApiTokenForTests')).toBe(true);
    expect(upstream.requests[0]!.path).toBe(`/api/v1/users/${JORDAN}/groups`);
    expect(upstream.requests[0]!.query.get('limit')).toBe('10');
    expect(upstream.requests[1]!.query.get('after')).toBe('00g00000000000000009');
  });

  it('follows the pages over one connection (each page waits for the previous one to be free again, rather than opening another)', async () => {
    set = await groups({ pageSize: 10 });
    expect(await set.get('groups')!.resolve(contextForUser(JORDAN))).toMatchObject({ ok: true });
    expect(upstream.count()).toBe(5);
    expect(upstream.connections).toBe(1);
  });

  it('filters by regex (and by prefix and regex together) and can return group objects', async () => {
    set = await groups({ filter: { regex: '^app-[a-z]+-admin$' } });
    expect((await set.get('groups')!.resolve(contextForUser(JORDAN))).value).toEqual(['app-portal-admin', 'app-billing-admin']);
    await set.close();
    set = await groups({ filter: { prefix: 'app-', regex: 'admin' }, result: 'objects' });
    expect((await set.get('groups')!.resolve(contextForUser(JORDAN))).value).toEqual([
      { id: '00g00000000000000041', name: 'app-portal-admin', type: 'OKTA_GROUP' },
      { id: '00g00000000000000043', name: 'app-billing-admin', type: 'OKTA_GROUP' },
    ]);
  });

  it('filters with RE2: a catastrophic pattern against hostile group names answers at once, (?i) works', async () => {
    // A backtracking engine takes minutes for `^(a+)+$` against one of these names.
    const hostile = Array.from({ length: 20 }, (_, i) => `${'a'.repeat(40 + i)}!`);
    await upstream.close();
    upstream = await startUpstream(oktaGroupsApi({ users: { [JORDAN]: [...hostile, 'aaaa', 'APP-PORTAL-ADMIN'] }, authorize: (a) => a === 'SSWS 00aApiTokenForTests' }));
    set = await groups({ filter: { regex: '^(a+)+$' } });
    const started = performance.now();
    expect((await set.get('groups')!.resolve(contextForUser(JORDAN))).value).toEqual(['aaaa']);
    expect(performance.now() - started).toBeLessThan(2000);
    await set.close();
    set = await groups({ filter: { regex: '(?i)^app-portal-' } });
    expect((await set.get('groups')!.resolve(contextForUser(JORDAN))).value).toEqual(['APP-PORTAL-ADMIN']);
  });

  it('fails rather than returning part of the groups when there are more than maxPages pages', async () => {
    set = await groups({ pageSize: 10, maxPages: 3 });
    const outcome = await set.get('groups')!.resolve(contextForUser(JORDAN));
    expect(outcome).toMatchObject({ ok: false, status: 'error', error: 'user has more than 3 pages of groups (raise maxPages)' });
    expect(upstream.count()).toBe(3);
    expect(set.get('groups')!.circuitState).toBe('closed');
  });

  it('gives null for an unknown user (cached as negative), [] for no matching group, and skips without a user', async () => {
    set = await groups({ filter: { prefix: 'app-' } });
    const lookup = set.get('groups')!;
    expect(await lookup.resolve(contextForUser('00uUnknown'))).toMatchObject({ ok: true, status: 'not_found', value: null, httpStatus: 404 });
    expect(await lookup.resolve(contextForUser('00uUnknown'))).toMatchObject({ cache: 'negative_hit' });
    expect(await lookup.resolve(contextForUser('00uNoGroups'))).toMatchObject({ ok: true, status: 'success', value: [] });
    expect(await lookup.resolve(contextForUser(null))).toMatchObject({ ok: true, status: 'skipped', value: null });
    expect(upstream.count()).toBe(2);
  });

  it("reports Okta's error code for a refused token, without the token", async () => {
    await secrets.write('okta-api-token', 'revoked-token');
    set = await groups();
    const outcome = await set.get('groups')!.resolve(contextForUser(JORDAN));
    expect(outcome).toMatchObject({ ok: false, status: 'error', error: 'Okta answered HTTP 401 (E0000011)', httpStatus: 401 });
    expect(JSON.stringify(outcome)).not.toContain('revoked-token');
  });

  it('never sends the credential to another origin named in a pagination link', async () => {
    const elsewhere = await startUpstream(reply.json([]));
    try {
      upstream.handler = () => ({
        status: 200,
        json: [{ id: '00g1', type: 'OKTA_GROUP', profile: { name: 'app-a' } }],
        headers: { link: `<${elsewhere.origin}/api/v1/users/${JORDAN}/groups?after=00g1>; rel="next"` },
      });
      set = await groups();
      expect(await set.get('groups')!.resolve(contextForUser(JORDAN))).toMatchObject({ ok: false, error: 'pagination link to another origin refused' });
      expect(elsewhere.count()).toBe(0);
    } finally {
      await elsewhere.close();
    }
  });

  it('reads Link headers as Okta sends them (one per relation, or comma-separated)', () => {
    expect(nextLink(['<https://o.example/a?limit=2>; rel="self"', '<https://o.example/a?after=x>; rel="next"'])).toBe('https://o.example/a?after=x');
    expect(nextLink('<https://o.example/a>; rel="self", <https://o.example/b?after=1,2>; rel=next')).toBe('https://o.example/b?after=1,2');
    expect(nextLink('<https://o.example/a>; rel="self"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
  });
});

describe('oktaGroups lookup with OAuth 2.0 client credentials (private_key_jwt)', () => {
  const CLIENT_ID = '0oaHookServiceApp01';
  // The token request (an RS256 assertion) and the API call share the lookup's timeout: the
  // largest one allowed, so a busy machine's first, cold signature cannot time the call out.
  const SLOW_MACHINE_TIMEOUT_MS = 2900;
  let upstream: Upstream;
  let set: LookupSet | undefined;
  let secrets: Awaited<ReturnType<typeof secretDir>>;
  let keyFile: string;
  let jwkFile: string;
  let token: ReturnType<typeof oktaTokenEndpoint>;

  beforeEach(async () => {
    secrets = await secretDir();
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    keyFile = await secrets.write('key.pem', await exportPKCS8(privateKey));
    jwkFile = await secrets.write('key.jwk', JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'hook-key-1' }));
    token = oktaTokenEndpoint({ clientId: CLIENT_ID, publicKey, allowedScopes: ['okta.users.read', 'okta.groups.read'] });
    const api = oktaGroupsApi({ users: { [JORDAN]: JORDAN_GROUPS }, authorize: token.authorize });
    upstream = await startUpstream(routes({ '/oauth2/v1/token': token.handler, '/api/v1/': api }));
  });
  afterEach(async () => {
    await set?.close();
    set = undefined;
    await upstream.close();
    await secrets.cleanup();
  });

  it('gets its access token while its connection is opened ahead of the first call, so the first call sends only the API request', async () => {
    set = await lookupSet({ groups: { type: 'oktaGroups', orgUrl: upstream.origin, timeoutMs: SLOW_MACHINE_TIMEOUT_MS, auth: { oauth: { clientId: CLIENT_ID, privateKeyFile: keyFile } }, cache: false } });
    expect(await set.preopen(1)).toEqual({ groups: { opened: 1, failed: 0, pending: 0, accessToken: 'fetched' } });
    expect(upstream.count('/oauth2/v1/token')).toBe(1);
    expect(upstream.count('/api/v1/')).toBe(0);
    // A login comes later than this: undici frees the connection on the turn after the token's answer.
    await new Promise((resolve) => setImmediate(resolve));

    expect(await set.get('groups')!.resolve(contextForUser(JORDAN))).toMatchObject({ ok: true });
    expect(upstream.count('/oauth2/v1/token')).toBe(1);
    expect(upstream.count('/api/v1/')).toBe(1);
    // The token request and the API call both rode the one connection opened ahead.
    expect(upstream.connections).toBe(1);
  });

  it('sends the groups request over the connection the token request used (no second connection, no second TLS handshake)', async () => {
    set = await lookupSet({ groups: { type: 'oktaGroups', orgUrl: upstream.origin, timeoutMs: SLOW_MACHINE_TIMEOUT_MS, auth: { oauth: { clientId: CLIENT_ID, privateKeyFile: keyFile } }, cache: false } });
    expect(await set.get('groups')!.resolve(contextForUser(JORDAN))).toMatchObject({ ok: true });
    expect(upstream.count('/oauth2/v1/token')).toBe(1);
    expect(upstream.count('/api/v1/')).toBe(1);
    expect(upstream.connections).toBe(1);
  });

  it('reports a token endpoint that refuses the client when the connections are opened ahead, with its OAuth error; the lookup keeps trying on its calls', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const wrongKey = await secrets.write('wrong.pem', await exportPKCS8(privateKey));
    set = await lookupSet({ groups: { type: 'oktaGroups', orgUrl: upstream.origin, timeoutMs: SLOW_MACHINE_TIMEOUT_MS, auth: { oauth: { clientId: CLIENT_ID, privateKeyFile: wrongKey } } } });
    expect(await set.preopen(1)).toEqual({ groups: { opened: 1, failed: 0, pending: 0, accessToken: 'failed', accessTokenError: 'token endpoint answered HTTP 401 (invalid_client)' } });
    expect(await set.get('groups')!.resolve(contextForUser(JORDAN))).toMatchObject({ ok: false, status: 'error' });
    expect(upstream.count('/oauth2/v1/token')).toBe(2);
  });

  it('gets no token ahead with an API token (SSWS), only the connection', async () => {
    const tokenFile = await secrets.write('ssws', 'api-token-1');
    set = await lookupSet({ groups: { type: 'oktaGroups', orgUrl: upstream.origin, auth: { apiTokenFile: tokenFile } } });
    expect(await set.preopen(1)).toEqual({ groups: { opened: 1, failed: 0, pending: 0 } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('gets an access token with a signed client assertion, uses it as Bearer and reuses it until it expires', async () => {
    const events = new EventLog();
    set = await lookupSet(
      { groups: { type: 'oktaGroups', orgUrl: upstream.origin, timeoutMs: SLOW_MACHINE_TIMEOUT_MS, auth: { oauth: { clientId: CLIENT_ID, privateKeyFile: keyFile } }, filter: { prefix: 'app-' }, cache: false } },
      events,
    );
    const lookup = set.get('groups')!;
    const outcomes = await Promise.all([lookup.resolve(contextForUser(JORDAN)), lookup.resolve(contextForUser(JORDAN))]);
    expect(outcomes[0]).toMatchObject({ ok: true, value: ['app-portal-admin', 'app-portal-viewer', 'app-billing-admin'] });
    await lookup.resolve(contextForUser(JORDAN));
    expect(token.rejected).toEqual([]);
    expect(token.issued).toHaveLength(1);
    expect(upstream.count('/oauth2/v1/token')).toBe(1);
    expect(upstream.count('/api/v1/')).toBe(2);
    const tokenRequest = new URLSearchParams(upstream.requests.find((r) => r.path === '/oauth2/v1/token')!.body);
    expect(tokenRequest.get('scope')).toBe('okta.users.read');
    expect(upstream.requests.filter((r) => r.path.startsWith('/api/')).every((r) => r.headers.authorization === `Bearer ${token.issued[0]}`)).toBe(true);
  });

  it('signs with a JWK key file (kid in the header) and requests the configured scopes', async () => {
    set = await lookupSet({
      groups: { type: 'oktaGroups', orgUrl: upstream.origin, timeoutMs: SLOW_MACHINE_TIMEOUT_MS, auth: { oauth: { clientId: CLIENT_ID, privateKeyFile: jwkFile, scopes: ['okta.groups.read'] } } },
    });
    expect(await set.get('groups')!.resolve(contextForUser(JORDAN))).toMatchObject({ ok: true });
    const assertion = new URLSearchParams(upstream.requests[0]!.body).get('client_assertion')!;
    const header = JSON.parse(Buffer.from(assertion.split('.')[0]!, 'base64url').toString('utf8')) as { kid?: string; alg?: string };
    expect(header).toMatchObject({ kid: 'hook-key-1', alg: 'RS256' });
    expect(new URLSearchParams(upstream.requests[0]!.body).get('scope')).toBe('okta.groups.read');
  });

  it('fails with the token endpoint error code when the assertion is signed with the wrong key', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const wrongKey = await secrets.write('wrong.pem', await exportPKCS8(privateKey));
    set = await lookupSet({ groups: { type: 'oktaGroups', orgUrl: upstream.origin, timeoutMs: SLOW_MACHINE_TIMEOUT_MS, auth: { oauth: { clientId: CLIENT_ID, privateKeyFile: wrongKey } } } });
    const outcome = await set.get('groups')!.resolve(contextForUser(JORDAN));
    expect(outcome).toMatchObject({ ok: false, status: 'error', error: 'token endpoint answered HTTP 401 (invalid_client)' });
    expect(token.rejected).toHaveLength(1);
    expect(upstream.count('/api/')).toBe(0);
  });

  it('gets a new token after the API refuses the cached one', async () => {
    set = await lookupSet({ groups: { type: 'oktaGroups', orgUrl: upstream.origin, timeoutMs: SLOW_MACHINE_TIMEOUT_MS, auth: { oauth: { clientId: CLIENT_ID, privateKeyFile: keyFile } }, cache: false } });
    const lookup = set.get('groups')!;
    expect(await lookup.resolve(contextForUser(JORDAN))).toMatchObject({ ok: true });
    // Okta revoked the token (e.g. the app's grant was changed).
    token.issued.splice(0, token.issued.length);
    expect(await lookup.resolve(contextForUser(JORDAN))).toMatchObject({ ok: false, httpStatus: 401 });
    expect(await lookup.resolve(contextForUser(JORDAN))).toMatchObject({ ok: true });
    expect(upstream.count('/oauth2/v1/token')).toBe(2);
  });
});

import { LOOKUP_DEFAULTS } from '../../src/lookups/definition';
import { parseTemplate, renderTemplate } from '../../src/lookups/template';
import type { HttpLookupDefinition, OktaGroupsLookupDefinition } from '../../src/lookups/types';
import { contextForUser, defineLookups, LOOKUP_ENV, lookupProblems } from './helpers';

describe('lookup definitions', () => {
  it('applies documented defaults to a minimal http lookup', () => {
    const [crm] = defineLookups({ crm: { type: 'http', url: 'https://crm.example.com/users/{user.id}' } }) as [HttpLookupDefinition];
    expect(crm).toMatchObject({
      name: 'crm',
      type: 'http',
      method: 'GET',
      timeoutMs: LOOKUP_DEFAULTS.timeoutMs,
      cache: { enabled: true, maxEntries: 10_000, ttlMs: 60_000, staleWhileRevalidateMs: 30_000, staleIfErrorMs: 600_000, negativeTtlMs: 10_000 },
      breaker: { kind: 'consecutive', failures: 5, halfOpenAfterMs: 10_000 },
      concurrency: { limit: 20, queue: 50 },
      maxResponseBytes: 1024 * 1024,
    });
    expect([...crm.variables]).toEqual(['user']);
  });

  it('reads every http setting', () => {
    const [crm] = defineLookups({
      crm: {
        type: 'http',
        method: 'POST',
        url: 'https://crm.example.com/query?client={client.id}',
        headers: { 'X-Tenant': '{issuer}', Accept: 'application/json' },
        body: '{"user": user.id}',
        auth: { bearerTokenFile: '/var/run/secrets/crm/token' },
        extract: 'data.items.0',
        timeoutMs: 250,
        cache: { ttlSeconds: 0.5, maxEntries: 10, staleWhileRevalidateSeconds: 1, staleIfErrorSeconds: 2, negativeTtlSeconds: 0 },
        breaker: { failureRatio: 0.5, windowSeconds: 20, minimumRps: 2, halfOpenAfterSeconds: 3 },
        concurrency: { limit: 4, queue: 0 },
        tls: { caFile: '/etc/crm/ca.pem' },
      },
    }) as [HttpLookupDefinition];
    expect(crm).toMatchObject({
      method: 'POST',
      auth: { kind: 'bearer', tokenFile: '/var/run/secrets/crm/token' },
      extract: ['data', 'items', '0'],
      timeoutMs: 250,
      cache: { ttlMs: 500, maxEntries: 10, staleWhileRevalidateMs: 1000, staleIfErrorMs: 2000, negativeTtlMs: 0 },
      breaker: { kind: 'sampling', failureRatio: 0.5, windowMs: 20_000, minimumRps: 2, halfOpenAfterMs: 3000 },
      concurrency: { limit: 4, queue: 0 },
      caFile: '/etc/crm/ca.pem',
    });
    expect(crm.headers.map((h) => h.name)).toEqual(['x-tenant', 'accept']);
    expect([...crm.variables].sort()).toEqual(['client', 'issuer', 'user']);
  });

  it('reads an oktaGroups lookup with OAuth client credentials', () => {
    const [groups] = defineLookups({
      groups: {
        type: 'oktaGroups',
        orgUrl: 'https://example.okta.com/',
        auth: { oauth: { clientId: '0oa1', privateKeyFile: '/keys/okta.pem', keyId: 'k1' } },
        filter: { prefix: 'app-', regex: 'admin$' },
        result: 'objects',
      },
    }) as [OktaGroupsLookupDefinition];
    expect(groups).toMatchObject({
      orgUrl: 'https://example.okta.com',
      auth: { kind: 'privateKeyJwt', clientId: '0oa1', privateKeyFile: '/keys/okta.pem', keyId: 'k1', scopes: ['okta.users.read'] },
      filter: { prefix: 'app-' },
      result: 'objects',
      pageSize: 200,
      maxPages: 5,
    });
    expect(groups.filter.regex?.pattern).toBe('admin$');
    expect(groups.userId.source).toBe('user != null ? user.id : null');
  });

  it('keeps the fingerprint when only the key order changes, and changes it with any setting', () => {
    const a = defineLookups({ crm: { type: 'http', url: 'https://crm.example.com/{user.id}', timeoutMs: 100 } })[0]!;
    const b = defineLookups({ crm: { timeoutMs: 100, url: 'https://crm.example.com/{user.id}', type: 'http' } })[0]!;
    const c = defineLookups({ crm: { type: 'http', url: 'https://crm.example.com/{user.id}', timeoutMs: 101 } })[0]!;
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
  });

  it.each([
    [{ 'bad-name': { type: 'http', url: 'https://x.example/' } }, 'lookups.bad-name: lookup name "bad-name" must be a CEL identifier'],
    [{ in: { type: 'http', url: 'https://x.example/' } }, 'lookups.in: lookup name "in" must be a CEL identifier'],
    [{ crm: { url: 'https://x.example/' } }, 'lookups.crm.type: is required (http or oktaGroups)'],
    [{ crm: { type: 'ldap' } }, 'lookups.crm.type: must be http or oktaGroups, got string "ldap"'],
    [{ crm: { type: 'http', url: 'https://x.example/', retries: 3 } }, 'lookups.crm.retries: unknown key'],
    [{ crm: { type: 'http' } }, 'lookups.crm.url: is required'],
    [{ crm: { type: 'http', url: 'https://{user.profile.tenant}.crm.example/' } }, 'lookups.crm.url: must start with http:// or https:// and a host'],
    [{ crm: { type: 'http', url: '{issuer}/users' } }, 'lookups.crm.url: must start with a literal scheme and host'],
    [{ crm: { type: 'http', url: 'https://crm.example{user.id}' } }, 'lookups.crm.url: the host must be followed by / or ? before the first placeholder'],
    [{ crm: { type: 'http', url: 'ftp://crm.example/' } }, 'lookups.crm.url: must start with http:// or https://'],
    [{ crm: { type: 'http', url: 'https://crm.example/{user.id' } }, 'lookups.crm.url: unclosed "{" at column 21'],
    [{ crm: { type: 'http', url: 'https://crm.example/{user.id +}' } }, 'lookups.crm.url: placeholder {user.id +}: CEL syntax error'],
    [{ crm: { type: 'http', url: 'https://crm.example/{lookup.other}' } }, 'lookups.crm.url: placeholder {lookup.other}: a lookup cannot read other lookups'],
    [{ crm: { type: 'http', url: 'https://crm.example/', headers: { Host: 'evil' } } }, 'lookups.crm.headers.Host: "Host" is set by the lookup itself'],
    [{ crm: { type: 'http', url: 'https://crm.example/', headers: { 'bad header': 'x' } } }, 'lookups.crm.headers.bad header: "bad header" is not a valid HTTP header name'],
    [{ crm: { type: 'http', url: 'https://crm.example/', headers: { Authorization: 'x' }, auth: { bearerTokenFile: '/t' } } }, 'lookups.crm.headers: sets authorization, which auth already sets'],
    [{ crm: { type: 'http', url: 'https://crm.example/', body: '{"a": 1}' } }, 'lookups.crm.body: is only allowed with method: POST'],
    [{ crm: { type: 'http', url: 'https://crm.example/', auth: { bearerTokenFile: '/t', header: 'X-Key', valueFile: '/k' } } }, 'lookups.crm.auth: set either bearerTokenFile, or header and valueFile'],
    [{ crm: { type: 'http', url: 'https://crm.example/', extract: 'a..b' } }, 'lookups.crm.extract: must be a dotted path'],
    [{ crm: { type: 'http', url: 'https://crm.example/', timeoutMs: 5000 } }, 'lookups.crm.timeoutMs: must be an integer between 10 and 2900, got number 5000'],
    [{ crm: { type: 'http', url: 'https://crm.example/', cache: { ttlSeconds: -1 } } }, 'lookups.crm.cache.ttlSeconds: must be a number between 0 and 604800'],
    [{ crm: { type: 'http', url: 'https://crm.example/', cache: { ttl: 5 } } }, 'lookups.crm.cache.ttl: unknown key'],
    [{ crm: { type: 'http', url: 'https://crm.example/', breaker: { consecutiveFailures: 3, failureRatio: 0.5 } } }, 'lookups.crm.breaker.consecutiveFailures: cannot be combined with failureRatio'],
    [{ crm: { type: 'http', url: 'https://crm.example/', concurrency: { limit: 0 } } }, 'lookups.crm.concurrency.limit: must be an integer between 1 and 1000, got number 0'],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com/api/v1', auth: { apiTokenFile: '/t' } } }, 'lookups.g.orgUrl: must be the org origin only'],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com' } }, 'lookups.g.auth: is required (apiTokenFile, or oauth)'],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com', auth: { apiTokenFile: '/t', oauth: { clientId: 'c', privateKeyFile: '/k' } } } }, 'lookups.g.auth: set exactly one of apiTokenFile and oauth'],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com', auth: { oauth: { privateKeyFile: '/k' } } } }, 'lookups.g.auth.oauth.clientId: is required'],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com', auth: { oauth: { clientId: 'c', privateKeyFile: '/k', algorithm: 'HS256' } } } }, 'lookups.g.auth.oauth.algorithm: must be one of'],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com', auth: { apiTokenFile: '/t' }, filter: { regex: '(' } } }, 'lookups.g.filter.regex: is not a valid regular expression'],
    [
      { g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com', auth: { apiTokenFile: '/t' }, filter: { regex: '^(?!test-)app-' } } },
      'lookups.g.filter.regex: is not a valid regular expression (invalid regular expression "^(?!test-)app-": lookahead ((?=…), (?!…)) is not supported (RE2 syntax, as matches() in rules))',
    ],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com', auth: { apiTokenFile: '/t' }, pageSize: 500 } }, 'lookups.g.pageSize: must be an integer between 1 and 200'],
    [{ g: { type: 'oktaGroups', orgUrl: 'https://example.okta.com', auth: { apiTokenFile: '/t' }, userId: 'user.id +' } }, 'lookups.g.userId: CEL syntax error'],
    [['crm'], 'lookups: must be a mapping of lookup names to definitions, got a list'],
  ])('rejects %j', (spec, message) => {
    const problems = lookupProblems(spec);
    expect(problems.some((p) => p.startsWith(message))).toBe(true);
  });

  it('reports every problem of a file at once', () => {
    const problems = lookupProblems({
      a: { type: 'http', url: 'https://x.example/', timeoutMs: 0, cache: { maxEntries: 0 } },
      b: { type: 'oktaGroups' },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^lookups\.a\.timeoutMs/),
        expect.stringMatching(/^lookups\.a\.cache\.maxEntries/),
        expect.stringMatching(/^lookups\.b\.orgUrl: is required/),
        expect.stringMatching(/^lookups\.b\.auth: is required/),
      ]),
    );
  });
});

describe('templates', () => {
  const render = (source: string, encode: boolean, userId: string | null = '00u1') => {
    const parsed = parseTemplate(LOOKUP_ENV, source);
    if (!parsed.ok) throw new Error(parsed.message);
    return renderTemplate(parsed.template, contextForUser(userId), encode);
  };

  it('percent-encodes URL placeholders as one component', () => {
    expect(render('https://x.example/u/{user.id}?q={user.profile.login}', true, 'a/b?c=d#e')).toBe('https://x.example/u/a%2Fb%3Fc%3Dd%23e?q=jordan.lee%40example.com');
  });

  it('renders header placeholders as text, numbers included, and keeps {{ }} literal', () => {
    expect(render('{{static}} {user.profile.firstName}-{1 + 2}', false)).toBe('{static} Jordan-3');
  });

  it('handles braces and quotes inside a placeholder', () => {
    expect(render('{ {"a": "}"}["a"] }', false)).toBe('}');
  });

  it('gives null (nothing to look up) for a null or empty URL component', () => {
    expect(render('https://x.example/u/{null}', true)).toBeNull();
    expect(render('https://x.example/u/{""}', true)).toBeNull();
    expect(render('prefix-{""}', false)).toBe('prefix-');
  });

  it('refuses lists and maps as placeholder values', () => {
    expect(() => render('https://x.example/{scopes}', true)).toThrow('{scopes} is a list, expected a string or number');
  });
});

import { buildResponse } from '../../src/hook/builder';
import type { TokenHookEvent } from '../../src/hook/types';
import { collectReferences, createRulesEnvironment } from '../../src/rules/cel';
import { RULE_ERROR_DENY_SUMMARY, RulesEngine } from '../../src/rules/engine';
import { oktaFixture, OKTA_FIXTURES } from '../helpers/fixtures';
import { compile, engineFor, engineForFile, EXAMPLE_RULES, rulesFixturePath, rulesPayload } from './helpers';

async function respond(engine: RulesEngine, event: TokenHookEvent) {
  const evaluation = await engine.evaluate(event);
  return { evaluation, built: buildResponse(event, evaluation, { debugContext: false, version: engine.version }) };
}

/** Value of one expression against a payload, through a one-rule engine. */
async function value(expr: string, event: TokenHookEvent): Promise<unknown> {
  const engine = engineFor(`rules:\n  - name: probe\n    claims:\n      - name: probe\n        expr: '${expr.replace(/'/g, "''")}'\n        tokens: [access]\n`);
  const evaluation = await engine.evaluate(event, { explain: true });
  const trace = evaluation.rules[0];
  if (trace?.result !== 'matched') throw new Error(`probe failed: ${trace?.error} (${trace?.detail})`);
  const change = trace.changes[0];
  return change?.kind === 'set' ? change.value : undefined;
}

describe('rule features against Okta payloads', () => {
  const features = engineForFile(rulesFixturePath('valid-all-features.yaml'));

  it('adds an unconditional static claim to both minted tokens', async () => {
    const { built } = await respond(engineFor('rules:\n  - name: hello\n    claims:\n      - { name: custom-claim, value: hello-from-hook }\n'), oktaFixture('token-hook-authcode-full'));
    expect(built.response.commands).toEqual([
      { type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }] },
      { type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }] },
    ]);
  });

  it('applies conditions, expressions, URI claim names, removes and lifetimes for the matching client', async () => {
    const { evaluation, built } = await respond(features, oktaFixture('token-hook-authcode-full'));
    expect(evaluation.rules.map((r) => [r.rule, r.result, r.condition])).toEqual([
      ['hello', 'matched', true],
      ['portal-profile', 'matched', true],
      ['scope-count', 'matched', true],
      ['block-suspended', 'not_matched', false],
    ]);
    expect(built.response.commands).toEqual([
      {
        type: 'com.okta.identity.patch',
        value: [
          { op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' },
          { op: 'add', path: '/claims/full_name', value: 'Jordan Lee' },
          { op: 'remove', path: '/claims/locale' },
          { op: 'replace', path: '/token/lifetime/expiration', value: 7200 },
        ],
      },
      {
        type: 'com.okta.access.patch',
        value: [
          { op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' },
          { op: 'add', path: '/claims/https:~1~1example.com~1claims~1tier', value: 'gold' },
          { op: 'add', path: '/claims/clinic', value: 'north-campus' },
          { op: 'add', path: '/claims/scope_count', value: 5 },
          { op: 'replace', path: '/token/lifetime/expiration', value: 1800 },
        ],
      },
    ]);
    expect(built.skipped).toEqual([]);
  });

  it('leaves changes for tokens that are not minted to the builder, which records them', async () => {
    const { built } = await respond(features, oktaFixture('token-hook-client-credentials'));
    expect(built.response.commands).toEqual([
      {
        type: 'com.okta.access.patch',
        value: [
          { op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' },
          { op: 'add', path: '/claims/scope_count', value: 2 },
        ],
      },
    ]);
    expect(built.skipped).toEqual([{ token: 'identity', claim: 'custom-claim', reason: 'token_not_minted', rule: 'hello' }]);
  });

  it('does not match a client-specific rule for another client', async () => {
    const { evaluation } = await respond(features, oktaFixture('token-hook-minimal'));
    expect(evaluation.rules.find((r) => r.rule === 'portal-profile')).toMatchObject({ result: 'not_matched', condition: false });
  });

  it('skips a remove when the claim is not in the token', async () => {
    const engine = engineFor('rules:\n  - name: strip\n    remove:\n      - { name: locale }\n');
    const { built } = await respond(engine, oktaFixture('token-hook-authcode-full'));
    expect(built.response.commands).toEqual([{ type: 'com.okta.identity.patch', value: [{ op: 'remove', path: '/claims/locale' }] }]);
    expect(built.skipped).toEqual([{ token: 'access', claim: 'locale', reason: 'claim_absent', rule: 'strip' }]);
  });

  it('replaces a claim that is already in the token', async () => {
    const engine = engineFor('rules:\n  - name: rename\n    claims:\n      - { name: firstName, expr: \'user.profile.firstName.upperAscii()\', tokens: [access] }\n');
    const { built } = await respond(engine, oktaFixture('token-hook-authcode-full'));
    expect(built.response.commands?.[0]?.value).toEqual([{ op: 'replace', path: '/claims/firstName', value: 'JORDAN' }]);
  });

  it('evaluates every shipped example rule against every fixture without runtime errors', async () => {
    const engine = engineForFile(EXAMPLE_RULES);
    for (const name of OKTA_FIXTURES) {
      const event = oktaFixture(name);
      const { evaluation, built } = await respond(engine, event);
      expect({ name, errors: evaluation.rules.filter((r) => r.result === 'error').map((r) => `${r.rule}: ${r.error}`) }).toEqual({ name, errors: [] });
      expect(() => JSON.stringify(built.response)).not.toThrow();
    }
  });
});

describe('precedence', () => {
  const engine = engineFor(`rules:
  - name: first
    claims:
      - { name: tier, value: bronze }
      - { name: region, value: eu, tokens: [access] }
  - name: second
    when: 'client.id == "0oa7h3j5k7L9z1X3c5v7"'
    claims:
      - { name: tier, value: gold, tokens: [access] }
  - name: third
    remove:
      - { name: region, tokens: [access] }
`);

  it('lets a later rule win for the same claim and token, and reports the earlier change as overridden', async () => {
    const { built } = await respond(engine, oktaFixture('token-hook-authcode-full'));
    expect(built.response.commands).toEqual([
      { type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/tier', value: 'bronze' }] },
      { type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/tier', value: 'gold' }] },
    ]);
    expect(built.skipped).toEqual(
      expect.arrayContaining([
        { token: 'access', claim: 'tier', reason: 'overridden', rule: 'first' },
        { token: 'access', claim: 'region', reason: 'overridden', rule: 'first' },
        // The winning remove targets a claim the payload does not have.
        { token: 'access', claim: 'region', reason: 'claim_absent', rule: 'third' },
      ]),
    );
  });

  it('keeps every rule in file order in the evaluation', async () => {
    const evaluation = await engine.evaluate(oktaFixture('token-hook-minimal'));
    expect(evaluation.rules.map((r) => r.rule)).toEqual(['first', 'second', 'third']);
    expect(evaluation.decision.changes.map((c) => `${c.rule}:${c.kind}:${c.token}:${c.claim}`)).toEqual([
      'first:set:identity:tier',
      'first:set:access:tier',
      'first:set:access:region',
      'third:remove:access:region',
    ]);
  });
});

describe('deny', () => {
  const engine = engineForFile(rulesFixturePath('valid-all-features.yaml'));

  it('refuses the token when a deny rule matches, whatever the other rules changed', async () => {
    const { evaluation, built } = await respond(engine, rulesPayload('payload-suspended-user.json'));
    expect(evaluation.decision.deny).toEqual({ summary: 'Account is suspended', rule: 'block-suspended' });
    expect(built.outcome).toBe('denied');
    expect(built.response).toEqual({ error: { errorSummary: 'Account is suspended' } });
  });

  it('does not deny when the condition is false or there is no user', async () => {
    for (const name of ['token-hook-authcode-full', 'token-hook-client-credentials'] as const) {
      const evaluation = await engine.evaluate(oktaFixture(name));
      expect(evaluation.decision.deny).toBeUndefined();
    }
  });

  it('uses the first matching deny in file order', async () => {
    const twoDenies = engineFor(`rules:
  - name: patch
    claims: [{ name: a, value: 1 }]
  - name: first-deny
    when: 'grantType == "authorization_code"'
    deny: First reason
  - name: second-deny
    deny: Second reason
`);
    const evaluation = await twoDenies.evaluate(oktaFixture('token-hook-minimal'));
    expect(evaluation.decision.deny).toEqual({ summary: 'First reason', rule: 'first-deny' });
    expect(evaluation.rules.map((r) => r.result)).toEqual(['matched', 'matched', 'matched']);
  });
});

describe('onError', () => {
  const rules = (onError: string) => `rules:
  - name: before
    claims: [{ name: before, value: ok }]
  - name: fragile
    onError: ${onError}
    claims:
      - { name: static-part, value: x }
      - { name: department, expr: 'identity.employee_profile.department' }
    lifetime: { access: 900 }
  - name: after
    claims: [{ name: after, value: ok }]
`;

  it('skip: the failing rule contributes nothing (not even its static parts), the others apply', async () => {
    const engine = engineFor(rules('skip'));
    // No identity token in the minimal payload: `identity` is null, so the expression fails.
    const event = oktaFixture('token-hook-minimal');
    const { evaluation, built } = await respond(engine, event);
    const fragile = evaluation.rules[1];
    expect(fragile).toMatchObject({ rule: 'fragile', result: 'error', onError: 'skip', condition: true, changes: [], lifetimes: [] });
    expect(fragile?.error).toMatch(/^claims\[1\]\.expr: /);
    expect(evaluation.decision.deny).toBeUndefined();
    expect(built.response.commands).toEqual([
      {
        type: 'com.okta.access.patch',
        value: [
          { op: 'add', path: '/claims/before', value: 'ok' },
          { op: 'add', path: '/claims/after', value: 'ok' },
        ],
      },
    ]);
  });

  it('deny: the token is refused with a generic summary that does not reveal the error', async () => {
    const engine = engineFor(rules('deny'));
    const { evaluation, built } = await respond(engine, oktaFixture('token-hook-minimal'));
    expect(evaluation.decision.deny).toEqual({ summary: RULE_ERROR_DENY_SUMMARY, rule: 'fragile' });
    expect(built.response).toEqual({ error: { errorSummary: RULE_ERROR_DENY_SUMMARY } });
    expect(RULE_ERROR_DENY_SUMMARY).not.toMatch(/department|identity|fragile/);
  });

  it('does not fail when the data is there', async () => {
    const engine = engineFor(rules('deny'));
    const { evaluation } = await respond(engine, oktaFixture('token-hook-authcode-full'));
    expect(evaluation.rules.map((r) => r.result)).toEqual(['matched', 'matched', 'matched']);
    expect(evaluation.decision.deny).toBeUndefined();
  });

  it('treats a condition that is not a boolean at runtime as an error', async () => {
    const engine = engineFor("rules:\n  - name: dyn-when\n    when: 'client.name'\n    claims: [{ name: a, value: 1 }]\n");
    const evaluation = await engine.evaluate(oktaFixture('token-hook-minimal'));
    expect(evaluation.rules[0]).toMatchObject({ result: 'error', error: 'when: not_json: condition returned string, expected bool' });
    expect(evaluation.rules[0]?.condition).toBeUndefined();
  });

  it('never puts request data in the error message; explain mode keeps the detail', async () => {
    const engine = engineFor("rules:\n  - name: leaky\n    claims:\n      - { name: a, expr: 'user.profile[user.profile.login]' }\n");
    const event = oktaFixture('token-hook-authcode-full');
    const normal = await engine.evaluate(event);
    expect(normal.rules[0]?.error).toBe('claims[0].expr: no_such_key at `user.profile[user.profile.login]`');
    expect(JSON.stringify(normal)).not.toContain('jordan.lee@example.com');
    const explained = await engine.evaluate(event, { explain: true });
    expect(explained.rules[0]?.detail).toBe('No such key: jordan.lee@example.com');
  });

  it('treats results that are not JSON as runtime errors', async () => {
    const engine = engineFor(`rules:
  - name: huge
    claims: [{ name: a, expr: '9007199254740993', tokens: [access] }]
  - name: infinite
    claims: [{ name: b, expr: '1.0 / 0.0', tokens: [access] }]
  - name: timestamp
    claims: [{ name: c, expr: 'dyn(timestamp("2025-01-01T00:00:00Z"))', tokens: [access] }]
`);
    const evaluation = await engine.evaluate(oktaFixture('token-hook-minimal'));
    expect(evaluation.rules.map((r) => r.error)).toEqual([
      'claims[0].expr: not_json: integer result outside the JSON-safe range',
      'claims[0].expr: not_json: non-finite number result',
      'claims[0].expr: not_json: result of type timestamp is not a JSON value',
    ]);
  });
});

describe('CEL variables', () => {
  const full = oktaFixture('token-hook-authcode-full');

  it('exposes the request, its query parameters and the protocol request', async () => {
    expect(await value('request.method + " " + request.ipAddress', full)).toBe('GET 198.51.100.73');
    expect(await value('params.clinic_hint', full)).toBe('north-campus');
    expect(await value('protocol.response_type', full)).toBe('code');
    const idOnly = rulesPayload('payload-id-token-only.json');
    // Repeated parameters: the first value; percent-encoding decoded.
    expect(await value('[params.tenant, params.display_name]', idOnly)).toEqual(['north', 'Jürgen Müller']);
  });

  it('exposes client, issuer, policy and the derived grant type', async () => {
    expect(await value('[client.id, client.name, client.type]', full)).toEqual(['0oa7h3j5k7L9z1X3c5v7', 'Patient Portal (web)', 'CONFIDENTIAL']);
    expect(await value('issuer', full)).toBe('https://login.example.com/oauth2/default');
    expect(await value('policy.rule.id', full)).toBe('0pr5v7b9n1M3q5W7e9r1');
    expect(await value('grantType', full)).toBe('authorization_code');
    expect(await value('grantType', oktaFixture('token-hook-implicit'))).toBe('implicit');
    expect(await value('grantType', oktaFixture('token-hook-client-credentials'))).toBe('client_credentials');
    expect(await value('grantType', oktaFixture('token-hook-refresh'))).toBe('refresh_token');
  });

  it('falls back to protocol.request.client_id when the client object is missing', async () => {
    const event = oktaFixture('token-hook-minimal');
    delete event.data.context?.protocol?.client;
    expect(await value('client.id', event)).toBe('0oa1b2c3d4E5f6G7h8i9');
  });

  it('exposes granted and requested scopes as lists', async () => {
    expect(await value('scopes', full)).toEqual(['openid', 'profile', 'email', 'offline_access', 'patients:read']);
    expect(await value('requestedScopes', oktaFixture('token-hook-client-credentials'))).toEqual(['inventory:read', 'inventory:write']);
    expect(await value('scopes', rulesPayload('payload-id-token-only.json'))).toEqual([]);
  });

  it('gives null for user and session when absent and for tokens not minted', async () => {
    const cc = oktaFixture('token-hook-client-credentials');
    expect(await value('[user == null, session == null, identity == null, access == null]', cc)).toEqual([true, true, true, false]);
    expect(await value('[user == null, session == null, identity == null, access == null]', full)).toEqual([false, false, false, false]);
    expect(await value('access == null', rulesPayload('payload-id-token-only.json'))).toBe(true);
  });

  it('reads token claims with JSON integers as CEL ints, and returns JSON numbers', async () => {
    expect(await value('access.ver + 1', full)).toBe(2);
    expect(await value('identity.auth_time > 1700000000', full)).toBe(true);
    expect(await value('identity.preferred_clinics', full)).toEqual(['north-campus', 'east-annex']);
    expect(await value('{"n": size(scopes), "half": 0.5, "list": [1, "a", true, null]}', full)).toEqual({ n: 5, half: 0.5, list: [1, 'a', true, null] });
  });

  it('exposes the whole payload as event', async () => {
    expect(await value('event.eventId', full)).toBe('Vb7nQ2pXRk6Ty1wLmZ8sAc');
    expect(await value('event.data.refresh_token.jti', full)).toBe('oar1f3h5k7M9p1R3t5v7');
  });

  it('supports optional chaining for absent fields', async () => {
    expect(await value('session.?amr.orValue(["none"])', oktaFixture('token-hook-preview-no-identity'))).toEqual(['none']);
    expect(await value('has(user.profile.locale) ? user.profile.locale : "n/a"', full)).toBe('en_US');
  });

  it('never modifies the payload', async () => {
    const event = oktaFixture('token-hook-authcode-full');
    delete event.data.context?.protocol?.client;
    const before = JSON.stringify(event);
    const engine = engineForFile(EXAMPLE_RULES);
    await engine.evaluate(event);
    await value('client.id + string(access.ver) + event.eventId', event);
    expect(JSON.stringify(event)).toBe(before);
  });

  it('builds the context once per request, not once per rule', async () => {
    const engine = engineFor(`rules:
${Array.from({ length: 20 }, (_, i) => `  - name: r${i}\n    when: 'user != null && user.profile.login != ""'\n    claims: [{ name: c${i}, expr: 'user.profile.login', tokens: [access] }]`).join('\n')}
`);
    const event = oktaFixture('token-hook-minimal');
    let reads = 0;
    const context = event.data.context as Record<string, unknown>;
    const user = context.user;
    Object.defineProperty(context, 'user', {
      get: () => {
        reads += 1;
        return user;
      },
    });
    const evaluation = await engine.evaluate(event);
    expect(evaluation.decision.changes).toHaveLength(20);
    expect(reads).toBe(1);
  });
});

describe('engine seam', () => {
  it('answers synchronously when the call needs no lookup, and with a promise only when one must be resolved', async () => {
    const engine = engineForFile(EXAMPLE_RULES);
    expect(engine.version).toMatch(/^[0-9a-f]{12}$/);
    const sync = engine.evaluate(oktaFixture('token-hook-minimal'), { signal: new AbortController().signal });
    expect(sync).not.toBeInstanceOf(Promise);

    const text = `lookups:
  crm:
    type: http
    url: https://crm.example/users/{user.id}
rules:
  - name: machine
    when: 'grantType == "client_credentials"'
    claims: [{ name: kind, value: machine }]
  - name: tier
    when: 'grantType != "client_credentials"'
    claims: [{ name: tier, expr: 'lookup.crm.tier', fallback: basic }]
`;
    const resolved: string[][] = [];
    const withLookups = new RulesEngine(compile(text), {
      lookups: {
        resolve: async (names) => {
          resolved.push([...names]);
          return new Map([...names].map((name) => [name, { lookup: name, type: 'http' as const, ok: true, status: 'success' as const, value: { tier: 'gold' }, durationMs: 1 }]));
        },
      },
    });
    // The lookup's rule is ruled out by its condition: nothing to wait for.
    const machine = withLookups.evaluate(oktaFixture('token-hook-client-credentials'));
    expect(machine).not.toBeInstanceOf(Promise);
    expect(resolved).toEqual([]);
    const pending = withLookups.evaluate(oktaFixture('token-hook-authcode-full'));
    expect(pending).toBeInstanceOf(Promise);
    const evaluation = await pending;
    expect(resolved).toEqual([['crm']]);
    expect(evaluation.decision.changes.map((c) => [c.claim, 'value' in c ? c.value : undefined])).toContainEqual(['tier', 'gold']);
    expect(evaluation.rules.every((r) => typeof r.durationMs === 'number')).toBe(true);
  });

  it('finds the lookups a rule needs from its expressions (extension point for lookup.<name>)', () => {
    const env = createRulesEnvironment([{ name: 'lookup', type: 'map<string, dyn>', description: 'lookups' }]);
    const parsed = env.parse('lookup.crm.tier == "gold" && lookup.?groups.orValue([]).size() > 0 && user != null');
    const refs = collectReferences(parsed.ast);
    expect([...refs.variables].sort()).toEqual(['lookup', 'user']);
    expect([...(refs.members.get('lookup') ?? [])].sort()).toEqual(['crm', 'groups']);
    const dynamic = collectReferences(env.parse('lookup[params.source] != null && lookup["crm"] != null').ast);
    expect([...(dynamic.members.get('lookup') ?? [])].sort()).toEqual(['*', 'crm']);
  });
});

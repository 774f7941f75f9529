/**
 * Values rules never control: keys named like Object.prototype members in the payload, in lookup
 * answers and in rules files are data; deep payloads are refused without recursion; a rule that
 * would hold the event loop is refused at load or stopped at run time as an ordinary rule error.
 */
import request from 'supertest';
import type { TokenHookEvent } from '../../src/hook/types';
import { compileExpression, createRulesEnvironment, DEFAULT_RULES_LIMITS, estimateCost, fromCel, toCel } from '../../src/rules/cel';
import { parseRules } from '../../src/rules/load';
import { RulesEngine } from '../../src/rules/engine';
import { buildTestApp, TEST_SECRET } from '../helpers/app';
import { oktaFixture } from '../helpers/fixtures';
import { compile, engineFor, errorsFor } from './helpers';

const PROTOTYPE_NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', 'prototype', 'isPrototypeOf', '__defineGetter__'];

function withProfile(extra: Record<string, unknown>): TokenHookEvent {
  const event = oktaFixture('token-hook-authcode-full');
  const user = event.data.context?.user as { profile: Record<string, unknown> };
  // Through JSON, as the body parser builds it: `__proto__` becomes an own key.
  user.profile = JSON.parse(JSON.stringify(user.profile).replace(/^\{/, `{${Object.entries(extra).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`).join('')}`)) as Record<string, unknown>;
  return event;
}

function claimValues(evaluation: Awaited<ReturnType<RulesEngine['evaluate']>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const change of evaluation.decision.changes) if (change.kind === 'set') out[change.claim] = change.value;
  return out;
}

describe('object keys are data, whatever their name', () => {
  it.each(PROTOTYPE_NAMES)('a profile attribute named %s neither breaks rules that read the profile nor denies the token', async (name) => {
    const engine = engineFor(`rules:
  - name: strict
    onError: deny
    claims:
      - { name: login, expr: 'user.profile.login', tokens: [access] }
      - { name: keys, expr: 'user.profile.size()', tokens: [access] }
      - { name: odd, expr: 'user.profile[${JSON.stringify(name)}]', tokens: [access] }
      - { name: has-odd, expr: '${JSON.stringify(name).replace(/'/g, "''")} in user.profile', tokens: [access] }
`);
    const event = withProfile({ [name]: `value-of-${name}` });
    const evaluation = await engine.evaluate(event);
    expect(evaluation.rules[0]).toMatchObject({ result: 'matched' });
    expect(evaluation.decision.deny).toBeUndefined();
    expect(claimValues(evaluation)).toMatchObject({ login: 'jordan.lee@example.com', odd: `value-of-${name}`, 'has-odd': true });
  });

  it('a nested object with a constructor key keeps all its keys and integers', async () => {
    const engine = engineFor(`rules:
  - name: r
    claims:
      - { name: copy, expr: 'user.profile.meta', tokens: [access] }
      - { name: sum, expr: 'user.profile.meta.count + 1', tokens: [access] }
`);
    const evaluation = await engine.evaluate(withProfile({ meta: JSON.parse('{"constructor": "x", "count": 41, "__proto__": {"a": 1}}') as unknown }));
    const values = claimValues(evaluation);
    expect(values.sum).toBe(42);
    expect(JSON.stringify(values.copy)).toBe('{"constructor":"x","count":41,"__proto__":{"a":1}}');
  });

  it('a query parameter and a client field named constructor are data too', async () => {
    const engine = engineFor(`rules:
  - name: r
    onError: deny
    claims:
      - { name: p, expr: 'params.constructor', tokens: [access] }
      - { name: c, expr: 'client.constructor + ":" + client.id', tokens: [access] }
`);
    const event = oktaFixture('token-hook-authcode-full');
    const request = event.data.context?.request as { url: { value: string } };
    request.url.value = 'https://example.okta.com/oauth2/v1/authorize?constructor=p1&state=x';
    const protocol = event.data.context?.protocol as unknown as { client: Record<string, unknown> };
    protocol.client = { constructor: 'c1', name: 'x' } as unknown as Record<string, unknown>;
    const evaluation = await engine.evaluate(event);
    expect(evaluation.decision.deny).toBeUndefined();
    expect(claimValues(evaluation)).toEqual({ p: 'p1', c: `c1:${(event.data.context?.protocol?.request as { client_id: string }).client_id}` });
  });

  it('keeps __proto__ and constructor keys of CEL results in the claim, as own keys', () => {
    const value = fromCel(toCel(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"n": 1}, "ok": [1, {"toString": 2}]}')));
    expect(JSON.stringify(value)).toBe('{"__proto__":{"polluted":true},"constructor":{"n":1},"ok":[1,{"toString":2}]}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a map literal key the CEL engine would drop, instead of losing the claim key silently', () => {
    expect(errorsFor(`rules:\n  - name: r\n    claims:\n      - { name: m, expr: '{"constructor": 1, "a": 2}' }\n`)).toEqual([
      'rules.yaml: rule "r" (#1): claims[0].expr: map key "constructor" is not supported in CEL map literals (the CEL engine drops it); build the claim with another key (line 4)',
    ]);
  });
});

describe('rules files: names of Object.prototype members are ordinary values', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])('tokens: [%s] is a validation error with field and line, not a TypeError', (name) => {
    const result = parseRules(`rules:\n  - name: r\n    claims:\n      - name: a\n        value: 1\n        tokens: [${name}]\n`, 'rules.yaml');
    expect(result).toMatchObject({ ok: false, errors: [`rules.yaml: rule "r" (#1): claims[0].tokens[0]: must be "id" or "access", got string "${name}" (line 6)`] });
  });

  it('refuses claim names with NUL, line breaks or other control characters', () => {
    expect(errorsFor('rules:\n  - name: r\n    claims:\n      - { name: "a\\u0000b", value: 1 }\n      - { name: "x\\ny", value: 1 }\n    remove:\n      - { name: "tab\\there" }\n')).toEqual([
      'rules.yaml: rule "r" (#1): claims[0].name: "a\\u0000b" contains a control character (line 4)',
      'rules.yaml: rule "r" (#1): claims[1].name: "x\\ny" contains a control character (line 5)',
      'rules.yaml: rule "r" (#1): remove[0].name: "tab\\there" contains a control character (line 7)',
    ]);
  });
});

describe('deep payloads', () => {
  function deepPayload(levels: number): string {
    const event = oktaFixture('token-hook-authcode-full');
    const user = event.data.context?.user as { profile: Record<string, unknown> };
    user.profile.nested = '__DEEP__';
    return JSON.stringify(event).replace('"__DEEP__"', `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
  }

  it('answers 400 (never a deny, never a crash) for a profile attribute nested 50,000 levels deep', async () => {
    const engine = engineFor('rules:\n  - name: strict\n    onError: deny\n    claims:\n      - { name: login, expr: \'user.profile.login\', tokens: [access] }\n');
    const { callback, logs } = buildTestApp({ engine });
    const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).set('Content-Type', 'application/json').send(deepPayload(50_000));
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: 'bad_request', message: 'Request body is nested deeper than 64 levels' });
    expect(logs.lines.find((l) => l.msg === 'token hook call')).toMatchObject({ outcome: 'bad_request', reason: 'Request body is nested deeper than 64 levels' });
  });

  it('still evaluates payloads nested as deep as Okta plausibly sends (20 levels in an attribute)', async () => {
    const engine = engineFor('rules:\n  - name: r\n    claims:\n      - { name: login, expr: \'user.profile.login\', tokens: [access] }\n');
    const { callback } = buildTestApp({ engine });
    const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).set('Content-Type', 'application/json').send(deepPayload(20));
    expect(response.status).toBe(200);
    expect(response.body.commands).toHaveLength(1);
  });

  it('does not echo request data in a 400 body or log line (eventType)', async () => {
    const { callback, logs } = buildTestApp();
    const marker = 'attacker-controlled<script>';
    const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).send({ eventType: marker, data: {} });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body)).not.toContain('attacker');
    expect(logs.raw.join('\n')).not.toContain('attacker');
  });
});

describe('the cost of CEL is bounded', () => {
  const fourNestedMaps = 'user.profile.groups.map(a, user.profile.groups.map(b, user.profile.groups.map(c, user.profile.groups.map(d, d))))';

  it('refuses at load an expression whose estimated cost is above the budget (four nested map over lists)', () => {
    const [error] = errorsFor(`rules:\n  - name: r\n    claims:\n      - { name: x, expr: '${fourNestedMaps}' }\n`);
    expect(error).toMatch(/^rules\.yaml: rule "r" \(#1\): claims\[0\]\.expr: is too expensive: estimated cost [\d,]+ is above the budget of 1,000,000 .* \(line 4\)$/);
  });

  it('accepts the comprehensions real rules use, and estimates literal lists by their length', () => {
    const env = createRulesEnvironment();
    for (const source of ['user.profile.groups.filter(g, g.startsWith("app-")).map(g, g.substring(4))', 'requestedScopes.exists(s, s in scopes)', 'scopes.all(s, requestedScopes.exists(r, r == s))']) {
      expect(compileExpression(env, source, 'json')).toMatchObject({ ok: true });
    }
    const literal = compileExpression(env, '[1, 2, 3].map(x, x * 2)', 'json');
    const unknown = compileExpression(env, 'scopes.map(x, x)', 'json');
    if (!literal.ok || !unknown.ok) throw new Error('expected valid expressions');
    expect(estimateCost(literal.expression.run.ast)).toBeLessThan(estimateCost(unknown.expression.run.ast));
  });

  it('takes the budget from the environment (config RULES_MAX_COST)', () => {
    const generous = createRulesEnvironment([], { maxCost: 1e12 });
    expect(compileExpression(generous, fourNestedMaps, 'json')).toMatchObject({ ok: true });
    expect(compileExpression(createRulesEnvironment([], { maxCost: 1000 }), 'scopes.map(a, scopes.map(b, b))', 'json')).toMatchObject({ ok: false });
  });

  function runawayEngine(limits: { maxIterations?: number; maxEvaluationMs?: number }): RulesEngine {
    const env = createRulesEnvironment([], { maxCost: 1e12, ...limits });
    const result = parseRules(
      `rules:
  - name: runaway
    onError: skip
    claims:
      - { name: x, expr: '${fourNestedMaps}.size()', tokens: [access] }
  - name: cheap
    claims:
      - { name: y, value: ok, tokens: [access] }
`,
      'rules.yaml',
      { env },
    );
    if (!result.ok) throw new Error(result.errors.join('\n'));
    return new RulesEngine(result.ruleSet);
  }

  function hundredGroups(): TokenHookEvent {
    return withProfile({ groups: Array.from({ length: 100 }, (_, i) => `group-${i}`) });
  }

  it('stops an evaluation past the iteration limit as a rule error; the other rules still apply', async () => {
    const evaluation = await runawayEngine({ maxIterations: 10_000 }).evaluate(hundredGroups());
    expect(evaluation.rules.map((r) => [r.rule, r.result, r.error])).toEqual([
      ['runaway', 'error', 'claims[0].expr: evaluation_limit: more than 10000 comprehension iterations in one call'],
      ['cheap', 'matched', undefined],
    ]);
  });

  it('stops an evaluation past the time limit (10^8 iterations would take seconds); bound tied to the limit, not to machine speed', async () => {
    const evaluation = await runawayEngine({ maxIterations: 1e9, maxEvaluationMs: 50 }).evaluate(hundredGroups());
    const runaway = evaluation.rules[0];
    expect(runaway).toMatchObject({ result: 'error', error: 'claims[0].expr: evaluation_limit: evaluation took more than 50 ms in one call' });
    // Checked every 16 iterations of about a microsecond each: the overrun is far below a second even on a busy machine.
    expect(runaway?.durationMs).toBeLessThan(50 + 1000);
  });

  it('answers within the deadline over HTTP, and the rule error follows onError: deny', async () => {
    const env = createRulesEnvironment([], { maxCost: 1e12 });
    const result = parseRules(`rules:\n  - name: runaway\n    onError: deny\n    claims:\n      - { name: x, expr: '${fourNestedMaps}.size()', tokens: [access] }\n`, 'rules.yaml', { env });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const { callback } = buildTestApp({ engine: new RulesEngine(result.ruleSet) });
    const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).send(hundredGroups());
    expect(response.status).toBe(200);
    expect(response.body.error).toEqual({ errorSummary: 'The token could not be issued because a claim rule could not be evaluated.' });
  });

  it('refuses a small expression whose result is huge (cel.bind doubling) instead of building it', async () => {
    let expr = '[1, 2]';
    for (let i = 0; i < 30; i++) expr = `cel.bind(v${i}, ${expr}, [v${i}, v${i}])`;
    const engine = engineFor(`rules:\n  - name: r\n    claims:\n      - { name: x, expr: '${expr}', tokens: [access] }\n`);
    const evaluation = await engine.evaluate(oktaFixture('token-hook-authcode-full'));
    expect(evaluation.rules[0]).toMatchObject({ result: 'error', error: 'claims[0].expr: not_json: result has more than 50000 values' });
  });

  it('defaults are documented numbers', () => {
    expect(DEFAULT_RULES_LIMITS).toEqual({ maxCost: 1_000_000, maxIterations: 200_000, maxEvaluationMs: 100 });
    expect(compile('rules:\n  - name: r\n    claims: [{ name: a, value: 1 }]\n').rules).toHaveLength(1);
  });
});

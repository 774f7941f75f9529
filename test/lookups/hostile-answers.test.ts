/**
 * Lookup answers are untrusted input: a document nested thousands of levels deep, or keys named
 * like Object.prototype members, must give an ordinary lookup outcome (the claim's fallback or the
 * rule's onError apply), never a crash, a stack overflow or an HTTP 500. Real upstreams on 127.0.0.1.
 */
import request from 'supertest';
import type { TokenHookEvent } from '../../src/hook/types';
import { LookupSet } from '../../src/lookups/set';
import { RulesEngine } from '../../src/rules/engine';
import { buildTestApp, TEST_SECRET } from '../helpers/app';
import { oktaFixture } from '../helpers/fixtures';
import { startUpstream, type Upstream } from '../helpers/upstream';
import { compile } from '../rules/helpers';

const DEEP = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;

function event(): TokenHookEvent {
  return oktaFixture('token-hook-authcode-full');
}

describe('hostile lookup answers', () => {
  let upstream: Upstream;
  let lookups: LookupSet | undefined;

  beforeEach(async () => {
    upstream = await startUpstream(() => ({ status: 200, text: DEEP, headers: { 'content-type': 'application/json' } }));
  });
  afterEach(async () => {
    await lookups?.close();
    lookups = undefined;
    await upstream.close();
  });

  async function engineFor(cache: string, rules: string, name = 'crm'): Promise<RulesEngine> {
    const ruleSet = compile(`lookups:
  ${name}:
    type: http
    url: ${upstream.url('/users/{user.id}')}
${cache}
rules:
${rules}`);
    lookups = await LookupSet.create(ruleSet.lookups);
    return new RulesEngine(ruleSet, { lookups });
  }

  it.each([
    ['cached', ''],
    ['not cached', '    cache: false'],
  ])('a 10,000-level document (%s) is a lookup error: the fallback applies and the call answers 200', async (_label, cache) => {
    const engine = await engineFor(cache, `  - name: tier
    onError: deny
    claims:
      - { name: tier, expr: 'string(lookup.crm.a)', fallback: basic, tokens: [access] }
`);
    const { callback } = buildTestApp({ engine });
    const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).send(event());
    expect(response.status).toBe(200);
    expect(response.body.commands).toEqual([{ type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/tier', value: 'basic' }] }]);
    expect(response.body.debugContext.lookups).toEqual({ crm: expect.stringMatching(/^error\/miss\/\d+ms$/) });
    const evaluation = await engine.evaluate(event());
    expect(evaluation.lookups[0]).toMatchObject({ ok: false, status: 'error', error: 'response value is nested deeper than 64 levels' });
  });

  it('a deep document does not count against the breaker: the upstream answered', async () => {
    const engine = await engineFor('    cache: false\n    breaker: { consecutiveFailures: 2 }', `  - name: tier
    claims:
      - { name: tier, expr: 'lookup.crm.a', fallback: basic, tokens: [access] }
`);
    for (let i = 0; i < 4; i++) await engine.evaluate(event());
    expect(upstream.count()).toBe(4);
    expect(lookups?.get('crm')?.circuitState).toBe('closed');
  });

  it('an answer with prototype-named keys is data, and a lookup named constructor works', async () => {
    upstream.handler = () => ({ status: 200, text: '{"constructor": "gold", "__proto__": {"x": 1}, "toString": 3}', headers: { 'content-type': 'application/json' } });
    const engine = await engineFor(
      '',
      `  - name: tier
    onError: deny
    claims:
      - { name: tier, expr: 'lookup.constructor.constructor', tokens: [access] }
      - { name: n, expr: 'lookup.constructor.toString + 1', tokens: [access] }
      - { name: p, expr: 'lookup.constructor["__proto__"].x', tokens: [access] }
`,
      'constructor',
    );
    const evaluation = await engine.evaluate(event());
    expect(evaluation.rules[0]).toMatchObject({ result: 'matched' });
    expect(evaluation.decision.changes.map((c) => (c.kind === 'set' ? [c.claim, c.value] : undefined))).toEqual([
      ['tier', 'gold'],
      ['n', 4],
      ['p', 1],
    ]);
  });
});

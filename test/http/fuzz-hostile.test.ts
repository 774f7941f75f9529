/**
 * Fuzz: random deep and wide JSON, with keys named like Object.prototype members, through the three
 * doors untrusted structure comes in by: the Okta payload, a lookup's answer (a real upstream on
 * 127.0.0.1) and the rules file. Properties: nothing throws out, no promise is left rejected, and
 * every hook call gets a JSON answer (200 or 400, never a 500 or a deny caused by the data) within
 * the deadline (with seconds of headroom for a busy machine).
 */
import fc from 'fast-check';
import request from 'supertest';
import type { TokenHookEvent } from '../../src/hook/types';
import { LookupSet } from '../../src/lookups/set';
import { RulesEngine } from '../../src/rules/engine';
import { parseRules } from '../../src/rules/load';
import { buildTestApp, TEST_SECRET } from '../helpers/app';
import { oktaFixture } from '../helpers/fixtures';
import { startUpstream, type Upstream } from '../helpers/upstream';
import { compile } from '../rules/helpers';

const PROTOTYPE_KEYS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf', '__defineSetter__', 'then'];
const DEADLINE_MS = 1000;

const key = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.string({ maxLength: 8 }));
const scalar = fc.oneof(fc.string({ maxLength: 16 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));

/** Random JSON text: wide objects and arrays with hostile keys, sometimes wrapped thousands of levels deep. */
const jsonTextUpTo = (deepest: number): fc.Arbitrary<string> =>
  fc
  .tuple(
    fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
      array: fc.array(tie('value'), { maxLength: 6 }),
      object: fc.array(fc.tuple(key, tie('value')), { maxLength: 6 }),
    })).value,
    fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 80 }), fc.integer({ min: deepest / 6, max: deepest })),
    fc.boolean(),
  )
  .map(([value, depth, asArray]) => {
    const text = serialize(value);
    return asArray ? `${'['.repeat(depth)}${text}${']'.repeat(depth)}` : `${'{"constructor":'.repeat(depth)}${text}${'}'.repeat(depth)}`;
  });
const jsonText = jsonTextUpTo(30_000);

/** Objects are arrays of [key, value] pairs here, so `__proto__` stays an ordinary key in the text. */
function serialize(value: unknown): string {
  if (Array.isArray(value) && value.every((item) => Array.isArray(item) && item.length === 2 && typeof item[0] === 'string') && value.length > 0) {
    return `{${(value as [string, unknown][]).map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  return JSON.stringify(value);
}

const RULES = `rules:
  - name: strict
    onError: deny
    claims:
      - { name: login, expr: 'user.profile.login', tokens: [access] }
  - name: reads-everything
    onError: skip
    claims:
      - { name: attr, expr: 'user.profile.fuzz', tokens: [access] }
      - { name: size, expr: 'user.profile.size()', tokens: [access] }
      - { name: keys, expr: 'user.profile.map(k, k).size()', tokens: [access] }
`;

describe('fuzz: hostile structure through payload, lookup answers and rules files', () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  let upstream: Upstream;

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    upstream = await startUpstream(() => ({ status: 200, text: '{}', headers: { 'content-type': 'application/json' } }));
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await upstream.close();
  });
  afterEach(() => {
    expect(rejections).toEqual([]);
  });

  function payloadWith(text: string): string {
    const event = oktaFixture('token-hook-authcode-full');
    (event.data.context?.user as { profile: Record<string, unknown> }).profile.fuzz = '__FUZZ__';
    return JSON.stringify(event).replace('"__FUZZ__"', text);
  }

  it('payload: every call gets a JSON 200 or 400 within the deadline; data never causes a deny', async () => {
    const { callback } = buildTestApp({ engine: new RulesEngine(compile(RULES)), env: { HOOK_DEADLINE_MS: String(DEADLINE_MS) } });
    await fc.assert(
      fc.asyncProperty(jsonText, fc.constantFrom(...PROTOTYPE_KEYS), async (text, extraKey) => {
        const body = payloadWith(text).replace('"profile":{', `"profile":{${JSON.stringify(extraKey)}:${text},`);
        const started = performance.now();
        const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).set('Content-Type', 'application/json').send(body);
        expect(performance.now() - started).toBeLessThan(DEADLINE_MS + 2000);
        expect(response.type).toBe('application/json');
        expect([200, 400, 413]).toContain(response.status);
        if (response.status === 200) expect(response.body.error).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });

  it('lookup answers: the claim gets the value or its fallback, the call answers 200 within the deadline', async () => {
    const ruleSet = compile(`lookups:
  constructor:
    type: http
    url: ${upstream.url('/users/{user.id}')}
    cache: false
rules:
  - name: from-lookup
    onError: deny
    claims:
      - { name: a, expr: 'string(lookup.constructor.size())', fallback: none, tokens: [access] }
      - { name: b, expr: 'lookup.constructor.constructor', fallback: none, tokens: [access] }
`);
    const lookups = await LookupSet.create(ruleSet.lookups);
    try {
      const { callback } = buildTestApp({ engine: new RulesEngine(ruleSet, { lookups }), env: { HOOK_DEADLINE_MS: String(DEADLINE_MS) } });
      const event: TokenHookEvent = oktaFixture('token-hook-authcode-full');
      await fc.assert(
        fc.asyncProperty(jsonText, async (text) => {
          upstream.handler = () => ({ status: 200, text, headers: { 'content-type': 'application/json' } });
          const started = performance.now();
          const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).send(event);
          expect(performance.now() - started).toBeLessThan(DEADLINE_MS + 2000);
          expect(response.status).toBe(200);
          // A value of the wrong shape is the rule's concern (onError: deny may refuse); a crash or a 500 never is.
          expect(response.type).toBe('application/json');
        }),
        { numRuns: 40 },
      );
    } finally {
      await lookups.close();
    }
  });

  it('rules files: random structure and prototype names give a result or validation errors, never an exception', () => {
    fc.assert(
      // YAML parsing is slow on deep documents: 3,000 levels is deep enough for this door (the file is capped at 1 MB).
      fc.property(jsonTextUpTo(3_000), fc.constantFrom(...PROTOTYPE_KEYS), (text, name) => {
        const files = [
          `rules:\n  - name: r\n    claims:\n      - name: ${JSON.stringify(name)}\n        value: ${text}\n        tokens: [${name}]\n`,
          `lookups:\n  ${JSON.stringify(name)}:\n    type: http\n    url: http://127.0.0.1/x\n    cache: ${text}\nrules:\n  - name: r\n    claims: [{ name: a, expr: 'lookup[${JSON.stringify(name)}]' }]\n`,
          `${JSON.stringify(name)}: ${text}\nrules: ${text}\n`,
          `rules:\n  - name: r\n    when: ${JSON.stringify(`user.profile[${JSON.stringify(name)}] == ${JSON.stringify(name)}`)}\n    lifetime: ${text}\n`,
        ];
        for (const file of files) {
          const result = parseRules(file, 'fuzz.yaml');
          if (!result.ok) expect(result.errors.every((e) => typeof e === 'string' && e.startsWith('fuzz.yaml'))).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });
});

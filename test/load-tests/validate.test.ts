import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseExpectClaim, validateOktaResponse, type InvalidReason } from '../../load-tests/lib/validate';
import { RESERVED_CLAIMS } from '../../src/hook/builder';

const payloadsDir = join(__dirname, '..', '..', 'load-tests', 'payloads');
const event = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(payloadsDir, `${name}.json`), 'utf8'));

const BOTH = { identity: true, access: true };
const ACCESS_ONLY = { identity: false, access: true };

const op = (o: string, path: string, value?: unknown): Record<string, unknown> => (value === undefined ? { op: o, path } : { op: o, path, value });
const answer = (commands: unknown[], extra: Record<string, unknown> = {}): string => JSON.stringify({ commands, ...extra });
const identityPatch = (...ops: unknown[]) => ({ type: 'com.okta.identity.patch', value: ops });
const accessPatch = (...ops: unknown[]) => ({ type: 'com.okta.access.patch', value: ops });

function expectInvalid(result: ReturnType<typeof validateOktaResponse>, reason: InvalidReason): void {
  expect(result).toMatchObject({ ok: false, reason });
}

describe('validateOktaResponse accepts what Okta accepts', () => {
  it('accepts the contract example (both tokens, escaped URI claim, lifetime, debugContext) for the full auth code payload', () => {
    const body = answer(
      [
        identityPatch(
          op('add', '/claims/extPatientId', '1234'),
          op('add', '/claims/preferred_clinics/-', 'west-wing'),
          op('replace', '/claims/employee_profile/department', 'Oncology'),
          op('remove', '/claims/locale'),
        ),
        accessPatch(op('add', '/claims/https:~1~1example.com~1claims~1tier', 'gold'), op('replace', '/token/lifetime/expiration', 1800)),
      ],
      { debugContext: { correlationId: 'c0ffee-42', ruleVersion: '2025-03-01' } },
    );
    expect(validateOktaResponse(event('authcode-full'), 200, body)).toEqual({ ok: true, outcome: 'patched', operations: 6 });
  });

  it('accepts the example rules answer (custom-claim on both tokens) and meets EXPECT_CLAIM', () => {
    const body = answer([identityPatch(op('add', '/claims/custom-claim', 'hello-from-hook')), accessPatch(op('add', '/claims/custom-claim', 'hello-from-hook'))]);
    expect(validateOktaResponse(BOTH, 200, body, { expectClaim: { name: 'custom-claim', value: 'hello-from-hook' } })).toMatchObject({ ok: true, outcome: 'patched' });
  });

  it.each([
    ['{}', 'unchanged'],
    ['{"commands":[]}', 'unchanged'],
    ['{"commands":[],"debugContext":{"rules":[]}}', 'unchanged'],
    ['{"error":{"errorSummary":"Account is suspended in the patient registry"}}', 'denied'],
    ['{"error":{}}', 'denied'],
  ])('accepts %s as %s', (body, outcome) => {
    expect(validateOktaResponse(BOTH, 200, body)).toMatchObject({ ok: true, outcome });
  });

  it('accepts remove with a null value and add with a null, array or object value', () => {
    const body = answer([identityPatch(op('remove', '/claims/locale', null), op('add', '/claims/a', null), op('add', '/claims/b', ['x']), op('add', '/claims/c', { d: 1 }))]);
    expect(validateOktaResponse(BOTH, 200, body)).toMatchObject({ ok: true, operations: 4 });
  });

  it('allows sub and aud in the access token, where Okta lets a hook change them', () => {
    const body = answer([accessPatch(op('replace', '/claims/sub', 'svc'), op('replace', '/claims/aud', 'api://other'))]);
    expect(validateOktaResponse(ACCESS_ONLY, 200, body)).toMatchObject({ ok: true });
  });

  it('derives the sent tokens from a full event: access-only payloads may get access patches', () => {
    const body = answer([accessPatch(op('add', '/claims/tier', 'gold'))]);
    expect(validateOktaResponse(event('client-credentials'), 200, body)).toMatchObject({ ok: true });
    expect(validateOktaResponse(event('preview'), 200, body)).toMatchObject({ ok: true });
  });
});

describe('validateOktaResponse rejects what Okta would skip or discard', () => {
  it.each([204, 401, 500, 0])('rejects HTTP status %i', (status) => {
    expectInvalid(validateOktaResponse(BOTH, status, '{}'), 'status');
  });

  it('rejects an empty or missing body and malformed JSON', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, ''), 'body_not_json');
    expectInvalid(validateOktaResponse(BOTH, 200, null), 'body_not_json');
    expectInvalid(validateOktaResponse(BOTH, 200, '{"commands":['), 'body_not_json');
  });

  it.each(['[]', '"ok"', 'null', '42'])('rejects the non-object body %s', (body) => {
    expectInvalid(validateOktaResponse(BOTH, 200, body), 'body_not_object');
  });

  it('rejects a body of 256 KB or more', () => {
    const body = answer([identityPatch(op('add', '/claims/big', 'x'.repeat(256 * 1024)))]);
    expectInvalid(validateOktaResponse(BOTH, 200, body), 'body_too_large');
  });

  it('counts multi-byte characters in the size limit', () => {
    const body = answer([identityPatch(op('add', '/claims/big', 'é'.repeat(140 * 1024)))]);
    expect(body.length).toBeLessThan(256 * 1024);
    expectInvalid(validateOktaResponse(BOTH, 200, body), 'body_too_large');
  });

  it('rejects unknown top-level fields', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, '{"commands":[],"status":"ok"}'), 'unknown_field');
  });

  it('rejects commands that are not an array, and malformed commands', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, '{"commands":{}}'), 'commands_not_array');
    expectInvalid(validateOktaResponse(BOTH, 200, '{"commands":[42]}'), 'command_shape');
    expectInvalid(validateOktaResponse(BOTH, 200, answer([{ type: 'com.okta.identity.patch', value: {} }])), 'command_shape');
    expectInvalid(validateOktaResponse(BOTH, 200, answer([{ type: 'com.okta.identity.patch', value: [], extra: 1 }])), 'command_shape');
  });

  it.each(['com.okta.assertion.patch', 'com.okta.refresh.patch', 'com.okta.user.profile.update', ''])('rejects the command type %s', (type) => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([{ type, value: [] }])), 'command_type');
  });

  it('rejects an access.patch when the request carried no access token', () => {
    expectInvalid(validateOktaResponse({ identity: true, access: false }, 200, answer([accessPatch(op('add', '/claims/x', 1))])), 'patch_without_access');
  });

  it('rejects an identity.patch when the request carried no ID token (client credentials, Preview)', () => {
    const body = answer([identityPatch(op('add', '/claims/x', 1))]);
    expectInvalid(validateOktaResponse(event('client-credentials'), 200, body), 'patch_without_identity');
    expectInvalid(validateOktaResponse(event('preview'), 200, body), 'patch_without_identity');
    expectInvalid(validateOktaResponse(ACCESS_ONLY, 200, body), 'patch_without_identity');
  });

  it.each(['move', 'copy', 'test', 'ADD', undefined])('rejects the op %s', (o) => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([identityPatch({ op: o, path: '/claims/x', value: 1 })])), 'op');
  });

  it('rejects an op with extra fields', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([identityPatch({ op: 'add', path: '/claims/x', value: 1, from: '/claims/y' })])), 'op');
  });

  it.each(['/claims', '/claims/', '/claims//x', '/scopes/openid', '/token/lifetime', '/claims/bad~2escape', 'claims/x', '/claims/x/'])('rejects the path %s', (path) => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([identityPatch(op('add', path, 1))])), 'path');
  });

  it('rejects a non-string path', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([identityPatch({ op: 'add', path: 7, value: 1 })])), 'path');
  });

  it.each([
    ['identity', 'sub'],
    ['identity', 'aud'],
    ['identity', 'groups'],
    ['identity', 'nonce'],
    ['access', 'scp'],
    ['access', 'uid'],
    ['access', 'exp'],
    ['access', 'groups'],
  ])('rejects touching the reserved %s claim %s, including a nested member', (token, claim) => {
    const patch = token === 'identity' ? identityPatch : accessPatch;
    expectInvalid(validateOktaResponse(BOTH, 200, answer([patch(op('replace', `/claims/${claim}`, 'x'))])), 'reserved_claim');
    expectInvalid(validateOktaResponse(BOTH, 200, answer([patch(op('add', `/claims/${claim}/member`, 'x'))])), 'reserved_claim');
  });

  it('agrees with the service builder on every reserved claim, per token (the two lists are kept independent on purpose)', () => {
    for (const token of ['identity', 'access'] as const) {
      const patch = token === 'identity' ? identityPatch : accessPatch;
      const other = token === 'identity' ? 'access' : 'identity';
      for (const claim of RESERVED_CLAIMS[token]) {
        expectInvalid(validateOktaResponse(BOTH, 200, answer([patch(op('add', `/claims/${claim}`, 'x'))])), 'reserved_claim');
      }
      for (const claim of RESERVED_CLAIMS[other]) {
        if (RESERVED_CLAIMS[token].has(claim)) continue;
        expect(validateOktaResponse(BOTH, 200, answer([patch(op('add', `/claims/${claim}`, 'x'))]))).toMatchObject({ ok: true });
      }
    }
  });

  it('rejects add or replace without a value', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([identityPatch(op('add', '/claims/x'))])), 'value_missing');
    expectInvalid(validateOktaResponse(BOTH, 200, answer([accessPatch(op('replace', '/claims/x'))])), 'value_missing');
  });

  it('rejects remove with a non-null value', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([identityPatch(op('remove', '/claims/x', 'old'))])), 'remove_with_value');
  });

  it.each([
    ['add', 1800],
    ['remove', undefined],
    ['replace', 299],
    ['replace', 86401],
    ['replace', 1800.5],
    ['replace', '1800'],
  ])('rejects a lifetime %s with value %s', (o, value) => {
    expectInvalid(validateOktaResponse(BOTH, 200, answer([accessPatch(op(o, '/token/lifetime/expiration', value))])), 'lifetime');
  });

  it('rejects malformed error and debugContext objects', () => {
    expectInvalid(validateOktaResponse(BOTH, 200, '{"error":"denied"}'), 'error_shape');
    expectInvalid(validateOktaResponse(BOTH, 200, '{"error":{"errorSummary":42}}'), 'error_shape');
    expectInvalid(validateOktaResponse(BOTH, 200, '{"error":{"errorCauses":{}}}'), 'error_shape');
    expectInvalid(validateOktaResponse(BOTH, 200, '{"debugContext":"matched rule 3"}'), 'debug_context');
  });

  it('rejects an answer that misses the expected claim on one of the sent tokens, or carries another value', () => {
    const expectClaim = { name: 'custom-claim', value: 'hello-from-hook' };
    const identityOnly = answer([identityPatch(op('add', '/claims/custom-claim', 'hello-from-hook'))]);
    expectInvalid(validateOktaResponse(BOTH, 200, identityOnly, { expectClaim }), 'expected_claim_missing');
    const wrongValue = answer([identityPatch(op('add', '/claims/custom-claim', 'hello-from-hook')), accessPatch(op('add', '/claims/custom-claim', 'other'))]);
    expectInvalid(validateOktaResponse(BOTH, 200, wrongValue, { expectClaim }), 'expected_claim_missing');
    expectInvalid(validateOktaResponse(BOTH, 200, '{}', { expectClaim }), 'expected_claim_missing');
    // Only tokens that were sent count: an access-only payload needs only the access claim.
    const accessOnly = answer([accessPatch(op('add', '/claims/custom-claim', 'hello-from-hook'))]);
    expect(validateOktaResponse(ACCESS_ONLY, 200, accessOnly, { expectClaim })).toMatchObject({ ok: true });
  });
});

describe('parseExpectClaim', () => {
  it('reads name and name=value, and nothing from an empty value', () => {
    expect(parseExpectClaim(undefined)).toBeUndefined();
    expect(parseExpectClaim('  ')).toBeUndefined();
    expect(parseExpectClaim('custom-claim')).toEqual({ name: 'custom-claim' });
    expect(parseExpectClaim('custom-claim=hello=from=hook')).toEqual({ name: 'custom-claim', value: 'hello=from=hook' });
    expect(() => parseExpectClaim('=x')).toThrow(/EXPECT_CLAIM/);
  });
});

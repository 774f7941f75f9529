import fc from 'fast-check';
import { buildResponse } from '../../src/hook/builder';
import type { ClaimChange, ClaimTarget, Decision } from '../../src/hook/decision';
import type { Evaluation } from '../../src/hook/engine';
import { applyOktaResponse } from '../../src/hook/okta-patch';
import type { JsonValue, TokenKind } from '../../src/hook/types';
import { OKTA_FIXTURES, oktaFixture, type OktaFixture } from '../helpers/fixtures';

const evaluation = (decision: Partial<Decision>): Evaluation => ({ decision: { changes: [], lifetimes: [], ...decision }, rules: [] });
const build = (fixture: OktaFixture, changes: ClaimChange[]) => buildResponse(oktaFixture(fixture), evaluation({ changes }), { debugContext: false });
const set = (token: TokenKind, claim: string, value: JsonValue, at?: ClaimTarget, rule = 'r1'): ClaimChange => ({ kind: 'set', token, claim, value, rule, ...(at && { at }) });
const remove = (token: TokenKind, claim: string, at?: ClaimTarget, rule = 'r1'): ClaimChange => ({ kind: 'remove', token, claim, rule, ...(at && { at }) });

describe("Okta's patch semantics (the preview/test oracle)", () => {
  it('applies the contract example to the full auth-code payload', () => {
    const event = oktaFixture('token-hook-authcode-full');
    const result = applyOktaResponse(event, {
      commands: [
        {
          type: 'com.okta.identity.patch',
          value: [
            { op: 'add', path: '/claims/extPatientId', value: '1234' },
            { op: 'add', path: '/claims/preferred_clinics/-', value: 'west-wing' },
            { op: 'replace', path: '/claims/employee_profile/department', value: 'Oncology' },
            { op: 'remove', path: '/claims/locale' },
          ],
        },
        {
          type: 'com.okta.access.patch',
          value: [
            { op: 'add', path: '/claims/https:~1~1example.com~1claims~1tier', value: 'gold' },
            { op: 'replace', path: '/token/lifetime/expiration', value: 1800 },
          ],
        },
      ],
    });
    expect(result.outcome).toBe('patched');
    if (result.outcome !== 'patched') return;
    const id = result.tokens.identity!;
    expect(id.claims.extPatientId).toBe('1234');
    expect(id.claims.preferred_clinics).toEqual(['north-campus', 'east-annex', 'west-wing']);
    expect(id.claims.employee_profile).toEqual({ employee_id: 'E-20931', department: 'Oncology' });
    expect(id.claims).not.toHaveProperty('locale');
    expect(result.tokens.access?.claims['https://example.com/claims/tier']).toBe('gold');
    expect(result.tokens.access?.lifetime).toBe(1800);
    expect(event.data.identity?.claims?.locale).toBe('en_US'); // the request is not modified
  });

  it.each([
    ['replace of a claim the token does not have', 'com.okta.identity.patch', { op: 'replace', path: '/claims/nope', value: 1 }, /replace of "nope"/],
    ['remove with a non-null value', 'com.okta.identity.patch', { op: 'remove', path: '/claims/locale', value: 'x' }, /non-null value/],
    ['add into a parent that is missing', 'com.okta.identity.patch', { op: 'add', path: '/claims/nope/member', value: 1 }, /parent claim "nope"/],
    ['an index past the end', 'com.okta.identity.patch', { op: 'replace', path: '/claims/preferred_clinics/2', value: 'x' }, /out of range/],
    ['a reserved claim', 'com.okta.identity.patch', { op: 'add', path: '/claims/groups', value: ['a'] }, /"groups" is reserved/],
    ['sub in the ID token', 'com.okta.identity.patch', { op: 'replace', path: '/claims/sub', value: 'x' }, /"sub" is reserved in the ID token/],
    ['a lifetime out of range', 'com.okta.access.patch', { op: 'replace', path: '/token/lifetime/expiration', value: 60 }, /outside 300..86400/],
    ['an unknown op', 'com.okta.access.patch', { op: 'move', path: '/claims/x', value: 1 }, /unknown op/],
  ])('rejects the whole response for %s', (_what, type, op, reason) => {
    const result = applyOktaResponse(oktaFixture('token-hook-authcode-full'), {
      commands: [{ type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/fine', value: 1 }] }, { type, value: [op] }],
    });
    expect(result.outcome).toBe('rejected');
    if (result.outcome !== 'rejected') return;
    expect(result.reason).toMatch(reason);
    // All or nothing: the valid command is discarded too.
    expect(result.tokens.access?.claims).not.toHaveProperty('fine');
  });

  it('allows aud and sub in the access token, and rejects a command for a token not minted', () => {
    expect(applyOktaResponse(oktaFixture('token-hook-minimal'), { commands: [{ type: 'com.okta.access.patch', value: [{ op: 'replace', path: '/claims/aud', value: 'api://x' }] }] }).outcome).toBe(
      'patched',
    );
    const result = applyOktaResponse(oktaFixture('token-hook-minimal'), { commands: [{ type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/a', value: 1 }] }] });
    expect(result).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/no ID token is being minted/) });
  });

  it('turns an error object into a deny with its summary (or Okta default)', () => {
    expect(applyOktaResponse(oktaFixture('token-hook-minimal'), { error: { errorSummary: 'No' } })).toEqual({ outcome: 'denied', message: 'No' });
    expect(applyOktaResponse(oktaFixture('token-hook-minimal'), { error: {} })).toEqual({ outcome: 'denied', message: 'The callback service returned an error' });
  });
});

describe('nested claims in the Okta-safe builder', () => {
  it('sets members of existing object claims with replace or add', () => {
    const result = build('token-hook-authcode-full', [
      set('identity', 'employee_profile', 'Oncology', { member: ['department'] }),
      set('identity', 'employee_profile', 'CC-1', { member: ['cost_center'] }),
    ]);
    expect(result.response.commands?.[0]?.value).toEqual([
      { op: 'replace', path: '/claims/employee_profile/department', value: 'Oncology' },
      { op: 'add', path: '/claims/employee_profile/cost_center', value: 'CC-1' },
    ]);
    expect(result.applied.map((a) => a.claim)).toEqual(['employee_profile.department', 'employee_profile.cost_center']);
  });

  it('never sends an operation whose parent is missing, and says why', () => {
    const result = build('token-hook-authcode-full', [
      set('identity', 'nope', 1, { member: ['x'] }),
      set('identity', 'employee_profile', 1, { member: ['address', 'city'] }),
      set('identity', 'locale', 'x', { append: true }),
      set('identity', 'preferred_clinics', 'x', { index: 5 }),
      remove('identity', 'preferred_clinics', { index: 2 }),
      set('identity', 'groups', 'x', { member: ['a'] }),
      set('access', 'locale', 'x', { member: ['a'] }),
    ]);
    expect(result.response.commands).toEqual([]);
    expect(result.skipped.map((s) => `${s.token}:${s.claim}:${s.reason}`)).toEqual([
      'identity:nope.x:parent_missing',
      'identity:employee_profile.address.city:parent_missing',
      'identity:locale[+]:parent_missing',
      'identity:preferred_clinics[5]:index_out_of_range',
      'identity:preferred_clinics[2]:index_out_of_range',
      'identity:groups.a:reserved_claim',
      'access:locale.a:parent_missing',
    ]);
  });

  it('orders element operations so no index shifts under a later one', () => {
    const result = build('token-hook-authcode-full', [
      set('identity', 'preferred_clinics', 'z', { append: true }),
      remove('identity', 'preferred_clinics', { index: 0 }),
      remove('identity', 'preferred_clinics', { index: 1 }),
    ]);
    expect(result.response.commands?.[0]?.value).toEqual([
      { op: 'remove', path: '/claims/preferred_clinics/1' },
      { op: 'remove', path: '/claims/preferred_clinics/0' },
      { op: 'add', path: '/claims/preferred_clinics/-', value: 'z' },
    ]);
    const okta = applyOktaResponse(oktaFixture('token-hook-authcode-full'), result.response);
    expect(okta.outcome === 'patched' && okta.tokens.identity?.claims.preferred_clinics).toEqual(['z']);
  });

  it('sends a set just past the end as an append, so a removal before it cannot push it out of range', () => {
    const result = build('token-hook-authcode-full', [set('identity', 'preferred_clinics', 'west', { index: 2 }), remove('identity', 'preferred_clinics', { index: 0 })]);
    expect(result.response.commands?.[0]?.value).toEqual([
      { op: 'remove', path: '/claims/preferred_clinics/0' },
      { op: 'add', path: '/claims/preferred_clinics/-', value: 'west' },
    ]);
    const okta = applyOktaResponse(oktaFixture('token-hook-authcode-full'), result.response);
    expect(okta.outcome === 'patched' && okta.tokens.identity?.claims.preferred_clinics).toEqual(['east-annex', 'west']);
  });

  it('leaves out member changes of a claim that is set or removed as a whole', () => {
    const result = build('token-hook-authcode-full', [set('identity', 'employee_profile', 'X', { member: ['department'] }, 'a'), remove('identity', 'employee_profile', undefined, 'b')]);
    expect(result.response.commands?.[0]?.value).toEqual([{ op: 'remove', path: '/claims/employee_profile' }]);
    expect(result.skipped).toEqual([{ token: 'identity', claim: 'employee_profile.department', reason: 'claim_replaced', rule: 'a' }]);
  });

  it('escapes member names as JSON Pointer segments', () => {
    const event = oktaFixture('token-hook-uri-claims');
    const claims = event.data.access!.claims!;
    claims.obj = { 'a/b': 1 };
    const result = buildResponse(event, evaluation({ changes: [set('access', 'obj', 2, { member: ['a/b'] })] }), { debugContext: false });
    expect(result.response.commands?.[0]?.value).toEqual([{ op: 'replace', path: '/claims/obj/a~1b', value: 2 }]);
    expect(applyOktaResponse(event, result.response).outcome).toBe('patched');
  });

  it('only builds responses Okta accepts, for any mix of changes on every fixture', () => {
    const names = ['employee_profile', 'preferred_clinics', 'locale', 'custom', 'https://example.com/claims/tier', 'groups', 'sub', 'aud', 'a~b/c', 'scp'];
    const target: fc.Arbitrary<ClaimTarget | undefined> = fc.oneof(
      fc.constant(undefined),
      fc.record({ member: fc.array(fc.constantFrom('department', 'employee_id', 'x', 'a/b'), { minLength: 1, maxLength: 2 }) }),
      fc.record({ index: fc.nat({ max: 3 }) }),
      fc.constant({ append: true as const }),
    );
    const change: fc.Arbitrary<ClaimChange> = fc
      .record({
        kind: fc.constantFrom('set', 'remove'),
        token: fc.constantFrom<TokenKind>('identity', 'access'),
        claim: fc.constantFrom(...names),
        value: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 })),
        at: target,
        rule: fc.constantFrom('r1', 'r2'),
      })
      .map(({ kind, value, at, ...rest }) => (kind === 'set' ? { kind, value, ...rest, ...(at && { at }) } : { kind, ...rest, ...(at && !at.append && { at }) }) as ClaimChange);
    fc.assert(
      fc.property(fc.constantFrom(...OKTA_FIXTURES), fc.array(change, { maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 100000 }), { maxLength: 2 }), (fixture, changes, seconds) => {
        const event = oktaFixture(fixture);
        const lifetimes = seconds.map((s, i) => ({ token: (i === 0 ? 'access' : 'identity') as TokenKind, seconds: s }));
        const built = buildResponse(event, evaluation({ changes, lifetimes }), { debugContext: true });
        const okta = applyOktaResponse(event, built.response);
        if (okta.outcome === 'rejected') throw new Error(`Okta would reject: ${okta.reason}\n${JSON.stringify(built.response.commands)}`);
      }),
      { numRuns: 1000 },
    );
  });
});

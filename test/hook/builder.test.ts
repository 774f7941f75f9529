import { buildResponse, escapeJsonPointer, isReservedClaim, DEFAULT_MAX_RESPONSE_BYTES } from '../../src/hook/builder';
import type { ClaimChange, Decision } from '../../src/hook/decision';
import type { Evaluation } from '../../src/hook/engine';
import type { PatchCommand } from '../../src/hook/types';
import { oktaFixture } from '../helpers/fixtures';

const evaluation = (decision: Partial<Decision>): Evaluation => ({
  decision: { changes: [], lifetimes: [], ...decision },
  rules: [{ rule: 'r1', result: 'matched', condition: true }],
});
const build = (fixture: Parameters<typeof oktaFixture>[0], decision: Partial<Decision>, debugContext = false) =>
  buildResponse(oktaFixture(fixture), evaluation(decision), { debugContext, version: 'v1' });
const commandOf = (commands: PatchCommand[] | undefined, type: PatchCommand['type']) => commands?.find((c) => c.type === type);
const set = (token: 'identity' | 'access', claim: string, value: ClaimChange extends never ? never : unknown, rule = 'r1'): ClaimChange =>
  ({ kind: 'set', token, claim, value, rule }) as ClaimChange;
const remove = (token: 'identity' | 'access', claim: string, rule = 'r1'): ClaimChange => ({ kind: 'remove', token, claim, rule });

describe('response builder', () => {
  it('adds a claim that is not in the token with "add"', () => {
    const result = build('token-hook-authcode-full', { changes: [set('identity', 'custom-claim', 'hello-from-hook')] });
    expect(result.response.commands).toEqual([
      { type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }] },
    ]);
    expect(result.outcome).toBe('patched');
    expect(result.applied).toEqual([{ token: 'identity', op: 'add', claim: 'custom-claim', rule: 'r1' }]);
  });

  it('replaces a claim already present in that token with "replace"', () => {
    const result = build('token-hook-authcode-full', { changes: [set('identity', 'locale', 'fr_FR'), set('access', 'firstName', 'J.')] });
    expect(commandOf(result.response.commands, 'com.okta.identity.patch')?.value).toEqual([{ op: 'replace', path: '/claims/locale', value: 'fr_FR' }]);
    expect(commandOf(result.response.commands, 'com.okta.access.patch')?.value).toEqual([{ op: 'replace', path: '/claims/firstName', value: 'J.' }]);
  });

  it('decides add or replace per token for the same claim name', () => {
    // `locale` exists in the ID token only.
    const result = build('token-hook-authcode-full', { changes: [set('identity', 'locale', 'de'), set('access', 'locale', 'de')] });
    expect(commandOf(result.response.commands, 'com.okta.identity.patch')?.value[0]?.op).toBe('replace');
    expect(commandOf(result.response.commands, 'com.okta.access.patch')?.value[0]?.op).toBe('add');
  });

  it('keeps object and array values intact', () => {
    const value = { tier: 'gold', regions: ['eu', 'us'], score: 3, active: true };
    const result = build('token-hook-minimal', { changes: [set('access', 'profile', value)] });
    expect(result.response.commands?.[0]?.value[0]).toEqual({ op: 'add', path: '/claims/profile', value });
  });

  it('removes a claim that is present, without a value', () => {
    const result = build('token-hook-authcode-full', { changes: [remove('identity', 'locale')] });
    const op = result.response.commands?.[0]?.value[0];
    expect(op).toEqual({ op: 'remove', path: '/claims/locale' });
    expect(op && 'value' in op).toBe(false);
  });

  it('skips removing a claim that is absent (Okta would drop the whole patch)', () => {
    const result = build('token-hook-authcode-full', { changes: [remove('access', 'locale')] });
    expect(result.response.commands).toEqual([]);
    expect(result.outcome).toBe('unchanged');
    expect(result.skipped).toEqual([{ token: 'access', claim: 'locale', reason: 'claim_absent', rule: 'r1' }]);
  });

  it('never emits an identity patch when no ID token is minted', () => {
    const result = build('token-hook-minimal', { changes: [set('identity', 'x', 1), set('access', 'x', 1)] });
    expect(result.response.commands?.map((c) => c.type)).toEqual(['com.okta.access.patch']);
    expect(result.skipped).toEqual([{ token: 'identity', claim: 'x', reason: 'token_not_minted', rule: 'r1' }]);
  });

  it('handles the Preview payload without identity', () => {
    const result = build('token-hook-preview-no-identity', { changes: [set('identity', 'a', 'b')], lifetimes: [{ token: 'identity', seconds: 600 }] });
    expect(result.response.commands).toEqual([]);
    expect(result.skipped.map((s) => s.reason)).toEqual(['token_not_minted', 'token_not_minted']);
  });

  it('never emits an access patch when no access token is minted', () => {
    const event = oktaFixture('token-hook-authcode-full');
    delete event.data.access;
    const result = buildResponse(event, evaluation({ changes: [set('access', 'x', 1)] }), { debugContext: false });
    expect(result.response.commands).toEqual([]);
  });

  it.each([
    ['identity', 'sub'], ['identity', 'aud'], ['identity', 'nonce'], ['identity', 'amr'], ['identity', 'groups'],
    ['access', 'scp'], ['access', 'uid'], ['access', 'cid'], ['access', 'groups'], ['access', 'iat'], ['access', 'exp'],
  ] as const)('never touches the reserved claim %s.%s', (token, claim) => {
    const result = build('token-hook-authcode-full', { changes: [set(token, claim, 'x'), remove(token, claim)] });
    expect(result.response.commands).toEqual([]);
    expect(result.skipped.some((s) => s.reason === 'reserved_claim' && s.claim === claim)).toBe(true);
  });

  it('lets aud and sub be modified in access tokens only', () => {
    expect(isReservedClaim('access', 'aud')).toBe(false);
    expect(isReservedClaim('access', 'sub')).toBe(false);
    expect(isReservedClaim('identity', 'aud')).toBe(true);
    expect(isReservedClaim('identity', 'sub')).toBe(true);
    const result = build('token-hook-authcode-full', { changes: [set('access', 'aud', 'api://orders')] });
    expect(result.response.commands?.[0]?.value[0]).toEqual({ op: 'replace', path: '/claims/aud', value: 'api://orders' });
  });

  it('sets the token lifetime within 300..86400 seconds', () => {
    const result = build('token-hook-authcode-full', { lifetimes: [{ token: 'access', seconds: 1800, rule: 'short' }] });
    expect(result.response.commands).toEqual([
      { type: 'com.okta.access.patch', value: [{ op: 'replace', path: '/token/lifetime/expiration', value: 1800 }] },
    ]);
    expect(result.applied).toEqual([{ token: 'access', op: 'lifetime', claim: '/token/lifetime/expiration', rule: 'short' }]);
  });

  it.each([299, 86401, 0, -5, 1800.5])('skips a lifetime of %p seconds', (seconds) => {
    const result = build('token-hook-authcode-full', { lifetimes: [{ token: 'identity', seconds }] });
    expect(result.response.commands).toEqual([]);
    expect(result.skipped[0]?.reason).toBe('lifetime_out_of_range');
  });

  it('accepts the lifetime bounds 300 and 86400', () => {
    const result = build('token-hook-authcode-full', { lifetimes: [{ token: 'identity', seconds: 300 }, { token: 'access', seconds: 86400 }] });
    expect(result.response.commands?.map((c) => c.value[0]?.value)).toEqual([300, 86400]);
  });

  it('escapes claim names containing / and ~ as JSON Pointer', () => {
    expect(escapeJsonPointer('https://example.com/claims/tier')).toBe('https:~1~1example.com~1claims~1tier');
    expect(escapeJsonPointer('a~b/c')).toBe('a~0b~1c');
    expect(escapeJsonPointer('plain')).toBe('plain');
    const result = build('token-hook-uri-claims', {
      changes: [set('identity', 'https://example.com/claims/tier', 'gold'), set('access', 'a~b/c', 'v'), set('access', 'https://example.com/claims/new', 1)],
    });
    expect(commandOf(result.response.commands, 'com.okta.identity.patch')?.value).toEqual([
      { op: 'replace', path: '/claims/https:~1~1example.com~1claims~1tier', value: 'gold' },
    ]);
    expect(commandOf(result.response.commands, 'com.okta.access.patch')?.value).toEqual([
      { op: 'replace', path: '/claims/a~0b~1c', value: 'v' },
      { op: 'add', path: '/claims/https:~1~1example.com~1claims~1new', value: 1 },
    ]);
  });

  it('lets a later change to the same claim win and reports the earlier one as overridden', () => {
    const result = build('token-hook-minimal', { changes: [set('access', 'tier', 'silver', 'first'), set('access', 'tier', 'gold', 'second')] });
    expect(result.response.commands?.[0]?.value).toEqual([{ op: 'add', path: '/claims/tier', value: 'gold' }]);
    expect(result.skipped).toEqual([{ token: 'access', claim: 'tier', reason: 'overridden', rule: 'first' }]);
  });

  it('lets a later remove win over an earlier set', () => {
    const result = build('token-hook-authcode-full', { changes: [set('identity', 'locale', 'x'), remove('identity', 'locale')] });
    expect(result.response.commands?.[0]?.value).toEqual([{ op: 'remove', path: '/claims/locale' }]);
  });

  it('skips null values and empty claim names', () => {
    const result = build('token-hook-minimal', { changes: [set('access', 'nothing', null), set('access', '', 'x')] });
    expect(result.response.commands).toEqual([]);
    expect(result.skipped.map((s) => s.reason).sort()).toEqual(['invalid_claim_name', 'null_value']);
  });

  it('answers a deny with an error object and no commands', () => {
    const result = build('token-hook-authcode-full', { deny: { summary: 'Account is suspended', rule: 'block' }, changes: [set('identity', 'a', 1)] });
    expect(result.response).toEqual({ error: { errorSummary: 'Account is suspended' } });
    expect(result.outcome).toBe('denied');
  });

  it('adds a debugContext with matched rules, version and skipped changes when enabled', () => {
    const result = build('token-hook-minimal', { changes: [set('identity', 'x', 1)] }, true);
    expect(result.response.debugContext).toEqual({ matchedRules: ['r1'], rulesVersion: 'v1', skipped: ['identity:x:token_not_minted'] });
  });

  it('keeps the response under the 256 KB cap by skipping what does not fit', () => {
    const big = 'x'.repeat(100 * 1024);
    const result = build('token-hook-authcode-full', {
      changes: [set('identity', 'a', big), set('identity', 'b', big), set('access', 'c', big), set('access', 'small', 1)],
    });
    expect(result.bytes).toBeLessThan(256 * 1024);
    expect(Buffer.byteLength(JSON.stringify(result.response))).toBe(result.bytes);
    expect(result.applied.map((a) => a.claim)).toEqual(['a', 'b', 'small']);
    expect(result.skipped).toEqual([{ token: 'access', claim: 'c', reason: 'response_too_large', rule: 'r1' }]);
    expect(DEFAULT_MAX_RESPONSE_BYTES).toBeLessThan(256 * 1024);
  });

  it('emits one command per token type holding every operation', () => {
    const result = build('token-hook-authcode-full', {
      changes: [set('identity', 'a', 1), set('access', 'b', 2), set('identity', 'c', 3)],
      lifetimes: [{ token: 'identity', seconds: 900 }],
    });
    expect(result.response.commands?.map((c) => [c.type, c.value.length])).toEqual([
      ['com.okta.identity.patch', 3],
      ['com.okta.access.patch', 1],
    ]);
  });
});

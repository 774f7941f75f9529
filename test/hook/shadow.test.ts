import { buildResponse } from '../../src/hook/builder';
import type { Decision } from '../../src/hook/decision';
import type { ClaimsEngine, Evaluation } from '../../src/hook/engine';
import { compareAnswers, reusableOutcomes, ShadowRunner, type ShadowComparison } from '../../src/hook/shadow';
import type { LookupOutcome } from '../../src/lookups/types';
import { oktaFixture } from '../helpers/fixtures';

const event = oktaFixture('token-hook-authcode-full');
const build = (decision: Partial<Decision>) =>
  buildResponse(event, { decision: { changes: [], lifetimes: [], ...decision }, rules: [] }, { debugContext: false });

describe('compareAnswers: what the shadow answer would change in each token', () => {
  it('is empty for equal answers, whatever the key order of object values', () => {
    const live = build({ changes: [{ kind: 'set', token: 'access', claim: 'profile', value: { a: 1, b: [1, 2] } }] });
    const shadow = build({ changes: [{ kind: 'set', token: 'access', claim: 'profile', value: { b: [1, 2], a: 1 } }] });
    expect(compareAnswers(event, live, shadow)).toEqual([]);
  });

  it('compares the resulting tokens, not the operations: setting a claim to its current value is no difference', () => {
    const live = build({});
    const shadow = build({ changes: [{ kind: 'set', token: 'identity', claim: 'locale', value: 'en_US' }] });
    expect(compareAnswers(event, live, shadow)).toEqual([]);
  });

  it('reports added, changed and removed claims per token, with URI names unescaped', () => {
    const live = build({
      changes: [
        { kind: 'set', token: 'access', claim: 'https://example.com/claims/tier', value: 'gold' },
        { kind: 'set', token: 'identity', claim: 'full_name', value: 'Jordan Lee' },
      ],
    });
    const shadow = build({
      changes: [
        { kind: 'set', token: 'access', claim: 'https://example.com/claims/tier', value: 'silver' },
        { kind: 'remove', token: 'identity', claim: 'locale' },
        { kind: 'set', token: 'access', claim: 'department', value: 'x' },
      ],
    });
    expect(compareAnswers(event, live, shadow)).toEqual([
      { kind: 'claim_removed', token: 'id', claim: 'full_name' },
      { kind: 'claim_removed', token: 'id', claim: 'locale' },
      { kind: 'claim_changed', token: 'access', claim: 'https://example.com/claims/tier' },
      { kind: 'claim_added', token: 'access', claim: 'department' },
    ]);
  });

  it('reports a different lifetime per token', () => {
    const live = build({ lifetimes: [{ token: 'access', seconds: 3600 }] });
    const shadow = build({ lifetimes: [{ token: 'access', seconds: 900 }, { token: 'identity', seconds: 1800 }] });
    expect(compareAnswers(event, live, shadow)).toEqual([
      { kind: 'lifetime', token: 'id', claim: '/token/lifetime/expiration' },
      { kind: 'lifetime', token: 'access', claim: '/token/lifetime/expiration' },
    ]);
  });

  it('reports deny and allow, and nothing when both deny', () => {
    const issued = build({ changes: [{ kind: 'set', token: 'access', claim: 'a', value: 1 }] });
    const refused = build({ deny: { summary: 'no' } });
    expect(compareAnswers(event, issued, refused)).toEqual([{ kind: 'deny' }]);
    expect(compareAnswers(event, refused, issued)).toEqual([{ kind: 'allow' }]);
    expect(compareAnswers(event, refused, build({ deny: { summary: 'another message' } }))).toEqual([]);
  });
});

describe('shadow lookups', () => {
  const outcome = (lookup: string): LookupOutcome => ({ lookup, type: 'http', ok: true, status: 'success', value: 1, durationMs: 1 });
  const engine = (fingerprints: Record<string, string>): ClaimsEngine => ({
    version: 'v',
    evaluate: () => ({ decision: { changes: [], lifetimes: [] }, rules: [] }),
    lookupFingerprints: new Map(Object.entries(fingerprints)),
  });

  it('reuses only the live outcomes of lookups defined identically in both files', () => {
    const evaluation: Evaluation = { decision: { changes: [], lifetimes: [] }, rules: [], lookups: [outcome('crm'), outcome('groups'), outcome('hr')] };
    const reused = reusableOutcomes(engine({ crm: 'http:a', groups: 'oktaGroups:b', hr: 'http:c' }), evaluation, engine({ crm: 'http:a', groups: 'oktaGroups:changed' }));
    expect([...(reused?.keys() ?? [])]).toEqual(['crm']);
  });
});

describe('ShadowRunner', () => {
  it('reports an engine that throws as an error, and a reporter that throws never escapes', async () => {
    const comparisons: ShadowComparison[] = [];
    const failing: ClaimsEngine = {
      version: 'shadow-1',
      evaluate: () => {
        throw new Error('boom');
      },
    };
    const runner = new ShadowRunner({
      engine: () => failing,
      onComparison: (comparison) => {
        comparisons.push(comparison);
        throw new Error('reporter failed');
      },
    });
    const live: ClaimsEngine = { version: 'live-1', evaluate: () => ({ decision: { changes: [], lifetimes: [] }, rules: [] }) };
    const result = await runner.run(failing, { event, liveEngine: live, evaluation: { decision: { changes: [], lifetimes: [] }, rules: [] }, build: build({}), deadlineAt: performance.now() + 1000 });
    expect(result).toMatchObject({ result: 'error', reason: 'engine_failure', liveVersion: 'live-1', shadowVersion: 'shadow-1', differences: [] });
    expect(comparisons).toHaveLength(1);
  });

  it('gives up on a shadow engine that never answers at the call deadline (plus grace)', async () => {
    jest.useFakeTimers();
    try {
      const hanging: ClaimsEngine = { version: 'shadow-1', evaluate: () => new Promise<Evaluation>(() => undefined) };
      const runner = new ShadowRunner({ engine: () => hanging, onComparison: () => undefined, graceMs: 50 });
      const live: ClaimsEngine = { version: 'live-1', evaluate: () => ({ decision: { changes: [], lifetimes: [] }, rules: [] }) };
      const pending = runner.run(hanging, { event, liveEngine: live, evaluation: { decision: { changes: [], lifetimes: [] }, rules: [] }, build: build({}), deadlineAt: performance.now() + 1000 });
      await jest.advanceTimersByTimeAsync(1100);
      await expect(pending).resolves.toMatchObject({ result: 'error', reason: 'deadline_exceeded' });
    } finally {
      jest.useRealTimers();
    }
  });
});

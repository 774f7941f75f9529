import { RulesEngine } from '../../src/rules/engine';
import { authorizationServerId } from '../../src/rules/sets';
import { oktaFixture } from '../helpers/fixtures';
import { parseRules } from '../../src/rules/load';
import { compile, errorsFor } from './helpers';

/** Warning lines of valid rules text. */
function warningsFor(text: string, file = 'rules.yaml'): string[] {
  const result = parseRules(text, file);
  if (!result.ok) throw new Error(`unexpected invalid rules:\n${result.errors.join('\n')}`);
  return result.warnings.map((w) => w.text);
}

const PORTAL = '0oa7h3j5k7L9z1X3c5v7';
const SETS = `
rules:
  - name: hello
    claims: [{ name: custom-claim, value: hi }]
ruleSets:
  - name: portal
    match: { clientIds: [${PORTAL}] }
    rules:
      - name: tier
        claims: [{ name: tier, value: gold, tokens: [access] }]
  - name: default-server
    match: { authorizationServerId: default }
    rules:
      - name: tier
        claims: [{ name: tier, value: silver, tokens: [access] }]
  - name: services
    match: { issuer: https://login.example.com/oauth2/aus8m0n2b4V6c8X0z2l4/, when: 'grantType == "client_credentials"' }
    rules:
      - name: machine
        claims: [{ name: machine, value: true, tokens: [access] }]
`;

const claimsOf = (engine: RulesEngine, fixture: Parameters<typeof oktaFixture>[0]) => {
  const evaluation = engine.evaluateNow(oktaFixture(fixture));
  return {
    set: evaluation.ruleSet,
    rules: evaluation.rules.map((rule) => rule.rule),
    changes: evaluation.decision.changes.map((c) => `${c.token}:${c.claim}=${c.kind === 'set' ? JSON.stringify(c.value) : '-'}`),
  };
};

describe('rule sets (ruleSets: with match:)', () => {
  const engine = new RulesEngine(compile(SETS));

  it('applies the unscoped rules, then the first set whose match holds, with set-qualified rule names', () => {
    expect(claimsOf(engine, 'token-hook-authcode-full')).toEqual({
      set: 'portal',
      rules: ['hello', 'portal/tier'],
      changes: ['identity:custom-claim="hi"', 'access:custom-claim="hi"', 'access:tier="gold"'],
    });
    // Same authorization server (default), another client: the next set.
    const other = oktaFixture('token-hook-authcode-full');
    (other.data.context?.protocol?.client as { id: string }).id = '0oaOTHER';
    expect(engine.evaluateNow(other).ruleSet).toBe('default-server');
    // Issuer (trailing slash ignored) and a CEL condition.
    expect(claimsOf(engine, 'token-hook-client-credentials')).toMatchObject({ set: 'services', rules: ['hello', 'services/machine'] });
    // No set matches: only the unscoped rules, reported as `none`.
    expect(claimsOf(engine, 'token-hook-minimal')).toMatchObject({ set: 'none', rules: ['hello'] });
  });

  it('puts the selected set into debugContext', () => {
    expect(engine.evaluateNow(oktaFixture('token-hook-authcode-full')).debug).toEqual({ ruleSet: 'portal' });
  });

  it('keeps the single-file format unchanged: no sets, no ruleSet in the evaluation', () => {
    const plain = new RulesEngine(compile('rules:\n  - name: hello\n    claims: [{ name: a, value: 1 }]\n'));
    const evaluation = plain.evaluateNow(oktaFixture('token-hook-authcode-full'));
    expect(evaluation.ruleSet).toBeUndefined();
    expect(evaluation.debug).toBeUndefined();
    expect(evaluation.rules.map((r) => r.rule)).toEqual(['hello']);
  });

  it('derives the authorization server id from the issuer', () => {
    expect(authorizationServerId('https://acme.okta.com/oauth2/default')).toBe('default');
    expect(authorizationServerId('https://acme.okta.com/oauth2/aus1/')).toBe('aus1');
    expect(authorizationServerId('https://acme.okta.com')).toBe('');
  });

  it('reports an unreachable set (taken first by an earlier one) and a contradictory match as errors', () => {
    expect(
      errorsFor(`ruleSets:
  - name: everything
    match: {}
    rules: [{ name: a, claims: [{ name: a, value: 1 }] }]
  - name: portal
    match: { clientIds: [x] }
    rules: [{ name: a, claims: [{ name: a, value: 2 }] }]
  - name: contradiction
    match: { issuer: https://acme.okta.com/oauth2/aus1, authorizationServerId: aus2 }
    rules: [{ name: a, claims: [{ name: a, value: 3 }] }]
`),
    ).toEqual([
      'rules.yaml: rule set "portal": is unreachable: every call it matches is taken first by rule set "everything" (sets are tried in order, the first match applies)',
      'rules.yaml: rule set "contradiction": is unreachable: no issuer in match.issuer belongs to the authorization servers in match.authorizationServerId',
    ]);
    // A subset of an earlier set's clients on the same server is unreachable too; an earlier set with `when` hides nothing.
    expect(
      errorsFor(`ruleSets:
  - name: a
    match: { authorizationServerId: [default, aus1], clientIds: [x, y] }
    rules: [{ name: a, claims: [{ name: a, value: 1 }] }]
  - name: b
    match: { issuer: https://acme.okta.com/oauth2/default, clientIds: x }
    rules: [{ name: a, claims: [{ name: a, value: 2 }] }]
`),
    ).toEqual([expect.stringContaining('rule set "b": is unreachable: every call it matches is taken first by rule set "a"')]);
    expect(
      warningsFor(`ruleSets:
  - name: a
    match: { when: 'user != null' }
    rules: [{ name: a, claims: [{ name: a, value: 1 }] }]
  - name: b
    match: { clientIds: x }
    rules: [{ name: a, claims: [{ name: a, value: 2 }] }]
`),
    ).toEqual(['rules.yaml: rule set "b": overlaps rule set "a": calls matching both use "a", the earlier one (unless their when conditions exclude each other)']);
  });

  it('warns about overlapping sets, and not about disjoint ones', () => {
    const ruleSet = compile(SETS);
    const warnings = warningsFor(SETS);
    expect(warnings).toEqual([
      'rules.yaml: rule set "default-server": overlaps rule set "portal": calls matching both use "portal", the earlier one',
      // The portal's client could be used with the other authorization server too.
      'rules.yaml: rule set "services": overlaps rule set "portal": calls matching both use "portal", the earlier one (unless their when conditions exclude each other)',
    ]);
    // A catch-all set at the end is not an overlap worth reporting.
    expect(warningsFor(`ruleSets:
  - name: a
    match: { clientIds: x }
    rules: [{ name: a, claims: [{ name: a, value: 1 }] }]
  - name: rest
    match: {}
    rules: [{ name: a, claims: [{ name: a, value: 2 }] }]
`)).toEqual([]);
    // Different authorization servers never overlap.
    expect(warnings.some((w) => w.includes('"services": overlaps rule set "default-server"'))).toBe(false);
    expect(ruleSet.scopes.map((s) => s.name)).toEqual(['portal', 'default-server', 'services']);
  });

  it('names the set, the rule and the field in validation errors', () => {
    expect(
      errorsFor(`ruleSets:
  - name: Portal
    match: { clientIds: [], when: 'lookup.crm != null', extra: 1 }
    rules:
      - name: r
        claims: [{ name: sub, value: x, tokens: [id] }]
  - name: none
    match: { issuer: 1 }
    rules: []
  - name: x
    rules: [{ name: r, claims: [{ name: a, value: 1 }] }]
`),
    ).toEqual([
      'rules.yaml: rule set "Portal": name: "Portal" must match ^[a-z0-9-]+$ (lower-case letters, digits, -; at most 63) (line 2)',
      'rules.yaml: rule set "Portal": match.extra: unknown key (allowed: issuer, authorizationServerId, clientIds, when) (line 3)',
      'rules.yaml: rule set "Portal": match.clientIds: must be a client id or a non-empty list of them, got a list (line 3)',
      expect.stringContaining('rules.yaml: rule set "Portal": match.when:'),
      'rules.yaml: rule set "Portal": rule "r" (#1): claims[0].name: "sub" is reserved in the id token; it can be changed in the access token only (line 6)',
      'rules.yaml: rule set "none": name: "none" is reserved (it counts the calls no set matched) (line 7)',
      'rules.yaml: rule set "none": match.issuer: must be an issuer URI or a non-empty list of them, got number 1 (line 8)',
      'rules.yaml: rule set "none": rules: must be a non-empty list of rules, got a list (line 9)',
      'rules.yaml: rule set "x": match: is required (use match: {} for a set that takes every call no earlier set took) (line 10)',
    ]);
  });

  it('scopes a whole file with a top-level match:, naming the set after the file', () => {
    const ruleSet = compile(`match: { clientIds: [${PORTAL}] }\nrules:\n  - name: tier\n    claims: [{ name: tier, value: gold, tokens: [access] }]\n`, 'rules.d/portal.yaml');
    expect(ruleSet.scopes.map((s) => s.name)).toEqual(['portal']);
    const engine = new RulesEngine(ruleSet);
    expect(claimsOf(engine, 'token-hook-authcode-full')).toMatchObject({ set: 'portal', rules: ['portal/tier'] });
    expect(claimsOf(engine, 'token-hook-minimal')).toMatchObject({ set: 'none', rules: [] });
    expect(errorsFor('match: {}\nruleSets: []\nrules: []\n', 'Bad Name.yaml')).toEqual([
      'Bad Name.yaml: match: cannot be combined with ruleSets: (a file with match: is one rule set) (line 1)',
      'Bad Name.yaml: match: the file name must be a rule set name (lower-case letters, digits, -) followed by .yaml, .yml or .json: the set is named after it (line 1)',
    ]);
  });
});

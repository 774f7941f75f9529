import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { codeFrame, loadRulesFile, parseRules } from '../../src/rules/load';
import { flowNestingProblem, MAX_FLOW_NESTING } from '../../src/rules/yaml';
import { RulesFileError } from '../../src/rules/types';
import { compile, errorsFor, EXAMPLE_RULES, rulesFixturePath } from './helpers';

/** Errors for one fixture file, as the service would report them (file named as given). */
async function fixtureErrors(name: string): Promise<string[]> {
  const file = rulesFixturePath(name);
  const error = await loadRulesFile(file).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(RulesFileError);
  const errors = [...(error as RulesFileError).errors];
  for (const message of errors) expect(message.startsWith(`${file}: `)).toBe(true);
  return errors.map((message) => message.slice(file.length + 2));
}

describe('loading valid rules', () => {
  it('compiles the shipped example rules', async () => {
    const ruleSet = await loadRulesFile(EXAMPLE_RULES);
    expect(ruleSet.rules.map((r) => r.name)).toEqual(['hello', 'block-suspended', 'patient-portal', 'auth-level', 'service-tokens', 'inventory-sync', 'clinician-workbench']);
    expect(ruleSet.lookups.map((l) => l.name)).toEqual(['entitlements']);
    expect([...(ruleSet.rules[6]?.lookups ?? [])]).toEqual(['entitlements']);
    const hello = ruleSet.rules[0];
    expect(hello?.claims[0]).toMatchObject({ name: 'custom-claim', value: 'hello-from-hook', tokens: ['identity', 'access'] });
    expect(hello?.when).toBeUndefined();
  });

  it('uses a short sha256 of the file content as version', async () => {
    const file = rulesFixturePath('valid-all-features.yaml');
    const ruleSet = await loadRulesFile(file);
    const expected = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
    expect(ruleSet.version).toBe(expected);
  });

  it('accepts JSON rules files', async () => {
    const ruleSet = await loadRulesFile(rulesFixturePath('valid-rules.json'));
    expect(ruleSet.rules).toHaveLength(2);
    expect(ruleSet.rules[1]?.lifetimes).toEqual([{ token: 'access', seconds: 600 }]);
  });

  it('maps token names id/access to identity/access and defaults to both', () => {
    const ruleSet = compile(`rules:
  - name: t
    claims:
      - { name: a, value: 1 }
      - { name: b, value: 2, tokens: [id] }
      - { name: c, value: 3, tokens: [access] }
    remove:
      - { name: d }
`);
    const rule = ruleSet.rules[0];
    expect(rule?.claims.map((c) => c.tokens)).toEqual([['identity', 'access'], ['identity'], ['access']]);
    expect(rule?.remove[0]?.tokens).toEqual(['identity', 'access']);
    expect(rule?.onError).toBe('skip');
  });

  it('accepts an empty rule list', () => {
    expect(compile('rules: []\n').rules).toEqual([]);
  });

  it('allows aud and sub in access tokens only', () => {
    const ruleSet = compile(`rules:
  - name: audience
    claims:
      - { name: aud, value: api://orders, tokens: [access] }
      - { name: sub, expr: 'user.profile.login', tokens: [access] }
`);
    expect(ruleSet.rules[0]?.claims).toHaveLength(2);
  });

  it('records the variables each rule reads', () => {
    const ruleSet = compile(`rules:
  - name: v
    when: 'client.id == "x" && "a" in scopes'
    claims:
      - { name: a, expr: 'user.profile.login' }
`);
    expect([...(ruleSet.rules[0]?.variables ?? [])].sort()).toEqual(['client', 'scopes', 'user']);
  });

  it('freezes static values so a loaded rule set cannot be altered', () => {
    const ruleSet = compile(`rules:
  - name: v
    claims:
      - { name: owner, value: { team: a, tags: [x] } }
`);
    const value = ruleSet.rules[0]?.claims[0]?.value as { tags: string[] };
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.tags)).toBe(true);
  });
});

describe('load-time errors name the file, the rule and the field', () => {
  it('uses the documented message shape', () => {
    expect(errorsFor(`rules:
  - name: hello
    claims:
      - name: sub
        value: x
        tokens: [id]
`)).toEqual(['rules.yaml: rule "hello" (#1): claims[0].name: "sub" is reserved in the id token; it can be changed in the access token only (line 4)']);
  });

  it('rejects YAML syntax errors with the position', async () => {
    const errors = await fixtureErrors('invalid-yaml-syntax.yaml');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^syntax error: .+ \(line \d+, column \d+\)$/);
  });

  it('rejects duplicate keys', () => {
    expect(errorsFor('rules:\n  - name: a\n    name: b\n')).toEqual(['rules.yaml: syntax error: Map keys must be unique (line 3, column 5)']);
  });

  it('rejects reserved claims per token type', async () => {
    expect(await fixtureErrors('invalid-reserved-claims.yaml')).toEqual([
      'rule "hello" (#1): claims[0].name: "sub" is reserved in the id token (use tokens: [access] to change it in the access token only) (line 4)',
      'rule "explicit-tokens" (#2): claims[0].name: "scp" is reserved in the access token; scopes are granted by the authorization server\'s access policy; a hook cannot change them (line 8)',
      'rule "explicit-tokens" (#2): claims[1].name: "groups" is reserved in the id and access tokens; use a differently named claim (e.g. "roles", from an oktaGroups lookup) or the authorization server\'s groups claim (line 11)',
      'rule "explicit-tokens" (#2): remove[0].name: "nonce" is reserved in the id token; it can be changed in the access token only (line 14)',
    ]);
  });

  it('rejects bad names, duplicates, unknown keys and rules that do nothing', async () => {
    expect(await fixtureErrors('invalid-structure.yaml')).toEqual([
      'rule "Hello World" (#1): name: "Hello World" must match ^[a-z0-9-]+$ (lower-case letters, digits, -) (line 2)',
      'rule "dup" (#3): name: duplicate rule name (also rule #2) (line 10)',
      'rule #4: name: is required (line 14)',
      'rule "unknown-keys" (#5): whenn: unknown key; did you mean "when"? (allowed: name, description, when, claims, remove, lifetime, onError, deny) (line 18)',
      'rule "unknown-keys" (#5): claims[0].token: unknown key; did you mean "tokens"? (allowed: name, member, index, append, value, expr, fallback, tokens) (line 22)',
      'rule "does-nothing" (#6): does nothing: set at least one of claims, remove, lifetime or deny (line 23)',
    ]);
  });

  it('rejects claims without exactly one of value and expr, bad tokens and non-JSON values', async () => {
    expect(await fixtureErrors('invalid-claims.yaml')).toEqual([
      'rule "claims-problems" (#1): claims[0]: has both value and expr; set exactly one (line 4)',
      'rule "claims-problems" (#1): claims[1]: needs exactly one of value or expr (line 7)',
      'rule "claims-problems" (#1): claims[2].value: must not be null (use remove to delete a claim) (line 10)',
      'rule "claims-problems" (#1): claims[3].tokens[0]: must be "id" or "access", got string "refresh" (line 13)',
      'rule "claims-problems" (#1): claims[4].tokens[1]: "id" is listed twice (line 16)',
      'rule "claims-problems" (#1): claims[5].name: " padded " has leading or trailing white space (line 17)',
      'rule "claims-problems" (#1): claims[6].value: is not a finite number (line 20)',
      'rule "claims-problems" (#1): claims[7].expr: returns bytes, which is not a JSON value (convert it, e.g. with string(...)) (line 22)',
      'rule "claims-problems" (#1): claims[9].name: "repeated" is already changed in the access token by claims[8] of this rule (line 25)',
    ]);
  });

  it('rejects CEL syntax errors, non-boolean conditions, type errors and unknown variables', async () => {
    expect(await fixtureErrors('invalid-cel.yaml')).toEqual([
      'rule "syntax" (#1): when: CEL syntax error: Unexpected token: EOF (at column 14) (line 3, column 25)',
      'rule "not-bool" (#2): when: must be a boolean CEL expression, but it returns string (line 8)',
      'rule "type-error" (#3): claims[0].expr: CEL type error: no such overload: string + int (at column 1: `grantType + 1`) (line 15, column 16)',
      // `lookup` is a declared variable; reading a lookup the file does not define is a load-time error.
      'rule "unknown-variable" (#4): claims[0].expr: lookup "crm" is not defined (define it under lookups:) (line 19)',
      'rule "not-a-string" (#5): when: must be a CEL expression string, got number 42 (line 21)',
    ]);
  });

  it('rejects lifetimes out of range, bad onError and deny combined with changes', async () => {
    expect(await fixtureErrors('invalid-lifetime-deny.yaml')).toEqual([
      'rule "too-short" (#1): lifetime.refresh: unknown key (allowed: id, access) (line 6)',
      'rule "too-short" (#1): lifetime.id: must be an integer number of seconds between 300 and 86400, got number 3600.5 (line 5)',
      'rule "too-short" (#1): lifetime.access: must be an integer number of seconds between 300 and 86400, got number 60 (line 4)',
      'rule "empty-lifetime" (#2): lifetime: must set id and/or access (line 8)',
      'rule "deny-and-claims" (#3): claims: cannot be combined with deny (a deny refuses the token, so nothing else of the rule would apply) (line 13)',
      'rule "empty-deny" (#4): deny: must be a non-empty message, got string "" (line 16)',
      'rule "bad-on-error" (#5): onError: must be "skip" or "deny", got string "ignore" (line 18)',
    ]);
  });

  it('validates lookups with the rules, and rejects unknown top-level keys', async () => {
    expect(await fixtureErrors('invalid-top-level.yaml')).toEqual([
      'lookup "crm": type: is required (http or oktaGroups) (line 3)',
    ]);
    expect(errorsFor('rule:\n  - name: x\n')).toEqual([
      'rules.yaml: rule: unknown key; did you mean "rules"? (allowed: rules, lookups, ruleSets, match) (line 2)',
      'rules.yaml: rules: is required (a list of rules)',
    ]);
  });

  it('rejects a file whose rules are not a list, and an empty file', async () => {
    expect(await fixtureErrors('invalid-not-a-list.yaml')).toEqual(['rules: must be a list, got a mapping (line 2)']);
    expect(await fixtureErrors('invalid-empty.yaml')).toEqual(['is empty; expected a mapping with a "rules" list']);
  });

  it('accepts deny rules with a condition and onError', () => {
    const ruleSet = compile(`rules:
  - name: block
    when: 'user != null && user.profile.login.endsWith("@suspended.example.com")'
    deny: Account is suspended
    onError: deny
`);
    expect(ruleSet.rules[0]).toMatchObject({ deny: 'Account is suspended', onError: 'deny' });
  });

  it('rejects a lifetime in the wrong type and integers outside the JSON-safe range', () => {
    expect(errorsFor(`rules:
  - name: a
    lifetime: { access: "1800" }
    claims:
      - { name: big, value: 9007199254740993 }
`)).toEqual([
      'rules.yaml: rule "a" (#1): claims[0].value: is an integer outside the JSON-safe range (line 5)',
      'rules.yaml: rule "a" (#1): lifetime.access: must be an integer number of seconds between 300 and 86400, got string "1800" (line 3)',
    ]);
  });

  it('rejects overly long names and deny messages', () => {
    const errors = errorsFor(`rules:
  - name: ${'a'.repeat(64)}
    deny: ${'x'.repeat(501)}
`);
    expect(errors).toEqual([
      `rules.yaml: rule "${'a'.repeat(64)}" (#1): name: is longer than 63 characters (line 2)`,
      `rules.yaml: rule "${'a'.repeat(64)}" (#1): deny: is longer than 500 characters (line 3)`,
    ]);
  });

  it('collects errors from every rule instead of stopping at the first', () => {
    const errors = errorsFor(`rules:
  - name: one
    claims: [{ name: iss, value: x }]
  - name: two
    when: 'client.id =='
    deny: no
  - name: three
    lifetime: { id: 10 }
`);
    // iss is reserved in both tokens: one error naming both.
    expect(errors).toHaveLength(3);
    expect(errors.map((e) => e.split(':')[1]?.trim())).toEqual(['rule "one" (#1)', 'rule "two" (#2)', 'rule "three" (#3)']);
  });

  it('reports a missing file as one readable error', async () => {
    await expect(loadRulesFile(rulesFixturePath('does-not-exist.yaml'))).rejects.toThrow(/does-not-exist\.yaml: cannot read rules file \(ENOENT\)/);
  });

  it('refuses YAML alias bombs quickly', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
    lines.push('rules: [*a7]');
    const started = Date.now();
    const result = parseRules(lines.join('\n'), 'bomb.yaml');
    expect(result).toMatchObject({ ok: false, errors: ['bomb.yaml: Excessive alias count indicates a resource exhaustion attack'] });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('pathological nesting in a rules file', () => {
  it('refuses [ or { nested deeper than 64 levels before the YAML parser sees it, with line and column', () => {
    for (const text of [`rules: ${'['.repeat(500_000)}`, `rules:\n  - ${'{a: '.repeat(200_000)}`]) {
      const result = parseRules(text, 'deep.yaml');
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]).toMatch(/^deep\.yaml: syntax error: \[ or \{ nested deeper than 64 levels \(line \d+, column \d+\)$/);
      // The code frame shows a window of the 500 KB line, not the line.
      expect(result.diagnostics[0]!.frame!.length).toBeLessThan(600);
    }
  });

  it('does not count brackets in quoted strings or comments, and accepts 64 levels', () => {
    const brackets = '['.repeat(100);
    const ok = parseRules(`# ${brackets}\nrules:\n  - name: "${brackets}"\n    claims: [{ name: a, value: '${brackets}''x' }]\n`, 'quoted.yaml');
    expect(ok.ok).toBe(false);
    if (!ok.ok) expect(ok.errors.join('\n')).not.toContain('nested deeper');
    expect(flowNestingProblem(`${'['.repeat(64)}${']'.repeat(64)}`, MAX_FLOW_NESTING)).toBeUndefined();
    expect(flowNestingProblem(`x\n  ${'['.repeat(65)}`, MAX_FLOW_NESTING)).toEqual({ line: 2, column: 67, offset: 68 });
  });
});

describe('codeFrame', () => {
  it('shows a window of a long line around the column, with the caret under it', () => {
    const frame = codeFrame(`a\n${'x'.repeat(499)}Y${'x'.repeat(500)}\nb`, 2, 500).split('\n');
    expect(frame[0]).toBe('  1 | a');
    expect(frame[1]!.startsWith('> 2 | …')).toBe(true);
    expect(frame[1]!.endsWith('…')).toBe(true);
    expect(frame[1]!.length).toBeLessThan(200);
    expect(frame[1]![frame[2]!.indexOf('^')]).toBe('Y');
    expect(frame[3]).toBe('  3 | b');
  });
});

describe('duplicate keys', () => {
  it('finds a repeated key in any map, at the repeated key, and tells 1 from "1"', () => {
    expect(errorsFor('rules:\n  - name: a\n    claims:\n      - { name: c, value: 1, value: 2 }\n')).toEqual(['rules.yaml: syntax error: Map keys must be unique (line 4, column 30)']);
    expect(parseRules('rules:\n  - name: a\n    claims:\n      - { name: c, value: { 1: a, "1": b } }\n', 'rules.yaml').ok).toBe(true);
  });

  it('checks a map of 50,000 keys in one pass (yaml compared every key with every other: 13 s of a blocked event loop)', () => {
    const text = `rules:\n  - name: a\n    claims:\n      - name: c\n        value:\n${Array.from({ length: 50_000 }, (_, i) => `          k${i}: 1`).join('\n')}\n          k7: 2\n`;
    expect(errorsFor(text)).toEqual([`rules.yaml: syntax error: Map keys must be unique (line ${50_000 + 6}, column 11)`]);
  }, 10_000);
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRules } from '../../src/rules/load';
import { VERSION } from '../../src/version';
import { cli, EXAMPLE_RULES } from './helpers';


const rule = (when: string, extra = "    claims: [{ name: a, value: 1 }]\n"): string => `rules:\n  - name: r\n    when: '${when}'\n${extra}`;

function errors(text: string): string[] {
  const result = parseRules(text, 'rules.yaml');
  return result.ok ? [] : result.errors;
}

function warnings(text: string): string[] {
  const result = parseRules(text, 'rules.yaml');
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.warnings.map((w) => w.text);
}

describe('stricter check: what Okta sends', () => {
  it('fails the two typos that used to fail open, with file, line, column, rule and a hint', () => {
    expect(errors(rule('client.idd == "0oa1"'))).toEqual([
      'rules.yaml: rule "r" (#1): when: client has no field "idd"; did you mean "id"? (client has id, name, type) (line 3, column 19)',
    ]);
    expect(errors(rule('grantType == "client-credentials"'))).toEqual([
      expect.stringMatching(
        /^rules\.yaml: rule "r" \(#1\): when: grantType is never "client-credentials"; did you mean "client_credentials"\? \(grantType is one of: authorization_code, client_credentials, implicit, .*\), so this comparison is always false \(line 3, column 25\)$/,
      ),
    ]);
  });

  it.each([
    ['user.profil.login == "x"', 'user has no field "profil"; did you mean "profile"?'],
    ['has(session.mfa)', 'session has no field "mfa"; did you mean "mfaActive"?'],
    ['session.idp.typ == "OKTA"', 'session.idp has no field "typ"; did you mean "type"?'],
    ['protocol.grant == "x"', 'protocol has no field "grant"; did you mean "grant_type"?'],
    ['user.department == "x"', 'user has no field "department" (user has id, passwordChanged, profile, _links; profile attributes are under user.profile'],
    ['client["nme"] == "x"', 'client has no field "nme"; did you mean "name"?'],
    ['client.type == "public"', 'client.type is never "public"; did you mean "PUBLIC"? (client.type is one of: PUBLIC, CONFIDENTIAL), so this comparison is always false'],
    ['session.status != "active"', 'session.status is never "active"; did you mean "ACTIVE"?'],
    ['request.method in ["GET", "PUT"]', 'request.method is never "PUT"'],
    ['usr.id == "x"', 'Unknown variable: usr (at column 1: `usr`); did you mean "user"?'],
  ])('rejects %s', (when, message) => {
    const found = errors(rule(when));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(message);
  });

  it('keeps open maps open and the raw payload as an escape hatch', () => {
    const text = `lookups:
  crm: { type: http, url: "https://crm.invalid/{user.id}" }
rules:
  - name: open
    when: 'user != null && user.profile.department == "x" && identity.anything == 1 && access.x == 2 && params.foo == "y" && event.data.context.someFutureField == true && lookup.crm.whatever.deep == 1 && grantType == "client_credentials" || grantType in ["implicit", "refresh_token"]'
    claims: [{ name: a, value: 1 }]
`;
    expect(errors(text)).toEqual([]);
  });

  it('suggests the lookup, the key and the template meant', () => {
    const text = `lookups:
  entitlements: { type: http, url: "https://crm.invalid/{user.id}" }
rules:
  - name: r
    when: 'lookup.entitlement.tier == "gold"'
    clams: []
    claims: [{ name: a, value: 1 }]
`;
    expect(errors(text)).toEqual([
      'rules.yaml: rule "r" (#1): clams: unknown key; did you mean "claims"? (allowed: name, description, when, claims, remove, lifetime, onError, deny) (line 6)',
      'rules.yaml: rule "r" (#1): when: lookup "entitlement" is not defined; did you mean "entitlements"? (define it under lookups:; defined: entitlements) (line 5)',
    ]);
  });

  it('says what to do instead of changing a reserved claim, per token', () => {
    const text = `rules:
  - name: r
    claims:
      - { name: groups, value: [a] }
      - { name: sub, value: x }
      - { name: exp, value: 1, tokens: [access] }
`;
    expect(errors(text)).toEqual([
      `rules.yaml: rule "r" (#1): claims[0].name: "groups" is reserved in the id and access tokens; use a differently named claim (e.g. "roles", from an oktaGroups lookup) or the authorization server's groups claim (line 4)`,
      'rules.yaml: rule "r" (#1): claims[1].name: "sub" is reserved in the id token (use tokens: [access] to change it in the access token only) (line 5)',
      'rules.yaml: rule "r" (#1): claims[2].name: "exp" is reserved in the access token; use lifetime: { id: ..., access: ... } to change how long the token lives (line 6)',
    ]);
  });
});

describe('stricter check: warnings', () => {
  it('flags rules that can never match or never change anything', () => {
    expect(warnings(rule('false'))).toEqual(['rules.yaml: rule "r" (#1): when: never matches: the condition is always false (line 3)']);
    expect(warnings(rule('client.id == "a" && client.id == "b"'))).toEqual([
      'rules.yaml: rule "r" (#1): when: never matches: client.id cannot be both "a" and "b" (line 3)',
    ]);
    expect(warnings(rule('grantType == "client_credentials" && user != null'))).toEqual([
      'rules.yaml: rule "r" (#1): when: never matches: client_credentials calls carry no user, session or ID token, so user != null is never true with grantType == "client_credentials" (line 3)',
    ]);
    expect(warnings(rule('grantType == "client_credentials"', '    claims: [{ name: a, value: 1, tokens: [id] }]\n'))).toEqual([
      'rules.yaml: rule "r" (#1): when: changes only the id token, which is never minted for client_credentials calls (add tokens: [access]) (line 3)',
    ]);
    expect(warnings('rules:\n  - name: nobody\n    deny: closed\n')).toEqual([
      'rules.yaml: rule "nobody" (#1): deny: denies every token request (no condition): no token is issued while this rule is in the file (line 3)',
    ]);
  });

  it('flags claims always overridden by a later rule, and "/" names that look like members', () => {
    const text = `rules:
  - name: first
    when: 'user != null'
    claims:
      - { name: tier, value: gold, tokens: [access] }
      - { name: employee_profile/department, value: x, tokens: [id] }
  - name: last
    claims: [{ name: tier, value: basic }]
`;
    expect(warnings(text)).toEqual([
      'rules.yaml: rule "first" (#1): claims[1].name: "employee_profile/department" is a new top-level claim with a "/" in its name; to change a member of the existing claim "employee_profile", write name: employee_profile, member: department (line 6)',
      'rules.yaml: rule "first" (#1): claims[0].name: "tier" (access token) is always overridden by rule "last" (#2), which has no condition and runs later (later rules win) (line 5)',
    ]);
  });

  it('flags member changes another rule drops by changing the whole claim', () => {
    const text = `rules:
  - name: a
    claims: [{ name: employee_profile, member: department, value: X, tokens: [id] }]
  - name: b
    when: 'user != null'
    remove: [{ name: employee_profile, tokens: [id] }]
`;
    expect(warnings(text)).toEqual([
      'rules.yaml: rule "a" (#1): claims[0].name: "employee_profile.department" is left out whenever rule "b" (#2) also matches: it sets or removes the whole claim "employee_profile", which wins over changes inside it (line 3)',
    ]);
  });

  it('prints warnings without failing, unless --strict', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'check-'));
    try {
      const file = join(dir, 'rules.yaml');
      await writeFile(file, rule('false'));
      const lenient = await cli('check', file);
      expect(lenient.code).toBe(0);
      expect(lenient.err).toContain(`warning: ${file}: rule "r" (#1): when: never matches: the condition is always false (line 3)\n`);
      expect(lenient.err).toContain("    > 3 |     when: 'false'\n");
      expect(lenient.err).toContain(`${file}: 1 warning (the service starts anyway; --strict fails on warnings)\n`);
      const strict = await cli('check', '--strict', file);
      expect(strict.code).toBe(1);
      expect(strict.err).toContain('1 warning (--strict: failing)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('check on the command line', () => {
  it('shows YAML syntax errors with line, column and a code frame', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'check-'));
    try {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, 'rules:\n  - name: a\n    claims: [{ name: x, value: 1 }\n  - name: b\n');
      const { code, err } = await cli('check', file);
      expect(code).toBe(1);
      expect(err).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: syntax error: .* \\(line \\d+, column \\d+\\)\n`));
      expect(err).toMatch(/\n {4}> +\d+ \| .*\n {4} +\| +\^/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks several files in one run and fails if any is invalid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'check-'));
    try {
      const bad = join(dir, 'bad.yaml');
      await writeFile(bad, rule('client.idd == "x"'));
      const { code, out, err } = await cli('check', EXAMPLE_RULES, bad);
      expect(code).toBe(1);
      expect(out).toContain(`${EXAMPLE_RULES}: OK, 7 rules`);
      expect(err).toContain(`${bad}: rule "r" (#1): when: client has no field "idd"`);
      expect(err).toContain('    > 3 |     when: \'client.idd == "x"\'\n        |                   ^^^\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('has --help on every subcommand, and --version', async () => {
    for (const command of ['check', 'explain', 'preview', 'test']) {
      const { code, out } = await cli(command, '--help');
      expect({ command, code }).toEqual({ command, code: 0 });
      expect(out).toMatch(new RegExp(`^Usage: okta-token-hook ${command} `));
    }
    expect((await cli('help', 'preview')).out).toMatch(/^Usage: okta-token-hook preview /);
    expect(await cli('--version')).toEqual({ code: 0, out: `okta-token-hook ${VERSION}\n`, err: '' });
    const typo = await cli('chek', 'x');
    expect(typo.code).toBe(2);
    expect(typo.err).toContain('unknown command "chek"; did you mean "check"?');
  });
});

import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEMPLATE_NAMES, TEMPLATE_SOURCES, template } from '../../src/rules/testing/templates';
import { applyOverride, parseOverridePath } from '../../src/rules/testing/request';
import { parseTestFile } from '../../src/rules/testing/spec';
import { oktaFixture } from '../helpers/fixtures';
import { cli } from './helpers';


const RULES = `lookups:
  crm:
    type: http
    url: https://crm.invalid/users/{user.id}
    timeoutMs: 200
rules:
  - name: hello
    claims: [{ name: greeting, value: hi }]
  - name: tier
    when: 'user != null'
    claims:
      - name: tier
        expr: 'lookup.crm.tier'
        fallback: basic
        tokens: [access]
  - name: region
    when: 'user != null'
    claims:
      - name: region
        expr: 'lookup.crm.region'
        tokens: [access]
  - name: suspended
    when: 'user != null && user.profile.login.endsWith("@suspended.example.com")'
    deny: Account is suspended
  - name: never-tested
    when: 'client.id == "0oaNobodyTestsThis00"'
    claims: [{ name: x, value: 1 }]
`;

describe('okta-token-hook test', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rule-tests-'));
    await writeFile(join(dir, 'rules.yaml'), RULES);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const write = async (name: string, text: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };

  it('passes the shipped examples (the same run as npm run test:rules)', async () => {
    const { code, out } = await cli('test', join(__dirname, '..', '..', 'examples', '*.test.yaml'));
    expect(out).toMatch(/\n\d+ passed, 0 failed\n$/);
    expect(out).not.toContain('Never matched in tests');
    expect(code).toBe(0);
  });

  it('reports a wrong expected claim with expected vs actual per token and exits 1', async () => {
    const file = await write(
      'wrong.test.yaml',
      `rules: rules.yaml
tests:
  - name: greeting is wrong
    request: { template: client_credentials }
    expect:
      access: { claims: { greeting: hello } }
  - name: greeting is right
    request: { template: client_credentials }
    expect:
      access: { claims: { greeting: hi } }
`,
    );
    const { code, out } = await cli('test', file);
    expect(code).toBe(1);
    expect(out).toContain(`  FAILED (1 of 2):\n    "greeting is wrong" (${file}:3):\n      access token, claim "greeting":\n        expected: "hello"\n        actual:   "hi"\n`);
    expect(out).toContain('      access token after the hook (+ added, - removed, ~ changed):\n        + greeting: "hi"\n');
    expect(out.endsWith('\n1 passed, 1 failed\n')).toBe(true);
    expect(out).toContain(`Never matched in tests (${join(dir, 'rules.yaml')}): tier, region, suspended, never-tested\n`);
  });

  it('runs stubbed lookup failures through fallback and onError like the service', async () => {
    const file = await write(
      'lookups.test.yaml',
      `rules: rules.yaml
lookups:
  crm: { value: { tier: gold, region: eu } }
tests:
  - name: values from the stub
    request: { template: authorization_code }
    expect:
      access: { claims: { tier: gold, region: eu } }
      rules: { matched: [hello, tier, region] }
  - name: a timeout takes the fallback where there is one, and skips the rule where there is none
    request: { template: authorization_code }
    lookups: { crm: timeout }
    expect:
      access: { claims: { tier: basic }, absent: [region] }
      rules: { errored: [region] }
  - name: wrong on purpose - expects region despite the timeout
    request: { template: authorization_code }
    lookups: { crm: circuit_open }
    expect:
      access: { claims: { region: eu } }
`,
    );
    const { code, out } = await cli('test', file);
    expect(code).toBe(1);
    expect(out).toContain('      access token, claim "region":\n        expected: "eu"\n        actual:   (absent)\n');
    expect(out).toContain('      rule "region" failed: claims[0].expr: lookup "crm" failed (circuit_open: stub: circuit breaker open); onError: skip\n');
    expect(out).toContain('      rule "tier": tier took its fallback (lookup crm failed)\n');
    expect(out).toContain('      lookup crm: circuit_open (stub: circuit breaker open)\n');
    expect(out).toMatch(/\n2 passed, 1 failed\n$/);
  });

  it('checks denies and their message', async () => {
    const file = await write(
      'deny.test.yaml',
      `rules: rules.yaml
lookups: { crm: not_found }
tests:
  - name: suspended users are refused
    request: { template: authorization_code, set: { user.profile.login: a@suspended.example.com } }
    expect: { denied: Account is suspended }
  - name: wrong message
    request: { template: authorization_code, set: { user.profile.login: a@suspended.example.com } }
    expect: { denied: Account suspended }
  - name: expects tokens but the user is refused
    request: { template: authorization_code, set: { user.profile.login: a@suspended.example.com } }
    expect: { access: { claims: { greeting: hi } } }
  - name: expects a deny that does not happen
    request: { template: authorization_code }
    expect: { denied: true }
`,
    );
    const { code, out } = await cli('test', file);
    expect(code).toBe(1);
    expect(out).toContain('"wrong message"');
    expect(out).toContain('      outcome:\n        expected: denied: "Account suspended"\n        actual:   denied: "Account is suspended"\n');
    expect(out).toContain('      outcome:\n        expected: tokens issued\n        actual:   denied: "Account is suspended"\n');
    expect(out).toContain('      outcome:\n        expected: denied\n        actual:   patched\n');
    expect(out).toMatch(/\n1 passed, 3 failed\n$/);
  });

  it('fails every case of a broken rules file, naming the problem, and writes JUnit XML', async () => {
    await write('broken.yaml', 'rules:\n  - name: broken\n    when: "client.id =="\n    claims: [{ name: a, value: 1 }]\n');
    const file = await write('broken.test.yaml', 'rules: broken.yaml\ntests:\n  - name: anything\n    request: { template: implicit }\n    expect: { unchanged: true }\n');
    const junit = join(dir, 'junit.xml');
    const { code, out } = await cli('test', '--junit', junit, file);
    expect(code).toBe(1);
    expect(out).toContain(`  FAILED (the file could not be used):\n    ${file}: rules file ${join(dir, 'broken.yaml')} is invalid, so no case can run:\n`);
    expect(out).toMatch(/rule "broken" \(#1\): when: CEL syntax error/);
    expect(out).toMatch(/\n0 passed, 1 failed\n$/);
    const xml = await readFile(junit, 'utf8');
    expect(xml).toContain('<testsuites name="okta-token-hook test" tests="1" failures="1"');
    expect(xml).toMatch(/<failure message="[^"]*is invalid, so no case can run:"/);
  });

  it('writes one JUnit testcase per case, with the failure text', async () => {
    const file = await write(
      'j.test.yaml',
      'rules: rules.yaml\ntests:\n  - name: ok <1>\n    request: { template: client_credentials }\n    expect: { access: { present: [greeting] } }\n  - name: bad & wrong\n    request: { template: client_credentials }\n    expect: { access: { lifetime: 600 } }\n',
    );
    const junit = join(dir, 'out.xml');
    await cli('test', '--junit', junit, file);
    const xml = await readFile(junit, 'utf8');
    expect(xml).toContain('tests="2" failures="1"');
    expect(xml).toMatch(/<testcase name="ok &lt;1&gt;" classname="[^"]+j\.test\.yaml" time="[0-9.]+"\/>/);
    expect(xml).toContain('<testcase name="bad &amp; wrong"');
    expect(xml).toContain('<failure message="1 expectation not met">');
    expect(xml).toContain('access token, lifetime:\n    expected: 600 s\n    actual:   3600 s');
  });

  it('fails a case whose rules read a lookup it does not stub (no network, ever)', async () => {
    const file = await write('nostub.test.yaml', 'rules: rules.yaml\ntests:\n  - name: forgot the stub\n    request: { template: authorization_code }\n    expect: { access: { present: [greeting] } }\n');
    const { code, out } = await cli('test', file);
    expect(code).toBe(1);
    expect(out).toContain('error: lookup "crm" (read by rule "tier", "region") is not stubbed: add lookups: { crm: { value: ... } }');
  });

  it('reports invalid test files with file, line and a did-you-mean', async () => {
    const file = await write(
      'invalid.test.yaml',
      'rules: rules.yaml\ntests:\n  - name: typo\n    request: { template: authorization_cod }\n    lookups: { crm: timout }\n    expect: { acess: { claims: {} } }\n',
    );
    const { code, out } = await cli('test', file);
    expect(code).toBe(1);
    expect(out).toContain(`${file}:4: tests[0].request.template: unknown template string "authorization_cod"; did you mean "authorization_code"?`);
    expect(out).toContain(`${file}:5: tests[0].lookups.crm: "timout" is not a stub; did you mean "timeout"?`);
    expect(out).toContain(`${file}:6: tests[0].expect.acess: unknown key; did you mean "access"?`);
  });

  it('refuses a test file nested deeper than 256 levels of [ or { as a syntax error (the YAML parser aborted the process on such text)', async () => {
    const file = await write('deep.test.yaml', `rules: rules.yaml\ntests: ${'['.repeat(300_000)}\n`);
    const { code, out } = await cli('test', file);
    expect(code).toBe(1);
    expect(out).toContain(`${file}:2:264: syntax error: [ or { nested deeper than 256 levels`);
  });

  it('runs several files and globs, and exits 2 when nothing matches', async () => {
    await write('a.test.yaml', 'rules: rules.yaml\ntests:\n  - name: a\n    request: { template: client_credentials }\n    expect: { access: { present: [greeting] } }\n');
    await write('b.test.yaml', 'rules: rules.yaml\ntests:\n  - name: b\n    request: { template: client_credentials }\n    expect: { id: { present: [greeting] } }\n');
    const { code, out } = await cli('test', join(dir, '*.test.yaml'), join(dir, 'a.test.yaml'));
    expect(code).toBe(1);
    expect(out).toContain(`Unit Testing: ${join(dir, 'a.test.yaml')}`);
    expect(out).toContain('      id token:\n        expected: minted\n        actual:   not minted in this request (no data.identity)\n');
    expect(out).toMatch(/\n1 passed, 1 failed\n$/);
    const none = await cli('test', join(dir, 'nothing-*.yaml'));
    expect(none.code).toBe(2);
    expect(none.err).toContain('no file matches');
  });

  it('has --help and exits 2 without files', async () => {
    expect((await cli('test', '--help')).out).toContain('Usage: okta-token-hook test [--junit FILE]');
    const { code, err } = await cli('test');
    expect(code).toBe(2);
    expect(err).toContain('test needs at least one TEST_FILE');
  });
});

describe('test requests', () => {
  it('ship templates equal to the Okta fixtures they are named after', () => {
    for (const name of TEMPLATE_NAMES) expect(template(name)).toEqual(oktaFixture(TEMPLATE_SOURCES[name]));
  });

  it('override with the names rules read', () => {
    const event = template('authorization_code');
    applyOverride(event, 'client.id', '0oaOther');
    applyOverride(event, 'scopes', ['openid', 'x:read']);
    applyOverride(event, 'grantType', 'refresh_token');
    applyOverride(event, 'params.clinic_hint', 'west');
    applyOverride(event, 'access["https://example.com/claims/roles"]', ['admin']);
    applyOverride(event, 'session', null);
    applyOverride(event, 'identity', null);
    applyOverride(event, 'user.profile.department', 'Oncology');
    const context = event.data.context!;
    expect(context.protocol?.client?.id).toBe('0oaOther');
    expect(context.protocol?.request?.client_id).toBe('0oaOther');
    expect(Object.keys(event.data.access?.scopes ?? {})).toEqual(['openid', 'x:read']);
    expect(context.protocol?.request?.scope).toBe('openid x:read');
    expect(context.protocol?.request?.grant_type).toBe('refresh_token');
    expect(new URL(context.request?.url?.value ?? '').searchParams.get('clinic_hint')).toBe('west');
    expect(event.data.access?.claims?.['https://example.com/claims/roles']).toEqual(['admin']);
    expect(context.session).toBeUndefined();
    expect(event.data.identity).toBeUndefined();
    expect(context.user?.profile?.department).toBe('Oncology');
    expect(parseOverridePath('session.amr[0]')).toEqual(['session', 'amr', 0]);
    expect(() => applyOverride(event, 'usr.id', 'x')).toThrow(/unknown root "usr"/);
  });

  it('parse files with each case line for the report', () => {
    const text = readFileSync(join(__dirname, '..', '..', 'examples', 'rules.test.yaml'), 'utf8');
    const parsed = parseTestFile(text, 'rules.test.yaml');
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.spec.cases[0]?.line).toBeGreaterThan(1);
  });
});

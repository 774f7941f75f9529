import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildResponse } from '../../src/hook/builder';
import { RulesManager } from '../../src/rules/manager';
import { RulesFileError } from '../../src/rules/types';
import type { ExplainReport } from '../../src/rules/explain';
import { cli, engineForFile, EXAMPLE_RULES, rulesFixturePath } from './helpers';
import { oktaFixture } from '../helpers/fixtures';

const OKTA = join(__dirname, '..', 'fixtures', 'okta');
const payload = (name: string): string => join(OKTA, `${name}.json`);


describe('okta-token-hook check', () => {
  it('exits 0 with a summary for a valid file', async () => {
    const { code, out, err } = await cli('check', EXAMPLE_RULES);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toMatch(new RegExp(`^${EXAMPLE_RULES.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK, 7 rules, 1 lookup \\(version [0-9a-f]{12}\\)\n`));
    expect(out).toContain('  lookup entitlements: http GET http://127.0.0.1:8090/users/{user.id}/entitlements; timeout 300 ms; cache 60 s\n');
    expect(out).toContain('; reads lookup entitlements\n');
    expect(out).toContain('  #1 hello: always; set custom-claim [id+access]\n');
    expect(out).toContain('  #5 service-tokens: when grantType == "client_credentials"; set token_use [access], permissions [access]; lifetime access=900s\n');
  });

  it('exits 1 with the same messages the service logs at startup', async () => {
    const file = rulesFixturePath('invalid-structure.yaml');
    const { code, out, err } = await cli('check', file);
    expect(code).toBe(1);
    expect(out).toBe('');
    const startup = await RulesManager.create({ file, watch: false }).catch((e: unknown) => e);
    expect(startup).toBeInstanceOf(RulesFileError);
    // Each message the service logs, in order, each followed by its code frame (indented).
    const lines = err.trimEnd().split('\n');
    expect(lines.filter((line) => !line.startsWith('    ')).slice(0, -1)).toEqual((startup as RulesFileError).errors);
    expect(err).toContain("    > 18 |     whenn: 'true'\n");
    expect(lines.at(-1)).toBe(`${file}: 6 errors; the service would refuse to start with this file`);
  });

  it('exits 2 when the file cannot be read', async () => {
    const { code, err } = await cli('check', rulesFixturePath('nope.yaml'));
    expect(code).toBe(2);
    expect(err).toMatch(/nope\.yaml: cannot read rules file \(ENOENT\)/);
  });

  it('exits 2 with usage on bad arguments', async () => {
    for (const argv of [[], ['check'], ['frobnicate'], ['check', '--verbose', 'x']]) {
      const { code, err } = await cli(...argv);
      expect({ argv, code }).toEqual({ argv, code: 2 });
      expect(err).toContain('Usage:');
    }
  });

  it('prints usage and exits 0 for --help', async () => {
    const { code, out } = await cli('--help');
    expect(code).toBe(0);
    expect(out).toContain('explain  --rules RULES_FILE --request PAYLOAD.json');
    expect(out).toContain('okta-token-hook COMMAND --help');
  });
});

describe('okta-token-hook explain', () => {
  it('prints each rule, its condition and its changes per token, and the exact response', async () => {
    const { code, out, err } = await cli('explain', '--rules', EXAMPLE_RULES, '--request', payload('token-hook-minimal'));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('Request:  event kP3xQ9vTRm2Lw8sYbN4aZg, client 0oa1b2c3d4E5f6G7h8i9, grant authorization_code, tokens access\n');
    expect(out).toContain('Outcome:  patched (2 operations, 1 skipped)\n');
    expect(out).toContain('#1 hello: matched (no condition)\n');
    expect(out).toContain('     id     set custom-claim = "hello-from-hook"  ->  SKIPPED: no id token is being minted in this call\n');
    expect(out).toContain('     access set custom-claim = "hello-from-hook"  ->  applied (add)\n');
    expect(out).toContain('#3 patient-portal: not matched (condition = false)\n     when: client.id == "0oa7h3j5k7L9z1X3c5v7"\n');
    expect(out).toContain('Skipped changes:\n  - id token, custom-claim (rule "hello"): no id token is being minted in this call\n');
    // The response printed is exactly what the service builds.
    const engine = engineForFile(EXAMPLE_RULES);
    const event = oktaFixture('token-hook-minimal');
    const expected = buildResponse(event, await engine.evaluate(event), { debugContext: true, version: engine.version }).response;
    const printed = out.slice(out.indexOf('Response (HTTP 200'));
    expect(JSON.parse(printed.slice(printed.indexOf('\n') + 1))).toEqual(expected);
  });

  it('explains overridden and absent changes, lifetimes and runtime errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'explain-'));
    try {
      const rules = join(dir, 'rules.yaml');
      await writeFile(
        rules,
        `rules:
  - name: base
    claims: [{ name: tier, value: bronze, tokens: [access] }]
    remove: [{ name: nickname, tokens: [access] }]
  - name: upgrade
    when: '"patients:read" in scopes'
    claims: [{ name: tier, value: gold, tokens: [access] }]
    lifetime: { access: 1200 }
  - name: broken
    claims: [{ name: dept, expr: 'user.profile.department' }]
`,
      );
      const { code, out } = await cli('explain', '--rules', rules, '--request', payload('token-hook-authcode-full'), '--no-debug-context');
      expect(code).toBe(0);
      expect(out).toContain('     access set tier = "bronze"  ->  SKIPPED: overridden by rule "upgrade" (later rules win)\n');
      expect(out).toContain('     access remove nickname  ->  SKIPPED: "nickname" is not in the access token, nothing to remove\n');
      expect(out).toContain('     access set tier = "gold"  ->  applied (add)\n');
      expect(out).toContain('     access lifetime = 1200 s  ->  applied (replace /token/lifetime/expiration)\n');
      expect(out).toContain('#3 broken: ERROR claims[0].expr: no_such_key at `user.profile.department` (No such key: department); onError: skip, the rule changes nothing\n');
      expect(out).not.toContain('debugContext');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shows a denied token and the error response', async () => {
    const { code, out } = await cli('explain', '--rules', EXAMPLE_RULES, '--request', rulesFixturePath('payload-suspended-user.json'));
    expect(code).toBe(0);
    expect(out).toContain('Outcome:  denied by rule "block-suspended": no token is issued\n');
    expect(out).toContain('#2 block-suspended: matched (condition = true), denies: "Account is suspended"\n');
    expect(out).toContain('     access set custom-claim = "hello-from-hook"  ->  not applied: token refused by rule "block-suspended"\n');
    expect(out).toContain('"errorSummary": "Account is suspended"');
  });

  it('prints a machine-readable report with --json', async () => {
    const { code, out } = await cli('explain', '--json', '--rules', EXAMPLE_RULES, '--request', payload('token-hook-client-credentials'));
    expect(code).toBe(0);
    const report = JSON.parse(out) as ExplainReport;
    expect(report.outcome).toBe('patched');
    expect(report.rules).toMatchObject({ file: EXAMPLE_RULES, count: 7 });
    const service = report.explained.find((r) => r.name === 'service-tokens');
    expect(service).toMatchObject({ number: 5, result: 'matched', condition: true });
    expect(service?.changes).toEqual([
      { token: 'access', kind: 'set', claim: 'token_use', value: 'service', status: 'applied', op: 'add' },
      { token: 'access', kind: 'set', claim: 'permissions', value: ['read', 'write'], status: 'applied', op: 'add' },
      { token: 'access', kind: 'lifetime', claim: '/token/lifetime/expiration', value: 900, status: 'applied', op: 'lifetime' },
    ]);
    expect(report.skipped).toEqual([{ token: 'identity', claim: 'custom-claim', reason: 'token_not_minted', rule: 'hello' }]);
  });

  it('exits 1 for invalid rules and 2 for usage, unreadable or invalid payloads', async () => {
    expect((await cli('explain', '--rules', rulesFixturePath('invalid-cel.yaml'), '--request', payload('token-hook-minimal'))).code).toBe(1);
    expect((await cli('explain', '--rules', EXAMPLE_RULES)).code).toBe(2);
    expect((await cli('explain', '--request', payload('token-hook-minimal'))).code).toBe(2);
    const missing = await cli('explain', '--rules', EXAMPLE_RULES, '--request', payload('nope'));
    expect(missing).toMatchObject({ code: 2, out: '' });
    expect(missing.err).toMatch(/nope\.json: cannot read \(ENOENT\)/);
    const notJson = await cli('explain', '--rules', EXAMPLE_RULES, '--request', EXAMPLE_RULES);
    expect(notJson.code).toBe(2);
    expect(notJson.err).toMatch(/not valid JSON/);
    const notHook = await cli('explain', '--rules', EXAMPLE_RULES, '--request', rulesFixturePath('valid-rules.json'));
    expect(notHook.code).toBe(2);
    expect(notHook.err).toMatch(/not a token hook payload: Unsupported or missing eventType/);
  });

  it('is a node script with a shebang (package bin)', () => {
    const source = readFileSync(join(__dirname, '..', '..', 'src', 'cli.ts'), 'utf8');
    expect(source.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(source).not.toMatch(/from 'koa'|require\('koa'\)/);
  });
});

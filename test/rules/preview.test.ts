import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OKTA_FIXTURES } from '../helpers/fixtures';
import { cli, EXAMPLE_RULES, rulesFixturePath } from './helpers';

const OKTA = join(__dirname, '..', 'fixtures', 'okta');
const NESTED_RULES = join(__dirname, '..', '..', 'examples', 'nested-claims.yaml');


interface PreviewJson {
  outcome: string;
  message?: string;
  tokens: { token: string; minted: boolean; before?: Record<string, unknown>; after?: Record<string, unknown>; lifetime?: { before?: number; after?: number }; diff: { path: string; kind: string }[] }[];
  skipped: { token: string; claim: string; why: string }[];
  response: unknown;
}

describe('okta-token-hook preview', () => {
  it.each(OKTA_FIXTURES)('shows the final claims of every token for %s', async (fixture) => {
    const { code, out, err } = await cli('preview', '--json', '--offline', '--rules', EXAMPLE_RULES, '--request', join(OKTA, `${fixture}.json`));
    expect(err).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out) as PreviewJson;
    expect(['patched', 'unchanged']).toContain(report.outcome);
    for (const token of report.tokens) {
      if (!token.minted) {
        expect(token.after).toBeUndefined();
        continue;
      }
      // The static claim of rule "hello" is in every minted token; the request's own claims are kept.
      expect(token.after?.['custom-claim']).toBe('hello-from-hook');
      for (const [claim, value] of Object.entries(token.before ?? {})) {
        if (claim !== 'locale') expect(token.after?.[claim]).toEqual(value);
      }
    }
  });

  it('prints before/after per token with lifetimes and what was left out', async () => {
    const { code, out } = await cli('preview', '--offline', '--rules', EXAMPLE_RULES, '--template', 'client_credentials');
    expect(code).toBe(0);
    expect(out).toContain('Outcome:  patched: Okta issues the tokens below\n');
    expect(out).toContain('ID token: not minted in this call (no data.identity in the request)\n');
    expect(out).toContain('Access token (lifetime 3600 s -> 900 s; 4 claims changed):\n');
    expect(out).toContain('    cid: "0oa9s1d3f5G7h9J1k3l5"\n');
    expect(out).toContain('  + permissions: ["read","write"]\n');
    expect(out).toContain('  - id token, custom-claim (rule "hello"): no id token is being minted in this call\n');
  });

  it('shows nested members and array elements as Okta applies them', async () => {
    const { code, out } = await cli(
      'preview',
      '--rules',
      NESTED_RULES,
      '--template',
      'implicit',
      '--set',
      'params.clinic_hint=west-wing',
      '--set',
      'params.cost_center=CC-7',
    );
    expect(code).toBe(0);
    expect(out).toContain('  - employee_profile.employee_id: "E-20931"\n');
    expect(out).toContain('  + employee_profile.cost_center: "CC-7"\n');
    expect(out).toContain('  ~ preferred_clinics: ["north-campus","east-annex"] -> ["north-campus","west-wing"]\n');
    expect(out).toContain('    employee_profile.department: "Cardiology"\n');
  });

  it('explains a member change whose parent is missing in claims', async () => {
    const { out } = await cli('preview', '--rules', NESTED_RULES, '--template', 'authorization_code', '--set', 'identity.employee_profile=null', '--set', 'params.cost_center=CC-7');
    expect(out).toContain('Outcome:  unchanged: Okta issues the tokens as they are in the request\n');
    expect(out).toContain(
      '  - id token, employee_profile.cost_center (rule "cost-center"): its parent is not in the id token (or is not an object/array): Okta only patches members and elements of claims the token already has\n',
    );
  });

  it('shows the deny message the client gets', async () => {
    const { code, out } = await cli('preview', '--offline', '--rules', EXAMPLE_RULES, '--request', rulesFixturePath('payload-suspended-user.json'));
    expect(code).toBe(0);
    expect(out).toContain('Outcome:  DENIED by rule "block-suspended": Okta issues no token; the client gets error=server_error, error_description="Account is suspended"\n');
    expect(out).toContain('Access token: not issued (denied)\n');
    const json = JSON.parse((await cli('preview', '--json', '--offline', '--rules', EXAMPLE_RULES, '--request', rulesFixturePath('payload-suspended-user.json'))).out) as PreviewJson;
    expect(json).toMatchObject({ outcome: 'denied', message: 'Account is suspended', deniedBy: 'block-suspended' });
  });

  it('stubs lookups from the command line (value, @file, failures) without calling them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'preview-'));
    try {
      const value = join(dir, 'crm.json');
      await writeFile(value, JSON.stringify({ entitlements: ['orders'], tier: 'gold' }));
      const base = ['preview', '--json', '--rules', EXAMPLE_RULES, '--template', 'authorization_code', '--set', 'client.id=0oaW0rkb3nchCl13nt01'];
      const fromFile = JSON.parse((await cli(...base, '--lookup', `entitlements=@${value}`)).out) as PreviewJson;
      expect(fromFile.tokens[1]?.after).toMatchObject({ entitlements: ['orders'], tier: 'gold' });
      const inline = JSON.parse((await cli(...base, '--lookup', 'entitlements={"tier":"silver"}')).out) as PreviewJson;
      expect(inline.tokens[1]?.after).toMatchObject({ entitlements: [], tier: 'silver' });
      const timeout = JSON.parse((await cli(...base, '--lookup', 'entitlements=timeout')).out) as PreviewJson;
      expect(timeout.tokens[1]?.after).toMatchObject({ entitlements: [], tier: 'basic' });
      const typo = await cli(...base, '--lookup', 'entitlement=timeout');
      expect(typo.code).toBe(2);
      expect(typo.err).toContain('defines no lookup "entitlement"; did you mean "entitlements"?');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('has --help and usage errors', async () => {
    expect((await cli('preview', '--help')).out).toContain('--lookup NAME=VALUE');
    const both = await cli('preview', '--rules', EXAMPLE_RULES, '--template', 'implicit', '--request', 'x.json');
    expect(both.code).toBe(2);
    expect(both.err).toContain('give exactly one of --request PAYLOAD.json or --template NAME');
    const typo = await cli('preview', '--rules', EXAMPLE_RULES, '--template', 'implict');
    expect(typo.err).toContain('unknown template "implict"; did you mean "implicit"?');
  });
});

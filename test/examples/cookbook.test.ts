/**
 * The cookbook (examples/cookbook/<recipe>/): every recipe is checked like the service loads it
 * (`okta-token-hook check`) and its tests pass (`okta-token-hook test`), every recipe says when Okta
 * does it natively, and the recipes the docs promise exist.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli';

const COOKBOOK = join(__dirname, '..', '..', 'examples', 'cookbook');
const recipes = readdirSync(COOKBOOK).filter((name) => statSync(join(COOKBOOK, name)).isDirectory());

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** Rules of a recipe: every YAML file but the tests, and rules directories. */
function rulesOf(recipe: string): string[] {
  const dir = join(COOKBOOK, recipe);
  return readdirSync(dir)
    .filter((name) => (name.endsWith('.yaml') && !name.endsWith('.test.yaml')) || (statSync(join(dir, name)).isDirectory() && name.endsWith('.d')))
    .map((name) => join(dir, name));
}

const testsOf = (recipe: string): string[] =>
  readdirSync(join(COOKBOOK, recipe))
    .filter((name) => name.endsWith('.test.yaml'))
    .map((name) => join(COOKBOOK, recipe, name));

describe('the cookbook', () => {
  it('has the recipes the issue and the docs list', () => {
    expect(recipes.sort()).toEqual(
      [
        'app-roles-from-groups',
        'client-credentials-lifetime',
        'deny-contractors-on-one-app',
        'edit-object-member',
        'entitlements-api',
        'namespaced-claims',
        'per-authorization-server',
        'step-up-mfa',
        'tenant-id',
      ].sort(),
    );
    const index = readFileSync(join(COOKBOOK, 'README.md'), 'utf8');
    for (const recipe of recipes) expect(index).toContain(`(${recipe}/README.md)`);
  });

  describe.each(recipes)('%s', (recipe) => {
    it('has rules, tests and a README saying when Okta does it natively', () => {
      expect(rulesOf(recipe).length).toBeGreaterThan(0);
      expect(testsOf(recipe).length).toBeGreaterThan(0);
      const readme = readFileSync(join(COOKBOOK, recipe, 'README.md'), 'utf8');
      expect(readme).toMatch(/^# /);
      expect(readme).toContain('**When Okta does it natively.**');
    });

    it('passes okta-token-hook check (as the service would load it), with no warning', async () => {
      for (const rules of rulesOf(recipe)) {
        const result = await cli('check', '--strict', rules);
        expect({ rules, code: result.code, err: result.err }).toEqual({ rules, code: 0, err: '' });
        expect(result.out).toContain(': OK,');
      }
    });

    it('passes its rule tests, and every rule of the recipe is exercised', async () => {
      const result = await cli('test', ...testsOf(recipe));
      expect({ code: result.code, out: result.out }).toEqual({ code: 0, out: expect.stringMatching(/\n\d+ passed, 0 failed\n?$/) });
      expect(result.out).not.toMatch(/never matched|no case matched/i);
    });
  });
});

/**
 * The command line judges rules under the service's CEL limits: RULES_MAX_COST,
 * RULES_MAX_ITERATIONS and RULES_MAX_EVALUATION_MS from the environment (same bounds as at
 * startup), and `--max-cost` over RULES_MAX_COST, for check, explain, preview and test.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli';
import { EXAMPLE_RULES } from './helpers';

/** examples/rules.yaml's costliest expression (filter then map over the scopes) is estimated at 1,307. */
const COSTLIEST = 1307;
const EXAMPLE_TESTS = join(__dirname, '..', '..', 'examples', 'rules.test.yaml');

async function run(env: Record<string, string>, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env });
  return { code, out, err };
}

describe('CEL limits on the command line', () => {
  it('check refuses an expression over RULES_MAX_COST, as the service would at startup', async () => {
    expect((await run({}, 'check', EXAMPLE_RULES)).code).toBe(0);
    const { code, err } = await run({ RULES_MAX_COST: '1000' }, 'check', EXAMPLE_RULES);
    expect(code).toBe(1);
    expect(err).toContain(`is too expensive: estimated cost ${COSTLIEST.toLocaleString('en-US')} is above the budget of 1,000`);
    expect(err).toContain('1 error; the service would refuse to start with this file');
  });

  it('--max-cost takes precedence over RULES_MAX_COST', async () => {
    expect((await run({ RULES_MAX_COST: '1000' }, 'check', '--max-cost', '2000', EXAMPLE_RULES)).code).toBe(0);
    const { code, err } = await run({}, 'check', '--max-cost', '1000', EXAMPLE_RULES);
    expect(code).toBe(1);
    expect(err).toContain('above the budget of 1,000');
  });

  it('an invalid limit is a usage error naming the variable, with the service bounds', async () => {
    const fromEnv = await run({ RULES_MAX_COST: 'lots' }, 'check', EXAMPLE_RULES);
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.err).toContain('okta-token-hook: Invalid configuration: RULES_MAX_COST (rules.maxCost): must be an integer between 1000 and 1000000000');
    const fromFlag = await run({}, 'check', '--max-cost', '5', EXAMPLE_RULES);
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.err).toContain('(--max-cost or the environment)');
    expect((await run({ RULES_MAX_ITERATIONS: '0' }, 'check', EXAMPLE_RULES)).err).toContain('RULES_MAX_ITERATIONS (rules.maxIterations): must be an integer between 1 and 100000000');
  });

  it('explain and preview evaluate under RULES_MAX_ITERATIONS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-limits-'));
    try {
      const rules = join(dir, 'rules.yaml');
      await writeFile(rules, `rules:\n  - name: scopes-upper\n    claims: [{ name: upper, expr: 'scopes.map(s, s.upperAscii())', tokens: [access] }]\n`);
      const args = ['--rules', rules, '--template', 'authorization_code', '--offline'];
      const free = await run({}, 'explain', ...args);
      expect(free.code).toBe(0);
      expect(free.out).toContain('#1 scopes-upper: matched');
      const limited = await run({ RULES_MAX_ITERATIONS: '1' }, 'explain', ...args);
      expect(limited.code).toBe(0);
      expect(limited.out).toContain('#1 scopes-upper: ERROR claims[0].expr: evaluation_limit');
      expect(limited.out).toContain('evaluation_limit: more than 1 comprehension iterations in one call');
      const previewed = await run({ RULES_MAX_ITERATIONS: '1' }, 'preview', ...args, '--json');
      expect(previewed.code).toBe(0);
      expect(previewed.out).not.toContain('"upper"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('test compiles the rules under --max-cost and RULES_MAX_COST', async () => {
    expect((await run({}, 'test', EXAMPLE_TESTS)).code).toBe(0);
    const limited = await run({ RULES_MAX_COST: '1000' }, 'test', EXAMPLE_TESTS);
    expect(limited.code).toBe(1);
    expect(limited.out).toContain('is invalid, so no case can run');
    expect(limited.out).toContain('above the budget of 1,000');
    expect((await run({ RULES_MAX_COST: '1000' }, 'test', '--max-cost', '2000', EXAMPLE_TESTS)).code).toBe(0);
  });
});

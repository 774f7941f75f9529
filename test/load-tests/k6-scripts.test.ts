import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const TEST_TYPES = ['smoke', 'average-load', 'stress', 'spike', 'soak'];

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('k6 scripts', () => {
  it('type-check with @types/k6 (tsc --noEmit -p load-tests/tsconfig.json)', async () => {
    const { code, output } = await run(join(root, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', 'load-tests/tsconfig.json']);
    expect(output).toBe('');
    expect(code).toBe(0);
  }, 120_000);

  it.each(TEST_TYPES)('%s differs from the other test types only in its options', (type) => {
    const source = readFileSync(join(root, 'load-tests', `${type}.ts`), 'utf8');
    expect(source).toContain("import { preflight, tokenHookCall } from './lib/scenario.ts';");
    expect(source).toMatch(/export const options: Options = \{[\s\S]*thresholds: thresholdsFor\('(none|errors|all)'\),\n {2}summaryTrendStats: SUMMARY_TREND_STATS,\n\};/);
    expect(source).toContain('export function setup(): void {\n  preflight();\n}');
    expect(source).toContain('export default function (): void {\n  tokenHookCall();\n}');
    expect(source).toContain(`export function handleSummary(data: SummaryData): Record<string, string> {\n  return summaryHandler('${type}')(data);\n}`);
    // Nothing but imports, parameters, options and the three lifecycle exports.
    const exports = source.match(/^export [a-z]+ [A-Za-z]+/gm);
    expect(exports).toEqual(['export const options', 'export function setup', 'export default function', 'export function handleSummary']);
  });

  it('uses arrival-rate executors for every test type but smoke, with the abort policy that fits it', () => {
    const executor = (type: string) => /executor: '([a-z-]+)'/.exec(readFileSync(join(root, 'load-tests', `${type}.ts`), 'utf8'))?.[1];
    const policy = (type: string) => /thresholdsFor\('([a-z]+)'\)/.exec(readFileSync(join(root, 'load-tests', `${type}.ts`), 'utf8'))?.[1];
    expect(TEST_TYPES.map((t) => [t, executor(t), policy(t)])).toEqual([
      ['smoke', 'per-vu-iterations', 'none'],
      ['average-load', 'constant-arrival-rate', 'none'],
      ['stress', 'ramping-arrival-rate', 'all'],
      ['spike', 'ramping-arrival-rate', 'errors'],
      ['soak', 'constant-arrival-rate', 'none'],
    ]);
  });

  it('never imports code from the network (k6 would fetch https://jslib.k6.io at run time)', async () => {
    const { output } = await run('grep', ['-rlE', '--include=*.ts', "from ['\"]https?://", 'load-tests']);
    expect(output).toBe('');
  });
});

/**
 * The CLI outside a clone: `npm pack` of the project installs into an empty directory and its
 * `okta-token-hook` bin runs `--version`, `check` and `test` with nothing from the repository.
 * The registry is not reachable here, so the production dependencies (and only those: `npm ls
 * --omit=dev`) are seeded from this checkout's node_modules as hard links, and npm installs the
 * tarball with --offline on top of them, creating the bin link as it does for users.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/process';

const run = promisify(execFile);
/** npm sets npm_* variables for scripts (`npm test`); the commands below must not inherit them. */
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });

describe('npm pack', () => {
  let dir: string;
  let app: string;
  let tarball: string;
  let files: string[];
  const bin = (): string => join(app, 'node_modules', '.bin', 'okta-token-hook');
  const cli = (...args: string[]) => run(bin(), args, { cwd: app, env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 }).catch((err: { code: number; stdout: string; stderr: string }) => err);

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first (npm test does)');
    dir = await mkdtemp(join(tmpdir(), 'npm-pack-'));
    const { stdout } = await npm(['pack', '--json', '--pack-destination', dir], ROOT);
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(dir, packed!.filename);
    files = packed!.files.map((f) => f.path);

    app = join(dir, 'app');
    await mkdir(join(app, 'node_modules'), { recursive: true });
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'pack-consumer', version: '1.0.0', private: true }));
    const { stdout: closure } = await npm(['ls', '--omit=dev', '--all', '--parseable'], ROOT);
    const prefix = join(ROOT, 'node_modules') + '/';
    const topLevel = closure
      .split('\n')
      .filter((p) => p.startsWith(prefix))
      .map((p) => p.slice(prefix.length))
      .filter((p) => !p.includes('/node_modules/'));
    for (const name of topLevel) {
      await mkdir(dirname(join(app, 'node_modules', name)), { recursive: true });
      // Hard links: fast, and npm replaces packages by renaming, never by writing into files.
      await run('cp', ['-al', join(prefix, name), join(app, 'node_modules', name)]);
    }
    await npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=dev', tarball], app);
  }, 300_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ships the built CLI, the examples and no sources or tests', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/cli.js', 'dist/main.js', 'examples/rules.yaml', 'examples/rules.test.yaml']));
    expect(files.filter((f) => /^(src|test|bench|charts|k8s)\//.test(f))).toEqual([]);
  });

  it('installs a bin that prints the version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const { stdout } = (await cli('--version')) as { stdout: string };
    expect(stdout).toBe(`okta-token-hook ${pkg.version}\n`);
  });

  it('checks a rules file outside the repository', async () => {
    await writeFile(join(app, 'rules.yaml'), 'rules:\n  - name: tier\n    when: \'client.type == "CONFIDENTIAL"\'\n    claims: [{ name: tier, value: gold, tokens: [access] }]\n');
    const ok = (await cli('check', 'rules.yaml')) as { stdout: string };
    expect(ok.stdout).toMatch(/^rules\.yaml: OK, 1 rule \(version [0-9a-f]{12}\)\n/);
    await writeFile(join(app, 'bad.yaml'), 'rules:\n  - name: typo\n    when: \'client.idd == "x"\'\n    claims: [{ name: a, value: 1 }]\n');
    const bad = (await cli('check', 'bad.yaml')) as { code: number; stderr: string };
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.yaml: rule "typo" (#1): when: client has no field "idd"; did you mean "id"?');
  });

  it('runs the shipped example tests from the installed package', async () => {
    const { stdout } = (await cli('test', 'node_modules/okta-token-hook/examples/*.test.yaml')) as { stdout: string };
    expect(stdout).toMatch(/\n\d+ passed, 0 failed\n$/);
  });
});

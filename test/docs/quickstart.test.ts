/**
 * The README's quick start works as written on a fresh clone: `npm start` (its script, minus the
 * build that `npm test` has already done) accepts the development secret the README's `curl` sends,
 * and the first rule's `check` / `explain` commands succeed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertBuilt, freePort, ROOT } from '../helpers/process';
import { describeWithBinary } from '../helpers/prometheus';
import { readPage } from './support/markdown';
import { cliOutput } from './support/reference';

const readme = readPage('README.md');
const curlBlock = readme.blocks.find((b) => b.lang === 'bash' && b.text.startsWith('curl '));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };
const BUILD = 'npm run build --silent && ';

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs `npm start`'s script without its build step, in its own process group (stopped by PID). */
function startScript(env: Record<string, string>): Started {
  const script = pkg.scripts.start as string;
  expect(script.startsWith(BUILD)).toBe(true);
  assertBuilt();
  const child = spawn('sh', ['-c', script.slice(BUILD.length)], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, detached: true });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor(started: Started, text: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!started.output().includes(text)) {
    if (Date.now() > deadline || started.child.exitCode !== null) throw new Error(`timed out waiting for "${text}":\n${started.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(started: Started): Promise<void> {
  if (started.child.exitCode === null && started.child.pid !== undefined) {
    try {
      process.kill(-started.child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await started.exited;
}

describe('README quick start', () => {
  const bashBlocks = readme.blocks.filter((b) => b.lang === 'bash');

  it('README.md stays short: at most 10 KB', () => {
    expect(Buffer.byteLength(readme.text)).toBeLessThanOrEqual(10 * 1024);
  });

  it('states the Node.js floor of package.json engines', () => {
    const floor = /^>=(\d+\.\d+)\.\d+$/.exec(pkg.engines.node)?.[1];
    expect(floor).toBeDefined();
    expect(readme.text).toContain(`Requirements: Node.js ${floor}+`);
  });

  it('gives the two set-up commands for a fresh clone', () => {
    const setup = bashBlocks.find((b) => b.text.includes('npm start'));
    expect(setup?.text).toMatch(/^npm ci && npm start$/m);
    expect(setup?.text).toMatch(/^npm ci && npm test$/m);
  });


  it('npm start never uses the development secret in production mode', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const started = startScript({ NODE_ENV: 'production', HOOK_PORT: String(port), METRICS_PORT: String(metricsPort), HOOK_HOST: '127.0.0.1', METRICS_HOST: '127.0.0.1' });
    try {
      const code = await started.exited;
      expect(code).not.toBe(0);
      expect(started.output()).toContain('No hook secret configured');
    } finally {
      await stop(started);
    }
  }, 40000);

  it('the first rule passes check and explain matches it against the sample request', async () => {
    const rules = readme.blocks.find((b) => b.lang === 'yaml');
    const commands = bashBlocks.find((b) => b.text.includes('okta-token-hook check'));
    expect(rules && commands).toBeTruthy();
    const file = /okta-token-hook check (\S+)/.exec(commands!.text)![1] as string;
    const dir = mkdtempSync(join(tmpdir(), 'docs-quickstart-'));
    try {
      writeFileSync(join(dir, file), rules!.text);
      for (const line of commands!.text.split('\n').filter((l) => l.includes('okta-token-hook '))) {
        const argv = line
          .slice(line.indexOf('okta-token-hook ') + 'okta-token-hook '.length)
          .trim()
          .split(/\s+/)
          .map((arg) => (arg === file ? join(dir, file) : arg.startsWith('test/') ? join(ROOT, arg) : arg));
        const result = await cliOutput(argv);
        expect({ line, code: result.code, err: result.err }).toEqual({ line, code: 0, err: '' });
        if (argv[0] === 'explain') expect(result.out).toMatch(/#1 \S+: matched/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeWithBinary('curl', 'README quick start (curl)', (curl) => {
  it('npm start accepts the development secret that the README curl sends', async () => {
    expect(curlBlock).toBeDefined();
    const [port, metricsPort] = [await freePort(), await freePort()];
    const started = startScript({ HOOK_PORT: String(port), METRICS_PORT: String(metricsPort), HOOK_HOST: '127.0.0.1', METRICS_HOST: '127.0.0.1' });
    try {
      await waitFor(started, 'okta-token-hook ready');
      const command = curlBlock!.text.replace(/localhost:8080/g, `127.0.0.1:${port}`);
      expect(command).not.toBe(curlBlock!.text);
      const answer = spawnSync('sh', ['-c', command.replace(/^curl /, `${curl} `)], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
      expect(answer.status).toBe(0);
      const body = JSON.parse(answer.stdout) as { commands: Array<{ type: string; value: Array<{ path: string; value?: unknown }> }> };
      const identity = body.commands.find((c) => c.type === 'com.okta.identity.patch');
      expect(identity?.value).toEqual(expect.arrayContaining([{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }]));
    } finally {
      await stop(started);
    }
  }, 40000);
});

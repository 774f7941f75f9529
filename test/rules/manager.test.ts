import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_RULES_ENGINE } from '../../src/hook/engine';
import { RulesEngine } from '../../src/rules/engine';
import { RulesManager, type ReloadResult, type RulesLogger } from '../../src/rules/manager';
import { RulesFileError } from '../../src/rules/types';
import { oktaFixture } from '../helpers/fixtures';

const rulesWith = (value: string): string => `rules:\n  - name: hello\n    claims:\n      - { name: custom-claim, value: ${value} }\n`;
const INVALID = 'rules:\n  - name: hello\n    claims:\n      - { name: sub, value: x, tokens: [id] }\n';

interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string;
}

function recordingLogger(): { logger: RulesLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger: RulesLogger = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
  return { logger, lines };
}

/** Collects onReload results and lets a test wait for the next one (bounded). */
function reloadRecorder() {
  const results: ReloadResult[] = [];
  let waiter: ((r: ReloadResult) => void) | undefined;
  return {
    results,
    onReload: (result: ReloadResult): void => {
      results.push(result);
      waiter?.(result);
    },
    next(timeoutMs = 5000): Promise<ReloadResult> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no reload within timeout')), timeoutMs);
        waiter = (result) => {
          clearTimeout(timer);
          waiter = undefined;
          resolve(result);
        };
      });
    },
  };
}

async function claimValue(manager: RulesManager): Promise<unknown> {
  const evaluation = await manager.current().evaluate(oktaFixture('token-hook-minimal'));
  const change = evaluation.decision.changes.find((c) => c.claim === 'custom-claim');
  return change?.kind === 'set' ? change.value : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RulesManager', () => {
  let dir: string;
  const managers: RulesManager[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rules-manager-'));
  });

  afterEach(async () => {
    for (const manager of managers.splice(0)) manager.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(file: string, options: Partial<Parameters<typeof RulesManager.create>[0]> = {}): Promise<RulesManager> {
    const manager = await RulesManager.create({ file, watch: false, debounceMs: 50, ...options });
    managers.push(manager);
    return manager;
  }

  it('serves no rules when no file is configured', async () => {
    const manager = await start('');
    expect(manager.current()).toBe(NO_RULES_ENGINE);
    expect(manager.version).toBe('none');
  });

  it('refuses to start with an invalid file, listing every problem', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, `${INVALID}  - name: Bad\n    deny: x\n`);
    const error = await RulesManager.create({ file, watch: false }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RulesFileError);
    expect((error as RulesFileError).errors).toEqual([
      `${file}: rule "hello" (#1): claims[0].name: "sub" is reserved in the id token; it can be changed in the access token only (line 4)`,
      `${file}: rule "Bad" (#2): name: "Bad" must match ^[a-z0-9-]+$ (lower-case letters, digits, -) (line 5)`,
    ]);
  });

  it('refuses to start when the file is missing', async () => {
    await expect(RulesManager.create({ file: join(dir, 'missing.yaml'), watch: false })).rejects.toThrow(/missing\.yaml: cannot read rules file \(ENOENT\)/);
  });

  it('replaces the rule set atomically on reload; requests already running keep the old engine', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const recorder = reloadRecorder();
    const manager = await start(file, { onReload: recorder.onReload });
    const before = manager.current();
    const oldVersion = manager.version;

    await writeFile(file, rulesWith('two'));
    const result = await manager.reload();
    expect(result).toMatchObject({ result: 'success', changed: true, rules: 1, trigger: 'signal' });
    expect(result.version).not.toBe(oldVersion);
    expect(manager.current()).not.toBe(before);
    expect(manager.current().version).toBe(result.version);
    expect(await claimValue(manager)).toBe('two');
    // An engine obtained before the swap is unchanged (one reference per request).
    const evaluation = await before.evaluate(oktaFixture('token-hook-minimal'));
    expect(evaluation.decision.changes[0]).toMatchObject({ value: 'one' });
    expect(recorder.results).toEqual([result]);
  });

  it('keeps serving the old rules when the new file is invalid, and reports the failure', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const { logger, lines } = recordingLogger();
    const recorder = reloadRecorder();
    const manager = await start(file, { logger, onReload: recorder.onReload });
    const version = manager.version;

    await writeFile(file, INVALID);
    const result = await manager.reload();
    expect(result).toEqual({
      result: 'failure',
      version,
      rules: 1,
      changed: false,
      trigger: 'signal',
      errors: [`${file}: rule "hello" (#1): claims[0].name: "sub" is reserved in the id token; it can be changed in the access token only (line 4)`],
      error: `${file}: rule "hello" (#1): claims[0].name: "sub" is reserved in the id token; it can be changed in the access token only (line 4)`,
    });
    expect(manager.version).toBe(version);
    expect(await claimValue(manager)).toBe('one');
    expect(lines.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'rules reload failed; previous rules keep serving', obj: expect.objectContaining({ rulesVersion: version, errors: result.errors }) },
    ]);

    // Fixing the file recovers.
    await writeFile(file, rulesWith('three'));
    expect(await manager.reload()).toMatchObject({ result: 'success', changed: true });
    expect(await claimValue(manager)).toBe('three');
  });

  it('reports an unchanged file on SIGHUP without swapping the engine', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const manager = await start(file);
    const engine = manager.current();
    expect(await manager.reload()).toMatchObject({ result: 'success', changed: false, version: engine.version });
    expect(manager.current()).toBe(engine);
  });

  it('reports a deleted file as a failure and keeps the rules', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const manager = await start(file);
    await rm(file);
    const result = await manager.reload();
    expect(result.result).toBe('failure');
    expect(result.error).toMatch(/cannot read rules file \(ENOENT\)/);
    expect(await claimValue(manager)).toBe('one');
  });

  it('serializes concurrent reloads', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const manager = await start(file);
    await writeFile(file, rulesWith('two'));
    const results = await Promise.all([manager.reload(), manager.reload(), manager.reload()]);
    expect(results.map((r) => r.changed)).toEqual([true, false, false]);
  });

  it('reloads when the watched file is edited', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const recorder = reloadRecorder();
    const manager = await start(file, { watch: true, onReload: recorder.onReload });
    const next = recorder.next();
    await writeFile(file, rulesWith('two'));
    expect(await next).toMatchObject({ result: 'success', changed: true, trigger: 'watch' });
    expect(await claimValue(manager)).toBe('two');
  });

  it('reports an invalid edit once through the watcher and keeps the old rules', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const recorder = reloadRecorder();
    const manager = await start(file, { watch: true, onReload: recorder.onReload });
    const next = recorder.next();
    await writeFile(file, INVALID);
    expect(await next).toMatchObject({ result: 'failure', trigger: 'watch' });
    // Touching the directory again with the same bad content is not reported again.
    await writeFile(join(dir, 'unrelated.txt'), 'x');
    await sleep(300);
    expect(recorder.results).toHaveLength(1);
    expect(await claimValue(manager)).toBe('one');
  });

  it('does not report a file caught half-way through a write', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const recorder = reloadRecorder();
    const manager = await start(file, { watch: true, debounceMs: 200, onReload: recorder.onReload });
    const next = recorder.next();
    const full = rulesWith('two');
    // First the truncated text (invalid YAML), then, after the watcher has read it once, the rest.
    await writeFile(file, full.slice(0, full.indexOf('{') + 8));
    await sleep(300);
    await writeFile(file, full);
    expect(await next).toMatchObject({ result: 'success', changed: true, trigger: 'watch' });
    expect(recorder.results.map((r) => r.result)).toEqual(['success']);
    expect(await claimValue(manager)).toBe('two');
  });

  it('follows a Kubernetes ConfigMap update (..data symlink swap)', async () => {
    // The kubelet layout: rules.yaml -> ..data/rules.yaml, ..data -> ..<timestamp>/
    await mkdir(join(dir, '..2025_03_04_10_00_00.000000001'));
    await writeFile(join(dir, '..2025_03_04_10_00_00.000000001', 'rules.yaml'), rulesWith('one'));
    await symlink('..2025_03_04_10_00_00.000000001', join(dir, '..data'));
    await symlink('..data/rules.yaml', join(dir, 'rules.yaml'));

    const recorder = reloadRecorder();
    const manager = await start(join(dir, 'rules.yaml'), { watch: true, onReload: recorder.onReload });
    expect(await claimValue(manager)).toBe('one');

    // The update: a new timestamped directory, a temporary symlink, then an atomic rename.
    const next = recorder.next();
    await mkdir(join(dir, '..2025_03_04_10_05_00.000000002'));
    await writeFile(join(dir, '..2025_03_04_10_05_00.000000002', 'rules.yaml'), rulesWith('two'));
    await symlink('..2025_03_04_10_05_00.000000002', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await rm(join(dir, '..2025_03_04_10_00_00.000000001'), { recursive: true });

    expect(await next).toMatchObject({ result: 'success', changed: true, trigger: 'watch' });
    expect(await claimValue(manager)).toBe('two');
    expect(manager.current()).toBeInstanceOf(RulesEngine);
  });

  it('stops watching after close', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const recorder = reloadRecorder();
    const manager = await start(file, { watch: true, onReload: recorder.onReload });
    manager.close();
    await writeFile(file, rulesWith('two'));
    await sleep(300);
    expect(recorder.results).toEqual([]);
    expect(await claimValue(manager)).toBe('one');
  });

  it('exposes a provider function usable as EngineProvider', async () => {
    const file = join(dir, 'rules.yaml');
    await writeFile(file, rulesWith('one'));
    const manager = await start(file);
    const provider = manager.provider;
    expect(provider()).toBe(manager.current());
    await writeFile(file, rulesWith('two'));
    await manager.reload();
    expect(provider()).toBe(manager.current());
    expect(manager.ruleCount).toBe(1);
  });
});

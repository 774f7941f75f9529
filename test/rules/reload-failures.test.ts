/**
 * Reload failures are always reported and always end: a rules file naming an Object.prototype
 * member is an ordinary, logged and counted failure; going back to the rules being served is a
 * success, so `OktaTokenHookRulesReloadFailing` (last failure newer than last success) resolves.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '../../src/observability/metrics';
import { RulesManager, type ReloadResult } from '../../src/rules/manager';
import { metricValue } from '../helpers/app';
import { oktaFixture } from '../helpers/fixtures';

const GOOD = 'rules:\n  - name: hello\n    claims:\n      - { name: custom-claim, value: a }\n';
const PROTOTYPE_TOKEN = 'rules:\n  - name: hello\n    claims:\n      - { name: custom-claim, value: b, tokens: [constructor] }\n';

describe('rules reload failures', () => {
  let dir: string;
  let file: string;
  let manager: RulesManager | undefined;
  const results: ReloadResult[] = [];
  const errors: Array<{ obj: object; msg: string }> = [];
  const metrics = new Metrics({ version: 'test' });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reload-failures-'));
    file = join(dir, 'rules.yaml');
    results.length = 0;
    errors.length = 0;
    await writeFile(file, GOOD);
  });
  afterEach(async () => {
    await manager?.close();
    manager = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function start(watch: boolean): Promise<RulesManager> {
    let clock = 1000;
    manager = await RulesManager.create({
      file,
      watch,
      debounceMs: 50,
      logger: { info: () => undefined, warn: () => undefined, error: (obj, msg) => errors.push({ obj, msg }) },
      onReload: (result) => {
        results.push(result);
        // A strictly increasing clock: the alert compares the two timestamps.
        metrics.recordRulesReload(result.result, ++clock, result.result === 'success' ? { version: result.version, rules: result.rules } : undefined);
      },
    });
    return manager;
  }

  async function waitForResults(count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (results.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} reload results, got ${JSON.stringify(results)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('reports `tokens: [constructor]` as a validation failure with field and line, logged and counted (SIGHUP)', async () => {
    const rules = await start(false);
    await writeFile(file, PROTOTYPE_TOKEN);
    const result = await rules.reload('signal');
    expect(result).toMatchObject({ result: 'failure', changed: false });
    expect(result.errors).toEqual([`${file}: rule "hello" (#1): claims[0].tokens[0]: must be "id" or "access", got string "constructor" (line 4)`]);
    expect(errors.map((e) => e.msg)).toEqual(['rules reload failed; previous rules keep serving']);
    expect(await metricValue(metrics, 'okta_hook_rules_reloads_total', { result: 'failure' })).toBeGreaterThanOrEqual(1);
  });

  it('refuses a file of half a megabyte of [ (which made the YAML parser abort the process) as a syntax error, and keeps serving', async () => {
    const live = await start(false);
    await writeFile(file, `rules: ${'['.repeat(500_000)}`);
    const result = await live.reload('signal');
    expect(result).toMatchObject({ result: 'failure', rules: 1, errors: [`${file}: syntax error: [ or { nested deeper than 64 levels (line 1, column 72)`] });
    expect(errors).toHaveLength(1);
    expect(live.version).toBe(result.version);
    const evaluation = await live.current().evaluate(oktaFixture('token-hook-minimal'));
    expect(evaluation.decision.changes.find((c) => c.claim === 'custom-claim')).toMatchObject({ kind: 'set', value: 'a' });
  });

  it('reports the same failure from the file watcher (not silently)', async () => {
    await start(true);
    await writeFile(file, PROTOTYPE_TOKEN);
    await waitForResults(1);
    expect(results[0]).toMatchObject({ result: 'failure', trigger: 'watch' });
    expect(errors).toHaveLength(1);
  });

  it('records a success when the file goes back to the rules being served, so the failure state ends', async () => {
    const rules = await start(true);
    const served = rules.version;
    await writeFile(file, PROTOTYPE_TOKEN);
    await waitForResults(1);
    expect(results[0]).toMatchObject({ result: 'failure' });

    await writeFile(file, GOOD);
    await waitForResults(2);
    expect(results[1]).toMatchObject({ result: 'success', changed: false, version: served, trigger: 'watch' });
    const failure = await metricValue(metrics, 'okta_hook_rules_last_reload_timestamp_seconds', { result: 'failure' });
    const success = await metricValue(metrics, 'okta_hook_rules_last_reload_timestamp_seconds', { result: 'success' });
    expect(success).toBeGreaterThan(failure as number);

    // Once the failure has ended, touching the file without changing it reports nothing more.
    await writeFile(file, GOOD);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(results).toHaveLength(2);
  });
});

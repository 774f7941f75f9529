/**
 * A rules directory laid out as Kubernetes mounts a ConfigMap with several keys (files are
 * symlinks into `..data`, itself a symlink to a timestamped directory swapped on update), with two
 * scoped sets and one file for every call, driven through the HTTP service, `explain` and hot reload
 * (a file added, changed and removed).
 */
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli';
import type { TokenHookResponse } from '../../src/hook/types';
import type { ExplainReport } from '../../src/rules/explain';
import { RulesManager, type ReloadResult } from '../../src/rules/manager';
import { metricValue } from '../helpers/app';
import { oktaFixture, type OktaFixture } from '../helpers/fixtures';
import { startHook, type RunningHook } from '../helpers/service';

const PORTAL_CLIENT = '0oa7h3j5k7L9z1X3c5v7';
const ORDERS_CLIENT = '0oa1b2c3d4E5f6G7h8i9';

const FILES: Record<string, string> = {
  'common.yaml': `rules:\n  - name: hello\n    claims: [{ name: custom-claim, value: hello-from-hook }]\n`,
  // Everything the portal app gets (any authorization server).
  'portal.yaml': `match: { clientIds: [${PORTAL_CLIENT}] }\nrules:\n  - name: tier\n    claims: [{ name: tier, value: gold, tokens: [access] }]\n`,
  // Machine clients of the partners authorization server.
  'partners.yaml': `match: { authorizationServerId: aus8m0n2b4V6c8X0z2l4 }\nrules:\n  - name: partner\n    claims: [{ name: partner, value: true, tokens: [access] }]\n`,
};

/** A ConfigMap-style mount: `<dir>/<key> -> ..data/<key>`, `..data -> ..<timestamp>`. */
class ConfigMapDir {
  #generation = 0;
  constructor(readonly dir: string) {}

  async write(files: Record<string, string>): Promise<void> {
    const generation = `..2026_12_01_${String(++this.#generation).padStart(4, '0')}`;
    await mkdir(join(this.dir, generation));
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.dir, generation, name), content);
    // Atomic swap of ..data, as the kubelet does.
    await symlink(generation, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    const { readdir } = await import('node:fs/promises');
    const present = new Set((await readdir(this.dir)).filter((name) => !name.startsWith('.')));
    for (const name of Object.keys(files)) if (!present.has(name)) await symlink(join('..data', name), join(this.dir, name));
    for (const name of present) if (!(name in files)) await unlink(join(this.dir, name));
  }
}

const accessClaims = (text: string): Record<string, unknown> => {
  const body = JSON.parse(text) as TokenHookResponse;
  const ops = body.commands?.find((c) => c.type === 'com.okta.access.patch')?.value ?? [];
  return Object.fromEntries(ops.map((op) => [op.path.replace('/claims/', ''), op.value]));
};

describe('a rules directory with scoped sets, through the HTTP service, explain and hot reload', () => {
  let root: string;
  let mount: ConfigMapDir;
  let manager: RulesManager;
  let hook: RunningHook;
  const reloads: ReloadResult[] = [];

  /** The first successful reload to a version other than `version` reported after `reloads[seen]`. */
  const nextReload = async (version: string, seen: number, timeoutMs = 10_000): Promise<ReloadResult> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const done = reloads.slice(seen).find((r) => r.result === 'success' && r.version !== version && r.changed);
      if (done) return done;
      if (Date.now() > until) throw new Error(`no reload within ${timeoutMs} ms (${JSON.stringify(reloads)})`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  const answer = async (fixture: OktaFixture, clientId?: string) => {
    const event = oktaFixture(fixture);
    if (clientId) (event.data.context?.protocol?.client as { id: string }).id = clientId;
    const res = await hook.call(event);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as TokenHookResponse;
    return { claims: accessClaims(res.text), set: body.debugContext?.ruleSet, matched: body.debugContext?.matchedRules };
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rules-dir-'));
    mount = new ConfigMapDir(root);
    await mount.write(FILES);
    manager = await RulesManager.create({ file: root, watch: true, debounceMs: 50, onReload: (result) => reloads.push(result) });
    hook = await startHook({ engine: manager.provider });
  });

  afterAll(async () => {
    await hook.close();
    await manager.close();
    await rm(root, { recursive: true, force: true });
  });

  it('applies the file for every call, then the set whose match holds, and counts calls per set', async () => {
    expect(manager.ruleCount).toBe(3);
    expect(await answer('token-hook-authcode-full')).toEqual({
      claims: { 'custom-claim': 'hello-from-hook', tier: 'gold' },
      set: 'portal',
      matched: ['common/hello', 'portal/tier'],
    });
    expect(await answer('token-hook-client-credentials')).toEqual({
      claims: { 'custom-claim': 'hello-from-hook', partner: true },
      set: 'partners',
      matched: ['common/hello', 'partners/partner'],
    });
    expect(await answer('token-hook-minimal')).toEqual({ claims: { 'custom-claim': 'hello-from-hook' }, set: 'none', matched: ['common/hello'] });
    expect(await metricValue(hook.metrics, 'okta_hook_rule_set_calls_total', { rule_set: 'portal' })).toBe(1);
    expect(await metricValue(hook.metrics, 'okta_hook_rule_set_calls_total', { rule_set: 'partners' })).toBe(1);
    expect(await metricValue(hook.metrics, 'okta_hook_rule_set_calls_total', { rule_set: 'none' })).toBe(1);
    expect(await metricValue(hook.metrics, 'okta_hook_rule_evaluations_total', { rule: 'portal/tier', result: 'matched' })).toBe(1);
    const line = hook.logs.lines.find((l) => l.msg === 'token hook call' && l.ruleSet === 'partners');
    expect(line).toBeDefined();
  });

  it('explain --rules DIR shows which set applied and why', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const request = join(__dirname, '..', 'fixtures', 'okta', 'token-hook-client-credentials.json');
    const code = await runCli(['explain', '--rules', root, '--request', request, '--json'], { out: (t) => out.push(t), err: (t) => err.push(t) });
    expect(err.join('')).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out.join('')) as ExplainReport;
    expect(report.ruleSet).toEqual({ name: 'partners', match: 'partners: authorizationServerId aus8m0n2b4V6c8X0z2l4' });
    expect(report.explained.map((r) => `${r.name}:${r.result}`)).toEqual(['common/hello:matched', 'partners/partner:matched']);
    const text: string[] = [];
    await runCli(['explain', '--rules', root, '--request', request], { out: (t) => text.push(t), err: () => undefined });
    expect(text.join('')).toContain('Rule set: partners: authorizationServerId aus8m0n2b4V6c8X0z2l4');
    const check: string[] = [];
    expect(await runCli(['check', root], { out: (t) => check.push(t), err: (t) => check.push(t) })).toBe(0);
    expect(check.join('')).toContain('rule set portal: clientIds 0oa7h3j5k7L9z1X3c5v7');
  });

  it('hot-reloads when a file of the directory changes, is added or is removed', async () => {
    // Change: the portal gets platinum.
    let version = manager.version;
    let seen = reloads.length;
    await mount.write({ ...FILES, 'portal.yaml': FILES['portal.yaml']!.replace('gold', 'platinum') });
    version = (await nextReload(version, seen)).version;
    expect((await answer('token-hook-authcode-full')).claims.tier).toBe('platinum');
    seen = reloads.length;

    // Add: a set for the orders app.
    await mount.write({
      ...FILES,
      'portal.yaml': FILES['portal.yaml']!.replace('gold', 'platinum'),
      'orders.yaml': `match: { clientIds: [${ORDERS_CLIENT}] }\nrules:\n  - name: shop\n    claims: [{ name: shop, value: eu, tokens: [access] }]\n`,
    });
    version = (await nextReload(version, seen)).version;
    expect(await answer('token-hook-minimal')).toMatchObject({ set: 'orders', claims: { shop: 'eu' } });
    seen = reloads.length;

    // Remove: partners.yaml goes; its calls fall back to the unscoped rules.
    await mount.write({
      'common.yaml': FILES['common.yaml']!,
      'portal.yaml': FILES['portal.yaml']!.replace('gold', 'platinum'),
      'orders.yaml': `match: { clientIds: [${ORDERS_CLIENT}] }\nrules:\n  - name: shop\n    claims: [{ name: shop, value: eu, tokens: [access] }]\n`,
    });
    await nextReload(version, seen);
    expect(await answer('token-hook-client-credentials')).toEqual({ claims: { 'custom-claim': 'hello-from-hook' }, set: 'none', matched: ['common/hello'] });
    expect(manager.ruleCount).toBe(3);
  });

  it('keeps serving the previous rules when a new file makes a set unreachable', async () => {
    const version = manager.version;
    const failures = reloads.filter((r) => r.result === 'failure').length;
    // `a-everything.yaml` sorts first and takes every call: every later set would be unreachable.
    await mount.write({
      'a-everything.yaml': `match: {}\nrules:\n  - name: all\n    claims: [{ name: all, value: 1, tokens: [access] }]\n`,
      'common.yaml': FILES['common.yaml']!,
      'portal.yaml': FILES['portal.yaml']!,
    });
    const until = Date.now() + 10_000;
    while (reloads.filter((r) => r.result === 'failure').length === failures) {
      if (Date.now() > until) throw new Error('no failed reload reported');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const failure = reloads.filter((r) => r.result === 'failure').pop();
    expect(failure?.errors).toEqual([expect.stringMatching(/rule set "portal" \(.*portal\.yaml\): is unreachable: every call it matches is taken first by rule set "a-everything"/)]);
    expect(manager.version).toBe(version);
    expect((await answer('token-hook-authcode-full')).set).toBe('portal');
  });
});

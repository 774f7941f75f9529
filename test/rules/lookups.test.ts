/**
 * Rules that read lookups, end to end against real local upstreams: which lookups run, failure
 * policy (fallback, onError skip/deny), the request deadline through the real HTTP app, debugContext,
 * hot reload with lookups, and the explain CLI.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { runCli } from '../../src/cli';
import { buildResponse } from '../../src/hook/builder';
import type { TokenHookEvent } from '../../src/hook/types';
import { lookupMetricsEvents } from '../../src/lookups/metrics';
import { LookupSet } from '../../src/lookups/set';
import { RulesEngine } from '../../src/rules/engine';
import { RulesManager } from '../../src/rules/manager';
import { RulesFileError } from '../../src/rules/types';
import { buildTestApp, metricValue, TEST_SECRET } from '../helpers/app';
import { oktaFixture } from '../helpers/fixtures';
import { oktaGroupsApi, reply, routes, startUpstream, type Handler, type Upstream } from '../helpers/upstream';
import { sleep } from '../helpers/engines';
import { compile, errorsFor } from './helpers';

const PORTAL = '0oa7h3j5k7L9z1X3c5v7';
const JORDAN = '00u3e5r7t9Y1u3I5o7p9';

function event(clientId = PORTAL): TokenHookEvent {
  const payload = oktaFixture('token-hook-authcode-full');
  const client = payload.data.context?.protocol?.client as { id: string } | undefined;
  if (client) client.id = clientId;
  return payload;
}

describe('lookups in the rules file: load-time checks', () => {
  const lookups = `lookups:
  crm:
    type: http
    url: https://crm.example.com/users/{user.id}
`;

  it('rejects a rule that reads a lookup the file does not define', () => {
    expect(errorsFor(`${lookups}rules:\n  - name: r\n    claims:\n      - { name: tier, expr: 'lookup.crn.tier' }\n`)).toEqual([
      'rules.yaml: rule "r" (#1): claims[0].expr: lookup "crn" is not defined; did you mean "crm"? (define it under lookups:; defined: crm) (line 8)',
    ]);
  });

  it('rejects reading a lookup by a computed name, which would hide what a rule needs', () => {
    expect(errorsFor(`${lookups}rules:\n  - name: r\n    when: 'lookup[params.source] != null'\n    claims: [{ name: a, value: 1 }]\n`)).toEqual([
      'rules.yaml: rule "r" (#1): when: reads lookup without a static name: use lookup.<name> (or lookup["name"]) so the lookups a rule needs are known at load time (line 7)',
    ]);
  });

  it('accepts a fallback only on an expr that reads a lookup', () => {
    expect(
      errorsFor(`${lookups}rules:
  - name: r
    claims:
      - { name: a, value: 1, fallback: 2 }
      - { name: b, expr: 'user.id', fallback: x }
      - { name: c, expr: 'lookup.crm.tier', fallback: .inf }
`),
    ).toEqual([
      'rules.yaml: rule "r" (#1): claims[0].fallback: is only allowed with expr (line 8)',
      'rules.yaml: rule "r" (#1): claims[1].fallback: is used when a lookup read by expr fails, but expr reads no lookup (line 9)',
      'rules.yaml: rule "r" (#1): claims[2].fallback: is not a finite number (line 10)',
    ]);
  });

  it('names the lookup, the field and the line for lookup definition problems', () => {
    expect(errorsFor('lookups:\n  crm:\n    type: http\n    url: https://{user.id}.crm.example/\nrules:\n  - name: r\n    claims: [{ name: a, value: 1 }]\n')).toEqual([
      'rules.yaml: lookup "crm": url: must start with http:// or https:// and a host, followed by / or ? before any placeholder (line 4)',
    ]);
  });

  it('records which lookups each rule and claim read', () => {
    const ruleSet = compile(`${lookups}rules:
  - name: r
    when: 'lookup.?crm.orValue(null) != null'
    claims:
      - { name: a, expr: 'lookup["crm"].tier', fallback: basic }
      - { name: b, value: 1 }
`);
    const rule = ruleSet.rules[0]!;
    expect([...rule.lookups]).toEqual(['crm']);
    expect([...rule.whenLookups]).toEqual(['crm']);
    expect(rule.claims.map((c) => [...c.lookups])).toEqual([['crm'], []]);
    expect(rule.claims[0]?.fallback).toBe('basic');
  });
});

describe('rules with lookups against real upstreams', () => {
  let crm: Upstream;
  let okta: Upstream;
  let lookups: LookupSet | undefined;
  let dir: string;

  beforeEach(async () => {
    crm = await startUpstream(routes({ '/users/': reply.json({ tier: 'gold', entitlements: ['patients:read'] }) }));
    okta = await startUpstream(oktaGroupsApi({ users: { [JORDAN]: ['Everyone', 'portal-admin', 'portal-viewer', 'billing'] } }));
    dir = await mkdtemp(join(tmpdir(), 'rules-lookups-'));
    await writeFile(join(dir, 'okta-token'), 'okta-api-token');
  });
  afterEach(async () => {
    await lookups?.close();
    lookups = undefined;
    await crm.close();
    await okta.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rulesText = (rules: string, crmExtra = '') => `lookups:
  crm:
    type: http
    url: ${crm.origin}/users/{user.id}
    timeoutMs: 2900
${crmExtra}  groups:
    type: oktaGroups
    orgUrl: ${okta.origin}
    auth: { apiTokenFile: ${join(dir, 'okta-token')} }
    filter: { prefix: portal- }
rules:
${rules}`;

  async function engineFor(text: string): Promise<RulesEngine> {
    const ruleSet = compile(text);
    lookups = await LookupSet.create(ruleSet.lookups);
    return new RulesEngine(ruleSet, { lookups });
  }

  it('calls only the lookups of rules whose condition holds, in parallel, and uses their values', async () => {
    // Each upstream holds its request until the other one has one too (or 400 ms): in parallel, both see the other.
    let arrived = 0;
    let release: () => void = () => undefined;
    const both = new Promise<boolean>((resolve) => (release = () => resolve(true)));
    const together: boolean[] = [];
    const barrier =
      (inner: Handler): Handler =>
      async (req, upstream) => {
        if (++arrived === 2) release();
        together.push(await Promise.race([both, sleep(400).then(() => false)]));
        return inner(req, upstream);
      };
    crm.handler = barrier(reply.json({ tier: 'gold' }));
    okta.handler = barrier(oktaGroupsApi({ users: { [JORDAN]: ['portal-admin', 'other'] } }));
    const engine = await engineFor(
      rulesText(`  - name: portal
    when: 'client.id == "${PORTAL}"'
    claims:
      - { name: tier, expr: 'lookup.crm.tier', tokens: [access] }
      - { name: roles, expr: 'lookup.groups.map(g, g.substring(7))', tokens: [access] }
  - name: other-app
    when: 'client.id == "0oaSomeOtherApp"'
    claims:
      - { name: other, expr: 'lookup.crm.tier' }
`),
    );
    const evaluation = await engine.evaluate(event());
    expect(together).toEqual([true, true]);
    expect(evaluation.decision.changes.map((c) => [c.claim, c.kind === 'set' ? c.value : undefined])).toEqual([
      ['tier', 'gold'],
      ['roles', ['admin']],
    ]);
    expect(crm.count()).toBe(1);
    expect(okta.count()).toBe(1);
    expect(evaluation.lookups.map((o) => [o.lookup, o.status, o.cache])).toEqual([
      ['crm', 'success', 'miss'],
      ['groups', 'success', 'miss'],
    ]);
    expect(evaluation.debug).toEqual({ lookups: { crm: expect.stringMatching(/^success\/miss\/\d+ms$/), groups: expect.stringMatching(/^success\/miss\/\d+ms$/) } });

    // A client no rule with lookups matches costs no upstream call at all.
    const none = await engine.evaluate(event('0oaUnrelatedClient'));
    expect(none.lookups).toEqual([]);
    expect(none.debug).toBeUndefined();
    expect(crm.count()).toBe(1);
  });

  it('resolves a lookup the condition itself reads', async () => {
    const engine = await engineFor(
      rulesText(`  - name: gold-only
    when: 'lookup.crm.tier == "gold"'
    claims: [{ name: vip, value: true, tokens: [access] }]
`),
    );
    const evaluation = await engine.evaluate(event('0oaAnyClient'));
    expect(evaluation.rules[0]).toMatchObject({ result: 'matched', condition: true, lookups: ['crm'] });
    expect(crm.count()).toBe(1);
  });

  it('uses a claim fallback when its lookup fails, and applies the rule', async () => {
    crm.handler = reply.fail(503);
    const engine = await engineFor(
      rulesText(`  - name: portal
    claims:
      - { name: tier, expr: 'lookup.crm.tier', fallback: basic, tokens: [access] }
      - { name: static, value: yes, tokens: [access] }
`),
    );
    const evaluation = await engine.evaluate(event());
    expect(evaluation.rules[0]).toMatchObject({ result: 'matched', fallbacks: [{ claim: 'tier', lookups: ['crm'] }] });
    expect(evaluation.decision.changes.map((c) => [c.claim, c.kind === 'set' ? c.value : undefined])).toEqual([
      ['tier', 'basic'],
      ['static', 'yes'],
    ]);
    expect(evaluation.debug).toEqual({ lookups: { crm: expect.stringMatching(/^error\/miss\/\d+ms$/) } });
  });

  it('follows onError when a lookup without fallback fails: skip drops the rule, deny refuses the token', async () => {
    crm.handler = reply.garbage();
    const engine = await engineFor(
      rulesText(`  - name: skipped
    claims:
      - { name: tier, expr: 'lookup.crm.tier', tokens: [access] }
      - { name: static, value: yes, tokens: [access] }
  - name: strict
    when: 'client.id == "${PORTAL}"'
    claims:
      - { name: roles, expr: 'lookup.crm.entitlements', tokens: [access] }
    onError: deny
`),
    );
    const evaluation = await engine.evaluate(event());
    expect(evaluation.rules.map((r) => [r.rule, r.result, r.error])).toEqual([
      ['skipped', 'error', 'claims[0].expr: lookup "crm" failed (error: invalid JSON in HTTP 200 response)'],
      ['strict', 'error', 'claims[0].expr: lookup "crm" failed (error: invalid JSON in HTTP 200 response)'],
    ]);
    expect(evaluation.decision.changes).toEqual([]);
    expect(evaluation.decision.deny).toEqual({ summary: 'The token could not be issued because a claim rule could not be evaluated.', rule: 'strict' });
    // One upstream call for both rules.
    expect(crm.count()).toBe(1);
  });

  it('lets a rule handle a missing value itself (404 gives null, not a failure)', async () => {
    crm.handler = reply.fail(404);
    const engine = await engineFor(
      rulesText(`  - name: portal
    claims:
      - { name: tier, expr: 'lookup.crm.?tier.orValue("none")', fallback: unavailable, tokens: [access] }
`),
    );
    const evaluation = await engine.evaluate(event());
    expect(evaluation.decision.changes.map((c) => (c.kind === 'set' ? c.value : undefined))).toEqual(['none']);
    expect(evaluation.lookups[0]).toMatchObject({ status: 'not_found', value: null });
  });

  it('answers within the deadline through the HTTP app when the upstream hangs, with the fallback, and the upstream sees the call cancelled', async () => {
    crm.handler = reply.hang();
    const engine = await engineFor(
      rulesText(`  - name: portal
    claims:
      - { name: tier, expr: 'lookup.crm.tier', fallback: basic, tokens: [access] }
`),
    );
    const { callback, metrics } = buildTestApp({ engine, env: { HOOK_DEADLINE_MS: '200' } });
    const started = performance.now();
    const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).send(event());
    const elapsed = performance.now() - started;
    expect(response.status).toBe(200);
    // Real time, tied to the deadline with seconds of headroom; without the deadline the call would
    // wait for the lookup's own timeout (2900 ms).
    expect(elapsed).toBeLessThan(200 + 2000);
    expect(response.body.commands).toEqual([{ type: 'com.okta.access.patch', value: [{ op: 'add', path: '/claims/tier', value: 'basic' }] }]);
    expect(response.body.debugContext.lookups).toEqual({ crm: expect.stringMatching(/^timeout\/miss\/\d+ms$/) });
    await crm.waitForCancelled(1);
    expect(await metricValue(metrics, 'okta_hook_rule_evaluations_total', { rule: 'portal', result: 'matched' })).toBe(1);
  });

  it('fails open (skip) or closed (deny) within the deadline when the upstream hangs', async () => {
    crm.handler = reply.hang();
    const engine = await engineFor(
      rulesText(`  - name: must-have-tier
    claims:
      - { name: tier, expr: 'lookup.crm.tier', tokens: [access] }
    onError: deny
`),
    );
    const { callback } = buildTestApp({ engine, env: { HOOK_DEADLINE_MS: '150' } });
    const started = performance.now();
    const response = await request(callback).post('/hooks/token').set('Authorization', TEST_SECRET).send(event());
    expect(performance.now() - started).toBeLessThan(150 + 2000);
    expect(response.status).toBe(200);
    expect(response.body.error).toEqual({ errorSummary: 'The token could not be issued because a claim rule could not be evaluated.' });
  });

  it('evaluates without I/O in evaluateNow: rules needing a lookup take their fallback', async () => {
    const engine = await engineFor(rulesText(`  - name: portal\n    claims:\n      - { name: tier, expr: 'lookup.crm.tier', fallback: basic }\n`));
    const evaluation = engine.evaluateNow(event());
    expect(evaluation.decision.changes.map((c) => (c.kind === 'set' ? c.value : undefined))).toEqual(['basic', 'basic']);
    expect(crm.count()).toBe(0);
    const response = buildResponse(event(), evaluation, { debugContext: true, version: engine.version });
    expect(response.outcome).toBe('patched');
  });
});

describe('rules manager with lookups', () => {
  let crm: Upstream;
  let dir: string;
  const managers: RulesManager[] = [];

  beforeEach(async () => {
    crm = await startUpstream(reply.json({ tier: 'gold' }));
    dir = await mkdtemp(join(tmpdir(), 'rules-manager-lookups-'));
  });
  afterEach(async () => {
    for (const manager of managers.splice(0)) await manager.close();
    await crm.close();
    await rm(dir, { recursive: true, force: true });
  });

  const file = (auth = '', timeout = 1000) => `lookups:
  crm:
    type: http
    url: ${crm.origin}/users/{user.id}
    timeoutMs: ${timeout}
${auth}rules:
  - name: portal
    claims: [{ name: tier, expr: 'lookup.crm.tier', fallback: basic, tokens: [access] }]
`;

  it('refuses to start when a lookup secret file is missing, naming the rules file', async () => {
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, file(`    auth: { bearerTokenFile: ${join(dir, 'missing')} }\n`));
    const error = await RulesManager.create({ file: rulesFile, watch: false }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RulesFileError);
    expect((error as RulesFileError).errors).toEqual([`${rulesFile}: lookup "crm": auth.bearerTokenFile: cannot read ${join(dir, 'missing')} (ENOENT)`]);
  });

  it('reports lookup metrics through lookupEvents and keeps the cache across a reload that changes other rules', async () => {
    const { metrics } = buildTestApp();
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, file());
    const manager = await RulesManager.create({ file: rulesFile, watch: false, lookupEvents: lookupMetricsEvents(metrics) });
    managers.push(manager);
    await manager.current().evaluate(event());
    await writeFile(rulesFile, `${file()}  - name: extra\n    claims: [{ name: x, value: 1 }]\n`);
    expect(await manager.reload()).toMatchObject({ result: 'success', changed: true });
    const evaluation = await manager.current().evaluate(event());
    expect(evaluation.debug).toEqual({ lookups: { crm: expect.stringMatching(/^success\/hit\//) } });
    expect(crm.count()).toBe(1);
    expect(await metricValue(metrics, 'okta_hook_lookup_cache_total', { lookup: 'crm', result: 'hit' })).toBe(1);
    expect(await metricValue(metrics, 'okta_hook_lookup_circuit_state', { lookup: 'crm' })).toBe(0);
  });

  it('opens the lookups\' connections when asked at start-up, and again in the background for a lookup a reload changed', async () => {
    const { metrics } = buildTestApp();
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, file());
    const manager = await RulesManager.create({ file: rulesFile, watch: false, lookupEvents: lookupMetricsEvents(metrics), preopenConnections: 2 });
    managers.push(manager);
    expect(crm.connections).toBe(0);
    expect(await manager.preopenLookups()).toEqual({ crm: { opened: 2, failed: 0, pending: 0 } });
    expect(await metricValue(metrics, 'okta_hook_lookup_preopened_connections_total', { lookup: 'crm', result: 'opened' })).toBe(2);

    // A reload that changes the lookup builds a new pool: it opens its connections without being asked.
    await writeFile(rulesFile, file('', 900));
    expect(await manager.reload()).toMatchObject({ result: 'success', changed: true });
    const opened = (): Promise<number | undefined> => metricValue(metrics, 'okta_hook_lookup_preopened_connections_total', { lookup: 'crm', result: 'opened' });
    for (let i = 0; i < 200 && (await opened()) !== 4; i++) await sleep(10);
    expect(await opened()).toBe(4);
    await manager.current().evaluate(event());
    expect(await metricValue(metrics, 'okta_hook_lookup_preopened_connections_total', { lookup: 'crm', result: 'used' })).toBe(1);
    expect(crm.requests).toHaveLength(1);
  });

  it('re-reads rotated lookup secrets on SIGHUP even when the rules did not change, and keeps serving when a secret disappears', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'old-token');
    const rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, file(`    auth: { bearerTokenFile: ${tokenFile} }\n    cache: false\n`));
    const manager = await RulesManager.create({ file: rulesFile, watch: false });
    managers.push(manager);
    await manager.current().evaluate(event());
    await writeFile(tokenFile, 'new-token');
    expect(await manager.reload('signal')).toMatchObject({ result: 'success', changed: false });
    await manager.current().evaluate(event());
    expect(crm.requests.map((r) => r.headers.authorization)).toEqual(['Bearer old-token', 'Bearer new-token']);

    await rm(tokenFile);
    const failed = await manager.reload('signal');
    expect(failed).toMatchObject({ result: 'failure', errors: [`${rulesFile}: lookup "crm": auth.bearerTokenFile: cannot read ${tokenFile} (ENOENT)`] });
    await manager.current().evaluate(event());
    expect(crm.requests.at(-1)?.headers.authorization).toBe('Bearer new-token');
  });
});

describe('explain with lookups', () => {
  let crm: Upstream;
  let dir: string;
  let rulesFile: string;
  let payloadFile: string;

  beforeEach(async () => {
    crm = await startUpstream(reply.json({ tier: 'gold' }));
    dir = await mkdtemp(join(tmpdir(), 'explain-lookups-'));
    rulesFile = join(dir, 'rules.yaml');
    payloadFile = join(dir, 'payload.json');
    await writeFile(payloadFile, JSON.stringify(event()));
    await writeFile(
      rulesFile,
      `lookups:
  crm:
    type: http
    url: ${crm.origin}/users/{user.id}
    timeoutMs: 2900
  unused:
    type: http
    url: ${crm.origin}/unused
rules:
  - name: portal
    claims:
      - { name: tier, expr: 'lookup.crm.tier', fallback: basic, tokens: [access] }
  - name: never
    when: 'client.id == "0oaNobody"'
    claims:
      - { name: x, expr: 'lookup.unused.x' }
`,
    );
  });
  afterEach(async () => {
    await crm.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  }

  it('shows each lookup call with its result and cache status, and the lookups not needed', async () => {
    const { code, out } = await cli('explain', '--rules', rulesFile, '--request', payloadFile);
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`\\n  crm \\(http GET ${crm.origin}/users/\\{user\\.id\\}\\): success, cache miss, HTTP 200, [\\d.]+ ms -> \\{"tier":"gold"\\}\\n`));
    expect(out).toContain(`  unused (http GET ${crm.origin}/unused): not called (no rule in play needed it)\n`);
    expect(out).toContain('     access set tier = "gold"  ->  applied (add)\n');
    expect(crm.count('/unused')).toBe(0);
  });

  it('shows a failed lookup and the fallback used, and --offline calls nothing', async () => {
    crm.handler = reply.fail(500);
    const failed = await cli('explain', '--rules', rulesFile, '--request', payloadFile);
    expect(failed.out).toMatch(/ crm \(http GET .*\): FAILED error \(upstream answered HTTP 500\), cache miss, HTTP 500, [\d.]+ ms -> rules reading it use their fallback or onError\n/);
    expect(failed.out).toContain('     fallback used for tier: lookup "crm" failed\n');
    expect(failed.out).toContain('     access set tier = "basic"  ->  applied (add)\n');

    crm.reset();
    const offline = await cli('explain', '--offline', '--json', '--rules', rulesFile, '--request', payloadFile);
    expect(offline.code).toBe(0);
    expect(crm.count()).toBe(0);
    const report = JSON.parse(offline.out) as { lookups: Array<{ name: string; called: boolean; status?: string; error?: string }> };
    expect(report.lookups).toEqual([
      expect.objectContaining({ name: 'crm', called: true, status: 'error', error: 'not called (--offline)' }),
      expect.objectContaining({ name: 'unused', called: false }),
    ]);
  });

  it('stops at --deadline-ms when an upstream hangs', async () => {
    crm.handler = reply.hang();
    const started = performance.now();
    const { code, out } = await cli('explain', '--deadline-ms', '150', '--rules', rulesFile, '--request', payloadFile);
    expect(code).toBe(0);
    // The deadline, not the lookup's own timeout (2900 ms), ended the wait.
    expect(performance.now() - started).toBeLessThan(150 + 2000);
    expect(out).toContain('FAILED timeout (request deadline reached)');
  });

  it('exits 2 naming the file when a lookup secret is missing', async () => {
    await writeFile(rulesFile, `lookups:\n  crm:\n    type: http\n    url: ${crm.origin}/\n    auth: { bearerTokenFile: ${join(dir, 'nope')} }\nrules:\n  - name: r\n    claims: [{ name: t, expr: 'lookup.crm.tier' }]\n`);
    const { code, err } = await cli('explain', '--rules', rulesFile, '--request', payloadFile);
    expect(code).toBe(2);
    expect(err).toContain(`${rulesFile}: lookup "crm": auth.bearerTokenFile: cannot read ${join(dir, 'nope')} (ENOENT)\n(run with --offline to explain without calling lookups`);
  });
});

/**
 * Shadow rules through the real service: an HTTP listener on 127.0.0.1, real rules managers
 * reading files, a real lookup upstream. The answers with shadow rules must be the live-only
 * answers byte for byte; the shadow counters, log lines and span-free reporting must match the
 * differences; a shadow rule that fails or whose lookup hangs must not change the answer or hold it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { Metrics } from '../../src/observability/metrics';
import { RulesManager } from '../../src/rules/manager';
import { metricValue } from '../helpers/app';
import { startHook, type RunningHook } from '../helpers/service';
import { installTestTracing } from '../observability/support/otel';
import { oktaFixture, type OktaFixture } from '../helpers/fixtures';
import { startUpstream, type Upstream } from '../helpers/upstream';

const lookupsYaml = (origin: string, extra = ''): string => `lookups:
  roles:
    type: http
    url: ${origin}/roles/{user.id}
    timeoutMs: 1000
    cache: false
${extra}`;

const LIVE_RULES = `
rules:
  - name: hello
    claims:
      - { name: custom-claim, value: hello-from-hook }
  - name: tier
    claims:
      - { name: tier, value: gold, tokens: [access] }
  - name: roles
    when: 'user != null'
    claims:
      - { name: roles, expr: 'lookup.roles.roles', fallback: [], tokens: [access] }
  - name: names
    when: 'user != null'
    claims:
      - { name: full_name, expr: 'user.profile.firstName + " " + user.profile.lastName', tokens: [id] }
`;

/** Same hello and roles; tier changed; full_name gone; department added; a deny for the sync service. */
const SHADOW_RULES = `
rules:
  - name: hello
    claims:
      - { name: custom-claim, value: hello-from-hook }
  - name: tier
    claims:
      - { name: tier, value: platinum, tokens: [access] }
  - name: roles
    when: 'user != null'
    claims:
      - { name: roles, expr: 'lookup.roles.roles', fallback: [], tokens: [access] }
  - name: department
    when: 'identity != null'
    claims:
      - { name: department, value: cardiology, tokens: [access] }
  - name: block-sync
    when: 'client.id == "0oa9s1d3f5G7h9J1k3l5"'
    deny: Sync service is retired
`;

const PAYLOADS: OktaFixture[] = ['token-hook-authcode-full', 'token-hook-client-credentials', 'token-hook-minimal', 'token-hook-refresh'];


async function startService(dir: string, live: string, shadow: string | undefined, env: Record<string, string> = {}): Promise<RunningHook> {
  const liveFile = join(dir, `live-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(liveFile, live);
  const rules = await RulesManager.create({ file: liveFile, watch: false });
  let shadowRules: RulesManager | undefined;
  const metrics = new Metrics({ version: 'test' });
  if (shadow !== undefined) {
    const shadowFile = join(dir, `shadow-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(shadowFile, shadow);
    metrics.enableShadow();
    shadowRules = await RulesManager.create({ file: shadowFile, watch: false, shareLookupsWith: rules.provider });
  }
  const hook = await startHook({ engine: rules.provider, shadow: shadowRules?.provider, env, metrics });
  return {
    ...hook,
    close: async () => {
      await hook.close();
      await rules.close();
      await shadowRules?.close();
    },
  };
}

/** Waits (bounded) until the shadow comparisons reach `n`. */
async function comparisons(metrics: Metrics, n: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let total = 0;
    for (const result of ['same', 'differs', 'error']) total += (await metricValue(metrics, 'okta_hook_shadow_comparisons_total', { result })) ?? 0;
    if (total >= n) return;
    if (Date.now() > until) throw new Error(`only ${total} shadow comparisons after ${timeoutMs} ms (expected ${n})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('shadow rules through the HTTP service', () => {
  let dir: string;
  let upstream: Upstream;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shadow-'));
    upstream = await startUpstream((request) => {
      if (request.path.startsWith('/slow/')) return { hang: true };
      return { json: { roles: ['clinician', 'viewer'] } };
    });
  });

  afterAll(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers byte for byte as the live rules alone, and counts and logs each difference by claim name', async () => {
    // debugContext off: its lookup timings (`success/miss/12ms`) differ between any two calls.
    const env = { HOOK_DEBUG_CONTEXT: 'false' };
    const liveOnly = await startService(dir, lookupsYaml(upstream.origin) + LIVE_RULES, undefined, env);
    const withShadow = await startService(dir, lookupsYaml(upstream.origin) + LIVE_RULES, lookupsYaml(upstream.origin) + SHADOW_RULES, env);
    try {
      for (const name of PAYLOADS) {
        const expected = await liveOnly.call(oktaFixture(name));
        upstream.reset();
        const actual = await withShadow.call(oktaFixture(name));
        expect(actual.status).toBe(200);
        expect(actual.text).toBe(expected.text);
        await comparisons(withShadow.metrics, PAYLOADS.indexOf(name) + 1);
        // The lookup both files define identically is called once per call, not once per rules file.
        const needsRoles = oktaFixture(name).data.context?.user !== undefined;
        expect(upstream.count('/roles/')).toBe(needsRoles ? 1 : 0);
      }

      const value = (labels: Record<string, string>, metric = 'okta_hook_shadow_differences_total') => metricValue(withShadow.metrics, metric, labels);
      // authcode-full and refresh (user, id token minted): tier changed, full_name removed, department added.
      // client-credentials: a shadow-only deny. minimal (access token only, no id token): tier changed.
      expect(await value({ result: 'differs' }, 'okta_hook_shadow_comparisons_total')).toBe(4);
      expect(await value({ result: 'same' }, 'okta_hook_shadow_comparisons_total')).toBe(0);
      expect(await value({ result: 'error' }, 'okta_hook_shadow_comparisons_total')).toBe(0);
      expect(await value({ kind: 'claim_changed' })).toBe(3);
      expect(await value({ kind: 'claim_removed' })).toBe(2);
      expect(await value({ kind: 'claim_added' })).toBe(2);
      expect(await value({ kind: 'deny' })).toBe(1);
      expect(await value({ kind: 'allow' })).toBe(0);
      expect(await value({ kind: 'lifetime' })).toBe(0);

      const lines = withShadow.logs.lines.filter((line) => line.msg === 'shadow rules differ');
      expect(lines).toHaveLength(4);
      const byEvent = new Map(lines.map((line) => [line.eventId, line.differences]));
      expect(byEvent.get(oktaFixture('token-hook-authcode-full').eventId)).toEqual(
        expect.arrayContaining([
          { kind: 'claim_removed', token: 'id', claim: 'full_name' },
          { kind: 'claim_changed', token: 'access', claim: 'tier' },
          { kind: 'claim_added', token: 'access', claim: 'department' },
        ]),
      );
      expect(byEvent.get(oktaFixture('token-hook-client-credentials').eventId)).toEqual([{ kind: 'deny' }]);
      // Names and kinds only: no claim value reaches the log.
      const raw = withShadow.logs.raw.filter((line) => line.includes('shadow rules differ')).join('\n');
      for (const secret of ['platinum', 'gold', 'cardiology', 'Jordan', 'clinician', 'Sync service is retired']) expect(raw).not.toContain(secret);
      for (const line of lines) expect(line).toMatchObject({ shadow: 'differs', shadowVersion: expect.any(String), rulesVersion: expect.any(String) });
    } finally {
      await liveOnly.close();
      await withShadow.close();
    }
  });

  it('counts a shadow file identical to the live one as same, and logs nothing', async () => {
    const rules = lookupsYaml(upstream.origin) + LIVE_RULES;
    // Another file (comments differ, so another version) with the same rules.
    const service = await startService(dir, rules, `# shadow copy\n${rules}`);
    try {
      for (const name of PAYLOADS) expect((await service.call(oktaFixture(name))).status).toBe(200);
      await comparisons(service.metrics, PAYLOADS.length);
      expect(await metricValue(service.metrics, 'okta_hook_shadow_comparisons_total', { result: 'same' })).toBe(PAYLOADS.length);
      expect(service.logs.lines.filter((line) => String(line.msg).startsWith('shadow rules'))).toEqual([]);
    } finally {
      await service.close();
    }
  });

  it('a shadow rule that fails or whose lookup hangs changes neither the answer nor its latency; it is counted as an error', async () => {
    const deadlineMs = 2000;
    const env = { HOOK_DEADLINE_MS: String(deadlineMs), HOOK_DEBUG_CONTEXT: 'false' };
    const failing = `${lookupsYaml(upstream.origin, `  slow:
    type: http
    url: ${upstream.origin}/slow/{user.id}
    timeoutMs: 2800
    cache: false
`)}${LIVE_RULES}
  - name: broken
    claims:
      - { name: broken, expr: 'user.profile.noSuchAttribute.value', tokens: [access] }
  - name: hangs
    when: 'user != null'
    claims:
      - { name: slow, expr: 'lookup.slow.value', tokens: [access] }
`;
    const liveOnly = await startService(dir, lookupsYaml(upstream.origin) + LIVE_RULES, undefined, env);
    const withShadow = await startService(dir, lookupsYaml(upstream.origin) + LIVE_RULES, failing, env);
    try {
      const payload = oktaFixture('token-hook-authcode-full');
      const expected = await liveOnly.call(payload);
      const actual = await withShadow.call(payload);
      expect(actual.text).toBe(expected.text);
      // Had the hook waited for the hanging shadow lookup, the answer would take the whole deadline.
      expect(actual.ms).toBeLessThan(deadlineMs * 0.75);
      // The shadow evaluation ends at the same deadline: counted as an error, never seen by Okta.
      await comparisons(withShadow.metrics, 1, deadlineMs + 8000);
      expect(await metricValue(withShadow.metrics, 'okta_hook_shadow_comparisons_total', { result: 'error' })).toBe(1);
      const line = withShadow.logs.lines.find((l) => l.msg === 'shadow rules failed');
      expect(line).toMatchObject({ shadow: 'error', reason: 'rule_error', failedRules: expect.arrayContaining(['broken', 'hangs']) });
      // The shadow-only lookup was cancelled when the deadline expired.
      await upstream.waitForCancelled(1, 5000);
    } finally {
      await liveOnly.close();
      await withShadow.close();
    }
  });

  it('records a shadow span with an event naming the kinds and claims (never values) for sampled calls', async () => {
    const tracing = installTestTracing();
    const env = { HOOK_DEBUG_CONTEXT: 'false' };
    const service = await startService(dir, lookupsYaml(upstream.origin) + LIVE_RULES, lookupsYaml(upstream.origin) + SHADOW_RULES, env);
    try {
      await service.call(oktaFixture('token-hook-authcode-full'));
      await comparisons(service.metrics, 1);
      const span = tracing.exporter.getFinishedSpans().find((s) => s.name === 'shadow rules');
      expect(span?.attributes).toMatchObject({ 'okta.shadow.result': 'differs', 'okta.shadow.differences': 3 });
      const hook = tracing.exporter.getFinishedSpans().find((s) => s.name === 'POST /hooks/token');
      expect(span?.parentSpanContext?.spanId ?? (span as unknown as { parentSpanId?: string }).parentSpanId).toBe(hook?.spanContext().spanId);
      const event = span?.events.find((e) => e.name === 'okta.shadow.comparison');
      expect(event?.attributes).toMatchObject({
        'okta.shadow.kinds': expect.arrayContaining(['claim_added', 'claim_changed', 'claim_removed']),
        'okta.shadow.claims': expect.arrayContaining(['tier', 'full_name', 'department']),
      });
      expect(JSON.stringify(span?.attributes) + JSON.stringify(span?.events)).not.toMatch(/platinum|gold|cardiology|Jordan/);
    } finally {
      await service.close();
      tracing.uninstall();
    }
  });

  it('hot-reloads the shadow file on its own: a new version is compared from the next call, a broken one keeps the previous', async () => {
    const liveFile = join(dir, 'hot-live.yaml');
    const shadowFile = join(dir, 'hot-shadow.yaml');
    const rules = lookupsYaml(upstream.origin) + LIVE_RULES;
    await writeFile(liveFile, rules);
    await writeFile(shadowFile, rules);
    const live = await RulesManager.create({ file: liveFile, watch: false });
    const liveVersion = live.version;
    const reloads: string[] = [];
    const shadow = await RulesManager.create({ file: shadowFile, watch: true, debounceMs: 50, shareLookupsWith: live.provider, onReload: (r) => reloads.push(r.result) });
    const metrics = new Metrics({ version: 'test' });
    metrics.enableShadow();
    const hook = await startHook({ engine: live.provider, shadow: shadow.provider, metrics, env: { HOOK_DEBUG_CONTEXT: 'false' } });
    const waitFor = async (what: string, done: () => boolean): Promise<void> => {
      const until = Date.now() + 10_000;
      while (!done()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    try {
      await hook.call(oktaFixture('token-hook-authcode-full'));
      await comparisons(metrics, 1);
      expect(await metricValue(metrics, 'okta_hook_shadow_comparisons_total', { result: 'same' })).toBe(1);
      await writeFile(shadowFile, rules.replace('gold', 'platinum'));
      await waitFor('the shadow reload', () => reloads.includes('success'));
      await hook.call(oktaFixture('token-hook-authcode-full'));
      await comparisons(metrics, 2);
      expect(await metricValue(metrics, 'okta_hook_shadow_differences_total', { kind: 'claim_changed' })).toBe(1);
      await writeFile(shadowFile, 'rules: [');
      await waitFor('the failed shadow reload', () => reloads.includes('failure'));
      await hook.call(oktaFixture('token-hook-authcode-full'));
      await comparisons(metrics, 3);
      expect(await metricValue(metrics, 'okta_hook_shadow_differences_total', { kind: 'claim_changed' })).toBe(2);
      // The live rules never moved.
      expect(live.version).toBe(liveVersion);
    } finally {
      await hook.close();
      await shadow.close();
      await live.close();
    }
  });

  it('is off by default: no shadow series without RULES_SHADOW_FILE', async () => {
    const service = await startService(dir, lookupsYaml(upstream.origin) + LIVE_RULES, undefined);
    try {
      await service.call(oktaFixture('token-hook-authcode-full'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await metricValue(service.metrics, 'okta_hook_shadow_comparisons_total', { result: 'same' })).toBeUndefined();
      expect(loadConfig({}).rules.shadowFile).toBe('');
    } finally {
      await service.close();
    }
  });
});

import { MAX_RETRY_AFTER_MS, retryAfterMs } from '../../src/lookups/http-client';
import { lookupMetricsEvents } from '../../src/lookups/metrics';
import { LookupSet } from '../../src/lookups/set';
import { Metrics } from '../../src/observability/metrics';
import { reply, startUpstream, type Upstream } from '../helpers/upstream';
import { contextForUser, deadline, eventually, EventLog, lookupSet, sleep } from './helpers';

describe('lookup circuit breaker and concurrency limit', () => {
  let upstream: Upstream;
  let set: LookupSet | undefined;
  let events: EventLog;

  beforeEach(async () => {
    upstream = await startUpstream(reply.fail(503));
    events = new EventLog();
  });
  afterEach(async () => {
    await set?.close();
    set = undefined;
    await upstream.close();
  });

  const crm = (extra: Record<string, unknown>) =>
    lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}`, cache: false, ...extra } }, events);

  it('opens after consecutive failures, then fails fast without calling the upstream', async () => {
    set = await crm({ breaker: { consecutiveFailures: 3, halfOpenAfterSeconds: 60 } });
    const lookup = set.get('crm')!;
    for (let i = 0; i < 3; i++) expect(await lookup.resolve(contextForUser(`u${i}`))).toMatchObject({ status: 'error' });
    expect(lookup.circuitState).toBe('open');
    const started = performance.now();
    const outcomes = [];
    for (let i = 0; i < 50; i++) outcomes.push(await lookup.resolve(contextForUser(`v${i}`)));
    const perCall = (performance.now() - started) / 50;
    expect(outcomes.every((o) => o.status === 'circuit_open' && !o.ok)).toBe(true);
    expect(outcomes[0]!.error).toBe('circuit open: upstream failing, not called');
    expect(upstream.count()).toBe(3);
    // A dead upstream costs far less than its timeout (500 ms) per call, even on a busy machine.
    expect(perCall).toBeLessThan(50);
    expect(events.callResults().filter((r) => r === 'circuit_open')).toHaveLength(50);
    expect(events.states).toEqual(['closed', 'open']);
  });

  it('opens on hung calls too (timeouts count), so later requests stop waiting', async () => {
    upstream.handler = reply.hang();
    set = await crm({ timeoutMs: 50, breaker: { consecutiveFailures: 2, halfOpenAfterSeconds: 60 } });
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1'));
    await lookup.resolve(contextForUser('u2'));
    expect(await lookup.resolve(contextForUser('u3'))).toMatchObject({ status: 'circuit_open' });
    // Not called, so not waited for: the upstream never sees a third request (an aborted one may
    // reach it late or not at all, hence at most two).
    await sleep(100);
    expect(upstream.count()).toBeLessThanOrEqual(2);
  });

  it('probes once when half-open and closes again on success', async () => {
    set = await crm({ breaker: { consecutiveFailures: 2, halfOpenAfterSeconds: 0.2 } });
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1'));
    await lookup.resolve(contextForUser('u2'));
    expect(lookup.circuitState).toBe('open');
    const arrivals: number[] = [];
    upstream.handler = () => {
      arrivals.push(performance.now());
      return { status: 200, json: { ok: true }, delayMs: 50 };
    };
    await sleep(220);
    // Concurrent calls during the probe wait for it instead of piling onto a recovering upstream.
    const outcomes = await Promise.all([lookup.resolve(contextForUser('p1')), lookup.resolve(contextForUser('p2')), lookup.resolve(contextForUser('p3'))]);
    expect(outcomes.map((o) => o.status)).toEqual(['success', 'success', 'success']);
    expect(arrivals).toHaveLength(3);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(45);
    expect(arrivals[2]! - arrivals[0]!).toBeGreaterThanOrEqual(45);
    expect(lookup.circuitState).toBe('closed');
    expect(events.states).toEqual(['closed', 'open', 'half_open', 'closed']);
  });

  it('reopens when the half-open probe fails', async () => {
    set = await crm({ breaker: { consecutiveFailures: 1, halfOpenAfterSeconds: 0.1 } });
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1'));
    await sleep(120);
    expect(await lookup.resolve(contextForUser('u2'))).toMatchObject({ status: 'error' });
    expect(lookup.circuitState).toBe('open');
    expect(await lookup.resolve(contextForUser('u3'))).toMatchObject({ status: 'circuit_open' });
    expect(upstream.count()).toBe(2);
  });

  it('does not count answers the upstream gave on purpose (4xx) as failures', async () => {
    upstream.handler = reply.fail(403);
    set = await crm({ breaker: { consecutiveFailures: 2, halfOpenAfterSeconds: 60 } });
    const lookup = set.get('crm')!;
    for (let i = 0; i < 5; i++) expect(await lookup.resolve(contextForUser(`u${i}`))).toMatchObject({ status: 'error', httpStatus: 403 });
    expect(lookup.circuitState).toBe('closed');
    expect(upstream.count()).toBe(5);
  });

  it('stays closed on a flapping upstream with a consecutive breaker, and opens with a sampling breaker', async () => {
    upstream.handler = reply.flap(reply.fail(500), reply.json({ ok: 1 }));
    set = await crm({ breaker: { consecutiveFailures: 2, halfOpenAfterSeconds: 60 } });
    for (let i = 0; i < 10; i++) await set.get('crm')!.resolve(contextForUser(`u${i}`));
    expect(set.get('crm')!.circuitState).toBe('closed');
    await set.close();

    set = await crm({ breaker: { failureRatio: 0.4, windowSeconds: 5, minimumRps: 1, halfOpenAfterSeconds: 60 } });
    const lookup = set.get('crm')!;
    const statuses: string[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await lookup.resolve(contextForUser(`w${i}`))).status);
    expect(lookup.circuitState).toBe('open');
    expect(statuses).toContain('circuit_open');
  });

  it('rejects calls beyond the concurrency limit and queue at once', async () => {
    upstream.handler = reply.slow(150, reply.json({ ok: 1 }));
    set = await crm({ concurrency: { limit: 2, queue: 1 } });
    const lookup = set.get('crm')!;
    const started = performance.now();
    const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => lookup.resolve(contextForUser(`u${i}`))));
    const statuses = outcomes.map((o) => o.status).sort();
    expect(statuses).toEqual(['rejected', 'rejected', 'rejected', 'success', 'success', 'success']);
    expect(outcomes.find((o) => o.status === 'rejected')?.error).toBe('concurrency limit reached, not called');
    expect(upstream.maxInFlight).toBe(2);
    expect(upstream.count()).toBe(3);
    // Rejections do not open the breaker.
    expect(lookup.circuitState).toBe('closed');
    // Rejected at once rather than queued: the whole batch is bounded by the calls in flight (seconds of headroom).
    expect(performance.now() - started).toBeLessThan(450 + 2000);
    expect(events.callResults().filter((r) => r === 'rejected')).toHaveLength(3);
  });

  it('does not count calls cancelled while queued for a slot as upstream failures', async () => {
    upstream.handler = reply.slow(200, reply.json({ ok: 1 }));
    set = await crm({ concurrency: { limit: 1, queue: 5 }, breaker: { consecutiveFailures: 1, halfOpenAfterSeconds: 60 } });
    const lookup = set.get('crm')!;
    const first = lookup.resolve(contextForUser('u0'));
    const limit = deadline(50);
    const queued = await Promise.all([lookup.resolve(contextForUser('u1'), { signal: limit.signal }), lookup.resolve(contextForUser('u2'), { signal: limit.signal })]);
    limit.clear();
    expect(queued.map((o) => o.status)).toEqual(['timeout', 'timeout']);
    expect(await first).toMatchObject({ status: 'success' });
    await eventually(() => events.calls.length === 3);
    expect(events.calls.map((c) => c.result)).toEqual(['success', 'timeout', 'timeout']);
    expect(lookup.circuitState).toBe('closed');
    expect(upstream.count()).toBe(1);
  });

  it('feeds the Prometheus lookup metrics', async () => {
    const metrics = new Metrics({ version: 'test' });
    await upstream.close();
    upstream = await startUpstream(reply.json({ tier: 'gold' }));
    set = await lookupSet(
      { crm: { type: 'http', url: `${upstream.origin}/users/{user.id}`, breaker: { consecutiveFailures: 1, halfOpenAfterSeconds: 60 } } },
      lookupMetricsEvents(metrics),
    );
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1'));
    await lookup.resolve(contextForUser('u1'));
    upstream.handler = reply.hang();
    const limit = deadline(60);
    await lookup.resolve(contextForUser('u2'), { signal: limit.signal });
    limit.clear();
    // The abandoned call is cancelled (the upstream sees it) and recorded as a timeout, which opens the breaker.
    await upstream.waitForCancelled(1);
    await eventually(() => lookup.circuitState === 'open');
    await lookup.resolve(contextForUser('u3'));
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/okta_hook_lookup_cache_total\{lookup="crm",result="miss"\} 3/);
    expect(text).toMatch(/okta_hook_lookup_cache_total\{lookup="crm",result="hit"\} 1/);
    expect(text).toMatch(/okta_hook_lookup_duration_seconds_count\{lookup="crm",result="success"\} 1/);
    expect(text).toMatch(/okta_hook_lookup_duration_seconds_count\{lookup="crm",result="timeout"\} 1/);
    expect(text).toMatch(/okta_hook_lookup_duration_seconds_count\{lookup="crm",result="circuit_open"\} 1/);
    expect(text).toMatch(/okta_hook_lookup_circuit_state\{lookup="crm"\} 2/);
    expect(upstream.count()).toBe(2);

    // A reload that drops the lookup drops its breaker gauge too (an open breaker must not alert forever).
    const next = await LookupSet.create([], { previous: set, events: lookupMetricsEvents(metrics) });
    set = next;
    expect(await metrics.registry.metrics()).not.toMatch(/okta_hook_lookup_circuit_state\{lookup="crm"\}/);
  });

  // The breaker reads an upstream's answers right: a 4xx or redirect probe closes it with a clean
  // count, and Retry-After on a 429 holds it open for that long.
  async function openThenProbe(probe: { status: number; headers?: Record<string, string> }): Promise<void> {
    set = await crm({ breaker: { consecutiveFailures: 3, halfOpenAfterSeconds: 0.2 } });
    const lookup = set.get('crm')!;
    for (let i = 0; i < 3; i++) await lookup.resolve(contextForUser(`u${i}`));
    expect(lookup.circuitState).toBe('open');
    await sleep(300);
    upstream.handler = () => ({ status: probe.status, json: { error: 'no' }, headers: probe.headers });
    expect(await lookup.resolve(contextForUser('probe'))).toMatchObject({ ok: false, status: 'error', httpStatus: probe.status });
    expect(lookup.circuitState).toBe('closed');
    // Back to failing: one failure is one failure, not the one that reopens the breaker.
    upstream.handler = reply.fail(503);
    await lookup.resolve(contextForUser('after-1'));
    await lookup.resolve(contextForUser('after-2'));
    expect(lookup.circuitState).toBe('closed');
    await lookup.resolve(contextForUser('after-3'));
    expect(lookup.circuitState).toBe('open');
  }

  it('after a half-open probe answered 400, needs the configured number of failures to open again', async () => {
    await openThenProbe({ status: 400 });
  });

  it('after a half-open probe answered with a redirect, needs the configured number of failures to open again', async () => {
    await openThenProbe({ status: 302, headers: { location: 'https://elsewhere.example/' } });
  });

  it('honours Retry-After on a 429: no call reaches the upstream for that long, then calls resume', async () => {
    upstream.handler = () => ({ status: 429, json: { error: 'slow down' }, headers: { 'retry-after': '1' } });
    set = await crm({ breaker: { consecutiveFailures: 5, halfOpenAfterSeconds: 60 } });
    const lookup = set.get('crm')!;
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ status: 'error', httpStatus: 429 });
    expect(lookup.circuitState).toBe('open');
    expect(await lookup.resolve(contextForUser('u2'))).toMatchObject({ status: 'circuit_open' });
    expect(upstream.count()).toBe(1);
    upstream.handler = reply.json({ tier: 'gold' });
    // Released after about a second (bounded generously: a busy machine may fire the timer late).
    const deadline = Date.now() + 6000;
    let outcome = await lookup.resolve(contextForUser('u3'));
    while (outcome.status === 'circuit_open' && Date.now() < deadline) {
      await sleep(50);
      outcome = await lookup.resolve(contextForUser('u3'));
    }
    expect(outcome).toMatchObject({ ok: true, status: 'success' });
    expect(lookup.circuitState).toBe('closed');
  });

  it('reads Retry-After as seconds or an HTTP date, caps it, and ignores it elsewhere', () => {
    const answer = (status: number, value?: string) => ({ status, headers: value === undefined ? {} : { 'retry-after': value }, body: Buffer.alloc(0) });
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(answer(429, '3'), now)).toBe(3000);
    expect(retryAfterMs(answer(503, 'Thu, 01 Jan 2026 00:00:10 GMT'), now)).toBe(10_000);
    expect(retryAfterMs(answer(429, '86400'), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(answer(429, 'soon'), now)).toBeUndefined();
    expect(retryAfterMs(answer(429, 'Wed, 31 Dec 2025 00:00:00 GMT'), now)).toBeUndefined();
    expect(retryAfterMs(answer(500, '3'), now)).toBeUndefined();
    expect(retryAfterMs(answer(429), now)).toBeUndefined();
  });
});

import type { LookupSet } from '../../src/lookups/set';
import { reply, routes, startUpstream, type Handler, type Upstream } from '../helpers/upstream';
import { contextForUser, deadline, eventually, EventLog, lookupSet, sleep } from './helpers';

/** Answers `{ n: <request number> }` so a test can tell a cached value from a fresh one. */
function counting(): Handler {
  let n = 0;
  return () => ({ status: 200, json: { n: ++n } });
}

describe('lookup cache', () => {
  let upstream: Upstream;
  let set: LookupSet | undefined;
  let events: EventLog;

  beforeEach(async () => {
    upstream = await startUpstream(counting());
    events = new EventLog();
  });
  afterEach(async () => {
    await set?.close();
    set = undefined;
    await upstream.close();
  });

  const crm = (cache: unknown, extra: Record<string, unknown> = {}) =>
    lookupSet({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}`, extract: 'n', cache, ...extra } }, events);

  it('serves a hit within the TTL and calls upstream again after it', async () => {
    // Windows of a second: a busy machine can stall a test for a few hundred milliseconds.
    set = await crm({ ttlSeconds: 1, staleWhileRevalidateSeconds: 0, staleIfErrorSeconds: 0 });
    const lookup = set.get('crm')!;
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ value: 1, cache: 'miss' });
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ value: 1, cache: 'hit' });
    expect(await lookup.resolve(contextForUser('u2'))).toMatchObject({ value: 2, cache: 'miss' });
    await sleep(1100);
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ value: 3, cache: 'miss' });
    expect(upstream.count()).toBe(3);
    expect(events.caches).toEqual(['miss', 'hit', 'miss', 'miss']);
  });

  it('keys the cache by the resolved request, including templated headers', async () => {
    set = await crm({ ttlSeconds: 60 }, { headers: { 'X-Client': '{client.id}' } });
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1', 'client-a'));
    await lookup.resolve(contextForUser('u1', 'client-b'));
    await lookup.resolve(contextForUser('u1', 'client-a'));
    expect(upstream.requests.map((r) => r.headers['x-client'])).toEqual(['client-a', 'client-b']);
  });

  it('is bounded: the least recently used entry is evicted at maxEntries', async () => {
    set = await crm({ ttlSeconds: 60, maxEntries: 2 });
    const lookup = set.get('crm')!;
    for (const user of ['u1', 'u2', 'u3']) await lookup.resolve(contextForUser(user));
    expect(lookup.cacheSize).toBe(2);
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ cache: 'miss', value: 4 });
    expect(await lookup.resolve(contextForUser('u3'))).toMatchObject({ cache: 'hit', value: 3 });
  });

  it('serves a stale value at once while one background call revalidates it', async () => {
    set = await crm({ ttlSeconds: 0.1, staleWhileRevalidateSeconds: 5, staleIfErrorSeconds: 0 });
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1'));
    await sleep(130);
    upstream.handler = reply.slow(300, reply.json({ n: 'fresh' }));
    const [a, b] = await Promise.all([lookup.resolve(contextForUser('u1')), lookup.resolve(contextForUser('u1'))]);
    // Answered while the refresh (300 ms at the upstream) is still running: nobody waited for it.
    expect(events.calls).toHaveLength(1);
    expect(a).toMatchObject({ value: 1, cache: 'stale', stale: 'while_revalidate', status: 'success' });
    expect(b).toMatchObject({ value: 1, cache: 'stale' });
    // One refresh for both, no request waited for it, and the next read gets its value.
    await eventually(() => events.calls.length === 2, 10_000);
    expect(upstream.count()).toBe(2);
    expect(events.calls[1]).toMatchObject({ result: 'success', background: true });
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ value: 'fresh', cache: 'hit' });
  });

  it('serves the last value when the upstream fails, within staleIfErrorSeconds only', async () => {
    set = await crm({ ttlSeconds: 0.05, staleWhileRevalidateSeconds: 0, staleIfErrorSeconds: 1.5 });
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1'));
    upstream.handler = reply.fail(503);
    await sleep(80);
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ ok: true, value: 1, cache: 'stale', stale: 'if_error', status: 'error', httpStatus: 503 });
    await sleep(1500);
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ ok: false, status: 'error', cache: 'miss' });
    expect(events.caches).toEqual(['miss', 'stale', 'miss']);
  });

  it('serves the last value when the upstream hangs past the deadline (stale-if-error)', async () => {
    set = await crm({ ttlSeconds: 0.05, staleWhileRevalidateSeconds: 0, staleIfErrorSeconds: 60 });
    const lookup = set.get('crm')!;
    await lookup.resolve(contextForUser('u1'));
    upstream.handler = reply.hang();
    await sleep(80);
    const limit = deadline(100);
    const outcome = await lookup.resolve(contextForUser('u1'), { signal: limit.signal });
    limit.clear();
    expect(outcome).toMatchObject({ ok: true, value: 1, cache: 'stale', stale: 'if_error', status: 'timeout' });
  });

  it('caches a 404 for negativeTtlSeconds only', async () => {
    upstream.handler = routes({ '/users/ghost': reply.fail(404), '/users/': counting() });
    set = await crm({ ttlSeconds: 60, negativeTtlSeconds: 1 });
    const lookup = set.get('crm')!;
    expect(await lookup.resolve(contextForUser('ghost'))).toMatchObject({ status: 'not_found', value: null, cache: 'miss' });
    expect(await lookup.resolve(contextForUser('ghost'))).toMatchObject({ status: 'not_found', value: null, cache: 'negative_hit' });
    await sleep(1100);
    expect(await lookup.resolve(contextForUser('ghost'))).toMatchObject({ cache: 'miss' });
    expect(upstream.count('/users/ghost')).toBe(2);
  });

  it('caches an empty result ([] after extract) as negative', async () => {
    upstream.handler = reply.json({ n: [] });
    set = await crm({ ttlSeconds: 60, negativeTtlSeconds: 1 });
    const lookup = set.get('crm')!;
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ status: 'success', value: [] });
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ cache: 'negative_hit' });
    await sleep(1100);
    expect(await lookup.resolve(contextForUser('u1'))).toMatchObject({ cache: 'miss' });
  });

  it('coalesces concurrent identical lookups into one upstream call', async () => {
    upstream.handler = reply.slow(80, counting());
    set = await crm({ ttlSeconds: 60 });
    const lookup = set.get('crm')!;
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => lookup.resolve(contextForUser('u1'))));
    expect(upstream.count()).toBe(1);
    expect(outcomes.every((o) => o.ok && o.value === 1)).toBe(true);
    expect(outcomes.filter((o) => o.cache === 'miss')).toHaveLength(1);
    expect(outcomes.filter((o) => o.cache === 'coalesced')).toHaveLength(19);
    expect(events.calls).toHaveLength(1);
  });

  it('coalesces even with caching disabled', async () => {
    upstream.handler = reply.slow(50, counting());
    set = await crm(false);
    const lookup = set.get('crm')!;
    await Promise.all(Array.from({ length: 5 }, () => lookup.resolve(contextForUser('u1'))));
    expect(upstream.count()).toBe(1);
    await lookup.resolve(contextForUser('u1'));
    expect(upstream.count()).toBe(2);
  });

  it('keeps a shared call running for the callers still waiting when one caller gives up', async () => {
    upstream.handler = reply.slow(150, counting());
    set = await crm({ ttlSeconds: 60 });
    const lookup = set.get('crm')!;
    const short = deadline(40);
    const [early, late] = await Promise.all([lookup.resolve(contextForUser('u1'), { signal: short.signal }), lookup.resolve(contextForUser('u1'))]);
    short.clear();
    expect(early).toMatchObject({ ok: false, status: 'timeout' });
    expect(late).toMatchObject({ ok: true, value: 1 });
    expect(upstream.cancelled).toBe(0);
  });

  it('cancels the shared call once every waiting caller has given up', async () => {
    upstream.handler = reply.hang();
    set = await crm({ ttlSeconds: 60 }, { timeoutMs: 2000 });
    const lookup = set.get('crm')!;
    const a = deadline(40);
    const b = deadline(80);
    const outcomes = await Promise.all([lookup.resolve(contextForUser('u1'), { signal: a.signal }), lookup.resolve(contextForUser('u1'), { signal: b.signal })]);
    a.clear();
    b.clear();
    expect(outcomes.map((o) => o.status)).toEqual(['timeout', 'timeout']);
    expect(upstream.count()).toBe(1);
    await upstream.waitForCancelled(1);
  });
});

/**
 * The breaker reads an upstream's answers right: a half-open probe answered with a 4xx or a
 * redirect closes it with a clean count, and `Retry-After` on a 429 holds it open for that long.
 */
import type { LookupSet } from '../../src/lookups/set';
import { MAX_RETRY_AFTER_MS, retryAfterMs } from '../../src/lookups/http-client';
import { reply, startUpstream, type Upstream } from '../helpers/upstream';
import { contextForUser, EventLog, lookupSet, sleep } from './helpers';

describe('breaker and upstream answers', () => {
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

import request from 'supertest';
import type { TokenHookResponse } from '../../src/hook/types';
import { buildTestApp, metricValue, TEST_SECRET } from '../helpers/app';
import { setTimeout as delay } from 'node:timers/promises';
import { fixedEngine } from '../helpers/engines';
import { OKTA_FIXTURES, oktaFixture } from '../helpers/fixtures';

const post = (callback: ReturnType<typeof buildTestApp>['callback'], body: unknown, headers: Record<string, string> = {}) =>
  request(callback)
    .post('/hooks/token')
    .set({ 'content-type': 'application/json', authorization: TEST_SECRET, ...headers })
    .send(typeof body === 'string' ? body : JSON.stringify(body));

describe('POST /hooks/token', () => {
  it.each(OKTA_FIXTURES)('answers the %s payload with a well-formed Okta response', async (name) => {
    const { callback } = buildTestApp({
      engine: fixedEngine({
        changes: [
          { kind: 'set', token: 'identity', claim: 'custom-claim', value: 'hello-from-hook' },
          { kind: 'set', token: 'access', claim: 'custom-claim', value: 'hello-from-hook' },
        ],
        lifetimes: [],
      }),
    });
    const event = oktaFixture(name);
    const res = await post(callback, event);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.body as TokenHookResponse;
    const types = (body.commands ?? []).map((c) => c.type);
    expect(types.includes('com.okta.identity.patch')).toBe(event.data.identity !== undefined);
    expect(types.includes('com.okta.access.patch')).toBe(event.data.access !== undefined);
    for (const command of body.commands ?? []) {
      expect(command.value).toEqual([{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }]);
    }
  });

  it('answers a deny with 200 and an error object', async () => {
    const { callback, metrics } = buildTestApp({ engine: fixedEngine({ deny: { summary: 'Account is suspended' }, changes: [], lifetimes: [] }) });
    const res = await post(callback, oktaFixture('token-hook-authcode-full'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ error: { errorSummary: 'Account is suspended' } });
    expect(res.body.commands).toBeUndefined();
    expect(await metricValue(metrics, 'okta_hook_requests_total', { outcome: 'denied' })).toBe(1);
  });

  it('omits debugContext when HOOK_DEBUG_CONTEXT=false', async () => {
    const { callback } = buildTestApp({ env: { HOOK_DEBUG_CONTEXT: 'false' } });
    const res = await post(callback, oktaFixture('token-hook-authcode-full'));
    expect(res.body.debugContext).toBeUndefined();
    const withDebug = await post(buildTestApp().callback, oktaFixture('token-hook-authcode-full'));
    expect(withDebug.body.debugContext).toEqual({ matchedRules: ['test-rule'], rulesVersion: 'test-1' });
  });

  it('accepts eventTypeVersion and cloudEventVersion as numbers and ignores unknown fields', async () => {
    const event = { ...oktaFixture('token-hook-authcode-full'), eventTypeVersion: 1, cloudEventVersion: 0.1, somethingNew: { nested: true } };
    const res = await post(buildTestApp().callback, event);
    expect(res.status).toBe(200);
  });

  it('accepts an event without context, user or session', async () => {
    const event = oktaFixture('token-hook-client-credentials');
    delete event.data.context;
    const res = await post(buildTestApp().callback, event);
    expect(res.status).toBe(200);
  });

  it('accepts application/json with a charset and +json media types', async () => {
    const { callback } = buildTestApp();
    const body = JSON.stringify(oktaFixture('token-hook-minimal'));
    expect((await post(callback, body, { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
    expect((await post(callback, body, { 'content-type': 'application/cloudevents+json' })).status).toBe(200);
  });

  it('returns 500 (Okta then issues the token unchanged) when the engine fails, without leaking the error', async () => {
    const { callback, logs } = buildTestApp({
      engine: fixedEngine(() => {
        throw new Error('secret internals');
      }),
    });
    const res = await post(callback, oktaFixture('token-hook-minimal'));
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('secret internals');
    expect(logs.lines.find((l) => l.msg === 'token hook call')).toMatchObject({ outcome: 'error', reason: 'engine_failure' });
  });

  it('gives up on an engine that ignores the deadline and answers 500 shortly after it', async () => {
    const { callback } = buildTestApp({ env: { HOOK_DEADLINE_MS: '100' }, engine: fixedEngine(async () => { await delay(8000, undefined, { ref: false }); return { changes: [], lifetimes: [] }; }) });
    const started = Date.now();
    const res = await post(callback, oktaFixture('token-hook-minimal'));
    expect(res.status).toBe(500);
    // The deadline plus its grace, with seconds of headroom; the engine itself would take 8 s.
    expect(Date.now() - started).toBeLessThan(100 + 3000);
  });

  it('passes an abort signal that fires at the deadline to the engine', async () => {
    let aborted = false;
    const engine = fixedEngine(async (_event, signal) => {
      await new Promise((resolve) => signal?.addEventListener('abort', resolve));
      aborted = signal?.aborted ?? false;
      return { changes: [], lifetimes: [] };
    });
    const res = await post(buildTestApp({ env: { HOOK_DEADLINE_MS: '50' }, engine }).callback, oktaFixture('token-hook-minimal'));
    expect(aborted).toBe(true);
    expect(res.status).toBe(200);
  });
});

describe('bad input', () => {
  it('rejects malformed JSON with a JSON 400', async () => {
    const res = await post(buildTestApp().callback, '{"eventType": ');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'bad_request', message: 'Request body is not valid JSON' });
  });

  it.each([
    ['an array', '[1,2]', 'Request body must be a JSON object'],
    ['a number', '42', 'Request body must be a JSON object'],
    ['null', 'null', 'Request body must be a JSON object'],
    ['an unknown event type', JSON.stringify({ eventType: 'com.okta.user.pre-registration', data: {} }), 'Unsupported or missing eventType; expected "com.okta.oauth2.tokens.transform"'],
    ['a missing event type', JSON.stringify({ data: {} }), 'Unsupported or missing eventType; expected "com.okta.oauth2.tokens.transform"'],
    ['a missing data object', JSON.stringify({ eventType: 'com.okta.oauth2.tokens.transform' }), '"data" must be a JSON object'],
    ['identity that is not an object', JSON.stringify({ eventType: 'com.okta.oauth2.tokens.transform', data: { identity: 'x' } }), '"data.identity" must be an object when present'],
    ['claims that are not an object', JSON.stringify({ eventType: 'com.okta.oauth2.tokens.transform', data: { access: { claims: [] } } }), '"data.access.claims" must be an object when present'],
    ['a user that is not an object', JSON.stringify({ eventType: 'com.okta.oauth2.tokens.transform', data: { context: { user: 7 } } }), '"data.context.user" must be an object when present'],
  ])('rejects %s with a clear 400', async (_name, body, message) => {
    const { callback, metrics } = buildTestApp();
    const res = await post(callback, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'bad_request', message });
    expect(await metricValue(metrics, 'okta_hook_requests_total', { outcome: 'bad_request' })).toBe(1);
  });

  it('treats null optional objects as absent', async () => {
    const event = { ...oktaFixture('token-hook-minimal') } as unknown as { data: Record<string, unknown> };
    event.data.identity = null;
    const res = await post(buildTestApp().callback, event);
    expect(res.status).toBe(200);
  });

  it.each([['text/plain'], ['application/x-www-form-urlencoded'], ['application/xml']])('answers 415 for content type %s', async (type) => {
    const res = await post(buildTestApp().callback, '{}', { 'content-type': type });
    expect(res.status).toBe(415);
    expect(res.body).toEqual({ error: 'unsupported_media_type', message: 'Content-Type must be application/json' });
  });

  it('answers 415 when the content type is missing', async () => {
    const res = await request(buildTestApp().callback).post('/hooks/token').set('authorization', TEST_SECRET).send(Buffer.from('{}'));
    expect(res.status).toBe(415);
  });

  it('answers 413 above the configured body limit', async () => {
    const { callback } = buildTestApp({ env: { HOOK_BODY_LIMIT_BYTES: '2048' } });
    const event = oktaFixture('token-hook-authcode-full');
    const res = await post(callback, event);
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large', message: 'Request body exceeds 2048 bytes' });
  });

  it('answers 404 JSON for unknown paths, 405 JSON with Allow for wrong methods and 501 JSON for unknown methods', async () => {
    const { callback } = buildTestApp();
    const notFound = await request(callback).get('/nope');
    expect(notFound.status).toBe(404);
    expect(notFound.body).toEqual({ error: 'not_found', message: 'No such endpoint' });
    const wrongMethod = await request(callback).get('/hooks/token');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(wrongMethod.headers.allow).toBe('POST');
    expect(wrongMethod.body).toEqual({ error: 'method_not_allowed', message: 'Method not allowed; this endpoint takes POST' });
    const probeMethod = await request(callback).delete('/healthz');
    expect(probeMethod.status).toBe(405);
    expect(probeMethod.body).toMatchObject({ error: 'method_not_allowed' });
    const unknownMethod = await request(callback).propfind('/hooks/token');
    expect(unknownMethod.status).toBe(501);
    expect(unknownMethod.body).toEqual({ error: 'not_implemented', message: 'Method not implemented' });
  });
});

describe('authentication', () => {
  const event = oktaFixture('token-hook-minimal');

  it('rejects a call without the secret header with a generic 401', async () => {
    const { callback, metrics, logs } = buildTestApp();
    const res = await request(callback).post('/hooks/token').set('content-type', 'application/json').send(JSON.stringify(event));
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: 'Unauthorized' });
    expect(await metricValue(metrics, 'okta_hook_auth_failures_total', { method: 'header', reason: 'missing_credentials' })).toBe(1);
    expect(logs.lines.find((l) => l.msg === 'token hook call')).toMatchObject({ outcome: 'unauthorized', authFailure: 'missing_credentials', status: 401 });
  });

  it('rejects a wrong secret with the same body, counts the reason and never logs the presented value', async () => {
    const { callback, metrics, logs } = buildTestApp();
    const res = await post(callback, event, { authorization: 'Basic wrong-value-1234' });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'unauthorized', message: 'Unauthorized' });
    expect(await metricValue(metrics, 'okta_hook_auth_failures_total', { reason: 'invalid_credentials' })).toBe(1);
    expect(logs.raw.join('\n')).not.toContain('wrong-value-1234');
    expect(logs.raw.join('\n')).not.toContain(TEST_SECRET);
  });

  it('rejects a secret that differs only by case or whitespace inside', async () => {
    const { callback } = buildTestApp();
    expect((await post(callback, event, { authorization: TEST_SECRET.toLowerCase() })).status).toBe(401);
    expect((await post(callback, event, { authorization: TEST_SECRET.replace(' ', '  ') })).status).toBe(401);
  });

  it('rejects an empty header value', async () => {
    const { callback, metrics } = buildTestApp();
    expect((await post(callback, event, { authorization: '' })).status).toBe(401);
    expect(await metricValue(metrics, 'okta_hook_auth_failures_total', { reason: 'missing_credentials' })).toBe(1);
  });

  it('authenticates before reading the body: an unauthenticated oversize or malformed body gets 401', async () => {
    const { callback } = buildTestApp({ env: { HOOK_BODY_LIMIT_BYTES: '1024' } });
    expect((await post(callback, 'x'.repeat(5000), { authorization: 'nope' })).status).toBe(401);
    expect((await post(callback, '{bad', { authorization: 'nope' })).status).toBe(401);
  });

  it('uses a configurable header name', async () => {
    const { callback } = buildTestApp({ env: { HOOK_AUTH_HEADER: 'X-Api-Key' }, secrets: ['k-123'] });
    expect((await post(callback, event, { 'x-api-key': 'k-123', authorization: '' })).status).toBe(200);
    expect((await post(callback, event, { authorization: 'k-123' })).status).toBe(401);
  });

  it('accepts every configured secret and records which slot was used', async () => {
    const { callback, metrics } = buildTestApp({ secrets: ['old-secret', 'new-secret'] });
    expect((await post(callback, event, { authorization: 'old-secret' })).status).toBe(200);
    expect((await post(callback, event, { authorization: 'new-secret' })).status).toBe(200);
    expect((await post(callback, event, { authorization: 'new-secret' })).status).toBe(200);
    expect(await metricValue(metrics, 'okta_hook_auth_success_total', { credential: 'slot-1' })).toBe(1);
    expect(await metricValue(metrics, 'okta_hook_auth_success_total', { credential: 'slot-2' })).toBe(2);
  });

  it('rejects a header sent twice (Node joins the values)', async () => {
    const { callback } = buildTestApp({ env: { HOOK_AUTH_HEADER: 'x-api-key' }, secrets: ['k-1'] });
    const res = await request(callback)
      .post('/hooks/token')
      .set('content-type', 'application/json')
      .set('x-api-key', 'k-1, k-1')
      .send(JSON.stringify(event));
    expect(res.status).toBe(401);
  });
});

describe('probes', () => {
  it('serves /healthz and /readyz without authentication', async () => {
    const { callback } = buildTestApp();
    expect((await request(callback).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(callback).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', rulesVersion: 'test-1' });
  });

  it('reports not ready while a readiness check fails and while shutting down', async () => {
    const { callback, health } = buildTestApp();
    let reason: string | undefined = 'rules not loaded';
    health.addReadinessCheck(() => reason);
    expect((await request(callback).get('/readyz')).body).toEqual({ status: 'not_ready', reason: 'rules not loaded' });
    reason = undefined;
    expect((await request(callback).get('/readyz')).status).toBe(200);
    health.beginShutdown();
    const res = await request(callback).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'not_ready', reason: 'shutting down' });
    expect((await request(callback).get('/healthz')).status).toBe(200);
  });
});

describe('request logging', () => {
  it('logs one line per call with event id, client id, user id, outcome and duration, but no PII or body', async () => {
    const { callback, logs } = buildTestApp();
    await post(callback, oktaFixture('token-hook-authcode-full'));
    const lines = logs.lines.filter((l) => l.msg === 'token hook call');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      eventId: 'Vb7nQ2pXRk6Ty1wLmZ8sAc',
      clientId: '0oa7h3j5k7L9z1X3c5v7',
      userId: '00u3e5r7t9Y1u3I5o7p9',
      grantType: 'authorization_code',
      outcome: 'patched',
      status: 200,
      matchedRules: 1,
      operations: 1,
      rulesVersion: 'test-1',
    });
    expect(typeof lines[0]?.durationMs).toBe('number');
    const raw = logs.raw.join('\n');
    for (const pii of ['jordan.lee@example.com', 'Jordan', 'Lee', TEST_SECRET, 'ID.m3Kx8Qp1Wz6', '198.51.100.73']) expect(raw).not.toContain(pii);
  });

  it('can be switched off with LOG_REQUESTS=false', async () => {
    const { callback, logs } = buildTestApp({ env: { LOG_REQUESTS: 'false' } });
    await post(callback, oktaFixture('token-hook-minimal'));
    expect(logs.lines.filter((l) => l.msg === 'token hook call')).toHaveLength(0);
  });
});

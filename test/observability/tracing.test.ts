import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import request from 'supertest';
import { CLIENT, NEXT_SECRET, SECRET, buildHarness, driveEveryOutcome, eventFor, postHook, type Harness } from './support/harness';
import { attributeStrings, HOOK_HTTP_ATTRIBUTES, hookSpans, installTestTracing, PATCHED_CALL_ATTRIBUTES, FIXTURE_EVENT_ID, type TestTracing } from './support/otel';


/** Values from the fixture (and the request) that must never reach a span or a log line. */
const PII_AND_SECRETS: Array<string | RegExp> = [
  'jordan.lee@example.com', // login, email, sub of the access token
  /\bJordan\b/, // first name
  /\bLee\b/, // last name
  'E-20931', // employee id claim
  'Cardiology',
  '198.51.100.73', // end user's IP address
  'idxT6yU8iO0pA2sD4fG6hJ8kL', // Okta session id
  'n-5fR2tY8uI1oP4a', // nonce
  'ID.m3Kx8Qp1Wz6Lr9Tv2Yb5Nc7Hd0Jf4Gs8Ae1Ui3Oo5Pq', // token ids
  'AT.Rk2Lm9Np4Qs7Tu1Vw5Xy8Za3Bc6De0Fg2Hi4Jk6Lm8N',
  SECRET,
  NEXT_SECRET,
  'not-the-secret', // a presented wrong secret
];

describe('tracing of hook calls', () => {
  let tracing: TestTracing;
  let harness: Harness;

  beforeAll(() => {
    tracing = installTestTracing();
  });
  afterAll(() => tracing.uninstall());
  beforeEach(() => {
    tracing.exporter.reset();
    harness = buildHarness();
  });

  const onlyHookSpan = (): ReadableSpan => {
    const spans = hookSpans(tracing.exporter);
    expect(spans).toHaveLength(1);
    return spans[0] as ReadableSpan;
  };

  it('records one SERVER span per call with the HTTP attributes, event, client, grant type, outcome and rule counts', async () => {
    await postHook(harness.callback, eventFor(), { 'user-agent': 'Okta Hooks' }).expect(200);
    const span = onlyHookSpan();
    expect(span.name).toBe('POST /hooks/token');
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.attributes).toEqual({ ...PATCHED_CALL_ATTRIBUTES, 'user_agent.original': 'Okta Hooks' });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.ended).toBe(true);
  });

  it('marks a denied call with outcome denied and the deny rule counted as matched', async () => {
    await postHook(harness.callback, eventFor(CLIENT.deny)).expect(200);
    const span = onlyHookSpan();
    expect(span.attributes['okta.hook.outcome']).toBe('denied');
    expect(span.attributes['okta.rules.matched']).toBe(3);
    expect(span.attributes['okta.patch.operations']).toBe(0);
  });

  it('marks an engine failure as an error span, keeping the event id for correlation', async () => {
    await postHook(harness.callback, eventFor(CLIENT.fail)).expect(500);
    const span = onlyHookSpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['okta.hook.outcome']).toBe('error');
    expect(span.attributes['okta.event_id']).toBe(FIXTURE_EVENT_ID);
  });

  it('records the authentication failure reason, and nothing from the unread body', async () => {
    await postHook(harness.callback, eventFor(), { authorization: 'not-the-secret' }).expect(401);
    const span = onlyHookSpan();
    expect(span.attributes).toEqual({
      ...HOOK_HTTP_ATTRIBUTES,
      'http.response.status_code': 401,
      'okta.hook': 'token',
      'okta.auth.method': 'header',
      'okta.auth.failure': 'invalid_credentials',
      'okta.hook.outcome': 'unauthorized',
    });
  });

  it('records malformed calls as bad_request', async () => {
    await postHook(harness.callback, '{"eventType": ').expect(400);
    await request(harness.callback).post('/hooks/token').set({ 'content-type': 'text/plain', authorization: SECRET }).send('hello').expect(415);
    expect(hookSpans(tracing.exporter).map((span) => span.attributes['okta.hook.outcome'])).toEqual(['bad_request', 'bad_request']);
  });

  it('writes the trace_id and span_id of the hook span into the call log line', async () => {
    await driveEveryOutcome(harness.callback);
    const spans = hookSpans(tracing.exporter);
    const callLines = harness.logs.lines.filter((line) => line.msg === 'token hook call');
    expect(callLines).toHaveLength(spans.length);
    expect(spans.length).toBe(9);
    const spanIds = new Map(spans.map((span) => [span.spanContext().spanId, span.spanContext().traceId]));
    for (const line of callLines) {
      expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
      expect(spanIds.get(line.span_id as string)).toBe(line.trace_id);
    }
    // Each call is its own trace (no parent here), so the lines are distinct traces.
    expect(new Set(callLines.map((line) => line.trace_id)).size).toBe(callLines.length);
  });

  it('puts no personal data, token content or secret in span attributes or logs', async () => {
    await driveEveryOutcome(harness.callback);
    const spanStrings = tracing.exporter.getFinishedSpans().flatMap((span) => [span.name, ...attributeStrings(span.attributes)]);
    const logText = harness.logs.raw.join('\n');
    expect(spanStrings.length).toBeGreaterThan(50);
    expect(logText.length).toBeGreaterThan(1000);
    for (const forbidden of PII_AND_SECRETS) {
      const found = (text: string) => (typeof forbidden === 'string' ? text.includes(forbidden) : forbidden.test(text));
      expect({ forbidden: String(forbidden), inSpans: spanStrings.some(found), inLogs: found(logText) }).toEqual({
        forbidden: String(forbidden),
        inSpans: false,
        inLogs: false,
      });
    }
  });
});

describe('logs without an active span', () => {
  it('carry no trace fields when no tracer provider is registered', async () => {
    const harness = buildHarness();
    await postHook(harness.callback, eventFor()).expect(200);
    const line = harness.logs.lines.find((l) => l.msg === 'token hook call');
    expect(line).toBeDefined();
    expect(line).not.toHaveProperty('trace_id');
    expect(line).not.toHaveProperty('span_id');
  });
});

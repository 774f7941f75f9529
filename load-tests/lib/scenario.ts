/**
 * The one scenario every test type runs: send one token hook call from the payload mix, the way
 * Okta would, and check that the answer is something Okta would accept.
 *
 * Init context (module top level, once per VU): payload templates are read with open() and
 * compiled, request parameters are built. Per iteration: one string join, one POST, one parse.
 */
import http from 'k6/http';
import type { RefinedParams, ResponseType } from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate } from 'k6/metrics';
import { envBoolean, envNumber, envString, hookUrl } from './env.ts';
import { createPayloadMix, makeEventId, parseMix, PAYLOAD_KINDS, type PayloadKind, type PreparedPayload } from './payloads.ts';
import { VALID_RESPONSE_METRIC } from './thresholds.ts';
import { parseExpectClaim, validateOktaResponse, type ValidationResult } from './validate.ts';

export { validateOktaResponse } from './validate.ts';

const HOOK_URL = hookUrl(__ENV);
const SECRET = __ENV.HOOK_SECRET ?? '';
if (SECRET === '') {
  throw new Error('HOOK_SECRET is not set: pass the value the service accepts in its auth header (HOOK_SECRET=... k6 run ..., or k6 run -e HOOK_SECRET=...)');
}
const AUTH_HEADER = envString(__ENV, 'HOOK_AUTH_HEADER', 'authorization');
/** Okta gives up after 3 s; a slower answer is a failed call whatever its status. */
const REQUEST_TIMEOUT = envString(__ENV, 'REQUEST_TIMEOUT', '3s');
const EXPECT_CLAIM = parseExpectClaim(__ENV.EXPECT_CLAIM);
const LOG_INVALID_PER_VU = envNumber(__ENV, 'LOG_INVALID', 3, { min: 0, integer: true });

const templates: Partial<Record<PayloadKind, string>> = {};
for (const kind of PAYLOAD_KINDS) {
  // import.meta.resolve makes the path relative to this module, not to the directory k6 runs in.
  templates[kind] = open(import.meta.resolve(`../payloads/${kind}.json`));
}

const mix = createPayloadMix(templates, {
  weights: parseMix(__ENV.PAYLOAD_MIX),
  userPoolSize: envNumber(__ENV, 'USER_POOL', 1000, { min: 0, integer: true }),
});

const baseHeaders: Record<string, string> = {
  'Content-Type': 'application/json',
  Accept: 'application/json',
  'User-Agent': 'okta-token-hook-k6',
};

function paramsFor(kind: string, withSecret: boolean): RefinedParams<ResponseType> {
  const headers: Record<string, string> = { ...baseHeaders };
  if (withSecret) headers[AUTH_HEADER] = SECRET;
  // `name` groups every URL variant under one series; `kind` splits results by payload kind.
  return { headers, tags: { name: 'POST /hooks/token', kind }, timeout: REQUEST_TIMEOUT, responseType: 'text' };
}

const paramsByKind = {} as Record<PayloadKind, RefinedParams<ResponseType>>;
for (const kind of PAYLOAD_KINDS) paramsByKind[kind] = paramsFor(kind, true);

const validResponse = new Rate(VALID_RESPONSE_METRIC);
const outcomes = {
  patched: new Counter('okta_patched_responses'),
  unchanged: new Counter('okta_unchanged_responses'),
  denied: new Counter('okta_denied_responses'),
};

let invalidLogged = 0;

function bodyText(body: unknown): string | null {
  return typeof body === 'string' ? body : null;
}

function record(payload: PreparedPayload, status: number, result: ValidationResult): void {
  if (result.ok) {
    validResponse.add(true, { kind: payload.kind });
    outcomes[result.outcome].add(1, { kind: payload.kind });
    return;
  }
  validResponse.add(false, { kind: payload.kind, reason: result.reason });
  if (invalidLogged < LOG_INVALID_PER_VU) {
    invalidLogged++;
    console.warn(`invalid Okta answer (${result.reason}) to ${payload.kind} eventId=${payload.eventId} status=${status}: ${result.detail}`);
  }
}

/** One hook call from the mix. The default function of every test type. */
export function tokenHookCall(): void {
  const payload = mix.next({
    vuId: exec.vu.idInTest,
    vuIteration: exec.vu.iterationInScenario,
    testIteration: exec.scenario.iterationInTest,
    now: Date.now(),
    random: Math.random,
  });
  const res = http.post(HOOK_URL, payload.body, paramsByKind[payload.kind]);
  const result = validateOktaResponse(payload.tokens, res.status, bodyText(res.body), { expectClaim: EXPECT_CLAIM });
  record(payload, res.status, result);
  check(res, {
    'status is 200': (r) => r.status === 200,
    'valid Okta answer': () => result.ok,
  }, { kind: payload.kind });
}

/**
 * setup(): fail fast, before any load, when the target is wrong. The service must refuse a call
 * without the secret (401) and give a valid answer to one with it. PREFLIGHT=false skips it.
 */
export function preflight(): void {
  if (!envBoolean(__ENV, 'PREFLIGHT', true)) return;
  const probe = mix.build(mix.activeKinds[0] as PayloadKind, {
    eventId: makeEventId(0, 0, Math.random),
    eventTime: new Date().toISOString(),
    userIndex: 0,
  });
  const unauthenticated = http.post(HOOK_URL, probe.body, {
    ...paramsFor('preflight', false),
    responseCallback: http.expectedStatuses(401),
  });
  if (unauthenticated.status !== 401) {
    exec.test.abort(`preflight: POST ${HOOK_URL} without the secret answered ${unauthenticated.status} (expected 401). Check BASE_URL/HOOK_PATH, and never load-test an endpoint that accepts unauthenticated calls.`);
  }
  const authenticated = http.post(HOOK_URL, probe.body, paramsFor('preflight', true));
  const result = validateOktaResponse(probe.tokens, authenticated.status, bodyText(authenticated.body), { expectClaim: EXPECT_CLAIM });
  if (!result.ok) {
    exec.test.abort(`preflight: POST ${HOOK_URL} with the secret gave no valid Okta answer (${result.reason}: ${result.detail}). Check HOOK_SECRET and HOOK_AUTH_HEADER.`);
  }
}

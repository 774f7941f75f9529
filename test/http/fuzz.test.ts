import fc from 'fast-check';
import request from 'supertest';
import type { PatchCommand, TokenHookResponse } from '../../src/hook/types';
import { buildTestApp, TEST_SECRET } from '../helpers/app';
import { fixedEngine } from '../helpers/engines';
import { OKTA_FIXTURES, oktaFixture } from '../helpers/fixtures';

/**
 * Property: whatever the body, the process keeps running and every answer is either a well-formed
 * Okta response (200) or a JSON 4xx error. The engine sets, replaces and removes claims on both
 * tokens so that mutated payloads exercise the builder's Okta-safety checks too.
 */
const { callback } = buildTestApp({
  engine: fixedEngine({
    changes: [
      { kind: 'set', token: 'identity', claim: 'custom-claim', value: 'hello' },
      { kind: 'set', token: 'access', claim: 'locale', value: 'fr' },
      { kind: 'remove', token: 'identity', claim: 'locale' },
      { kind: 'set', token: 'access', claim: 'https://example.com/x', value: { a: [1] } },
    ],
    lifetimes: [{ token: 'access', seconds: 900 }],
  }),
});

function assertWellFormed(status: number, body: unknown, sent: unknown): void {
  if (status >= 400 && status < 500) {
    expect(body).toEqual({ error: expect.any(String), message: expect.any(String) });
    return;
  }
  expect(status).toBe(200);
  const response = body as TokenHookResponse;
  const allowedKeys = ['commands', 'error', 'debugContext'];
  expect(Object.keys(response).every((k) => allowedKeys.includes(k))).toBe(true);
  const data = (sent as { data?: Record<string, unknown> }).data ?? {};
  for (const command of response.commands ?? []) {
    expect(['com.okta.identity.patch', 'com.okta.access.patch']).toContain(command.type);
    const token = command.type === 'com.okta.identity.patch' ? 'identity' : 'access';
    expect(typeof data[token]).toBe('object');
    expect(command.value.length).toBeGreaterThan(0);
    for (const op of command.value as PatchCommand['value']) {
      expect(['add', 'replace', 'remove']).toContain(op.op);
      expect(op.path === '/token/lifetime/expiration' || op.path.startsWith('/claims/')).toBe(true);
      if (op.op === 'remove') expect(op.value).toBeUndefined();
    }
  }
}

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const fixtureArb = fc.constantFrom(...OKTA_FIXTURES);
const pathArb = fc.constantFrom('eventType', 'data', 'data.context', 'data.identity', 'data.access', 'data.identity.claims', 'data.access.claims', 'data.context.user', 'data.context.protocol', 'data.context.protocol.request', 'data.access.token', 'data.identity.claims.locale', 'eventTypeVersion');

function mutate(target: Record<string, unknown>, path: string, value: unknown, remove: boolean): void {
  const keys = path.split('.');
  let node: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) return;
    node = next as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] as string;
  if (remove) delete node[last];
  else node[last] = value;
}

const send = (body: string) =>
  request(callback).post('/hooks/token').set({ 'content-type': 'application/json', authorization: TEST_SECRET }).send(body);

describe('fuzzing the hook endpoint', () => {
  it('answers mutated Okta payloads with a well-formed Okta response or a JSON 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fixtureArb, fc.array(fc.tuple(pathArb, jsonValue, fc.boolean()), { maxLength: 4 }), async (name, mutations) => {
        const event = oktaFixture(name) as unknown as Record<string, unknown>;
        for (const [path, value, remove] of mutations) mutate(event, path, value, remove);
        const res = await send(JSON.stringify(event));
        assertWellFormed(res.status, res.body, event);
      }),
      { numRuns: 300 },
    );
  });

  it('answers arbitrary JSON values with a JSON 4xx or a well-formed response', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
        const res = await send(JSON.stringify(value));
        assertWellFormed(res.status, res.body, value);
      }),
      { numRuns: 200 },
    );
  });

  it('answers arbitrary strings (mostly invalid JSON) with a JSON 400 or a well-formed response', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        const res = await send(text);
        let parsed: unknown = undefined;
        try {
          parsed = JSON.parse(text);
        } catch {
          expect(res.status).toBe(400);
        }
        assertWellFormed(res.status, res.body, parsed);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects prototype-polluting keys with a 400 and leaves Object.prototype alone', async () => {
    const event = JSON.stringify(oktaFixture('token-hook-authcode-full')).replace('"claims":{', '"claims":{"__proto__":{"polluted":true},');
    const res = await send(event);
    expect(res.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

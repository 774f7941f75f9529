import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPayloadMix, makeEventId, PAYLOAD_KINDS, type PayloadKind } from '../../load-tests/lib/payloads';
import { validateOktaResponse } from '../../load-tests/lib/validate';
import { freePort, ROOT, startProcess, type ServiceProcess } from '../helpers/process';

/**
 * What a k6 smoke run checks, without k6: the built service, started as a process with the example
 * rules, must answer every payload kind of the mix with a valid Okta answer carrying the example's
 * `custom-claim`, and refuse a call without the secret (the scenario's preflight).
 */
const SECRET = 'load-test-secret-0123456789abcdef';
const templates = Object.fromEntries(
  PAYLOAD_KINDS.map((kind) => [kind, readFileSync(join(ROOT, 'load-tests', 'payloads', `${kind}.json`), 'utf8')]),
) as Record<PayloadKind, string>;
const expectClaim = { name: 'custom-claim', value: 'hello-from-hook' };

describe('the load-test payload mix against the built service with the example rules', () => {
  let proc: ServiceProcess;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/hooks/token`;
    proc = startProcess({
      NODE_ENV: 'test',
      HOOK_HOST: '127.0.0.1',
      HOOK_PORT: String(port),
      HOOK_SECRET: SECRET,
      RULES_FILE: join(ROOT, 'examples', 'rules.yaml'),
      RULES_WATCH: 'false',
      METRICS_ENABLED: 'false',
      LOG_REQUESTS: 'false',
    });
    await proc.waitFor('okta-token-hook ready', 10000);
  });

  afterAll(async () => {
    if (proc.child.exitCode === null) proc.child.kill('SIGTERM');
    await proc.exited;
  });

  const post = (body: string, secret?: string) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(secret === undefined ? {} : { authorization: secret }) },
      body,
    });

  it('refuses a call without the secret, as the preflight expects', async () => {
    const mix = createPayloadMix(templates);
    const probe = mix.build('authcode-full', { eventId: makeEventId(0, 0, Math.random), eventTime: new Date().toISOString() });
    expect((await post(probe.body)).status).toBe(401);
    expect((await post(probe.body, 'not-the-secret')).status).toBe(401);
  });

  it.each(PAYLOAD_KINDS)('answers a %s payload with a valid Okta answer carrying custom-claim', async (kind) => {
    const mix = createPayloadMix(templates, { userPoolSize: 100 });
    const payload = mix.build(kind, { eventId: makeEventId(1, 0, Math.random), eventTime: new Date().toISOString(), userIndex: 7 });
    const res = await post(payload.body, SECRET);
    const result = validateOktaResponse(payload.tokens, res.status, await res.text(), { expectClaim });
    expect(result).toMatchObject({ ok: true, outcome: 'patched' });
  });

  it('answers a bounded burst of the weighted mix with valid answers only', async () => {
    const mix = createPayloadMix(templates, { userPoolSize: 1000 });
    const invalid: string[] = [];
    let sent = 0;
    // 8 concurrent senders x 25 calls: small enough for a shared machine, enough to mix every kind.
    await Promise.all(
      Array.from({ length: 8 }, async (_, vu) => {
        for (let i = 0; i < 25; i++) {
          const payload = mix.next({ vuId: vu + 1, vuIteration: i, testIteration: vu * 25 + i, now: Date.now(), random: Math.random });
          const res = await post(payload.body, SECRET);
          const result = validateOktaResponse(payload.tokens, res.status, await res.text(), { expectClaim });
          sent++;
          if (!result.ok) invalid.push(`${payload.kind}: ${result.reason} ${result.detail}`);
        }
      }),
    );
    expect(sent).toBe(200);
    expect(invalid).toEqual([]);
  });
});

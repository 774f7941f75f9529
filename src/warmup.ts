/**
 * Cold-start warm-up, run before the instance reports ready: the rules (CEL), the envelope parser,
 * the response builder and the HTTP server's request path are run on a built-in sample so that
 * V8 has compiled them and lazy modules are loaded before Okta's first calls arrive. Lookups are
 * not called (a warm-up must not touch upstreams): rules that need one take their `fallback` path.
 */
import { request } from 'node:http';
import type { ClaimsEngine } from './hook/engine';
import { TokenHookService } from './hook/service';
import type { TokenHookEvent } from './hook/types';
import { RulesEngine } from './rules/engine';

/** A realistic authorization-code call (no real person, no real org). */
const SAMPLE: TokenHookEvent = {
  eventId: 'warmUp0000000000000000',
  eventTime: '2025-01-01T00:00:00.000Z',
  eventType: 'com.okta.oauth2.tokens.transform',
  eventTypeVersion: '1.0',
  contentType: 'application/json',
  cloudEventVersion: '0.1',
  source: 'https://warmup.invalid/oauth2/default/v1/token',
  data: {
    context: {
      request: { id: 'warmup', method: 'POST', url: { value: 'https://warmup.invalid/oauth2/default/v1/token?client_id=0oaWarmUp' }, ipAddress: '192.0.2.1' },
      protocol: {
        type: 'OAUTH2.0',
        request: { scope: 'openid profile email', state: 'warmup', redirect_uri: 'https://app.invalid/callback', response_mode: 'query', response_type: 'code', client_id: '0oaWarmUp', grant_type: 'authorization_code' },
        issuer: { uri: 'https://warmup.invalid/oauth2/default' },
        client: { id: '0oaWarmUp', name: 'Warm-up', type: 'PUBLIC' },
      },
      session: { id: 'warmup', userId: '00uWarmUp', login: 'warm.up@example.invalid', status: 'ACTIVE', amr: ['pwd', 'mfa'] },
      user: {
        id: '00uWarmUp',
        passwordChanged: '2025-01-01T00:00:00.000Z',
        profile: { login: 'warm.up@example.invalid', firstName: 'Warm', lastName: 'Up', locale: 'en_US', timeZone: 'UTC', department: 'Engineering', groups: ['Everyone', 'app-users'] },
        _links: { groups: { href: 'https://warmup.invalid/api/v1/users/00uWarmUp/groups' } },
      },
      policy: { id: 'warmup', rule: { id: 'warmup' } },
    },
    identity: { claims: { sub: '00uWarmUp', ver: 1, iss: 'https://warmup.invalid/oauth2/default', aud: '0oaWarmUp', iat: 1735689600, exp: 1735693200, jti: 'ID.warmup', amr: ['pwd'], idp: '00oWarmUp', nonce: 'warmup', auth_time: 1735689600 }, token: { lifetime: { expiration: 3600 } } },
    access: {
      claims: { ver: 1, jti: 'AT.warmup', iss: 'https://warmup.invalid/oauth2/default', aud: 'api://default', iat: 1735689600, exp: 1735693200, cid: '0oaWarmUp', uid: '00uWarmUp', scp: ['openid', 'profile', 'email'], sub: 'warm.up@example.invalid' },
      token: { lifetime: { expiration: 3600 } },
      scopes: { openid: { id: 'scpWarmUp1', action: 'GRANT' }, profile: { id: 'scpWarmUp2', action: 'GRANT' }, email: { id: 'scpWarmUp3', action: 'GRANT' } },
    },
  },
} as unknown as TokenHookEvent;

export interface WarmUpResult {
  iterations: number;
  ms: number;
}

/**
 * Runs the hook's own code path (envelope, rules without lookups, builder) on the sample until
 * `iterations` or `maxMs`, whichever comes first. Never throws: a warm-up failure is not fatal.
 */
export async function warmUpEngine(engine: ClaimsEngine, options: { iterations?: number; maxMs?: number; deadlineMs: number }): Promise<WarmUpResult> {
  const started = performance.now();
  const iterations = options.iterations ?? 300;
  const maxMs = options.maxMs ?? 500;
  // Without I/O: a rule that reads a lookup sees it unresolved and takes its fallback/onError path.
  const offline: ClaimsEngine = engine instanceof RulesEngine ? { version: engine.version, evaluate: (event, opts) => engine.evaluateNow(event, opts) } : engine;
  const service = new TokenHookService({ engine: () => offline, debugContext: true, deadlineMs: options.deadlineMs });
  let done = 0;
  try {
    while (done < iterations && performance.now() - started < maxMs) {
      const result = await service.handle(structuredClone(SAMPLE));
      if (result.build) JSON.parse(result.build.json);
      done++;
    }
  } catch {
    // Warm-up is best effort.
  }
  return { iterations: done, ms: performance.now() - started };
}

/** A few GET /healthz over loopback: the HTTP parser, Koa and the router take their first requests here. */
export async function warmUpServer(port: number, requests = 20): Promise<void> {
  for (let i = 0; i < requests; i++) {
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/healthz', method: 'GET', agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });
  }
}

/**
 * Cold-start warm-up, run before the instance listens: the rules (CEL), the envelope parser, the
 * response builder and the whole HTTP request path are run on a built-in sample so that
 * V8 has compiled them and lazy modules are loaded before Okta's first calls arrive. Lookups are
 * not called (a warm-up must not touch upstreams): rules that need one take their `fallback` path.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
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
  const offline = offlineEngine(engine);
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

/**
 * The HTTP path, over loopback, on a private server that is closed again: `app` is a copy of the
 * hook's Koa app built for the warm-up (no metrics, no logs, an authenticator that accepts the
 * warm-up calls, the offline engine), so Node's HTTP parser, Koa, the router, the body parser and
 * the builder take their first requests here and the real counters and logs see none of them.
 */
export async function warmUpHttp(app: Koa, requests = 30): Promise<void> {
  const server = createServer(app.callback());
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const body = JSON.stringify(SAMPLE);
    for (let i = 0; i < requests; i++) {
      await send(port, 'GET', '/healthz');
      await send(port, 'POST', '/hooks/token', body);
    }
  } catch {
    // Best effort: a failed warm-up only means a slower first call.
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const WARM_UP_TRACEPARENT = '00-0000000000000000000000000000a11e-000000000000a11e-00';

function send(port: number, method: string, path: string, body?: string): Promise<void> {
  return new Promise<void>((resolve) => {
    // A parent that is not sampled: with the default parent-based sampler no warm-up span is recorded or exported.
    const headers: Record<string, string | number> = { traceparent: WARM_UP_TRACEPARENT };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', () => resolve());
    });
    req.on('error', () => resolve());
    req.end(body);
  });
}

/** The engine used by warm-ups: rules without I/O (a rule that needs a lookup takes its fallback/onError path). */
export function offlineEngine(engine: ClaimsEngine): ClaimsEngine {
  return engine instanceof RulesEngine ? { version: engine.version, evaluate: (event, opts) => engine.evaluateNow(event, opts) } : engine;
}

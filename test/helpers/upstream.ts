/**
 * A real upstream for lookup tests: node:http (or node:https with a given certificate) on
 * 127.0.0.1, random port, answering through a swappable handler. Canned behaviours (slow,
 * failing, hanging, flapping, garbage) and the Okta Management API shapes (groups of a user with
 * `Link` header pagination, the OAuth 2.0 token endpoint verifying a private_key_jwt assertion).
 * It records every request and counts the ones the client gave up on (connection closed before
 * the answer). Always `await upstream.close()`: it drops held requests and their timers.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { jwtVerify, type CryptoKey, type KeyObject } from 'jose';

export interface RecordedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Reply =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string | string[]>; delayMs?: number }
  /** Never answer (until the client gives up or the server closes). */
  | { hang: true }
  /** Drop the connection without an answer. */
  | { destroy: true };

export type Handler = (request: RecordedRequest, upstream: Upstream) => Reply | Promise<Reply>;

export interface Upstream {
  /** `http://127.0.0.1:<port>` (or https). */
  readonly origin: string;
  url(path: string): string;
  handler: Handler;
  readonly requests: RecordedRequest[];
  /** Requests whose path starts with `prefix` (all when omitted). */
  count(prefix?: string): number;
  /** Requests the client abandoned: the connection closed before the answer was written. */
  readonly cancelled: number;
  /** TCP connections accepted since start (or the last `reset`), and those open now. */
  readonly connections: number;
  readonly openConnections: number;
  /** Requests being handled now, and the most at once since start. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Resolves once `cancelled >= n`; rejects after `timeoutMs`. */
  waitForCancelled(n: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export interface UpstreamOptions {
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
}

export async function startUpstream(handler: Handler, options: UpstreamOptions = {}): Promise<Upstream> {
  const timers = new Set<NodeJS.Timeout>();
  const requests: RecordedRequest[] = [];
  let cancelled = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const cancelWaiters = new Set<() => void>();

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let finished = false;
    res.on('close', () => {
      inFlight--;
      if (!finished && !res.writableFinished) {
        cancelled++;
        for (const wake of cancelWaiters) wake();
      }
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://upstream.invalid');
      const recorded: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      Promise.resolve()
        .then(() => upstream.handler(recorded, upstream))
        .then(
          (reply) => {
            if ('hang' in reply) return;
            if ('destroy' in reply) return void req.socket.destroy();
            const write = (): void => {
              if (res.destroyed) return;
              const headers: Record<string, string | string[]> = { ...(reply.headers ?? {}) };
              let body = '';
              if (reply.json !== undefined) {
                body = JSON.stringify(reply.json);
                headers['content-type'] ??= 'application/json';
              } else if (reply.text !== undefined) body = reply.text;
              finished = true;
              res.writeHead(reply.status ?? 200, headers).end(body);
            };
            if (reply.delayMs && reply.delayMs > 0) {
              const timer = setTimeout(() => {
                timers.delete(timer);
                write();
              }, reply.delayMs);
              timers.add(timer);
            } else write();
          },
          () => {
            finished = true;
            if (!res.destroyed) res.writeHead(500).end('handler failed');
          },
        );
    });
  };

  const server: Server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : createServer(onRequest);
  let connections = 0;
  let openConnections = 0;
  server.on('connection', (socket: Socket) => {
    connections++;
    openConnections++;
    socket.once('close', () => openConnections--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const upstream: Upstream = {
    origin,
    url: (path) => `${origin}${path}`,
    handler,
    requests,
    count: (prefix) => (prefix === undefined ? requests.length : requests.filter((r) => r.path.startsWith(prefix)).length),
    get cancelled() {
      return cancelled;
    },
    get connections() {
      return connections;
    },
    get openConnections() {
      return openConnections;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    waitForCancelled(n, timeoutMs = 2000) {
      if (cancelled >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          cancelWaiters.delete(wake);
          reject(new Error(`expected ${n} cancelled request(s), saw ${cancelled} within ${timeoutMs} ms`));
        }, timeoutMs);
        const wake = (): void => {
          if (cancelled < n) return;
          clearTimeout(timer);
          cancelWaiters.delete(wake);
          resolve();
        };
        cancelWaiters.add(wake);
      });
    },
    reset() {
      requests.length = 0;
      connections = 0;
      cancelled = 0;
      maxInFlight = inFlight;
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return upstream;
}

/** Canned behaviours. */
export const reply = {
  json:
    (value: unknown, status = 200, headers?: Record<string, string | string[]>): Handler =>
    () => ({ status, json: value, headers }),
  fail:
    (status = 503): Handler =>
    () => ({ status, json: { error: 'upstream failure' } }),
  hang: (): Handler => () => ({ hang: true }),
  /** 200 with a body that is not JSON. */
  garbage: (): Handler => () => ({ status: 200, text: '{"tier": "gold", <html>oops', headers: { 'content-type': 'application/json' } }),
  slow:
    (delayMs: number, inner: Handler): Handler =>
    async (request, upstream) => {
      const answer = await inner(request, upstream);
      return 'status' in answer || 'json' in answer || 'text' in answer ? { ...answer, delayMs } : answer;
    },
  /** Cycles through the handlers, one request each (fail, ok, fail, ok...). */
  flap: (...handlers: Handler[]): Handler => {
    let next = 0;
    return (request, upstream) => {
      const handler = handlers[next % handlers.length] as Handler;
      next++;
      return handler(request, upstream);
    };
  },
};

/** Dispatch on path prefix; 404 when nothing matches. */
export function routes(table: Record<string, Handler>): Handler {
  return (request, upstream) => {
    const prefix = Object.keys(table)
      .filter((p) => request.path.startsWith(p))
      .sort((a, b) => b.length - a.length)[0];
    return prefix === undefined ? { status: 404, json: { error: 'not found' } } : (table[prefix] as Handler)(request, upstream);
  };
}

/** A group as Okta's Management API returns it (profile.name is what lookups read). */
export function oktaGroup(origin: string, index: number, name: string, type = 'OKTA_GROUP'): Record<string, unknown> {
  const id = `00g${String(index).padStart(17, '0')}`;
  return {
    id,
    created: '2024-06-01T09:00:00.000Z',
    lastUpdated: '2024-06-01T09:00:00.000Z',
    lastMembershipUpdated: '2024-06-01T09:00:00.000Z',
    objectClass: ['okta:user_group'],
    type,
    profile: { name, description: `Group ${name}` },
    _links: { users: { href: `${origin}/api/v1/groups/${id}/users` }, apps: { href: `${origin}/api/v1/groups/${id}/apps` } },
  };
}

function oktaError(status: number, code: string, summary: string): Reply {
  return { status, json: { errorCode: code, errorSummary: summary, errorLink: code, errorId: 'oaeTestUpstream00000', errorCauses: [] } };
}

export interface OktaGroupsApiOptions {
  /** Group names per user id. */
  users: Record<string, string[]>;
  /** Default page size when `limit` is absent (Okta: 200). */
  pageSize?: number;
  /** Accepts the Authorization header value; default accepts anything. */
  authorize?: (authorization: string | undefined) => boolean;
}

/**
 * `GET /api/v1/users/{id}/groups?limit=&after=` as Okta serves it: a JSON array of groups, `Link`
 * headers `rel="self"` and `rel="next"` (cursor = id of the last group of the page), 401 E0000011
 * for a bad credential, 404 E0000007 for an unknown user.
 */
export function oktaGroupsApi(options: OktaGroupsApiOptions): Handler {
  return (request, upstream) => {
    const match = /^\/api\/v1\/users\/([^/]+)\/groups$/.exec(request.path);
    if (!match || request.method !== 'GET') return oktaError(404, 'E0000022', 'The endpoint does not support the provided HTTP method');
    const authorization = request.headers.authorization;
    if (options.authorize && !options.authorize(authorization)) return oktaError(401, 'E0000011', 'Invalid token provided');
    const userId = decodeURIComponent(match[1] as string);
    const names = options.users[userId];
    if (!names) return oktaError(404, 'E0000007', `Not found: Resource not found: ${userId} (User)`);
    const groups = names.map((name, i) => oktaGroup(upstream.origin, i, name, name === 'Everyone' ? 'BUILT_IN' : 'OKTA_GROUP'));
    const limitParam = Number(request.query.get('limit'));
    const limit = Number.isInteger(limitParam) && limitParam > 0 ? Math.min(limitParam, 200) : (options.pageSize ?? 200);
    const after = request.query.get('after');
    const start = after === null ? 0 : groups.findIndex((g) => g.id === after) + 1;
    if (after !== null && start === 0) return oktaError(400, 'E0000001', 'Api validation failed: after');
    const page = groups.slice(start, start + limit);
    const base = `${upstream.origin}${request.path}`;
    const links = [`<${base}?limit=${limit}${after ? `&after=${after}` : ''}>; rel="self"`];
    if (start + limit < groups.length) links.push(`<${base}?limit=${limit}&after=${(page[page.length - 1] as { id: string }).id}>; rel="next"`);
    // Okta sends one Link header per relation.
    return { status: 200, json: page, headers: { link: links } };
  };
}

export interface OktaTokenEndpointOptions {
  clientId: string;
  /** Public key matching the client's private key. */
  publicKey: CryptoKey | KeyObject;
  /** Scopes the client may get. */
  allowedScopes: string[];
  expiresIn?: number;
}

export interface OktaTokenEndpoint {
  handler: Handler;
  /** Access tokens issued so far (the API handler accepts only these). */
  readonly issued: string[];
  /** Assertions rejected, with the reason. */
  readonly rejected: string[];
  /** `Authorization` values the groups API should accept. */
  authorize(authorization: string | undefined): boolean;
}

/**
 * `POST /oauth2/v1/token` for client credentials with `private_key_jwt`: verifies the assertion
 * with jose (signature, iss = sub = client id, aud = the token URL, exp) and issues opaque tokens.
 */
export function oktaTokenEndpoint(options: OktaTokenEndpointOptions): OktaTokenEndpoint {
  const issued: string[] = [];
  const rejected: string[] = [];
  const seenJti = new Set<string>();
  const handler: Handler = async (request, upstream) => {
    if (request.method !== 'POST' || request.path !== '/oauth2/v1/token') return oktaError(404, 'E0000022', 'not found');
    const form = new URLSearchParams(request.body);
    const invalid = (error: string, reason: string): Reply => {
      rejected.push(reason);
      return { status: 401, json: { error, error_description: reason } };
    };
    if (form.get('grant_type') !== 'client_credentials') return invalid('unsupported_grant_type', 'grant_type');
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return invalid('invalid_client', 'client_assertion_type');
    try {
      const { payload } = await jwtVerify(form.get('client_assertion') ?? '', options.publicKey, {
        issuer: options.clientId,
        subject: options.clientId,
        audience: `${upstream.origin}/oauth2/v1/token`,
        maxTokenAge: '1h',
      });
      if (typeof payload.jti !== 'string' || seenJti.has(payload.jti)) return invalid('invalid_client', 'jti missing or replayed');
      seenJti.add(payload.jti);
    } catch (err) {
      return invalid('invalid_client', (err as Error).message);
    }
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (scopes.length === 0 || scopes.some((s) => !options.allowedScopes.includes(s))) {
      rejected.push('scope');
      return { status: 400, json: { error: 'invalid_scope', error_description: 'The requested scope is invalid' } };
    }
    const token = `at-${issued.length + 1}-${Math.random().toString(36).slice(2)}`;
    issued.push(token);
    return { status: 200, json: { token_type: 'Bearer', expires_in: options.expiresIn ?? 3600, access_token: token, scope: scopes.join(' ') } };
  };
  return {
    handler,
    issued,
    rejected,
    authorize: (authorization) => authorization !== undefined && authorization.startsWith('Bearer ') && issued.includes(authorization.slice(7)),
  };
}

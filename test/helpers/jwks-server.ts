/**
 * A real authorization-server stand-in for tests: node:http on 127.0.0.1 (random port) serving the
 * RFC 8414 / OpenID discovery documents and a JWKS, with switches for outages, plus helpers to make
 * signing keys and real signed tokens with jose. Every server must be closed (`await server.close()`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** How an endpoint answers: normally, with HTTP 500, with 404, or never (the socket stays open). */
export type EndpointMode = 'ok' | 'error' | 'not_found' | 'hang';

export interface JwksServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Okta-style issuer: `<origin>/oauth2/test`. */
  readonly issuer: string;
  /** `<issuer>/v1/keys`, as advertised by the discovery documents. */
  readonly jwksUri: string;
  /** The public keys served at `jwksUri` (replace to rotate). */
  keys: JWK[];
  /** Per-endpoint behaviour; all `ok` at start except as given to `startJwksServer`. */
  modes: { jwks: EndpointMode; oauthMetadata: EndpointMode; oidcMetadata: EndpointMode };
  /** `issuer` value written into the discovery documents (default: the real issuer). */
  metadataIssuer: string;
  /** Requests received per endpoint, to assert caching, rate limits and coalescing. */
  readonly hits: { jwks: number; oauthMetadata: number; oidcMetadata: number };
  resetHits(): void;
  close(): Promise<void>;
}

export interface JwksServerOptions {
  keys?: JWK[];
  modes?: Partial<JwksServer['modes']>;
}

const ISSUER_PATH = '/oauth2/test';
export const TEST_AUDIENCE = 'api://okta-token-hook';
export const TEST_SCOPE = 'hooks:invoke';

export async function startJwksServer(options: JwksServerOptions = {}): Promise<JwksServer> {
  const hanging = new Set<ServerResponse>();

  const answer = (res: ServerResponse, mode: EndpointMode, body: () => unknown): void => {
    if (mode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (mode === 'error') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    if (mode === 'not_found') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body()));
  };
  const metadata = (): Record<string, string> => ({
    issuer: state.metadataIssuer,
    jwks_uri: state.jwksUri,
    token_endpoint: `${state.issuer}/v1/token`,
  });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (path === `${ISSUER_PATH}/v1/keys`) {
      state.hits.jwks += 1;
      return answer(res, state.modes.jwks, () => ({ keys: state.keys }));
    }
    if (path === `${ISSUER_PATH}/.well-known/oauth-authorization-server`) {
      state.hits.oauthMetadata += 1;
      return answer(res, state.modes.oauthMetadata, metadata);
    }
    if (path === `${ISSUER_PATH}/.well-known/openid-configuration`) {
      state.hits.oidcMetadata += 1;
      return answer(res, state.modes.oidcMetadata, metadata);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const issuer = origin + ISSUER_PATH;

  const state: JwksServer = {
    origin,
    issuer,
    jwksUri: `${issuer}/v1/keys`,
    keys: options.keys ?? [],
    modes: { jwks: 'ok', oauthMetadata: 'ok', oidcMetadata: 'ok', ...options.modes },
    metadataIssuer: issuer,
    hits: { jwks: 0, oauthMetadata: 0, oidcMetadata: 0 },
    resetHits() {
      state.hits.jwks = 0;
      state.hits.oauthMetadata = 0;
      state.hits.oidcMetadata = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const res of hanging) res.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
  return state;
}

/** A URL on 127.0.0.1 where nothing listens (connection refused). */
export async function refusedOrigin(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Public JWK as an authorization server publishes it (kid, alg, use). */
  publicJwk: JWK;
}

export async function createSigningKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export interface TokenOptions {
  /** Omit the `kid` header. */
  noKid?: boolean;
  /** Override the `kid` header. */
  kid?: string;
}

/** A compact JWS signed with the key; `claims` are used as given (no defaults added). */
export async function signToken(key: SigningKey, claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
  const header = options.noKid ? { alg: key.alg } : { alg: key.alg, kid: options.kid ?? key.kid };
  return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
}

/** Okta-like access-token claims for `issuer`, valid around `nowMs`. */
export function accessTokenClaims(issuer: string, nowMs: number, overrides: JWTPayload = {}): JWTPayload {
  const iat = Math.floor(nowMs / 1000);
  return {
    ver: 1,
    jti: 'AT.test-jti',
    iss: issuer,
    aud: TEST_AUDIENCE,
    iat,
    exp: iat + 3600,
    cid: '0oahookclient',
    scp: [TEST_SCOPE],
    sub: '0oahookclient',
    ...overrides,
  };
}

/** base64url of a JSON value, to hand-craft tokens jose refuses to produce. */
export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** `Config['oauth']` pointing at the server (discovery, not a configured JWKS URL, unless overridden). */
export function oauthOptions(server: Pick<JwksServer, 'issuer'>, overrides: Partial<Config['oauth']> = {}): Config['oauth'] {
  return {
    issuer: server.issuer,
    audience: TEST_AUDIENCE,
    jwksUri: '',
    requiredScopes: [TEST_SCOPE],
    allowedClientIds: [],
    algorithms: ['RS256', 'ES256'],
    clockSkewSeconds: 30,
    jwksTimeoutMs: 500,
    jwksCooldownMs: 30_000,
    jwksCacheMaxAgeMs: 600_000,
    ...overrides,
  };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/**
 * Credentials of lookups, read from files (mounted Kubernetes Secrets) with async I/O when the
 * rules are loaded and again on every reload, never on the request path. Also the OAuth 2.0
 * client-credentials client with `private_key_jwt` used for the Okta Management API: it signs a
 * client assertion with jose and caches the access token until shortly before it expires.
 */
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseJson, send, UpstreamError, isUnhealthyStatus, type UpstreamResponse } from './http-client';
import type { Dispatcher } from 'undici';

const MAX_SECRET_BYTES = 64 * 1024;

/** Problem reading a file for a lookup; the message names the file, never its content. */
export class FileReadError extends Error {
  override name = 'FileReadError';
}

/** Reads a small file; trailing white space (the newline editors add) is removed. */
export async function readSecretFile(path: string): Promise<string> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (err) {
    throw new FileReadError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (content.length > MAX_SECRET_BYTES) throw new FileReadError(`${path} is larger than ${MAX_SECRET_BYTES} bytes`);
  const text = content.toString('utf8').trim();
  if (text.length === 0) throw new FileReadError(`${path} is empty`);
  if (/[\r\n\0]/.test(text)) throw new FileReadError(`${path} must hold a single line`);
  return text;
}

/** Reads a PEM bundle (CA certificates). */
export async function readPemFile(path: string): Promise<string> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    throw new FileReadError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!content.includes('-----BEGIN CERTIFICATE-----')) throw new FileReadError(`${path} holds no PEM certificate`);
  return content;
}

export interface SigningKey {
  key: KeyObject;
  algorithm: string;
  keyId?: string;
}

const DEFAULT_ALGORITHM: Record<string, string> = { rsa: 'RS256', 'rsa-pss': 'PS256', ec: 'ES256', ed25519: 'EdDSA' };

/** Loads a private key from a PEM (PKCS#8 or PKCS#1) or JWK file; the algorithm defaults from the key type. */
export async function readSigningKey(path: string, algorithm?: string, keyId?: string): Promise<SigningKey> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new FileReadError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let key: KeyObject;
  let jwkKid: string | undefined;
  try {
    if (text.startsWith('{')) {
      const jwk = JSON.parse(text) as { kid?: unknown; d?: unknown };
      if (jwk.d === undefined) throw new Error('not a private JWK');
      if (typeof jwk.kid === 'string') jwkKid = jwk.kid;
      key = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } else {
      key = createPrivateKey(text);
    }
  } catch {
    throw new FileReadError(`${path} is not a private key (PEM or JWK)`);
  }
  const type = key.asymmetricKeyType ?? '';
  const alg = algorithm ?? DEFAULT_ALGORITHM[type];
  if (!alg) throw new FileReadError(`${path}: unsupported key type ${type || 'unknown'}`);
  const signing: SigningKey = { key, algorithm: alg };
  const kid = keyId ?? jwkKid;
  if (kid) signing.keyId = kid;
  return signing;
}

export interface ClientCredentialsOptions {
  /** `<org>/oauth2/v1/token`; also the assertion's audience. */
  tokenUrl: string;
  clientId: string;
  scopes: readonly string[];
  signingKey: SigningKey;
  dispatcher: Dispatcher;
  timeoutMs: number;
  maxBytes: number;
  now?: () => number;
}

interface CachedToken {
  token: string;
  /** Use until (ms). */
  refreshAt: number;
}

/** Renew this long before `expires_in` runs out, so no call goes out with a token about to expire. */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * OAuth 2.0 client credentials with `private_key_jwt` (RFC 7523), as Okta requires for service
 * apps calling its Management API. One token request at a time (callers share it); the token is
 * reused until `expires_in` minus a minute.
 */
export class ClientCredentialsClient {
  #cached: CachedToken | undefined;
  #pending: Promise<CachedToken> | undefined;
  readonly #options: ClientCredentialsOptions;
  readonly #now: () => number;

  constructor(options: ClientCredentialsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The access token in hand if it is still valid, without asking for one. */
  cachedToken(): string | undefined {
    const cached = this.#cached;
    return cached && this.#now() < cached.refreshAt ? cached.token : undefined;
  }

  /** A valid access token; waits at most until `signal` aborts. */
  async accessToken(signal: AbortSignal): Promise<string> {
    const cached = this.#cached;
    if (cached && this.#now() < cached.refreshAt) return cached.token;
    if (signal.aborted) throw new UpstreamError('aborted while waiting for an access token', 'timeout', true);
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    const pending = this.#pending;
    return new Promise<string>((resolve, reject) => {
      const onAbort = (): void => reject(new UpstreamError('aborted while waiting for an access token', 'timeout', true));
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (token) => {
          signal.removeEventListener('abort', onAbort);
          resolve(token.token);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Forget a token the API refused (401), so the next call gets a new one. */
  invalidate(token: string): void {
    if (this.#cached?.token === token) this.#cached = undefined;
  }

  async #assertion(): Promise<string> {
    const { signingKey, clientId, tokenUrl } = this.#options;
    const now = Math.floor(this.#now() / 1000);
    const header: { alg: string; kid?: string; typ: string } = { alg: signingKey.algorithm, typ: 'JWT' };
    if (signingKey.keyId) header.kid = signingKey.keyId;
    // Loaded on first use: only `private_key_jwt` clients sign, and the service otherwise never loads
    // the JWT library (header-secret deployments, lookups with a client secret).
    const { SignJWT } = require('jose') as typeof import('jose');
    return new SignJWT({})
      .setProtectedHeader(header)
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .setJti(randomUUID())
      .sign(signingKey.key);
  }

  async #fetch(): Promise<CachedToken> {
    const { tokenUrl, scopes, timeoutMs, maxBytes, dispatcher } = this.#options;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: scopes.join(' '),
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await this.#assertion(),
    });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`token request timed out after ${timeoutMs} ms`)), timeoutMs);
    let response: UpstreamResponse;
    try {
      response = await send(
        dispatcher,
        { method: 'POST', url: tokenUrl, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() },
        { signal: controller.signal, maxBytes },
      );
    } finally {
      clearTimeout(timer);
    }
    if (response.status !== 200) {
      // Okta's error code (invalid_client, invalid_scope...) is safe and tells the operator what to fix.
      let code = '';
      try {
        const body = parseJson(response) as { error?: unknown };
        if (typeof body.error === 'string' && /^[a-z_]{1,64}$/.test(body.error)) code = ` (${body.error})`;
      } catch {
        // keep the status only
      }
      throw new UpstreamError(`token endpoint answered HTTP ${response.status}${code}`, 'error', isUnhealthyStatus(response.status), response.status);
    }
    const body = parseJson(response) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || body.access_token.length === 0) {
      throw new UpstreamError('token endpoint answered without an access_token', 'error', true, response.status);
    }
    const expiresInMs = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : 300_000;
    const margin = Math.min(EXPIRY_MARGIN_MS, expiresInMs / 2);
    const token: CachedToken = { token: body.access_token, refreshAt: this.#now() + expiresInMs - margin };
    this.#cached = token;
    return token;
  }
}

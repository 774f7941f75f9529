/**
 * OAuth 2.0 authentication of Okta's calls: Okta obtains an access token (client credentials, with
 * `client_secret_post` or `private_key_jwt`) and calls the hook with `Authorization: Bearer <JWT>`.
 * We verify the JWT against the issuer's JWKS (`jwks.ts`) and check iss, aud, exp/nbf, scopes and
 * the client id. Every failure maps to one closed `AuthFailureReason`; the token itself is never
 * logged, returned or put in an error message.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWSHeaderParameters, type JWTPayload } from 'jose';
import type { Config } from '../config';
import type { AuthFailureReason, AuthResult, Authenticator, RequestHeaders } from './auth-types';
import { bearerToken, JWS_COMPACT, MAX_TOKEN_LENGTH } from './bearer';
import { JwksCache, type JwksFetchDetail, type JwksFetchResult } from './jwks';

export { hasBearerJwt } from './bearer';

export type OAuthOptions = Config['oauth'];

export interface OAuthDeps {
  /** HTTP client for discovery and JWKS (default: the global fetch). */
  fetch?: typeof fetch;
  /** Clock in epoch milliseconds (default: Date.now); drives claim checks and the JWKS cache. */
  now?: () => number;
  /** Called once per JWKS refresh attempt (discovery included). `detail` is safe to log. */
  onJwksFetch?: (result: JwksFetchResult, detail: JwksFetchDetail) => void;
}

export interface OAuthAuthenticator extends Authenticator {
  readonly method: 'oauth2';
  /**
   * Loads the issuer's keys now (e.g. at startup, so the first call does not pay for discovery).
   * Resolves to whether keys are available; never rejects. Failures are also reported through
   * `onJwksFetch`. Requests work without it: keys are fetched on first use.
   */
  refreshKeys(): Promise<boolean>;
}

/** Algorithms that can never be accepted, whatever the configuration says. */
const SYMMETRIC_OR_NONE = /^(none|HS\d+)$/i;

const fail = (reason: AuthFailureReason): AuthResult => ({ ok: false, method: 'oauth2', reason });

export function createOAuthAuthenticator(options: OAuthOptions, deps: OAuthDeps = {}): OAuthAuthenticator {
  const now = deps.now ?? Date.now;
  const algorithms = options.algorithms.filter((alg) => !SYMMETRIC_OR_NONE.test(alg));
  if (algorithms.length === 0) throw new Error('OAUTH_ALGORITHMS must name at least one asymmetric algorithm');
  if (!options.issuer || !options.audience) throw new Error('OAUTH_ISSUER and OAUTH_AUDIENCE are required for OAuth 2.0 authentication');
  const allowedAlgorithms = new Set(algorithms);
  const requiredScopes = [...options.requiredScopes];
  const allowedClientIds = options.allowedClientIds.length > 0 ? new Set(options.allowedClientIds) : undefined;

  const jwks = new JwksCache({
    issuer: options.issuer,
    jwksUri: options.jwksUri,
    timeoutMs: options.jwksTimeoutMs,
    cooldownMs: options.jwksCooldownMs,
    maxAgeMs: options.jwksCacheMaxAgeMs,
    fetch: deps.fetch ?? globalThis.fetch,
    now,
    ...(deps.onJwksFetch ? { onFetch: deps.onJwksFetch } : {}),
  });

  async function authenticate(headers: RequestHeaders): Promise<AuthResult> {
    const token = bearerToken(headers);
    if (token === undefined) return fail('missing_credentials');
    if (token === null || token.length > MAX_TOKEN_LENGTH || !JWS_COMPACT.test(token)) return fail('malformed_token');

    let header: JWSHeaderParameters;
    try {
      header = decodeProtectedHeader(token) as JWSHeaderParameters;
    } catch {
      return fail('malformed_token');
    }
    // Decided on the header alone, before any key lookup: `none`, HS* (key confusion with a public
    // key used as an HMAC secret) and anything not configured never reach the JWKS.
    if (typeof header.alg !== 'string' || !allowedAlgorithms.has(header.alg)) return fail('disallowed_algorithm');
    if (header.kid !== undefined && typeof header.kid !== 'string') return fail('malformed_token');

    const lookup = await jwks.getKeys(header);
    if (!lookup.ok) return fail(lookup.reason);

    let payload: JWTPayload | undefined;
    let lastReason: AuthFailureReason = 'invalid_signature';
    // Usually one key (matched by `kid`); several only for a token without `kid`.
    for (const key of lookup.keys) {
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms,
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance: options.clockSkewSeconds,
          currentDate: new Date(now()),
          requiredClaims: ['exp'],
        }));
        break;
      } catch (err) {
        lastReason = reasonFor(err);
        // Only a signature mismatch makes trying the next candidate key meaningful.
        if (lastReason !== 'invalid_signature') return fail(lastReason);
      }
    }
    if (!payload) return fail(lastReason);

    if (requiredScopes.length > 0) {
      const granted = scopesOf(payload);
      if (!requiredScopes.every((scope) => granted.has(scope))) return fail('missing_scope');
    }
    if (allowedClientIds) {
      const clientId = typeof payload.cid === 'string' ? payload.cid : payload.client_id;
      if (typeof clientId !== 'string' || !allowedClientIds.has(clientId)) return fail('client_not_allowed');
    }
    return { ok: true, method: 'oauth2', credential: 'oauth2' };
  }

  return {
    method: 'oauth2',
    authenticate,
    refreshKeys: () => jwks.refresh(),
  };
}


/** Okta puts scopes in `scp` (array); RFC 9068 servers use `scope` (space-separated string). */
function scopesOf(payload: JWTPayload): Set<string> {
  const claim = payload.scp ?? payload.scope;
  if (Array.isArray(claim)) return new Set(claim.filter((s): s is string => typeof s === 'string'));
  if (typeof claim === 'string') return new Set(claim.split(' ').filter((s) => s.length > 0));
  return new Set();
}

function reasonFor(err: unknown): AuthFailureReason {
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid_signature';
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'disallowed_algorithm';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'check_failed') {
      if (err.claim === 'nbf') return 'not_yet_valid';
      if (err.claim === 'iss') return 'wrong_issuer';
      if (err.claim === 'aud') return 'wrong_audience';
    }
    if (err.reason === 'missing') {
      if (err.claim === 'iss') return 'wrong_issuer';
      if (err.claim === 'aud') return 'wrong_audience';
    }
    return 'malformed_token';
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed_token';
  // Anything else (e.g. a key that does not fit the algorithm) means the signature was not verified.
  return 'invalid_signature';
}

/**
 * Recognising `Authorization: Bearer <JWT>` without loading the JWT library, so header-secret
 * deployments never pay for it (AUTH_MODE=either uses this to route a call to OAuth 2.0).
 */
import type { RequestHeaders } from './auth-types';

/** `Bearer <token>` (RFC 6750); the token itself may not contain whitespace. */
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
export const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
/** Okta access tokens are 1–2 KB (more with many scopes); anything far larger is not one. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * True when the request carries `Authorization: Bearer <compact JWS>`. In `AUTH_MODE=either` such a
 * request belongs to the OAuth 2.0 authenticator; anything else (another header, another scheme,
 * an opaque bearer value) belongs to the header-secret authenticator.
 */
export function hasBearerJwt(headers: RequestHeaders): boolean {
  const token = bearerToken(headers);
  return typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH && JWS_COMPACT.test(token);
}

/**
 * The bearer token: `undefined` when there is no `Authorization: Bearer` credential at all (no
 * header, or another scheme), `null` when the scheme is Bearer but the value is unusable.
 */
export function bearerToken(headers: RequestHeaders): string | null | undefined {
  const raw = headers.authorization;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (!/^Bearer(\s|$)/i.test(trimmed)) return undefined;
  const match = BEARER.exec(trimmed);
  return match?.[1] ?? null;
}

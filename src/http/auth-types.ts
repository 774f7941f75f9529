/** Authentication of Okta's calls: the shared shapes of the header-secret and OAuth 2.0 verifiers. */

export type AuthMethod = 'header' | 'oauth2';

/** Closed set (metric label `reason`). Never carries the presented value. */
export type AuthFailureReason =
  | 'missing_credentials'
  | 'invalid_credentials'
  | 'no_secret_configured'
  | 'malformed_token'
  | 'invalid_signature'
  | 'disallowed_algorithm'
  | 'unknown_key'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'missing_scope'
  | 'client_not_allowed'
  | 'jwks_unavailable';

export type AuthResult =
  | { ok: true; method: AuthMethod; /** `slot-1`, `slot-2`… (header secret line) or `oauth2` */ credential: string }
  | { ok: false; method: AuthMethod; reason: AuthFailureReason };

/** Incoming request headers, lower-cased names (Node's `IncomingHttpHeaders`). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

export interface Authenticator {
  readonly method: AuthMethod;
  authenticate(headers: RequestHeaders): Promise<AuthResult>;
}

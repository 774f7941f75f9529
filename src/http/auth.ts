/** Picks the authenticator(s) for the configured AUTH_MODE. */
import type { Authenticator, AuthResult, RequestHeaders } from './auth-types';
import type { HeaderAuthenticator } from './header-auth';
import { hasBearerJwt } from './bearer';

/** A plain result when no I/O was needed (header secrets), a promise otherwise (OAuth: JWKS). */
export type AuthenticateFn = (headers: RequestHeaders) => AuthResult | Promise<AuthResult>;

export interface AuthenticatorSet {
  mode: 'header' | 'oauth2' | 'either';
  header?: HeaderAuthenticator;
  oauth?: Authenticator;
}

export function composeAuthenticators({ mode, header, oauth }: AuthenticatorSet): AuthenticateFn {
  if (mode === 'header') {
    if (!header) throw new Error('AUTH_MODE=header needs a header secret');
    return (headers) => header.check(headers);
  }
  if (mode === 'oauth2') {
    if (!oauth) throw new Error('AUTH_MODE=oauth2 needs OAuth settings');
    return (headers) => oauth.authenticate(headers);
  }
  if (!header || !oauth) throw new Error('AUTH_MODE=either needs both a header secret and OAuth settings');
  // Migration mode: a matching header secret wins; otherwise a Bearer JWT is verified as OAuth.
  return (headers) => {
    const byHeader = header.check(headers);
    if (byHeader.ok) return byHeader;
    if (hasBearerJwt(headers)) return oauth.authenticate(headers);
    return byHeader;
  };
}

/**
 * Okta token inline hook request shapes (`com.okta.oauth2.tokens.transform`).
 *
 * Every field is optional on purpose: Okta's documented fixtures are not the only shapes it sends
 * (Preview omits `identity`, client credentials carry no `user`/`session`, refresh calls add
 * `OriginalGrant`). Validation (`parseTokenHookEvent`) only insists on what we cannot work without.
 */

export const TOKEN_HOOK_EVENT_TYPE = 'com.okta.oauth2.tokens.transform';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type ClaimsMap = Record<string, JsonValue>;

export interface TokenProtocolRequest {
  client_id?: string;
  scope?: string;
  state?: string;
  redirect_uri?: string;
  response_mode?: string;
  response_type?: string;
  grant_type?: string;
  [key: string]: unknown;
}

export interface OktaToken {
  claims?: ClaimsMap;
  token?: { lifetime?: { expiration?: number } };
  scopes?: Record<string, { id?: string; action?: string }>;
  [key: string]: unknown;
}

export interface TokenHookContext {
  request?: { id?: string; method?: string; url?: { value?: string }; ipAddress?: string };
  protocol?: {
    type?: string;
    request?: TokenProtocolRequest;
    OriginalGrant?: { authorization?: TokenProtocolRequest; refresh_token?: { jti?: string } };
    originalGrant?: { authorization?: TokenProtocolRequest; refresh_token?: { jti?: string } };
    issuer?: { uri?: string };
    client?: { id?: string; name?: string; type?: string };
  };
  session?: Record<string, unknown> & { id?: string; userId?: string };
  user?: Record<string, unknown> & { id?: string; profile?: Record<string, unknown> };
  policy?: { id?: string; rule?: { id?: string } };
  [key: string]: unknown;
}

export interface TokenHookEvent {
  eventId?: string;
  eventTime?: string;
  eventType: typeof TOKEN_HOOK_EVENT_TYPE;
  eventTypeVersion?: string | number;
  cloudEventVersion?: string | number;
  contentType?: string;
  source?: string;
  data: {
    context?: TokenHookContext;
    identity?: OktaToken;
    access?: OktaToken;
    refresh_token?: { jti?: string };
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The two tokens a token hook can patch. `identity` is the ID token, `access` the access token. */
export type TokenKind = 'identity' | 'access';
export const TOKEN_KINDS: readonly TokenKind[] = ['identity', 'access'];

/** One JSON-Patch-like operation in Okta's dialect. */
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: JsonValue;
}

export interface PatchCommand {
  type: 'com.okta.identity.patch' | 'com.okta.access.patch';
  value: PatchOperation[];
}

/** The body we answer Okta with. Every field optional; `{}` is a valid no-op. */
export interface TokenHookResponse {
  commands?: PatchCommand[];
  error?: { errorSummary: string };
  debugContext?: Record<string, JsonValue>;
}

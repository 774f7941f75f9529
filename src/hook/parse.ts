/**
 * Validation of Okta's envelope: strict only about what we cannot work without (a JSON object of
 * type `com.okta.oauth2.tokens.transform` with a `data` object), lenient about everything else.
 * Unknown fields are kept and ignored; missing optional objects stay missing.
 */
import { TOKEN_HOOK_EVENT_TYPE, type TokenHookEvent } from './types';
import { isJsonObject, jsonBoundsProblem, type JsonBounds } from '../shared/values';

export type ParseResult = { ok: true; event: TokenHookEvent } | { ok: false; message: string };

/** Optional objects: absent or null means "not there"; any other non-object is malformed. */
const OPTIONAL_DATA_OBJECTS = ['context', 'identity', 'access', 'refresh_token'] as const;
const OPTIONAL_CONTEXT_OBJECTS = ['request', 'protocol', 'session', 'user', 'policy'] as const;

/**
 * How deep and large a payload may be. Okta's token hook payloads nest about 8 levels and hold a
 * few hundred values; anything far beyond is refused with a 400 (Okta then issues the token
 * unchanged) before any code walks it recursively.
 */
export const PAYLOAD_BOUNDS: Readonly<JsonBounds> = Object.freeze({ maxDepth: 64, maxNodes: 200_000 });

export function parseTokenHookEvent(body: unknown): ParseResult {
  if (!isJsonObject(body)) return { ok: false, message: 'Request body must be a JSON object' };
  // Nothing from the request is echoed: the answer and the log line say what was expected only.
  if (body.eventType !== TOKEN_HOOK_EVENT_TYPE) {
    return { ok: false, message: `Unsupported or missing eventType; expected "${TOKEN_HOOK_EVENT_TYPE}"` };
  }
  const bounds = jsonBoundsProblem(body, PAYLOAD_BOUNDS);
  if (bounds) return { ok: false, message: `Request body ${bounds}` };
  const data = body.data;
  if (!isJsonObject(data)) return { ok: false, message: '"data" must be a JSON object' };
  for (const key of OPTIONAL_DATA_OBJECTS) {
    if (data[key] === null) delete data[key];
    else if (data[key] !== undefined && !isJsonObject(data[key])) return { ok: false, message: `"data.${key}" must be an object when present` };
  }
  for (const token of ['identity', 'access'] as const) {
    const minted = data[token] as Record<string, unknown> | undefined;
    if (minted && minted.claims !== undefined && minted.claims !== null && !isJsonObject(minted.claims)) {
      return { ok: false, message: `"data.${token}.claims" must be an object when present` };
    }
  }
  const context = data.context as Record<string, unknown> | undefined;
  if (context) {
    for (const key of OPTIONAL_CONTEXT_OBJECTS) {
      if (context[key] === null) delete context[key];
      else if (context[key] !== undefined && !isJsonObject(context[key])) {
        return { ok: false, message: `"data.context.${key}" must be an object when present` };
      }
    }
  }
  return { ok: true, event: body as unknown as TokenHookEvent };
}

const MAX_ID_LENGTH = 128;

/** A string field safe to log or use as a span attribute (bounded, never an object). */
export function safeId(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return value.length > MAX_ID_LENGTH ? value.slice(0, MAX_ID_LENGTH) : value;
}

/** Facts about a call that are safe for logs, spans and metrics (no PII beyond the Okta user id). */
export interface EventSummary {
  eventId?: string;
  clientId?: string;
  grantType?: string;
  userId?: string;
  requestId?: string;
  tokens: string;
}

export function summarizeEvent(event: TokenHookEvent): EventSummary {
  const context = event.data.context;
  const protocolRequest = context?.protocol?.request;
  const summary: EventSummary = {
    tokens: [event.data.identity ? 'id' : '', event.data.access ? 'access' : ''].filter(Boolean).join('+') || 'none',
  };
  const eventId = safeId(event.eventId);
  if (eventId) summary.eventId = eventId;
  const clientId = safeId(context?.protocol?.client?.id) ?? safeId(protocolRequest?.client_id);
  if (clientId) summary.clientId = clientId;
  const grantType = deriveGrantType(event);
  if (grantType) summary.grantType = grantType;
  const userId = safeId(context?.user?.id) ?? safeId(context?.session?.userId);
  if (userId) summary.userId = userId;
  const requestId = safeId(context?.request?.id);
  if (requestId) summary.requestId = requestId;
  return summary;
}

/**
 * `grant_type` when Okta sends it (/token calls); for /authorize flows it is derived from
 * `response_type`: `code` -> authorization_code, `token`/`id_token` -> implicit.
 */
export function deriveGrantType(event: TokenHookEvent): string | undefined {
  const request = event.data.context?.protocol?.request;
  const grantType = safeId(request?.grant_type);
  if (grantType) return grantType;
  const responseType = typeof request?.response_type === 'string' ? request.response_type.split(/\s+/) : [];
  if (responseType.includes('code')) return 'authorization_code';
  if (responseType.includes('token') || responseType.includes('id_token')) return 'implicit';
  return undefined;
}

/**
 * The two kinds of upstream a lookup can call. A source turns the request context into a
 * `PreparedCall` (the cache key and the function that calls upstream) and knows how to read the
 * answer; caching, single-flight, the breaker and the concurrency limit are the `Lookup`'s job.
 */
import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { JsonValue } from '../hook/types';
import { fromCel } from '../rules/cel';
import type { ClientCredentialsClient } from './credentials';
import { isUnhealthyStatus, parseJson, retryAfterMs, send, UpstreamError, type UpstreamResponse } from './http-client';
import { jsonBoundsProblem, type JsonBounds } from '../shared/values';
import { evaluate, LookupInputError, placeholderText, renderTemplate } from './template';
import type { HttpLookupDefinition, LookupContext, OktaGroupsLookupDefinition } from './types';

export interface SourceResult {
  value: JsonValue;
  /** 404 or no content. */
  notFound: boolean;
  /** Not found, or an empty result (null, []): cached for the negative TTL. */
  empty: boolean;
  status: number;
}

export interface PreparedCall {
  /** Identifies the upstream request (resolved URL, method, templated headers, body): the cache key. */
  key: string;
  run(signal: AbortSignal): Promise<SourceResult>;
}

export interface LookupSource {
  /** What is called, in templated form (no request values): for spans and explain. */
  readonly target: string;
  /** Null when there is nothing to look up (a placeholder is null). Throws `LookupInputError`. */
  prepare(ctx: LookupContext): PreparedCall | null;
}

/** Long keys are hashed so a cache entry's key stays small whatever the request holds. */
function cacheKey(parts: readonly string[]): string {
  const key = parts.join('\n');
  return key.length <= 256 ? key : `sha256:${createHash('sha256').update(key).digest('base64url')}`;
}

const CONTROL_CHARACTERS = /[\r\n\0]/;

/** Follows `data.items.0` into a JSON value; undefined when the path does not exist. */
export function extractPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const segment of path) {
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (current !== null && typeof current === 'object' && Object.prototype.hasOwnProperty.call(current, segment)) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

/**
 * How deep and large a lookup's value may be. Past these the answer is a lookup `error` (the
 * claim's `fallback` or the rule's `onError` apply), checked before anything walks it recursively.
 */
export const LOOKUP_VALUE_BOUNDS: Readonly<JsonBounds> = Object.freeze({ maxDepth: 64, maxNodes: 100_000 });

/**
 * Resolves on the next turn of the event loop. undici's pool takes a connection back only after
 * the answer that used it has been read *and* a turn has passed; a request sent right after
 * another (the next page, the API call after a token request) would otherwise open a second
 * connection (a TLS handshake to Okta) while the first one sits idle.
 */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const isEmpty = (value: JsonValue): boolean => value === null || (Array.isArray(value) && value.length === 0);

export interface HttpCredential {
  header: string;
  value: string;
}

export class HttpSource implements LookupSource {
  readonly target: string;
  credential: HttpCredential | undefined;

  constructor(
    private readonly definition: HttpLookupDefinition,
    private readonly dispatcher: Dispatcher,
    credential: HttpCredential | undefined,
  ) {
    this.target = `${definition.method} ${definition.url.source}`;
    this.credential = credential;
  }

  prepare(ctx: LookupContext): PreparedCall | null {
    const definition = this.definition;
    const url = renderTemplate(definition.url, ctx, true);
    if (url === null) return null;
    const headers: Record<string, string> = { accept: 'application/json' };
    const keyParts = [definition.method, url];
    for (const header of definition.headers) {
      const value = renderTemplate(header.value, ctx, false);
      if (value === null) continue;
      if (CONTROL_CHARACTERS.test(value)) throw new LookupInputError(`header ${header.name}: value contains a line break`);
      headers[header.name] = value;
      keyParts.push(`${header.name}:${value}`);
    }
    let body: string | undefined;
    if (definition.body) {
      let json: JsonValue;
      try {
        json = fromCel(evaluate(definition.body, ctx));
      } catch (err) {
        throw err instanceof LookupInputError ? err : new LookupInputError('body: the expression did not give a JSON value');
      }
      body = JSON.stringify(json);
      headers['content-type'] = 'application/json';
      keyParts.push(body);
    }
    return { key: cacheKey(keyParts), run: (signal) => this.#run(url, headers, body, signal) };
  }

  async #run(url: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal): Promise<SourceResult> {
    const definition = this.definition;
    const credential = this.credential;
    const request = { method: definition.method, url, headers: credential ? { ...headers, [credential.header]: credential.value } : headers, body };
    const response = await send(this.dispatcher, request, { signal, maxBytes: definition.maxResponseBytes });
    const { status } = response;
    if (status === 404) return { value: null, notFound: true, empty: true, status };
    if (status < 200 || status >= 300) throw new UpstreamError(`upstream answered HTTP ${status}`, 'error', isUnhealthyStatus(status), status, retryAfterMs(response));
    if (status === 204 || response.body.length === 0) return { value: null, notFound: true, empty: true, status };
    const parsed = parseJson(response);
    const extracted = definition.extract ? extractPath(parsed, definition.extract) : parsed;
    const value = (extracted === undefined ? null : extracted) as JsonValue;
    const bounds = jsonBoundsProblem(value, LOOKUP_VALUE_BOUNDS);
    // The upstream answered; its document is unusable, not a sign of ill health (the breaker ignores it).
    if (bounds) throw new UpstreamError(`response value ${bounds}`, 'error', false, status);
    return { value, notFound: false, empty: isEmpty(value), status };
  }
}

/** The `rel="next"` target of one or more `Link` headers (RFC 8288), as Okta paginates. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  for (const value of values) {
    for (const link of value.split(/,(?=\s*<)/)) {
      const match = /^\s*<([^>]*)>(.*)$/.exec(link);
      if (!match) continue;
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(match[2] ?? '');
      const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
      if (relations.includes('next')) return match[1];
    }
  }
  return undefined;
}

export type OktaAuthorization = { kind: 'ssws'; token: string } | { kind: 'oauth'; client: ClientCredentialsClient };

interface OktaGroup {
  id?: unknown;
  type?: unknown;
  profile?: { name?: unknown };
}

/** Okta's own error code (`E0000011`) is safe to report and says what is wrong. */
function oktaErrorCode(response: UpstreamResponse): string {
  try {
    const body = JSON.parse(response.body.toString('utf8')) as { errorCode?: unknown };
    return typeof body.errorCode === 'string' && /^E\d{7}$/.test(body.errorCode) ? ` (${body.errorCode})` : '';
  } catch {
    return '';
  }
}

/**
 * The user's groups from the Okta Management API (`GET /api/v1/users/{id}/groups`), following
 * `Link: <...>; rel="next"` for at most `maxPages` pages, filtered by name.
 */
export class OktaGroupsSource implements LookupSource {
  readonly target: string;
  authorization: OktaAuthorization;
  readonly #origin: string;

  constructor(
    private readonly definition: OktaGroupsLookupDefinition,
    private readonly dispatcher: Dispatcher,
    authorization: OktaAuthorization,
  ) {
    this.#origin = new URL(definition.orgUrl).origin;
    this.target = `GET ${this.#origin}/api/v1/users/{userId}/groups`;
    this.authorization = authorization;
  }

  prepare(ctx: LookupContext): PreparedCall | null {
    const userId = placeholderText(evaluate(this.definition.userId, ctx), this.definition.userId.source);
    if (userId === null || userId === '') return null;
    return { key: userId, run: (signal) => this.#run(userId, signal) };
  }

  #matches(name: string): boolean {
    const { prefix, regex } = this.definition.filter;
    if (prefix !== undefined && !name.startsWith(prefix)) return false;
    if (regex !== undefined && !regex.test(name)) return false;
    return true;
  }

  async #authorizationHeader(signal: AbortSignal): Promise<string> {
    const auth = this.authorization;
    if (auth.kind === 'ssws') return `SSWS ${auth.token}`;
    const cached = auth.client.cachedToken();
    if (cached !== undefined) return `Bearer ${cached}`;
    const token = await auth.client.accessToken(signal);
    await nextTurn();
    return `Bearer ${token}`;
  }

  async #run(userId: string, signal: AbortSignal): Promise<SourceResult> {
    const { pageSize, maxPages, maxResponseBytes, result } = this.definition;
    let url = `${this.#origin}/api/v1/users/${encodeURIComponent(userId)}/groups?limit=${pageSize}`;
    const names: string[] = [];
    const objects: { id: string; name: string; type: string }[] = [];
    for (let page = 1; ; page++) {
      if (page > 1) await nextTurn();
      const authorization = await this.#authorizationHeader(signal);
      const response = await send(this.dispatcher, { method: 'GET', url, headers: { accept: 'application/json', authorization } }, { signal, maxBytes: maxResponseBytes });
      const { status } = response;
      if (status === 404 && page === 1) return { value: null, notFound: true, empty: true, status };
      if (status !== 200) {
        const auth = this.authorization;
        if (status === 401 && auth.kind === 'oauth') auth.client.invalidate(authorization.slice('Bearer '.length));
        throw new UpstreamError(`Okta answered HTTP ${status}${oktaErrorCode(response)}`, 'error', isUnhealthyStatus(status), status, retryAfterMs(response));
      }
      const body = parseJson(response);
      if (!Array.isArray(body)) throw new UpstreamError('Okta groups response is not a list', 'error', true, status);
      for (const group of body as OktaGroup[]) {
        const name = group?.profile?.name;
        if (typeof name !== 'string' || !this.#matches(name)) continue;
        if (result === 'names') names.push(name);
        else objects.push({ id: typeof group.id === 'string' ? group.id : '', name, type: typeof group.type === 'string' ? group.type : '' });
      }
      const next = nextLink(response.headers.link);
      if (next === undefined) break;
      if (page >= maxPages) {
        // Returning part of the groups could drop a role silently; failing lets the rule's onError decide.
        throw new UpstreamError(`user has more than ${maxPages} pages of groups (raise maxPages)`, 'error', false, status);
      }
      let nextUrl: URL;
      try {
        nextUrl = new URL(next, url);
      } catch {
        throw new UpstreamError('invalid pagination link from Okta', 'error', true, status);
      }
      // Never send the Okta credential anywhere but the org.
      if (nextUrl.origin !== this.#origin) throw new UpstreamError('pagination link to another origin refused', 'error', true, status);
      url = nextUrl.toString();
    }
    const value = result === 'names' ? names : objects;
    return { value, notFound: false, empty: value.length === 0, status: 200 };
  }
}

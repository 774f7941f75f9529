/**
 * The CEL variables of one hook call, built lazily: each variable is derived from the payload and
 * converted to CEL values the first time a rule reads it, then reused by every other rule of the
 * same request. A rule set that never reads `event` never pays for converting the whole payload.
 */
import { deriveGrantType } from '../hook/parse';
import type { TokenHookEvent } from '../hook/types';
import { EVALUATION_BUDGET, EvaluationBudget, toCel } from './cel';
import { isJsonObject } from '../shared/values';

const EMPTY_LIST: readonly string[] = Object.freeze([]);

function objectOrEmpty(value: unknown): unknown {
  return isJsonObject(value) ? toCel(value) : Object.create(null);
}

function objectOrNull(value: unknown): unknown {
  return isJsonObject(value) ? toCel(value) : null;
}

/** Query parameters as a CEL map (a `Map`: parameter names are data, `constructor` included). */
function queryParams(url: unknown): ReadonlyMap<string, string> {
  const params = new Map<string, string>();
  if (typeof url !== 'string') return params;
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return params;
  const hashStart = url.indexOf('#', queryStart);
  const query = url.slice(queryStart + 1, hashStart === -1 ? undefined : hashStart);
  for (const [key, value] of new URLSearchParams(query)) {
    if (!params.has(key)) params.set(key, value);
  }
  return params;
}

/** `lookup`: a null-prototype record filled by the engine; a lookup named `constructor` needs the `Map` form. */
function lookupValues(values: unknown): unknown {
  if (!isJsonObject(values) || !Object.hasOwn(values, 'constructor')) return values;
  return new Map(Object.entries(values));
}

function splitScopes(scope: unknown): readonly string[] {
  if (typeof scope !== 'string') return EMPTY_LIST;
  return scope.split(/\s+/).filter((s) => s.length > 0);
}

function tokenClaims(token: unknown): unknown {
  if (!isJsonObject(token)) return null;
  return isJsonObject(token.claims) ? toCel(token.claims) : Object.create(null);
}

/**
 * Passed directly to cel-js as the evaluation context (it reads variables with `context[name]`,
 * so getters are enough). One instance per request; never shared between requests.
 */
export class RequestContext {
  readonly #event: TokenHookEvent;
  readonly #cache = new Map<string, unknown>();
  /** Extension point: values of variables that are not derived from the payload (e.g. `lookup`). */
  readonly #extra: Record<string, unknown>;
  /** What this call's expressions have used of the evaluation limits (read by compiled expressions). */
  readonly [EVALUATION_BUDGET] = new EvaluationBudget();

  constructor(event: TokenHookEvent, extra: Record<string, unknown> = {}) {
    this.#event = event;
    this.#extra = extra;
  }

  #memo(name: string, build: () => unknown): unknown {
    if (this.#cache.has(name)) return this.#cache.get(name);
    const value = build();
    this.#cache.set(name, value);
    return value;
  }

  get #ctx() {
    return this.#event.data.context;
  }

  get event(): unknown {
    return this.#memo('event', () => toCel(this.#event));
  }

  get request(): unknown {
    return this.#memo('request', () => objectOrEmpty(this.#ctx?.request));
  }

  get params(): unknown {
    return this.#memo('params', () => queryParams(this.#ctx?.request?.url?.value));
  }

  get protocol(): unknown {
    return this.#memo('protocol', () => objectOrEmpty(this.#ctx?.protocol?.request));
  }

  get client(): unknown {
    return this.#memo('client', () => {
      const protocol = this.#ctx?.protocol;
      // toCel may return the payload's own object: never mutate it, copy to add the fallback id.
      const client = objectOrEmpty(protocol?.client);
      const requestClientId = protocol?.request?.client_id;
      if (typeof requestClientId !== 'string') return client;
      if (client instanceof Map) return client.has('id') ? client : new Map(client).set('id', requestClientId);
      const record = client as Record<string, unknown>;
      return record.id === undefined ? { ...record, id: requestClientId } : record;
    });
  }

  get issuer(): unknown {
    const uri = this.#ctx?.protocol?.issuer?.uri;
    return typeof uri === 'string' ? uri : '';
  }

  get grantType(): unknown {
    return this.#memo('grantType', () => deriveGrantType(this.#event) ?? '');
  }

  get scopes(): unknown {
    return this.#memo('scopes', () => {
      const scopes = this.#event.data.access?.scopes;
      return isJsonObject(scopes) ? Object.keys(scopes) : EMPTY_LIST;
    });
  }

  get requestedScopes(): unknown {
    return this.#memo('requestedScopes', () => splitScopes(this.#ctx?.protocol?.request?.scope));
  }

  get user(): unknown {
    return this.#memo('user', () => objectOrNull(this.#ctx?.user));
  }

  get session(): unknown {
    return this.#memo('session', () => objectOrNull(this.#ctx?.session));
  }

  get identity(): unknown {
    return this.#memo('identity', () => tokenClaims(this.#event.data.identity));
  }

  get access(): unknown {
    return this.#memo('access', () => tokenClaims(this.#event.data.access));
  }

  get policy(): unknown {
    return this.#memo('policy', () => objectOrEmpty(this.#ctx?.policy));
  }

  /** Variables supplied by extensions; `undefined` makes cel-js report an unknown variable. */
  get lookup(): unknown {
    return lookupValues(this.#extra.lookup);
  }
}

/**
 * The issuer's signing keys: discovery, fetching and caching of the JWKS used by the OAuth 2.0
 * authenticator (`oauth.ts`).
 *
 * Why our own cache around jose's `createLocalJWKSet` rather than jose's `createRemoteJWKSet`:
 * - `createRemoteJWKSet` measures its cooldown from the last *successful* fetch, so while the JWKS
 *   endpoint is down (or before the first success) every request starts a new fetch: the endpoint
 *   is hammered and every request waits for its own timeout. Here failures are rate-limited too.
 * - Once its cache is older than `cacheMaxAge` it blocks the request on a refetch and fails the
 *   request if that refetch fails. Here a stale key set keeps serving while one background refresh
 *   runs, and survives a JWKS outage for a bounded time (stale-if-error).
 * - It reads `Date.now()` directly (tests cannot drive the cooldown clock), has no discovery, and
 *   has no hook for metrics. Discovery must share the same timeout, rate limit and retry policy.
 * `createLocalJWKSet` still does the part that should not be hand-written: JWK validation, key
 * selection by `kid`/`alg`/`kty`/`use`/`key_ops`, and caching of the imported CryptoKeys.
 */
import { createLocalJWKSet, errors, type CryptoKey, type JSONWebKeySet, type JWSHeaderParameters } from 'jose';

export type JwksFetchResult = 'success' | 'failure';

export interface JwksFetchDetail {
  /** Why the fetch failed (status, timeout, invalid document). Never contains a token. */
  error?: string;
  /** The JWKS URL used (after discovery), when known. */
  jwksUri?: string;
}

export interface JwksCacheOptions {
  issuer: string;
  /** Empty: discovered from the issuer's metadata. */
  jwksUri: string;
  timeoutMs: number;
  cooldownMs: number;
  maxAgeMs: number;
  fetch: typeof fetch;
  now: () => number;
  onFetch?: (result: JwksFetchResult, detail: JwksFetchDetail) => void;
}

/** Keys usable to verify one token, or why there are none. */
export type KeyLookup =
  | { ok: true; keys: CryptoKey[] }
  | { ok: false; reason: 'unknown_key' | 'jwks_unavailable' };

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

interface KeySet {
  local: LocalKeySet;
  fetchedAt: number;
}

/** After a failed fetch, the next attempt waits at most this long (or the cooldown, if shorter). */
export const FAILED_FETCH_RETRY_MS = 5_000;
/** A key set past its max age stays usable this much longer while refreshes fail (JWKS outage). */
export const STALE_IF_ERROR_MS = 24 * 60 * 60 * 1000;
/** Discovery documents and key sets are small; anything bigger is not what we asked for. */
const MAX_DOCUMENT_BYTES = 256 * 1024;
/** A key set is a handful of keys; bounds the work for a token without `kid`. */
const MAX_KEYS = 100;

type Trigger = 'missing' | 'stale' | 'unknown_key';
type RefreshOutcome = 'refreshed' | 'failed' | 'skipped';

class FetchError extends Error {
  override name = 'FetchError';
}

/**
 * Cached JWKS of one issuer. At most one network refresh runs at a time (callers join it); a
 * refresh (discovery + JWKS) settles within `timeoutMs`; refreshes caused by an unknown `kid` happen
 * at most once per `cooldownMs`; a failed refresh is retried on later requests, at most once per
 * `min(cooldownMs, FAILED_FETCH_RETRY_MS)`.
 */
export class JwksCache {
  private keySet: KeySet | undefined;
  private resolvedJwksUri: string | undefined;
  private pending: Promise<RefreshOutcome> | undefined;
  private lastAttemptAt: number | undefined;
  private lastAttemptFailed = false;
  private readonly options: JwksCacheOptions;

  constructor(options: JwksCacheOptions) {
    this.options = options;
    if (options.jwksUri) this.resolvedJwksUri = assertFetchableUrl(options.jwksUri, 'OAUTH_JWKS_URI');
    assertFetchableUrl(options.issuer, 'OAUTH_ISSUER');
  }

  /** Keys matching the token's header, refreshing the set when allowed. Never throws. */
  async getKeys(header: JWSHeaderParameters): Promise<KeyLookup> {
    let waited = false;
    let current = this.usableKeySet();
    if (!current) {
      waited = true;
      await this.refreshIfAllowed('missing');
      current = this.usableKeySet();
      if (!current) return { ok: false, reason: 'jwks_unavailable' };
    } else if (this.options.now() >= current.fetchedAt + this.options.maxAgeMs) {
      // Stale: serve what we have and refresh in the background (a refresh never rejects).
      void this.refreshIfAllowed('stale');
    }

    const found = await selectKeys(current.local, header);
    if (found !== 'no_match') return found;
    // At most one network wait per request: a request that just waited for a refresh does not
    // start another one, so every request is answered within one timeout.
    if (waited) return { ok: false, reason: 'unknown_key' };
    const outcome = await this.refreshIfAllowed('unknown_key');
    if (outcome === 'failed' || (outcome === 'skipped' && this.lastAttemptFailed)) {
      return { ok: false, reason: 'jwks_unavailable' };
    }
    const latest = this.usableKeySet();
    if (outcome === 'skipped' || !latest || latest === current) return { ok: false, reason: 'unknown_key' };
    const retried = await selectKeys(latest.local, header);
    return retried === 'no_match' ? { ok: false, reason: 'unknown_key' } : retried;
  }

  /**
   * Fetches the key set now (joining a refresh in flight); for a warm-up at startup. Resolves to
   * whether a usable key set is loaded afterwards. Not rate-limited: do not call it per request.
   */
  async refresh(): Promise<boolean> {
    await (this.pending ?? this.startRefresh());
    return this.usableKeySet() !== undefined;
  }

  /** The loaded key set, unless it is past its max age plus the stale-if-error allowance. */
  private usableKeySet(): KeySet | undefined {
    const keySet = this.keySet;
    if (!keySet || this.options.now() >= keySet.fetchedAt + this.options.maxAgeMs + STALE_IF_ERROR_MS) return undefined;
    return keySet;
  }

  private refreshIfAllowed(trigger: Trigger): Promise<RefreshOutcome> {
    if (this.pending) return this.pending;
    if (this.lastAttemptAt !== undefined) {
      const elapsed = this.options.now() - this.lastAttemptAt;
      const minInterval = this.lastAttemptFailed
        ? Math.min(this.options.cooldownMs, FAILED_FETCH_RETRY_MS)
        : trigger === 'unknown_key'
          ? this.options.cooldownMs
          : 0;
      if (elapsed < minInterval) return Promise.resolve('skipped');
    }
    return this.startRefresh();
  }

  private startRefresh(): Promise<RefreshOutcome> {
    this.lastAttemptAt = this.options.now();
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const attempt: Promise<RefreshOutcome> = withDeadline(this.load(signal), signal)
      .then(
        ({ local, jwksUri }): RefreshOutcome => {
          this.keySet = { local, fetchedAt: this.options.now() };
          this.lastAttemptFailed = false;
          this.notify('success', { jwksUri });
          return 'refreshed';
        },
        (err: unknown): RefreshOutcome => {
          this.lastAttemptFailed = true;
          const detail: JwksFetchDetail = { error: describe(err, signal) };
          if (this.resolvedJwksUri) detail.jwksUri = this.resolvedJwksUri;
          this.notify('failure', detail);
          return 'failed';
        },
      )
      .finally(() => {
        if (this.pending === attempt) this.pending = undefined;
      });
    this.pending = attempt;
    return attempt;
  }

  /** A throwing callback must not turn a refresh (possibly a background one) into a rejection. */
  private notify(result: JwksFetchResult, detail: JwksFetchDetail): void {
    try {
      this.options.onFetch?.(result, detail);
    } catch {
      // The callback is for metrics and logs; its failure does not change the refresh outcome.
    }
  }

  private async load(signal: AbortSignal): Promise<{ local: LocalKeySet; jwksUri: string }> {
    const jwksUri = this.resolvedJwksUri ?? (await this.discover(signal));
    const body = await this.getJson(jwksUri, 'application/jwk-set+json, application/json', signal);
    if (!isKeySet(body)) throw new FetchError(`${jwksUri} did not return a JSON Web Key Set`);
    if (body.keys.length > MAX_KEYS) throw new FetchError(`${jwksUri} returned more than ${MAX_KEYS} keys`);
    // Throws on a malformed set, so it counts as a failed fetch and the previous set stays.
    return { local: createLocalJWKSet(body), jwksUri };
  }

  /** RFC 8414 metadata first, then OpenID Connect discovery (Okta serves both per issuer). */
  private async discover(signal: AbortSignal): Promise<string> {
    const base = this.options.issuer.replace(/\/+$/, '');
    const problems: string[] = [];
    for (const suffix of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      let metadata: unknown;
      try {
        metadata = await this.getJson(base + suffix, 'application/json', signal);
      } catch (err) {
        if (signal.aborted) throw err;
        problems.push(err instanceof FetchError ? err.message : `${base + suffix}: ${networkError(err)}`);
        continue;
      }
      const record = metadata as Record<string, unknown> | null;
      if (!record || typeof record !== 'object' || typeof record.jwks_uri !== 'string') {
        problems.push(`${base + suffix} has no jwks_uri`);
        continue;
      }
      // RFC 8414 §3.3 / OIDC Discovery §4.3: the metadata must be for the issuer we trust.
      if (record.issuer !== this.options.issuer) {
        problems.push(`${base + suffix} is for another issuer`);
        continue;
      }
      this.resolvedJwksUri = assertFetchableUrl(record.jwks_uri, 'jwks_uri in the discovery document');
      return this.resolvedJwksUri;
    }
    throw new FetchError(`discovery failed: ${problems.join('; ')}`);
  }

  private async getJson(url: string, accept: string, signal: AbortSignal): Promise<unknown> {
    const response = await this.options.fetch(url, { method: 'GET', headers: { accept }, redirect: 'manual', signal });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new FetchError(`${url} answered HTTP ${response.status}`);
    }
    const text = await readBounded(response, MAX_DOCUMENT_BYTES);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new FetchError(`${url} did not return JSON`);
    }
  }
}

/** Candidate keys from the local set: one when `kid` matches, several for a token without `kid`. */
async function selectKeys(local: LocalKeySet, header: JWSHeaderParameters): Promise<KeyLookup | 'no_match'> {
  try {
    return { ok: true, keys: [await local(header)] };
  } catch (err) {
    if (err instanceof errors.JWKSNoMatchingKey) return 'no_match';
    if (err instanceof errors.JWKSMultipleMatchingKeys) {
      const keys: CryptoKey[] = [];
      for await (const key of err as unknown as AsyncIterable<CryptoKey>) {
        keys.push(key);
        if (keys.length >= MAX_KEYS) break;
      }
      return keys.length > 0 ? { ok: true, keys } : { ok: false, reason: 'jwks_unavailable' };
    }
    // The matching JWK cannot be imported (private key, unsupported curve, malformed member).
    return { ok: false, reason: 'jwks_unavailable' };
  }
}

function isKeySet(value: unknown): value is JSONWebKeySet {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { keys?: unknown }).keys) &&
    (value as { keys: unknown[] }).keys.every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))
  );
}

/** Settles with the work, or rejects as soon as the signal aborts even if the fetch ignores it. */
function withDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

async function readBounded(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new FetchError(`${response.url || 'response'} is larger than ${maxBytes} bytes`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new FetchError(`${response.url || 'response'} is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timed out';
  if (err instanceof FetchError) return err.message;
  if (err instanceof errors.JOSEError) return `invalid JSON Web Key Set: ${err.message}`;
  return networkError(err);
}

/** undici reports "fetch failed" with the useful part (ECONNREFUSED, ENOTFOUND…) in `cause`. */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return `network error ${cause.code}`;
  if (typeof cause?.message === 'string') return `network error: ${cause.message}`;
  return err instanceof Error ? `network error: ${err.message}` : 'network error';
}

/** https only, except plain http to a loopback address (local development and tests). */
function assertFetchableUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} must be an absolute URL`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error(`${name} must use https (plain http is accepted only for localhost)`);
  }
  return value;
}

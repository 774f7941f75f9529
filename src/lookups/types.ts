/**
 * Lookups: named external data sources a rule can read as `lookup.<name>` in CEL. This file holds
 * the validated definitions (from the rules file's `lookups:` map), the per-request outcome and the
 * events interface the app wires to metrics. Pure types, no I/O.
 */
import type { JsonValue } from '../hook/types';
import type { CompiledExpression } from '../rules/cel';
import type { CompiledPattern } from '../rules/regex';
import type { PreopenResult } from './http-client';

export type LookupType = 'http' | 'oktaGroups';
export const LOOKUP_TYPES: readonly LookupType[] = ['http', 'oktaGroups'];

/** Literal text with `{CEL}` placeholders, compiled once at load time. */
export interface Template {
  /** As written in the rules file; safe to log and to put on spans (it holds no request data). */
  source: string;
  parts: readonly (string | CompiledExpression)[];
}

export interface CacheSettings {
  /** False: every call goes upstream (concurrent identical calls are still coalesced). */
  enabled: boolean;
  maxEntries: number;
  /** How long a value is fresh. */
  ttlMs: number;
  /** After `ttlMs`, a value is still served for this long while one background call refreshes it. */
  staleWhileRevalidateMs: number;
  /** After `ttlMs`, a value is still served for this long when the upstream fails (or its breaker is open). */
  staleIfErrorMs: number;
  /** Freshness of "nothing": 404, 204, or an empty result (null or []). */
  negativeTtlMs: number;
}

export type BreakerSettings =
  | { kind: 'consecutive'; failures: number; halfOpenAfterMs: number }
  | { kind: 'sampling'; failureRatio: number; windowMs: number; minimumRps: number; halfOpenAfterMs: number };

export interface ConcurrencySettings {
  /** Upstream calls in flight at once for this lookup. */
  limit: number;
  /** Calls waiting for a slot; beyond it they fail at once (`rejected`). */
  queue: number;
}

interface LookupDefinitionBase {
  name: string;
  type: LookupType;
  description?: string;
  timeoutMs: number;
  cache: CacheSettings;
  breaker: BreakerSettings;
  concurrency: ConcurrencySettings;
  /** PEM file with the CA(s) to trust instead of the public roots. */
  caFile?: string;
  maxResponseBytes: number;
  /** Stable hash of the definition as written: an unchanged lookup keeps its cache and breaker across reloads. */
  fingerprint: string;
  /** Request variables the lookup's expressions read. */
  variables: ReadonlySet<string>;
}

export type HttpAuth = { kind: 'bearer'; tokenFile: string } | { kind: 'header'; header: string; valueFile: string };

export interface HttpLookupDefinition extends LookupDefinitionBase {
  type: 'http';
  method: 'GET' | 'POST';
  /** Placeholders are percent-encoded; the origin is static (checked at load time). */
  url: Template;
  /** That static origin (`https://host:port`). */
  origin: string;
  headers: readonly { name: string; value: Template }[];
  /** JSON request body (POST only). */
  body?: CompiledExpression;
  auth?: HttpAuth;
  /** Path into the JSON response (`data.items`, `roles.0`); a missing path gives null. */
  extract?: readonly string[];
}

export type OktaAuth =
  | { kind: 'apiToken'; tokenFile: string }
  | { kind: 'privateKeyJwt'; clientId: string; privateKeyFile: string; keyId?: string; algorithm?: string; scopes: readonly string[] };

export interface OktaGroupsLookupDefinition extends LookupDefinitionBase {
  type: 'oktaGroups';
  /** `https://example.okta.com` (origin only). */
  orgUrl: string;
  /** CEL giving the Okta user id (default: `user.id`, null without a user); null or "" means no call and a null value. */
  userId: CompiledExpression;
  auth: OktaAuth;
  /** Both must match when both are set. */
  filter: { prefix?: string; regex?: CompiledPattern };
  /** `names`: list of group names; `objects`: list of {id, name, type}. */
  result: 'names' | 'objects';
  pageSize: number;
  maxPages: number;
}

export type LookupDefinition = HttpLookupDefinition | OktaGroupsLookupDefinition;

/** Cache outcome of one resolution; closed set, used as a metric label. */
export type CacheResult = 'hit' | 'miss' | 'stale' | 'negative_hit' | 'coalesced';
/** Outcome of one upstream call (or of its fail-fast); closed set, used as a metric label. */
export type CallResult = 'success' | 'error' | 'timeout' | 'circuit_open' | 'rejected';
export type CircuitStateName = 'closed' | 'half_open' | 'open';
export const CIRCUIT_STATE_VALUE: Record<CircuitStateName, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * What one lookup gave one request.
 * - `success`: a value from upstream or cache; `not_found`: 404/empty (value null);
 * - `skipped`: nothing to look up (e.g. no user), value null, no call;
 * - the others are failures; with stale-if-error the value is still served (`ok`, `stale: 'if_error'`).
 */
export type LookupStatus = 'success' | 'not_found' | 'skipped' | 'error' | 'timeout' | 'circuit_open' | 'rejected';

export interface LookupOutcome {
  lookup: string;
  type: LookupType;
  /** True when `value` can be used (fresh, cached, stale or a null for not_found/skipped). */
  ok: boolean;
  value?: JsonValue;
  status: LookupStatus;
  /** Absent when nothing was looked up (skipped, or the request could not be built). */
  cache?: CacheResult;
  /** Why a stale value was served. */
  stale?: 'while_revalidate' | 'if_error';
  /** Upstream HTTP status when this resolution led an upstream call. */
  httpStatus?: number;
  durationMs: number;
  /** Why it failed; never contains request data, URLs or credentials. */
  error?: string;
}

export interface LookupCallEvent {
  lookup: string;
  type: LookupType;
  result: CallResult;
  seconds: number;
  /** A stale-while-revalidate refresh no request waited for. */
  background: boolean;
}

/**
 * Observability hooks, wired by the app to Prometheus (see `lookupMetricsEvents`). Called
 * synchronously on the request path: implementations must be cheap and must not throw.
 */
export interface LookupEvents {
  /** One upstream call finished, or failed fast (circuit open, concurrency limit). */
  call?(event: LookupCallEvent): void;
  /** One resolution, by cache outcome. */
  cache?(event: { lookup: string; result: CacheResult }): void;
  /** Breaker state changed (also reported once when the lookup is created). */
  circuit?(event: { lookup: string; state: CircuitStateName }): void;
  /** A reload removed the lookup: drop its per-lookup state (e.g. the breaker gauge, so no alert stays on). */
  removed?(event: { lookup: string }): void;
  /** A connection opened ahead of the first call was opened, failed to open, used, expired unused, or closed by the upstream. */
  preopened?(event: { lookup: string; result: PreopenResult }): void;
}

/** Evaluation context for the lookups' CEL expressions: the rules' `RequestContext`. */
export type LookupContext = Record<string, unknown>;

/** A lookup's files could not be read or used (missing secret, bad key or CA). */
export class LookupSetupError extends Error {
  override name = 'LookupSetupError';
  readonly errors: readonly string[];

  constructor(errors: readonly string[]) {
    super(errors.length === 1 ? errors[0] : `${errors.length} lookup setup errors:\n${errors.join('\n')}`);
    this.errors = errors;
  }
}

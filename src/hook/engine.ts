/**
 * The seam between the hook (HTTP, Okta envelope, response building) and whatever decides the
 * claims (the rules engine). The hook asks the provider for the current engine on every call, so a
 * hot reload swaps the engine atomically between requests.
 */
import type { LookupOutcome } from '../lookups/types';
import type { Decision } from './decision';
import type { JsonValue, TokenHookEvent } from './types';

export type RuleResult = 'matched' | 'not_matched' | 'error';

export interface RuleOutcome {
  rule: string;
  result: RuleResult;
  /** Value of the `when` condition (true when absent); undefined when it failed. */
  condition?: boolean;
  /** Error message for `result: 'error'` (never contains request data). */
  error?: string;
  /** What the rule's `onError` did with an error: skip the rule or deny the token. */
  onError?: 'skip' | 'deny';
  durationMs?: number;
}

export interface Evaluation {
  decision: Decision;
  rules: RuleOutcome[];
  /** Non-sensitive details the engine wants in `debugContext` (e.g. lookup timings). */
  debug?: Record<string, JsonValue>;
  /** Lookups resolved for this call (shadow rules reuse them). */
  lookups?: readonly LookupOutcome[];
  /** Rule set (scope) selected for this call, when the rules declare scoped sets. */
  ruleSet?: string;
}

export interface EvaluateOptions {
  /** Aborted when the request deadline expires; engines must stop outstanding I/O. */
  signal?: AbortSignal;
  /** Lookups already resolved for this call by another engine with identical definitions (shadow rules). */
  resolved?: ReadonlyMap<string, LookupOutcome>;
}

export interface ClaimsEngine {
  /** Short content hash of the loaded configuration; shown in /readyz, metrics and debugContext. */
  readonly version: string;
  /**
   * A plain value when the call needed no I/O (most calls: no lookup, or every lookup's rule ruled
   * out by its condition), so the hook skips the deadline race and its timer; a promise otherwise.
   */
  evaluate(event: TokenHookEvent, options?: EvaluateOptions): Evaluation | Promise<Evaluation>;
  /** Lookup name -> definition fingerprint: outcomes are shared only between identical definitions. */
  readonly lookupFingerprints?: ReadonlyMap<string, string>;
}

/** Returns the engine to use for this request (hot-reloadable). */
export type EngineProvider = () => ClaimsEngine;

/** The engine used when no rules file is configured: every call is answered with no change. */
export const NO_RULES_ENGINE: ClaimsEngine = Object.freeze({
  version: 'none',
  evaluate: (): Evaluation => ({ decision: { changes: [], lifetimes: [] }, rules: [] }),
});

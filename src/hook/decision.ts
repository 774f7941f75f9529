/**
 * What the claims engine (static config today, rules tomorrow) decides for one hook call, before it
 * is turned into Okta commands by the response builder. The builder, not the engine, is responsible
 * for Okta-safety: reserved claims, tokens not minted, add-vs-replace, remove-only-if-present,
 * lifetime range, JSON-Pointer escaping and the response size cap.
 */
import type { JsonValue, TokenKind } from './types';

/** Set or remove one top-level claim in one token. */
export type ClaimChange =
  | { kind: 'set'; token: TokenKind; claim: string; value: JsonValue; rule?: string }
  | { kind: 'remove'; token: TokenKind; claim: string; rule?: string };

export interface LifetimeChange {
  token: TokenKind;
  seconds: number;
  rule?: string;
}

export interface Decision {
  /** When set, Okta is told to refuse issuance; `changes` are ignored. */
  deny?: { summary: string; rule?: string };
  /** Applied in order; for the same token and claim the later change wins. */
  changes: ClaimChange[];
  lifetimes: LifetimeChange[];
}

/** Why the builder left a requested change out of the response. Closed set: used as a metric label. */
export type SkipReason =
  | 'token_not_minted'
  | 'reserved_claim'
  | 'claim_absent'
  | 'lifetime_out_of_range'
  | 'invalid_claim_name'
  | 'overridden'
  | 'null_value'
  | 'response_too_large';

export interface SkippedChange {
  token: TokenKind;
  claim: string;
  reason: SkipReason;
  rule?: string;
}

/** An operation that made it into the response, with the rule that asked for it. */
/** `claim` value used for lifetime changes in applied/skipped entries. */
export const LIFETIME_TARGET = '/token/lifetime/expiration';

export interface AppliedOperation {
  token: TokenKind;
  /** `lifetime` is Okta's `replace /token/lifetime/expiration`. */
  op: 'add' | 'replace' | 'remove' | 'lifetime';
  claim: string;
  rule?: string;
}

export const EMPTY_DECISION: Decision = Object.freeze({ changes: [], lifetimes: [] }) as Decision;

/**
 * What the claims engine (static config today, rules tomorrow) decides for one hook call, before it
 * is turned into Okta commands by the response builder. The builder, not the engine, is responsible
 * for Okta-safety: reserved claims, tokens not minted, add-vs-replace, remove-only-if-present,
 * lifetime range, JSON-Pointer escaping and the response size cap.
 */
import type { JsonValue, TokenKind } from './types';

/**
 * Where inside an existing claim a change applies (absent: the claim itself). Okta patches members
 * of object claims and elements of array claims, but only when the parent already exists.
 */
export interface ClaimTarget {
  /** Member names below the claim: `['department']`, `['address', 'city']`. */
  member?: readonly string[];
  /** Element of the array at `claim`/`member` (replace or remove by position). */
  index?: number;
  /** Add `value` as a new last element of the array at `claim`/`member`. */
  append?: true;
}

/** Set or remove one claim (or a member or element of one, see `at`) in one token. */
export type ClaimChange =
  | { kind: 'set'; token: TokenKind; claim: string; value: JsonValue; rule?: string; at?: ClaimTarget }
  | { kind: 'remove'; token: TokenKind; claim: string; rule?: string; at?: ClaimTarget };

const PLAIN_MEMBER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** How a change's target is shown: `locale`, `employee_profile.department`, `preferred_clinics[+]`, `preferred_clinics[1]`. */
export function targetLabel(claim: string, at: ClaimTarget | undefined): string {
  if (!at) return claim;
  let label = claim;
  for (const member of at.member ?? []) label += PLAIN_MEMBER.test(member) ? `.${member}` : `[${JSON.stringify(member)}]`;
  if (at.append) label += '[+]';
  else if (at.index !== undefined) label += `[${at.index}]`;
  return label;
}

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
  | 'response_too_large'
  /** A member or element change whose parent is not in the token (or is not an object/array). */
  | 'parent_missing'
  /** An element change whose index is past the end of the array. */
  | 'index_out_of_range'
  /** A member or element change to a claim another change sets or removes as a whole. */
  | 'claim_replaced';

export interface SkippedChange {
  token: TokenKind;
  /** The claim, or the member/element label (`targetLabel`). */
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
  /** The claim, or the member/element label (`targetLabel`). */
  claim: string;
  rule?: string;
}

export const EMPTY_DECISION: Decision = Object.freeze({ changes: [], lifetimes: [] }) as Decision;

/**
 * Turns a `Decision` into the body Okta accepts. This is the single place that knows Okta's patch
 * rules, because one bad operation makes Okta discard the *whole* response (contract §2.2, §2.6):
 * - a command only for a token that is being minted (`data.identity` / `data.access` present);
 * - `replace` for a claim already in that token, `add` otherwise; `remove` only when present;
 * - never a reserved claim (per token type; `aud`/`sub` are modifiable in access tokens only);
 * - lifetime only within 300..86400 seconds;
 * - claim names JSON-Pointer escaped (`~` -> `~0`, `/` -> `~1`);
 * - members and elements of existing claims only when their parent is in the token (an object for
 *   a member, an array for an element), indexes within the array, element removals from the
 *   highest index down and appends last (so earlier operations never shift a later one's index),
 *   and never together with a change of the whole claim;
 * - the serialized response stays under 256 KB.
 * What cannot be emitted safely is reported as a `SkippedChange` with a closed-set reason.
 */
import {
  LIFETIME_TARGET,
  targetLabel,
  type AppliedOperation,
  type ClaimChange,
  type Decision,
  type LifetimeChange,
  type SkippedChange,
  type SkipReason,
} from './decision';
import type { Evaluation } from './engine';
import type { ClaimsMap, JsonValue, PatchCommand, PatchOperation, TokenHookEvent, TokenHookResponse, TokenKind } from './types';

const BOTH = ['acr', 'auth_time', 'cid', 'cnf', 'exp', 'groups', 'iat', 'iss', 'jti', 'sid', 'token_type', 'ver'];
const ID_ONLY = [
  'active', 'aid', 'amr', 'app_id', 'app_type', 'at_hash', 'aud', 'c_hash', 'client_id',
  'client_ip', 'client_req_id', 'client_type', 'client_user_agent',
  'device_compliance', 'device_id', 'device_known', 'device_managed', 'device_name', 'device_trust',
  'did', 'dst', 'group', 'hotk', 'idp', 'idp_iss', 'mac_key', 'may_act', 'nonce', 'oid',
  'okta_emailVerified', 'okta_lastUpdated', 'orig', 'permissions', 'purpose',
  'pwd_exp_days', 'pwd_exp_time', 'rid', 'role', 'scope', 'scopes', 'sub', 'term', 'user_ip',
];
const ACCESS_ONLY = ['as_uri', 'authorization_details', 'rpt', 'rsi', 'scp', 'uid', 'username'];

/** Claims Okta refuses to let a hook add, replace or remove, per token (contract §2.3). */
export const RESERVED_CLAIMS: Readonly<Record<TokenKind, ReadonlySet<string>>> = Object.freeze({
  identity: new Set([...BOTH, ...ID_ONLY]),
  access: new Set([...BOTH, ...ACCESS_ONLY]),
});

export function isReservedClaim(token: TokenKind, claim: string): boolean {
  return RESERVED_CLAIMS[token].has(claim);
}

export const MIN_LIFETIME_SECONDS = 300;
export const MAX_LIFETIME_SECONDS = 86400;
/** Okta's cap is 256 KB; keep a margin for our own framing. */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 - 1024;

const COMMAND_TYPE: Record<TokenKind, PatchCommand['type']> = {
  identity: 'com.okta.identity.patch',
  access: 'com.okta.access.patch',
};

/** RFC 6901 escaping of one reference token. */
export function escapeJsonPointer(segment: string): string {
  if (segment.indexOf('~') === -1 && segment.indexOf('/') === -1) return segment;
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export type BuildOutcome = 'patched' | 'unchanged' | 'denied';

export interface BuildOptions {
  /** Add `debugContext` (rules version, matched rules, skipped changes) to the response. */
  debugContext: boolean;
  /** Engine version shown in debugContext. */
  version?: string;
  maxBytes?: number;
  /** Extra non-sensitive debug entries (e.g. timings). */
  debug?: Record<string, JsonValue>;
}

export interface BuildResult {
  response: TokenHookResponse;
  applied: AppliedOperation[];
  skipped: SkippedChange[];
  /** `response` serialized (what goes on the wire), and its size in bytes. */
  json: string;
  bytes: number;
  outcome: BuildOutcome;
}

function mintedClaims(event: TokenHookEvent, token: TokenKind): ClaimsMap | undefined {
  const minted = event.data[token];
  if (!minted || typeof minted !== 'object') return undefined;
  const claims = minted.claims;
  return claims && typeof claims === 'object' && !Array.isArray(claims) ? claims : {};
}

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

interface PendingOp {
  token: TokenKind;
  op: PatchOperation;
  applied: AppliedOperation;
}

/** A member/element operation and where it must go: sets and replaces, then removals (highest index first), then appends. */
interface NestedOp extends PendingOp {
  group: 0 | 1 | 2;
  /** Pointer of the array (removals by index are ordered within it). */
  array?: string;
  index?: number;
}

/** Identity of a change's target: the same member changed twice is overridden, a member and its claim are not the same target. */
const targetKey = (change: ClaimChange): string => (change.at ? `${change.token}\u0000${change.claim}\u0000${JSON.stringify(change.at)}` : `${change.token}\u0000${change.claim}`);

/** Keeps the last change per (token, target); earlier ones are reported as `overridden`. */
function lastChangePerClaim(changes: readonly ClaimChange[], skipped: SkippedChange[]): ClaimChange[] {
  const lastIndex = new Map<string, number>();
  changes.forEach((change, index) => lastIndex.set(targetKey(change), index));
  const kept: ClaimChange[] = [];
  changes.forEach((change, index) => {
    if (lastIndex.get(targetKey(change)) === index) kept.push(change);
    else skipped.push(skipEntry(change.token, targetLabel(change.claim, change.at), 'overridden', change.rule));
  });
  return kept;
}

const isObject = (value: unknown): value is Record<string, JsonValue> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Plans a member or element change against the claims of the request; a string is the reason to skip it. */
function planNestedChange(change: ClaimChange & { at: NonNullable<ClaimChange['at']> }, claims: ClaimsMap): NestedOp | SkipReason {
  const { at } = change;
  if (!hasOwn(claims, change.claim)) return 'parent_missing';
  const members = at.member ?? [];
  const elementChange = at.append === true || at.index !== undefined;
  const parents = elementChange ? members : members.slice(0, -1);
  let node: JsonValue = claims[change.claim] as JsonValue;
  for (const member of parents) {
    if (!isObject(node) || !hasOwn(node, member)) return 'parent_missing';
    node = node[member] as JsonValue;
  }
  const pointer = `/claims/${[change.claim, ...parents].map(escapeJsonPointer).join('/')}`;
  const label = targetLabel(change.claim, at);
  const make = (op: PatchOperation, group: NestedOp['group'], extra: Partial<NestedOp> = {}): NestedOp => ({
    token: change.token,
    op,
    applied: withRule<AppliedOperation>({ token: change.token, op: op.op, claim: label }, change.rule),
    group,
    ...extra,
  });
  if (elementChange) {
    if (!Array.isArray(node)) return 'parent_missing';
    if (at.append) return change.kind === 'set' ? make({ op: 'add', path: `${pointer}/-`, value: change.value }, 2) : 'invalid_claim_name';
    const index = at.index as number;
    if (change.kind === 'remove') return index < node.length ? make({ op: 'remove', path: `${pointer}/${index}` }, 1, { array: pointer, index }) : 'index_out_of_range';
    if (index < node.length) return make({ op: 'replace', path: `${pointer}/${index}`, value: change.value }, 0);
    // Just past the end is an append; sent as `-` because removals before it shorten the array.
    return index === node.length ? make({ op: 'add', path: `${pointer}/-`, value: change.value }, 2) : 'index_out_of_range';
  }
  const leaf = members.at(-1);
  if (leaf === undefined || !isObject(node)) return 'parent_missing';
  const path = `${pointer}/${escapeJsonPointer(leaf)}`;
  if (change.kind === 'remove') return hasOwn(node, leaf) ? make({ op: 'remove', path }, 1) : 'claim_absent';
  return make({ op: hasOwn(node, leaf) ? 'replace' : 'add', path, value: change.value }, 0);
}

/** Sets and replaces first, then removals (per array, highest index first), then appends. */
function orderNested(ops: NestedOp[]): NestedOp[] {
  return ops
    .map((op, position) => ({ op, position }))
    .sort((a, b) => {
      if (a.op.group !== b.op.group) return a.op.group - b.op.group;
      if (a.op.group === 1 && a.op.array !== undefined && a.op.array === b.op.array) return (b.op.index ?? 0) - (a.op.index ?? 0);
      return a.position - b.position;
    })
    .map(({ op }) => op);
}

function lastLifetimePerToken(lifetimes: readonly LifetimeChange[], skipped: SkippedChange[]): LifetimeChange[] {
  const byToken = new Map<TokenKind, LifetimeChange>();
  for (const lifetime of lifetimes) {
    const previous = byToken.get(lifetime.token);
    if (previous) skipped.push(skipEntry(previous.token, LIFETIME_TARGET, 'overridden', previous.rule));
    byToken.set(lifetime.token, lifetime);
  }
  return [...byToken.values()];
}

function withRule<T extends { rule?: string }>(entry: T, rule: string | undefined): T {
  if (rule !== undefined) entry.rule = rule;
  return entry;
}

function skipEntry(token: TokenKind, claim: string, reason: SkipReason, rule: string | undefined): SkippedChange {
  return withRule<SkippedChange>({ token, claim, reason }, rule);
}

function planClaimChange(change: ClaimChange, claims: ClaimsMap): PendingOp {
  const path = `/claims/${escapeJsonPointer(change.claim)}`;
  let op: PatchOperation;
  if (change.kind === 'remove') op = { op: 'remove', path };
  else op = { op: hasOwn(claims, change.claim) ? 'replace' : 'add', path, value: change.value };
  const applied = withRule<AppliedOperation>({ token: change.token, op: op.op, claim: change.claim }, change.rule);
  return { token: change.token, op, applied };
}

function debugContextFor(evaluation: Evaluation, skipped: SkippedChange[], options: BuildOptions): Record<string, JsonValue> {
  const matched = evaluation.rules.filter((r) => r.result === 'matched').map((r) => r.rule);
  const errors = evaluation.rules.filter((r) => r.result === 'error').map((r) => r.rule);
  const debug: Record<string, JsonValue> = { matchedRules: matched.slice(0, 50) };
  if (options.version) debug.rulesVersion = options.version;
  if (errors.length > 0) debug.ruleErrors = errors.slice(0, 50);
  if (skipped.length > 0) {
    debug.skipped = skipped.slice(0, 50).map((s) => `${s.token}:${s.claim}:${s.reason}`);
  }
  if (evaluation.debug) Object.assign(debug, evaluation.debug);
  if (options.debug) Object.assign(debug, options.debug);
  return debug;
}

/** Builds Okta's response for an evaluation. Pure: no I/O, no clock. */
export function buildResponse(event: TokenHookEvent, evaluation: Evaluation, options: BuildOptions): BuildResult {
  const decision: Decision = evaluation.decision;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const skipped: SkippedChange[] = [];

  if (decision.deny) {
    const response: TokenHookResponse = { error: { errorSummary: decision.deny.summary } };
    if (options.debugContext) response.debugContext = debugContextFor(evaluation, skipped, options);
    return finish(response, [], skipped, 'denied');
  }

  const pending: PendingOp[] = [];
  const nested: NestedOp[] = [];
  const kept = lastChangePerClaim(decision.changes, skipped);
  // Claims changed as a whole: a change to one of their members or elements is left out (only
  // computed when some change targets a member or element: most calls have none).
  let whole: Set<string> | undefined;
  if (kept.some((change) => change.at)) {
    whole = new Set();
    for (const change of kept) if (!change.at) whole.add(`${change.token}\u0000${change.claim}`);
  }
  for (const change of kept) {
    const claims = mintedClaims(event, change.token);
    const skip = (reason: SkipReason): void => {
      skipped.push(skipEntry(change.token, change.at ? targetLabel(change.claim, change.at) : change.claim, reason, change.rule));
    };
    if (!claims) skip('token_not_minted');
    else if (change.claim.length === 0) skip('invalid_claim_name');
    else if (isReservedClaim(change.token, change.claim)) skip('reserved_claim');
    else if (change.kind === 'set' && (change.value === null || change.value === undefined)) skip('null_value');
    else if (change.at) {
      if (whole?.has(`${change.token}\u0000${change.claim}`)) skip('claim_replaced');
      else {
        const planned = planNestedChange(change as ClaimChange & { at: NonNullable<ClaimChange['at']> }, claims);
        if (typeof planned === 'string') skip(planned);
        else nested.push(planned);
      }
    } else if (change.kind === 'remove' && !hasOwn(claims, change.claim)) skip('claim_absent');
    else pending.push(planClaimChange(change, claims));
  }
  if (nested.length > 0) pending.push(...orderNested(nested));
  for (const lifetime of lastLifetimePerToken(decision.lifetimes, skipped)) {
    const skip = (reason: SkipReason): void => {
      skipped.push(skipEntry(lifetime.token, LIFETIME_TARGET, reason, lifetime.rule));
    };
    if (!mintedClaims(event, lifetime.token)) skip('token_not_minted');
    else if (!Number.isInteger(lifetime.seconds) || lifetime.seconds < MIN_LIFETIME_SECONDS || lifetime.seconds > MAX_LIFETIME_SECONDS) {
      skip('lifetime_out_of_range');
    } else {
      const op: PatchOperation = { op: 'replace', path: '/token/lifetime/expiration', value: lifetime.seconds };
      const applied = withRule<AppliedOperation>({ token: lifetime.token, op: 'lifetime', claim: LIFETIME_TARGET }, lifetime.rule);
      pending.push({ token: lifetime.token, op, applied });
    }
  }

  // Serialize once; only a response over Okta's cap pays for fitting operation by operation.
  let result = assemble(pending, evaluation, skipped, options);
  if (result.bytes > maxBytes) result = assemble(fitUnderCap(pending, skipped, maxBytes, evaluation, options), evaluation, skipped, options);
  return result;
}

function assemble(ops: PendingOp[], evaluation: Evaluation, skipped: SkippedChange[], options: BuildOptions): BuildResult {
  const byToken: Record<TokenKind, PatchOperation[]> = { identity: [], access: [] };
  for (const item of ops) byToken[item.token].push(item.op);
  const commands: PatchCommand[] = [];
  for (const token of ['identity', 'access'] as const) {
    if (byToken[token].length > 0) commands.push({ type: COMMAND_TYPE[token], value: byToken[token] });
  }
  const response: TokenHookResponse = { commands };
  if (options.debugContext) response.debugContext = debugContextFor(evaluation, skipped, options);
  return finish(response, ops.map((item) => item.applied), skipped, commands.length > 0 ? 'patched' : 'unchanged');
}

/** Keeps operations in order while they fit under the cap; the rest are skipped as `response_too_large`. */
function fitUnderCap(pending: PendingOp[], skipped: SkippedChange[], maxBytes: number, evaluation: Evaluation, options: BuildOptions): PendingOp[] {
  // Room for the envelope and a debugContext that may list up to 50 skipped changes.
  const debugBytes = options.debugContext ? Buffer.byteLength(JSON.stringify(debugContextFor(evaluation, skipped, options))) + 50 * 160 : 0;
  let budget = maxBytes - 200 - debugBytes;
  const kept: PendingOp[] = [];
  for (const item of pending) {
    const bytes = Buffer.byteLength(JSON.stringify(item.op)) + 1;
    if (bytes > budget) {
      skipped.push(skipEntry(item.token, item.applied.claim, 'response_too_large', item.applied.rule));
      continue;
    }
    budget -= bytes;
    kept.push(item);
  }
  return kept;
}

function finish(response: TokenHookResponse, applied: AppliedOperation[], skipped: SkippedChange[], outcome: BuildOutcome): BuildResult {
  const json = JSON.stringify(response);
  return { response, json, applied, skipped, bytes: Buffer.byteLength(json), outcome };
}

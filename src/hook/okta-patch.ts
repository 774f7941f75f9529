/**
 * What Okta does with a hook response, for `preview` and `test`: it applies the commands to the
 * tokens of the request with Okta's documented semantics (contract §2.2-§2.6) and reports the
 * tokens Okta would mint, a deny, or why Okta would discard the whole response.
 *
 * This is deliberately written from the contract, not from the response builder: it is the
 * builder's oracle. One bad operation anywhere (reserved claim, `replace`/`remove` of something
 * absent, a missing parent, a bad index, a non-null `remove` value, a command for a token that is
 * not minted, a lifetime out of 300..86400, a response over 256 KB) makes Okta drop every command,
 * so the tokens are issued unchanged. Pure: no I/O.
 */
import { isReservedClaim } from './builder';
import type { ClaimsMap, JsonValue, TokenHookEvent, TokenKind } from './types';
import { cloneJson, isJsonObject } from '../shared/values';

/** Okta's cap on a hook response. */
export const OKTA_MAX_RESPONSE_BYTES = 256 * 1024;
/** `error_description` Okta uses when `errorSummary` is missing. */
export const OKTA_DEFAULT_ERROR = 'The callback service returned an error';

export interface MintedToken {
  claims: ClaimsMap;
  /** `token.lifetime.expiration`, seconds (absent when the request does not say). */
  lifetime?: number;
}

export type MintedTokens = Partial<Record<TokenKind, MintedToken>>;

export type OktaResult =
  | { outcome: 'patched' | 'unchanged'; tokens: MintedTokens }
  | { outcome: 'denied'; message: string }
  /** Okta discards the whole response and issues the tokens unchanged (System Log only). */
  | { outcome: 'rejected'; reason: string; tokens: MintedTokens };

const COMMAND_TOKEN: Record<string, TokenKind> = { 'com.okta.identity.patch': 'identity', 'com.okta.access.patch': 'access' };
const LIFETIME_PATH = '/token/lifetime/expiration';

/** The tokens the request says Okta is minting (deep copies). */
export function mintedTokens(event: TokenHookEvent): MintedTokens {
  const tokens: MintedTokens = {};
  for (const kind of ['identity', 'access'] as const) {
    const token = event.data[kind];
    if (!isJsonObject(token)) continue;
    const claims = isJsonObject(token.claims) ? (cloneJson(token.claims) as ClaimsMap) : {};
    const minted: MintedToken = { claims };
    const expiration = token.token?.lifetime?.expiration;
    if (typeof expiration === 'number') minted.lifetime = expiration;
    tokens[kind] = minted;
  }
  return tokens;
}

class Rejected extends Error {}

/** RFC 6901 reference tokens of `/claims/...`; `~` must be followed by 0 or 1. */
function pointerSegments(path: string): string[] {
  return path
    .slice(1)
    .split('/')
    .map((segment) => {
      if (/~(?![01])/.test(segment)) throw new Rejected(`invalid JSON Pointer escape in ${JSON.stringify(path)}`);
      return segment.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

function arrayIndex(segment: string, length: number, allowEnd: boolean, path: string): number {
  if (segment === '-' && allowEnd) return length;
  if (!/^(0|[1-9][0-9]*)$/.test(segment)) throw new Rejected(`${JSON.stringify(path)}: "${segment}" is not an array index`);
  const index = Number(segment);
  if (index > length || (!allowEnd && index === length)) throw new Rejected(`${JSON.stringify(path)}: index ${index} is out of range (array of ${length})`);
  return index;
}

function applyOperation(kind: TokenKind, token: MintedToken, original: ClaimsMap, operation: unknown): void {
  if (!isJsonObject(operation)) throw new Rejected('an operation is not an object');
  const { op, path } = operation;
  if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new Rejected(`unknown op ${JSON.stringify(op)}`);
  if (typeof path !== 'string') throw new Rejected('an operation has no path');
  const hasValue = hasOwn(operation, 'value') && operation.value !== undefined;
  if (op === 'remove' && hasValue && operation.value !== null) throw new Rejected(`remove ${JSON.stringify(path)} has a non-null value`);
  if (op !== 'remove' && !hasValue) throw new Rejected(`${op} ${JSON.stringify(path)} has no value`);
  const value = operation.value as JsonValue;

  if (path === LIFETIME_PATH) {
    if (op !== 'replace') throw new Rejected(`the lifetime can only be replaced, not ${op}`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 300 || value > 86400) {
      throw new Rejected(`lifetime ${JSON.stringify(value)} is outside 300..86400 seconds`);
    }
    token.lifetime = value;
    return;
  }
  if (!path.startsWith('/claims/')) throw new Rejected(`path ${JSON.stringify(path)} is neither /claims/... nor ${LIFETIME_PATH}`);
  const segments = pointerSegments(path.slice('/claims'.length));
  const claim = segments[0] as string;
  if (claim.length === 0) throw new Rejected(`empty claim name in ${JSON.stringify(path)}`);
  if (isReservedClaim(kind, claim)) throw new Rejected(`"${claim}" is reserved in the ${kind === 'identity' ? 'ID' : 'access'} token`);

  if (segments.length === 1) {
    if (op === 'add') {
      token.claims[claim] = cloneJson(value);
      return;
    }
    // replace/remove: the claim must be in the token of the request (and still there).
    if (!hasOwn(original, claim) || !hasOwn(token.claims, claim)) throw new Rejected(`${op} of "${claim}", which is not in the token`);
    if (op === 'replace') token.claims[claim] = cloneJson(value);
    else delete token.claims[claim];
    return;
  }

  // A member or element: every parent must already exist.
  let parent: JsonValue = token.claims[claim] as JsonValue;
  if (!hasOwn(token.claims, claim)) throw new Rejected(`${JSON.stringify(path)}: parent claim "${claim}" is not in the token`);
  for (const segment of segments.slice(1, -1)) {
    if (Array.isArray(parent)) parent = parent[arrayIndex(segment, parent.length, false, path)] as JsonValue;
    else if (isJsonObject(parent) && hasOwn(parent, segment)) parent = parent[segment] as JsonValue;
    else throw new Rejected(`${JSON.stringify(path)}: parent "${segment}" does not exist`);
  }
  const last = segments.at(-1) as string;
  if (Array.isArray(parent)) {
    const index = arrayIndex(last, parent.length, op === 'add', path);
    if (op === 'add') parent.splice(index, 0, cloneJson(value));
    else if (op === 'replace') parent[index] = cloneJson(value);
    else parent.splice(index, 1);
  } else if (isJsonObject(parent)) {
    if (op !== 'add' && !hasOwn(parent, last)) throw new Rejected(`${op} of ${JSON.stringify(path)}, which does not exist`);
    if (op === 'remove') delete parent[last];
    else parent[last] = cloneJson(value);
  } else {
    throw new Rejected(`${JSON.stringify(path)}: the parent is neither an object nor an array`);
  }
}

/** Applies a hook response the way Okta does. Never throws; never mutates `event` or `response`. */
export function applyOktaResponse(event: TokenHookEvent, response: unknown): OktaResult {
  /** Patched in place, command by command; discarded when any operation is rejected. */
  const tokens = mintedTokens(event);
  const rejected = (reason: string): OktaResult => ({ outcome: 'rejected', reason, tokens: mintedTokens(event) });
  if (!isJsonObject(response)) return rejected('the response is not a JSON object');
  if (Buffer.byteLength(JSON.stringify(response)) > OKTA_MAX_RESPONSE_BYTES) return rejected('the response is larger than 256 KB');
  if (response.error !== undefined && response.error !== null) {
    const summary = isJsonObject(response.error) && typeof response.error.errorSummary === 'string' ? response.error.errorSummary : OKTA_DEFAULT_ERROR;
    return { outcome: 'denied', message: summary };
  }
  if (response.commands === undefined || response.commands === null) return { outcome: 'unchanged', tokens };
  if (!Array.isArray(response.commands)) return rejected('"commands" is not an array');
  const originals = mintedTokens(event);
  let operations = 0;
  try {
    for (const command of response.commands) {
      if (!isJsonObject(command)) throw new Rejected('a command is not an object');
      const kind = typeof command.type === 'string' ? COMMAND_TOKEN[command.type] : undefined;
      if (!kind) throw new Rejected(`unknown command type ${JSON.stringify(command.type)}`);
      const token = tokens[kind];
      if (!token) throw new Rejected(`${String(command.type)} but no ${kind === 'identity' ? 'ID' : 'access'} token is being minted`);
      if (!Array.isArray(command.value)) throw new Rejected(`${String(command.type)}: "value" is not an array`);
      for (const operation of command.value) {
        applyOperation(kind, token, originals[kind]?.claims ?? {}, operation);
        operations++;
      }
    }
  } catch (err) {
    if (err instanceof Rejected) return rejected(err.message);
    throw err;
  }
  return { outcome: operations > 0 ? 'patched' : 'unchanged', tokens };
}

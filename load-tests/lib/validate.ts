/**
 * Is this HTTP answer something Okta would accept from a token inline hook?
 *
 * An independent, black-box reading of Okta's contract (shared reference, section 2), written
 * without looking at the service's builder so a regression there shows up under load. Pure module
 * (no k6 imports, no relative imports): jest tests it, the k6 scenario calls it per response.
 */

export const OKTA_RESPONSE_LIMIT_BYTES = 256 * 1024;
export const LIFETIME_PATH = '/token/lifetime/expiration';
export const LIFETIME_MIN_SECONDS = 300;
export const LIFETIME_MAX_SECONDS = 86400;

const COMMAND_TYPES = { 'com.okta.identity.patch': 'identity', 'com.okta.access.patch': 'access' } as const;
type CommandType = keyof typeof COMMAND_TYPES;

/** Claims Okta refuses to let a hook touch; one bad op discards the whole patch. */
const RESERVED_BOTH = ['acr', 'auth_time', 'cid', 'exp', 'groups', 'iat', 'iss', 'jti', 'sid', 'token_type', 'ver', 'cnf'];
const RESERVED_IDENTITY_ONLY = [
  'active', 'aid', 'amr', 'app_id', 'app_type', 'at_hash', 'aud', 'c_hash', 'client_id',
  'client_ip', 'client_req_id', 'client_type', 'client_user_agent',
  'device_compliance', 'device_id', 'device_known', 'device_managed', 'device_name', 'device_trust',
  'did', 'dst', 'group', 'hotk', 'idp', 'idp_iss', 'mac_key', 'may_act', 'nonce', 'oid',
  'okta_emailVerified', 'okta_lastUpdated', 'orig', 'permissions', 'purpose',
  'pwd_exp_days', 'pwd_exp_time', 'rid', 'role', 'scope', 'scopes', 'sub', 'term', 'user_ip',
];
const RESERVED_ACCESS_ONLY = ['as_uri', 'authorization_details', 'rpt', 'rsi', 'scp', 'uid', 'username'];

function toSet(names: string[]): Record<string, true> {
  const set: Record<string, true> = {};
  for (const name of names) set[name] = true;
  return set;
}
const RESERVED: Record<'identity' | 'access', Record<string, true>> = {
  identity: toSet(RESERVED_BOTH.concat(RESERVED_IDENTITY_ONLY)),
  access: toSet(RESERVED_BOTH.concat(RESERVED_ACCESS_ONLY)),
};

export type InvalidReason =
  | 'status'
  | 'body_not_json'
  | 'body_not_object'
  | 'body_too_large'
  | 'unknown_field'
  | 'commands_not_array'
  | 'command_shape'
  | 'command_type'
  | 'op'
  | 'path'
  | 'reserved_claim'
  | 'value_missing'
  | 'remove_with_value'
  | 'lifetime'
  | 'patch_without_identity'
  | 'patch_without_access'
  | 'error_shape'
  | 'debug_context'
  | 'expected_claim_missing';

export type Outcome = 'patched' | 'unchanged' | 'denied';

export type ValidationResult =
  | { ok: true; outcome: Outcome; operations: number }
  | { ok: false; reason: InvalidReason; detail: string };

/** Which tokens the request carried (a PreparedPayload's `tokens`), or the request event itself. */
export type SentPayload =
  | { identity: boolean; access: boolean }
  | { data?: { identity?: unknown; access?: unknown; [key: string]: unknown }; [key: string]: unknown };

export interface ValidateOptions {
  /** Every sent token must receive an add/replace of this claim (e.g. the example rules' `custom-claim`). */
  expectClaim?: { name: string; value?: string };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sentTokens(payload: SentPayload): { identity: boolean; access: boolean } {
  if ('data' in payload || !('identity' in payload)) {
    const data = (payload as { data?: Record<string, unknown> }).data;
    return { identity: isRecord(data?.identity), access: isRecord(data?.access) };
  }
  return { identity: payload.identity === true, access: payload.access === true };
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** RFC 6901 escaping, as Okta expects for URI-style claim names. */
export function escapeJsonPointer(segment: string): string {
  return segment.split('~').join('~0').split('/').join('~1');
}

function unescapeSegment(segment: string): string | undefined {
  if (/~[^01]|~$/.test(segment)) return undefined;
  return segment.split('~1').join('/').split('~0').join('~');
}

/** Top-level claim name of a `/claims/...` path, or undefined when the path is malformed. */
function claimOf(path: string): string | undefined {
  if (path.slice(0, 8) !== '/claims/') return undefined;
  const segments = path.slice(8).split('/');
  for (const segment of segments) {
    if (segment === '' || unescapeSegment(segment) === undefined) return undefined;
  }
  return unescapeSegment(segments[0] as string);
}

const fail = (reason: InvalidReason, detail: string): ValidationResult => ({ ok: false, reason, detail });

const TOP_LEVEL_FIELDS: Record<string, true> = { commands: true, error: true, debugContext: true };

export function validateOktaResponse(
  payload: SentPayload,
  status: number,
  body: string | null | undefined,
  options: ValidateOptions = {},
): ValidationResult {
  if (status !== 200) return fail('status', `HTTP ${status}, Okta skips the hook on anything but 200`);
  if (typeof body !== 'string' || body.length === 0) return fail('body_not_json', 'empty body');
  if (body.length * 3 >= OKTA_RESPONSE_LIMIT_BYTES && utf8Length(body) >= OKTA_RESPONSE_LIMIT_BYTES) {
    return fail('body_too_large', `body is ${utf8Length(body)} bytes, Okta's limit is ${OKTA_RESPONSE_LIMIT_BYTES}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return fail('body_not_json', 'body is not JSON');
  }
  if (!isRecord(parsed)) return fail('body_not_object', 'body is not a JSON object');
  for (const key of Object.keys(parsed)) {
    if (!TOP_LEVEL_FIELDS[key]) return fail('unknown_field', `unexpected top-level field "${key}"`);
  }

  if (parsed.debugContext !== undefined && !isRecord(parsed.debugContext)) {
    return fail('debug_context', 'debugContext must be an object');
  }

  let denied = false;
  if (parsed.error !== undefined) {
    const error = parsed.error;
    if (!isRecord(error)) return fail('error_shape', 'error must be an object');
    if (error.errorSummary !== undefined && typeof error.errorSummary !== 'string') {
      return fail('error_shape', 'error.errorSummary must be a string');
    }
    if (error.errorCauses !== undefined && !Array.isArray(error.errorCauses)) {
      return fail('error_shape', 'error.errorCauses must be an array');
    }
    denied = true;
  }

  const tokens = sentTokens(payload);
  const claimsSet = { identity: {} as Record<string, unknown>, access: {} as Record<string, unknown> };
  let operations = 0;

  if (parsed.commands !== undefined) {
    if (!Array.isArray(parsed.commands)) return fail('commands_not_array', 'commands must be an array');
    for (let c = 0; c < parsed.commands.length; c++) {
      const command: unknown = parsed.commands[c];
      if (!isRecord(command)) return fail('command_shape', `commands[${c}] is not an object`);
      for (const key of Object.keys(command)) {
        if (key !== 'type' && key !== 'value') return fail('command_shape', `commands[${c}] has unexpected field "${key}"`);
      }
      const type = command.type;
      if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(COMMAND_TYPES, type)) {
        return fail('command_type', `commands[${c}].type ${JSON.stringify(type)} is not identity.patch or access.patch`);
      }
      const token = COMMAND_TYPES[type as CommandType];
      if (token === 'identity' && !tokens.identity) {
        return fail('patch_without_identity', 'com.okta.identity.patch but the request carried no ID token');
      }
      if (token === 'access' && !tokens.access) {
        return fail('patch_without_access', 'com.okta.access.patch but the request carried no access token');
      }
      if (!Array.isArray(command.value)) return fail('command_shape', `commands[${c}].value must be an array`);

      for (let o = 0; o < command.value.length; o++) {
        const where = `commands[${c}].value[${o}]`;
        const op: unknown = command.value[o];
        if (!isRecord(op)) return fail('op', `${where} is not an object`);
        for (const key of Object.keys(op)) {
          if (key !== 'op' && key !== 'path' && key !== 'value') return fail('op', `${where} has unexpected field "${key}"`);
        }
        if (op.op !== 'add' && op.op !== 'replace' && op.op !== 'remove') {
          return fail('op', `${where}.op ${JSON.stringify(op.op)} is not add, replace or remove`);
        }
        if (typeof op.path !== 'string') return fail('path', `${where}.path is not a string`);
        const hasValue = Object.prototype.hasOwnProperty.call(op, 'value');

        if (op.path === LIFETIME_PATH) {
          if (op.op !== 'replace') return fail('lifetime', `${where}: the token lifetime can only be replaced`);
          const seconds = op.value;
          if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < LIFETIME_MIN_SECONDS || seconds > LIFETIME_MAX_SECONDS) {
            return fail('lifetime', `${where}: lifetime must be an integer between ${LIFETIME_MIN_SECONDS} and ${LIFETIME_MAX_SECONDS} seconds`);
          }
        } else {
          const claim = claimOf(op.path);
          if (claim === undefined) {
            return fail('path', `${where}.path ${JSON.stringify(op.path)} is neither /claims/<name>[/...] nor ${LIFETIME_PATH}`);
          }
          if (RESERVED[token][claim]) return fail('reserved_claim', `${where} touches reserved ${token} claim "${claim}"`);
          if (op.op === 'remove') {
            if (hasValue && op.value !== null) return fail('remove_with_value', `${where}: remove must not carry a value`);
          } else {
            if (!hasValue || op.value === undefined) return fail('value_missing', `${where}: ${op.op} needs a value`);
            if (op.path === `/claims/${escapeJsonPointer(claim)}`) claimsSet[token][claim] = op.value;
          }
        }
        operations++;
      }
    }
  }

  const expected = options.expectClaim;
  if (expected !== undefined) {
    for (const token of ['identity', 'access'] as const) {
      if (!tokens[token]) continue;
      if (!Object.prototype.hasOwnProperty.call(claimsSet[token], expected.name)) {
        return fail('expected_claim_missing', `${token} token did not get claim "${expected.name}"`);
      }
      if (expected.value !== undefined && claimsSet[token][expected.name] !== expected.value) {
        return fail('expected_claim_missing', `${token} claim "${expected.name}" is ${JSON.stringify(claimsSet[token][expected.name])}, expected ${JSON.stringify(expected.value)}`);
      }
    }
  }

  const outcome: Outcome = denied ? 'denied' : operations > 0 ? 'patched' : 'unchanged';
  return { ok: true, outcome, operations };
}

/** Parses `EXPECT_CLAIM` (`name` or `name=value`); empty means no expectation. */
export function parseExpectClaim(spec: string | undefined): ValidateOptions['expectClaim'] {
  if (spec === undefined || spec.trim() === '') return undefined;
  const eq = spec.indexOf('=');
  if (eq === -1) return { name: spec.trim() };
  const name = spec.slice(0, eq).trim();
  if (name === '') throw new Error('EXPECT_CLAIM must look like name or name=value');
  return { name, value: spec.slice(eq + 1) };
}

/**
 * CEL support for rules: one shared environment declaring the request variables, load-time
 * compilation (parse + type check, once per rules file), the JSON <-> CEL value conversions and
 * the AST walk that tells which variables (and later which `lookup.<name>`s) an expression reads.
 *
 * cel-js represents CEL `int` as BigInt and JS numbers as `double`; JSON integers from Okta are
 * therefore converted to BigInt on the way in (so `user.profile.age + 1` works), and CEL results
 * are converted back to JSON-safe values on the way out.
 */
import { Environment, type ASTNode, type ParseResult } from '@marcbachmann/cel-js';
import type { JsonValue } from '../hook/types';

/** A CEL variable available to rules, with the type the checker sees and its description in docs/rules/reference.md. */
export interface CelVariable {
  name: string;
  type: string;
  description: string;
}

/** Variables every rule can read; values are built per request by `RequestContext`. */
export const CEL_VARIABLES: readonly CelVariable[] = [
  { name: 'event', type: 'map<string, dyn>', description: 'the whole hook payload' },
  { name: 'request', type: 'map<string, dyn>', description: '`data.context.request` (empty map when absent)' },
  { name: 'params', type: 'map<string, string>', description: 'query parameters of `request.url.value` (first value of each)' },
  { name: 'protocol', type: 'map<string, dyn>', description: '`data.context.protocol.request` (empty map when absent)' },
  { name: 'client', type: 'map<string, dyn>', description: '`data.context.protocol.client` (`id` falls back to `client_id`)' },
  { name: 'issuer', type: 'string', description: '`data.context.protocol.issuer.uri` ("" when absent)' },
  { name: 'grantType', type: 'string', description: '`grant_type`, or derived from `response_type` ("" when unknown)' },
  { name: 'scopes', type: 'list<string>', description: 'granted scope names (keys of `data.access.scopes`)' },
  { name: 'requestedScopes', type: 'list<string>', description: 'scopes requested (`protocol.request.scope`, split)' },
  { name: 'user', type: 'dyn', description: '`data.context.user`, or null' },
  { name: 'session', type: 'dyn', description: '`data.context.session`, or null' },
  { name: 'identity', type: 'dyn', description: 'ID token claims, or null when no ID token is minted' },
  { name: 'access', type: 'dyn', description: 'access token claims, or null when no access token is minted' },
  { name: 'policy', type: 'map<string, dyn>', description: '`data.context.policy` (empty map when absent)' },
];

/** Values of the file's lookups, by name (`lookup.crm`); only the lookups a matching rule needs are resolved. */
export const LOOKUP_VARIABLE: CelVariable = {
  name: 'lookup',
  type: 'map<string, dyn>',
  description: 'values of the lookups the rule reads, by name (`lookup.crm`); see Lookups',
};

/** Parse-time limits: a rules file is configuration, not a program. */
const LIMITS = { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 };
export const MAX_EXPRESSION_LENGTH = 4096;

/**
 * Builds the environment rules are compiled in. `extraVariables` is the extension point for data
 * sources that are not part of the payload (e.g. `lookup`, declared as `map<string, dyn>`).
 */
export function createRulesEnvironment(extraVariables: readonly CelVariable[] = []): Environment {
  const env = new Environment({
    enableOptionalTypes: true,
    homogeneousAggregateLiterals: false,
    limits: LIMITS,
  });
  for (const variable of [...CEL_VARIABLES, ...extraVariables]) {
    env.registerVariable(variable.name, variable.type, { description: variable.description });
  }
  return env;
}

/** Names of the variables (root identifiers) and members of selected roots an expression reads. */
export interface ExpressionReferences {
  variables: ReadonlySet<string>;
  /**
   * Per root variable, the member names read with a static selector (`lookup.crm`,
   * `lookup.?crm`, `lookup["crm"]`); `'*'` when a member is selected dynamically.
   */
  members: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface CompiledExpression {
  source: string;
  /** Type inferred by the checker (`bool`, `string`, `dyn`...). */
  type: string;
  references: ExpressionReferences;
  run: ParseResult;
}

export type CompileResult = { ok: true; expression: CompiledExpression } | { ok: false; message: string };

/** Types that can never become a JSON claim value. */
const NON_JSON_TYPES = /^(bytes|google\.protobuf\.Timestamp|google\.protobuf\.Duration|type|optional)/;

/**
 * Parses and type-checks an expression. `expect: 'bool'` requires a boolean (or `dyn`, checked at
 * runtime); `expect: 'json'` rejects types that cannot be a JSON value.
 */
export function compileExpression(env: Environment, source: string, expect: 'bool' | 'json'): CompileResult {
  if (source.trim().length === 0) return { ok: false, message: 'empty CEL expression' };
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return { ok: false, message: `CEL expression longer than ${MAX_EXPRESSION_LENGTH} characters` };
  }
  let run: ParseResult;
  try {
    run = env.parse(source);
  } catch (err) {
    return { ok: false, message: `CEL syntax error: ${describeCelError(err, source)}` };
  }
  const checked = run.check();
  if (!checked.valid) {
    return { ok: false, message: `CEL type error: ${describeCelError(checked.error, source)}` };
  }
  const type = checked.type ?? 'dyn';
  if (expect === 'bool' && type !== 'bool' && type !== 'dyn') {
    return { ok: false, message: `must be a boolean CEL expression, but it returns ${type}` };
  }
  if (expect === 'json' && NON_JSON_TYPES.test(type)) {
    return { ok: false, message: `returns ${type}, which is not a JSON value (convert it, e.g. with string(...))` };
  }
  return { ok: true, expression: { source, type, references: collectReferences(run.ast), run } };
}

interface CelErrorLike {
  summary?: string;
  message?: string;
  range?: { start: number; end: number };
}

/** One-line description of a parse or type error: the summary and the column, no source dump. */
function describeCelError(err: unknown, source: string): string {
  const e = (err ?? {}) as CelErrorLike;
  const summary = e.summary ?? (e.message ? e.message.split('\n')[0] : 'invalid expression');
  const start = e.range?.start;
  if (typeof start !== 'number') return summary ?? 'invalid expression';
  const end = Math.max(e.range?.end ?? start, start);
  const snippet = source.slice(start, Math.min(end, start + 40));
  return `${summary} (at column ${start + 1}${snippet ? `: \`${snippet}\`` : ''})`;
}

/**
 * A runtime error described without request data: the cel-js error code and the part of the
 * expression (from the rules file) that failed. `detail` keeps cel-js' own summary, which can
 * quote request values, for the local explain command only.
 */
export function describeRuntimeError(err: unknown, source: string): { message: string; detail: string } {
  const e = (err ?? {}) as CelErrorLike & { code?: string; node?: { start?: unknown; end?: unknown } };
  const code = typeof e.code === 'string' ? e.code : 'evaluation_error';
  // The failing node's full extent (`session.amr`), else the error's anchor (`amr`).
  const node = e.node;
  const range = node && typeof node.start === 'number' && typeof node.end === 'number' ? { start: node.start, end: node.end } : e.range;
  const snippet = range && typeof range.start === 'number' ? source.slice(range.start, Math.min(range.end, range.start + 60)) : '';
  const message = snippet ? `${code} at \`${snippet}\`` : code;
  const detail = e.summary ?? (e.message ? String(e.message).split('\n')[0] : String(err));
  return { message, detail: detail ?? code };
}

function isAstNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && typeof (value as { op?: unknown }).op === 'string' && 'args' in value;
}

/** Walks the AST once at load time. Over-approximates (macro iteration variables are included). */
export function collectReferences(ast: ASTNode): ExpressionReferences {
  const variables = new Set<string>();
  const members = new Map<string, Set<string>>();
  const addMember = (root: string, member: string): void => {
    let set = members.get(root);
    if (!set) members.set(root, (set = new Set()));
    set.add(member);
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (!isAstNode(node)) return;
    if (node.op === 'id') {
      variables.add(node.args);
      return;
    }
    if (node.op === '.' || node.op === '.?') {
      const [target, field] = node.args;
      if (isAstNode(target) && target.op === 'id') addMember(target.args, field);
    } else if (node.op === '[]' || node.op === '[?]') {
      const [target, key] = node.args;
      if (isAstNode(target) && target.op === 'id') {
        addMember(target.args, isAstNode(key) && key.op === 'value' && typeof key.args === 'string' ? key.args : '*');
      }
    }
    visit(node.args);
  };
  visit(ast);
  return { variables, members };
}

/**
 * JSON -> CEL: integers become BigInt (CEL `int`). Copy-on-write: a subtree without integers is
 * returned as is (most of a payload is strings), so a request allocates only where numbers are.
 * Sharing is safe: CEL never mutates its input, and cel-js only reads own properties.
 */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const converted = toCel(item);
      if (converted !== item) (out ??= value.slice())[i] = converted;
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    const converted = toCel(child);
    if (converted !== child) (out ??= { ...(value as Record<string, unknown>) })[key] = converted;
  }
  return out ?? value;
}

export class NotJsonError extends Error {
  override name = 'NotJsonError';
  readonly code = 'not_json';
}

function typeName(value: unknown): string {
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Date) return 'timestamp';
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

/** CEL -> JSON: BigInt back to number (within the safe range), maps to objects; else NotJsonError. */
export function fromCel(value: unknown, depth = 0): JsonValue {
  if (depth > 64) throw new NotJsonError('result nested deeper than 64 levels');
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new NotJsonError('integer result outside the JSON-safe range');
      }
      return Number(value);
    case 'number':
      if (!Number.isFinite(value)) throw new NotJsonError('non-finite number result');
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) return value.map((item) => fromCel(item, depth + 1));
      if (value instanceof Map) {
        const out: Record<string, JsonValue> = {};
        for (const [key, item] of value) {
          if (typeof key !== 'string') throw new NotJsonError('map result with non-string keys');
          out[key] = fromCel(item, depth + 1);
        }
        return out;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto === Object.prototype || proto === null) {
        const out: Record<string, JsonValue> = {};
        for (const key of Object.keys(value)) out[key] = fromCel((value as Record<string, unknown>)[key], depth + 1);
        return out;
      }
      // cel-js `uint` values.
      if ((value as { constructor?: { name?: string } }).constructor?.name === 'UnsignedInt') {
        return fromCel((value as { valueOf(): unknown }).valueOf(), depth);
      }
      throw new NotJsonError(`result of type ${typeName(value)} is not a JSON value`);
    }
    default:
      throw new NotJsonError(`result of type ${typeName(value)} is not a JSON value`);
  }
}

/**
 * CEL support for rules: one shared environment declaring the request variables, load-time
 * compilation (parse + type check, once per rules file), the JSON <-> CEL value conversions and
 * the AST walk that tells which variables (and later which `lookup.<name>`s) an expression reads.
 *
 * cel-js represents CEL `int` as BigInt and JS numbers as `double`; JSON integers from Okta are
 * therefore converted to BigInt on the way in (so `user.profile.age + 1` works), and CEL results
 * are converted back to JSON-safe values on the way out.
 */
import { Environment, EvaluationError, type ASTNode, type ParseResult } from '@marcbachmann/cel-js';
import type { JsonValue } from '../hook/types';
import { setOwn } from '../shared/values';
import { compilePattern, PatternCache, RegexError, type CompiledPattern } from './regex';

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
 * What one expression may cost. `maxCost` is the static estimate checked at load (and by `check`):
 * roughly the number of AST nodes one evaluation visits, counting each comprehension (`map`,
 * `filter`, `all`, `exists`, `exists_one`) over a list of unknown length as `ASSUMED_LIST_SIZE`
 * iterations of its body. `maxIterations` and `maxEvaluationMs` bound the evaluation itself, for
 * all the expressions of one hook call together: past either, the expression fails as a rule
 * error (`evaluation_limit`), so the rule's `onError`/`fallback` apply and the call still answers.
 */
export interface RulesLimits {
  maxCost: number;
  maxIterations: number;
  maxEvaluationMs: number;
}

export const DEFAULT_RULES_LIMITS: Readonly<RulesLimits> = Object.freeze({ maxCost: 1_000_000, maxIterations: 200_000, maxEvaluationMs: 100 });
/** Iterations assumed for a comprehension over a list whose length is not known at load time. */
export const ASSUMED_LIST_SIZE = 100;

const ENVIRONMENT_LIMITS = new WeakMap<Environment, RulesLimits>();

/**
 * Builds the environment rules are compiled in. `extraVariables` is the extension point for data
 * sources that are not part of the payload (e.g. `lookup`, declared as `map<string, dyn>`);
 * `limits` (default `DEFAULT_RULES_LIMITS`) applies to every expression compiled in it.
 */
export function createRulesEnvironment(extraVariables: readonly CelVariable[] = [], limits: Partial<RulesLimits> = {}): Environment {
  const env = new Environment({
    enableOptionalTypes: true,
    homogeneousAggregateLiterals: false,
    limits: LIMITS,
  });
  for (const variable of [...CEL_VARIABLES, ...extraVariables]) {
    env.registerVariable(variable.name, variable.type, { description: variable.description });
  }
  registerRegexFunctions(env);
  ENVIRONMENT_LIMITS.set(env, { ...DEFAULT_RULES_LIMITS, ...limits });
  return env;
}

/**
 * Patterns of `matches()` that are not literals (`s.matches(lookup.x.pattern)`), compiled at run
 * time: one bounded cache for the process, so attacker-chosen patterns cannot grow memory.
 */
export const DYNAMIC_PATTERNS = new PatternCache();

/**
 * Declares CEL's global form `matches(string, string)` (cel-js only has the receiver form
 * `string.matches(string)`), matched with RE2 like the receiver form (see `installRegexMatching`).
 */
export function registerRegexFunctions(env: Environment): void {
  env.registerFunction('matches(string, string): bool', (input: string, pattern: string) => DYNAMIC_PATTERNS.get(pattern).test(input), {
    description: 'Whether the string matches the RE2 regular expression (partial match; linear time)',
  });
}

/** The limits expressions compiled in `env` get. */
export function rulesLimitsOf(env: Environment): Readonly<RulesLimits> {
  return ENVIRONMENT_LIMITS.get(env) ?? DEFAULT_RULES_LIMITS;
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
  const droppedKey = droppedMapKey(run.ast);
  if (droppedKey !== undefined) {
    return { ok: false, message: `map key "${droppedKey}" is not supported in CEL map literals (the CEL engine drops it); build the claim with another key` };
  }
  const regex = installRegexMatching(run.ast, source);
  if (!regex.ok) return regex;
  const limits = rulesLimitsOf(env);
  const cost = estimateCost(run.ast);
  if (cost > limits.maxCost) {
    return {
      ok: false,
      message: `is too expensive: estimated cost ${formatCost(cost)} is above the budget of ${formatCost(limits.maxCost)} (nested comprehensions over lists multiply; a list of unknown length counts as ${ASSUMED_LIST_SIZE} elements)`,
    };
  }
  return { ok: true, expression: { source, type, references: collectReferences(run.ast), run: metered(run, limits, regex.calls > 0) } };
}

/**
 * cel-js implements `matches` with JavaScript's backtracking RegExp, compiled on every call: one
 * hostile input (`"aaaa…!".matches("^(a+)+$")`) holds the event loop for minutes, beyond the reach
 * of any evaluation deadline. cel-js cannot replace a builtin overload (a second
 * `string.matches(string)` is refused as overlapping), so after the type check every `matches` call
 * node gets an RE2 handler instead (`regex.ts`: linear time). A literal pattern is compiled here,
 * once, and an invalid one is a compile error; any other pattern goes through `DYNAMIC_PATTERNS`.
 * Arguments that are not strings go to cel-js' own handler, which raises its usual
 * `no_matching_overload`. Like `meterNode`, the handler is an accessor, so a later type check
 * (which assigns `handle` again) cannot bring the RegExp back.
 */
function installRegexMatching(ast: ASTNode, source: string): { ok: true; calls: number } | { ok: false; message: string } {
  let calls = 0;
  const stack: ASTNode[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop() as ASTNode;
    stack.push(...childNodes(node));
    const call = regexCall(node);
    if (!call) continue;
    let literal: CompiledPattern | undefined;
    if (call.pattern.op === 'value' && typeof call.pattern.args === 'string') {
      try {
        literal = compilePattern(call.pattern.args);
      } catch (err) {
        if (!(err instanceof RegexError)) throw err;
        const { start, end } = call.pattern as unknown as { start: number; end: number };
        return { ok: false, message: `${err.message} (at column ${start + 1}: \`${source.slice(start, Math.min(end, start + 40))}\`)` };
      }
    }
    replaceMatchHandle(node, literal);
    calls++;
  }
  return { ok: true, calls };
}

/** `s.matches(p)` or `matches(s, p)`: the node and its pattern argument. */
function regexCall(node: ASTNode): { pattern: ASTNode } | undefined {
  const args = node.args as unknown[];
  if (node.op === 'rcall' && args[0] === 'matches' && Array.isArray(args[2]) && args[2].length === 1 && isAstNode(args[2][0])) return { pattern: args[2][0] };
  if (node.op === 'call' && args[0] === 'matches' && Array.isArray(args[1]) && args[1].length === 2 && isAstNode(args[1][1])) return { pattern: args[1][1] };
  return undefined;
}

type Handle = (args: unknown[], ...rest: unknown[]) => unknown;

function replaceMatchHandle(node: ASTNode, literal: CompiledPattern | undefined): void {
  const target = node as unknown as { handle?: Handle };
  let inner = target.handle;
  if (typeof inner !== 'function') throw new Error('internal error: cel-js did not prepare a matches() call for evaluation (unsupported cel-js version?)');
  // Both forms receive [input, pattern]: `rcall` as [receiver, ...args], `call` as its args.
  const handle: Handle = function (this: unknown, args, ...rest) {
    // An argument that is a promise (async functions; none are registered today): resolve, then match here.
    if ((args as unknown) instanceof Promise) return (args as unknown as Promise<unknown[]>).then((resolved) => handle.call(this, resolved, ...rest));
    const input = args[0];
    const pattern = args[1];
    if (typeof input !== 'string' || typeof pattern !== 'string') return (inner as Handle).call(this, args, ...rest);
    let matched: boolean;
    try {
      matched = (literal ?? DYNAMIC_PATTERNS.get(pattern)).test(input);
    } catch (err) {
      if (err instanceof RegexError) throw new EvaluationError({ code: err.code, message: err.message, node });
      throw err;
    }
    checkClock();
    return matched;
  };
  Object.defineProperty(target, 'handle', {
    configurable: true,
    get: () => handle,
    set: (fn: Handle) => {
      inner = fn;
    },
  });
}

const formatCost = (cost: number): string => (Number.isFinite(cost) ? Math.round(cost).toLocaleString('en-US') : 'unbounded');

/** cel-js' internal node for macros (`map`, `filter`, `all`...), absent from its public AST type. */
interface ComprehensionArgs {
  iterable: ASTNode;
  init: ASTNode;
  step: ASTNode;
}
const comprehension = (node: ASTNode): ComprehensionArgs | undefined =>
  (node.op as string) === 'comprehension' ? (node.args as unknown as ComprehensionArgs) : undefined;

/** Children of an AST node, macro expansions (`l.map(x, ...)` -> its comprehension) included. */
function childNodes(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const alternate = (node as unknown as { meta?: { alternate?: unknown } }).meta?.alternate;
  const collect = (value: unknown): void => {
    if (isAstNode(value)) out.push(value);
    else if (Array.isArray(value)) for (const item of value) collect(item);
  };
  if (isAstNode(alternate)) {
    out.push(alternate);
    return out;
  }
  const loop = comprehension(node);
  if (loop) {
    out.push(loop.iterable, loop.init, loop.step);
    return out;
  }
  collect(node.args);
  return out;
}

/**
 * Static cost of one evaluation (see `RulesLimits.maxCost`): a comprehension costs its range plus
 * (elements x its body). Recursion is bounded by the parser's own limits (depth 64, 2000 nodes).
 */
export function estimateCost(ast: ASTNode): number {
  const costOf = (node: ASTNode): number => {
    const args = comprehension(node);
    if (args) {
      const size = args.iterable.op === 'list' && Array.isArray(args.iterable.args) ? args.iterable.args.length : ASSUMED_LIST_SIZE;
      return 1 + costOf(args.iterable) + costOf(args.init) + size * (1 + costOf(args.step));
    }
    let cost = 1;
    for (const child of childNodes(node)) cost += costOf(child);
    return cost;
  };
  return costOf(ast);
}

/** Keys cel-js silently leaves out of a map literal (`{"constructor": 1}` evaluates to `{}`). */
const DROPPED_MAP_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function droppedMapKey(ast: ASTNode): string | undefined {
  const stack: ASTNode[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop() as ASTNode;
    if (node.op === 'map' && Array.isArray(node.args)) {
      for (const entry of node.args as unknown[]) {
        const key = Array.isArray(entry) ? (entry[0] as unknown) : undefined;
        if (isAstNode(key) && key.op === 'value' && typeof key.args === 'string' && DROPPED_MAP_KEYS.has(key.args)) return key.args;
      }
    }
    stack.push(...childNodes(node));
  }
  return undefined;
}

/** An evaluation stopped by `RulesLimits` (a rule error, never a crash). */
export class EvaluationLimitError extends Error {
  override name = 'EvaluationLimitError';
  readonly code = 'evaluation_limit';
}

/**
 * What the expressions of one hook call have used so far. `RequestContext` carries one under
 * `EVALUATION_BUDGET`, so the limits hold per call; an evaluation without one gets its own.
 */
export class EvaluationBudget {
  iterations = 0;
  spentMs = 0;
  /** Set once a limit is passed: every later comprehension step of the call fails at once. */
  exceeded: string | undefined;
}

export const EVALUATION_BUDGET: unique symbol = Symbol('okta-token-hook.evaluationBudget');

interface Meter {
  budget: EvaluationBudget;
  limits: RulesLimits;
  startedAt: number;
}

/** The evaluation running now (evaluations are synchronous: one at a time). */
let activeMeter: Meter | undefined;

function exceed(budget: EvaluationBudget, reason: string): never {
  budget.exceeded ??= reason;
  throw new EvaluationLimitError(budget.exceeded);
}

/** Called before each comprehension step: counts iterations and, every 16, looks at the clock. */
function tick(): void {
  const meter = activeMeter;
  if (!meter) return;
  const { budget, limits } = meter;
  if (budget.exceeded !== undefined) throw new EvaluationLimitError(budget.exceeded);
  const iterations = ++budget.iterations;
  if (iterations > limits.maxIterations) exceed(budget, `more than ${limits.maxIterations} comprehension iterations in one call`);
  if ((iterations & 15) === 0 && budget.spentMs + (performance.now() - meter.startedAt) > limits.maxEvaluationMs) {
    exceed(budget, `evaluation took more than ${limits.maxEvaluationMs} ms in one call`);
  }
}

/** After each regular expression match: the call's time budget holds across many matches too. */
function checkClock(): void {
  const meter = activeMeter;
  if (!meter) return;
  const { budget, limits } = meter;
  if (budget.exceeded !== undefined) throw new EvaluationLimitError(budget.exceeded);
  if (budget.spentMs + (performance.now() - meter.startedAt) > limits.maxEvaluationMs) {
    exceed(budget, `evaluation took more than ${limits.maxEvaluationMs} ms in one call`);
  }
}

/**
 * Makes `node.evaluate` call `tick` first. cel-js replaces a node's `evaluate` on its first call
 * (`this.evaluate = ...`), so the wrapper is an accessor that keeps the replacement as its target.
 */
function meterNode(node: ASTNode): void {
  const target = node as unknown as { evaluate: (...args: unknown[]) => unknown };
  let inner = target.evaluate;
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    tick();
    return inner.apply(this, args);
  };
  Object.defineProperty(target, 'evaluate', {
    configurable: true,
    get: () => wrapper,
    set: (fn: (...args: unknown[]) => unknown) => {
      inner = fn;
    },
  });
}

/** The step nodes of every comprehension in `ast` (evaluated once per iteration). */
function comprehensionSteps(ast: ASTNode): ASTNode[] {
  const steps: ASTNode[] = [];
  const stack: ASTNode[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop() as ASTNode;
    const loop = comprehension(node);
    if (loop) steps.push(loop.step);
    stack.push(...childNodes(node));
  }
  return steps;
}

/**
 * Wraps a compiled expression so its comprehensions and regular expression matches count against
 * the call's budget. Other expressions are returned as they are: their cost is bounded by their size.
 */
function metered(run: ParseResult, limits: RulesLimits, matches: boolean): ParseResult {
  const steps = comprehensionSteps(run.ast);
  if (steps.length === 0 && !matches) return run;
  for (const step of steps) meterNode(step);
  const evaluate = (context?: Record<string, unknown>): unknown => {
    const budget = (context as { [EVALUATION_BUDGET]?: EvaluationBudget } | undefined)?.[EVALUATION_BUDGET] ?? new EvaluationBudget();
    if (budget.exceeded !== undefined) throw new EvaluationLimitError(budget.exceeded);
    const outer = activeMeter;
    const startedAt = performance.now();
    activeMeter = { budget, limits, startedAt };
    try {
      const result = run(context);
      // `exists`, `||` and `&&` may swallow a step's error: a call past its budget still fails.
      if (budget.exceeded !== undefined) throw new EvaluationLimitError(budget.exceeded);
      return result;
    } finally {
      budget.spentMs += performance.now() - startedAt;
      activeMeter = outer;
    }
  };
  return Object.assign(evaluate, { ast: run.ast, check: run.check }) as unknown as ParseResult;
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
  if (err instanceof EvaluationLimitError) return { message: `${code}: ${err.message}`, detail: err.message };
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

/** Deeper than this, a value is refused on its way into CEL (trust boundaries already bound it lower). */
export const MAX_CEL_VALUE_DEPTH = 128;

/**
 * JSON -> CEL: integers become BigInt (CEL `int`). Copy-on-write: a subtree without integers is
 * returned as is (most of a payload is strings), so a request allocates only where numbers are.
 * Sharing is safe: CEL never mutates its input, and cel-js only reads own properties.
 *
 * Keys are data whatever their name: cel-js types a JS object by its `constructor` property, so an
 * object with an own `constructor` key becomes a `Map` (which cel-js reads with `get`), and
 * `__proto__` keys are copied as own properties. Throws `NotJsonError` past `MAX_CEL_VALUE_DEPTH`.
 */
export function toCel(value: unknown, depth = 0): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_CEL_VALUE_DEPTH) throw new NotJsonError(`value nested deeper than ${MAX_CEL_VALUE_DEPTH} levels`);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const converted = toCel(item, depth + 1);
      if (converted !== item) (out ??= value.slice())[i] = converted;
    }
    return out ?? value;
  }
  if (value instanceof Map) return value;
  const record = value as Record<string, unknown>;
  if (Object.hasOwn(record, 'constructor')) {
    const map = new Map<string, unknown>();
    for (const key of Object.keys(record)) map.set(key, toCel(record[key], depth + 1));
    return map;
  }
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const child = record[key];
    const converted = toCel(child, depth + 1);
    if (converted !== child) setOwn((out ??= { ...record }), key, converted);
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
  // The prototype's constructor: an own `constructor` key is data.
  if (typeof value === 'object' && value !== null) return (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object';
  return typeof value;
}

/** Bounds of one CEL result turned into JSON (a claim value): beyond them it is refused, not built. */
export const MAX_RESULT_DEPTH = 64;
export const MAX_RESULT_VALUES = 50_000;
export const MAX_RESULT_STRING_CHARS = 1_000_000;

interface ResultBudget {
  values: number;
  chars: number;
}

/**
 * CEL -> JSON: BigInt back to number (within the safe range), maps to objects; else NotJsonError.
 * Bounded in depth, number of values and characters: CEL can build a small expression whose value
 * is huge (`cel.bind` of a list of itself, repeated), and the result is refused before it is copied.
 */
export function fromCel(value: unknown): JsonValue {
  return toJsonValue(value, 0, { values: 0, chars: 0 });
}

function toJsonValue(value: unknown, depth: number, budget: ResultBudget): JsonValue {
  if (depth > MAX_RESULT_DEPTH) throw new NotJsonError(`result nested deeper than ${MAX_RESULT_DEPTH} levels`);
  if (++budget.values > MAX_RESULT_VALUES) throw new NotJsonError(`result has more than ${MAX_RESULT_VALUES} values`);
  switch (typeof value) {
    case 'string':
      budget.chars += value.length;
      if (budget.chars > MAX_RESULT_STRING_CHARS) throw new NotJsonError(`result has more than ${MAX_RESULT_STRING_CHARS} characters`);
      return value;
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
      if (Array.isArray(value)) return value.map((item) => toJsonValue(item, depth + 1, budget));
      if (value instanceof Map) {
        const out: Record<string, JsonValue> = {};
        for (const [key, item] of value) {
          if (typeof key !== 'string') throw new NotJsonError('map result with non-string keys');
          setOwn(out, key, toJsonValue(item, depth + 1, budget));
        }
        return out;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto === Object.prototype || proto === null) {
        const out: Record<string, JsonValue> = {};
        for (const key of Object.keys(value)) setOwn(out, key, toJsonValue((value as Record<string, unknown>)[key], depth + 1, budget));
        return out;
      }
      // cel-js `uint` values.
      if (proto !== null && (proto as { constructor?: { name?: string } }).constructor?.name === 'UnsignedInt') {
        budget.values--;
        return toJsonValue((value as { valueOf(): unknown }).valueOf(), depth, budget);
      }
      throw new NotJsonError(`result of type ${typeName(value)} is not a JSON value`);
    }
    default:
      throw new NotJsonError(`result of type ${typeName(value)} is not a JSON value`);
  }
}

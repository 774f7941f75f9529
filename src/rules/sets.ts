/**
 * Rule sets: rules scoped to an authorization server, an issuer, some applications or a CEL
 * condition, declared as `ruleSets:` in a rules file or as a file with `match:` (a rules
 * directory, one file per scope). Per call the first set whose match holds is selected (in file
 * order, then in directory order); its rules run after the unscoped rules, so they win on the same
 * claim. Sets are checked at load time: one that an earlier set always takes first is unreachable
 * (an error), two that can match the same call overlap (a warning naming which one wins).
 */
import type { Environment } from '@marcbachmann/cel-js';
import { compileExpression, type CompiledExpression } from './cel';
import type { CompiledRule, RuleScope } from './types';
import { describe, isPlainObject, type Path, type ProblemCollector } from '../shared/values';

export const SET_KEYS = ['name', 'description', 'match', 'rules'];
export const MATCH_KEYS = ['issuer', 'authorizationServerId', 'clientIds', 'when'];
/** Label value of `okta_hook_rule_set_calls_total` when no scoped set matched; no set may take it. */
export const NO_RULE_SET = 'none';
const SET_NAME_PATTERN = /^[a-z0-9-]+$/;

/** `aus8m0n2b4V6c8X0z2l4` from `https://acme.okta.com/oauth2/aus8m0n2b4V6c8X0z2l4` ("" for the org authorization server). */
export function authorizationServerId(issuer: string): string {
  const match = /\/oauth2\/([^/?#]+)\/?$/.exec(issuer);
  return match?.[1] ?? '';
}

/** Rule set name of a file with `match:` (its base name without extension), or undefined when not a valid name. */
export function fileScopeName(file: string): string | undefined {
  const base = file.split(/[\\/]/).pop() ?? '';
  const name = base.replace(/\.(ya?ml|json)$/i, '');
  return SET_NAME_PATTERN.test(name) && name.length <= 63 && name !== NO_RULE_SET ? name : undefined;
}

const normalizeIssuer = (issuer: string): string => (issuer.endsWith('/') ? issuer.slice(0, -1) : issuer);

/** Compiles one rule at `path` (the loader's validator); returns undefined when it has problems. */
export type CompileRule = (value: unknown, path: Path, prefix: string, names: Map<string, number>) => CompiledRule | undefined;

interface ScopeParser {
  problems: ProblemCollector;
  env: Environment;
  file: string;
  compileRule: CompileRule;
}

function stringList(p: ScopeParser, value: unknown, path: Path, what: string): Set<string> | undefined {
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items) || items.length === 0 || items.some((item) => typeof item !== 'string' || item.length === 0)) {
    p.problems.add(path, `must be ${what} or a non-empty list of them, got ${describe(value)}`);
    return undefined;
  }
  return new Set(items as string[]);
}

/** Validates a `match:` mapping (an empty mapping matches every call). */
export function parseMatch(p: ScopeParser, value: unknown, path: Path, scope: Omit<RuleScope, 'file'>): boolean {
  if (!isPlainObject(value)) {
    p.problems.add(path, `must be a mapping with issuer, authorizationServerId, clientIds and/or when, got ${describe(value)}`);
    return false;
  }
  const before = p.problems.problems.length;
  p.problems.unknownKeys(value, MATCH_KEYS, path);
  if (value.issuer !== undefined) {
    const issuers = stringList(p, value.issuer, [...path, 'issuer'], 'an issuer URI');
    if (issuers) {
      for (const issuer of issuers) if (!/^https?:\/\/[^/]+/.test(issuer)) p.problems.add([...path, 'issuer'], `"${issuer}" is not an issuer URI (https://…)`);
      scope.issuers = new Set([...issuers].map(normalizeIssuer));
    }
  }
  if (value.authorizationServerId !== undefined) {
    const ids = stringList(p, value.authorizationServerId, [...path, 'authorizationServerId'], 'an authorization server id');
    if (ids) scope.authorizationServerIds = ids;
  }
  if (value.clientIds !== undefined) {
    const ids = stringList(p, value.clientIds, [...path, 'clientIds'], 'a client id');
    if (ids) scope.clientIds = ids;
  }
  if (value.when !== undefined) {
    if (typeof value.when !== 'string') p.problems.add([...path, 'when'], `must be a CEL expression string, got ${describe(value.when)}`);
    else {
      const compiled = compileExpression(p.env, value.when, 'bool');
      if (!compiled.ok) p.problems.add([...path, 'when'], compiled.message);
      else if (compiled.expression.references.variables.has('lookup')) {
        p.problems.add([...path, 'when'], 'must not read lookups: the set is chosen before any lookup is called (read it in a rule of the set)');
      } else scope.when = compiled.expression;
    }
  }
  return p.problems.problems.length === before;
}

function setName(p: ScopeParser, value: unknown, path: Path, seen: Set<string>): value is string {
  if (typeof value !== 'string' || value.length === 0) {
    p.problems.add(path, value === undefined ? 'is required' : `must be a string, got ${describe(value)}`);
    return false;
  }
  if (!SET_NAME_PATTERN.test(value) || value.length > 63) p.problems.add(path, `"${value}" must match ${SET_NAME_PATTERN.source} (lower-case letters, digits, -; at most 63)`);
  else if (value === NO_RULE_SET) p.problems.add(path, `"${NO_RULE_SET}" is reserved (it counts the calls no set matched)`);
  else if (seen.has(value)) p.problems.add(path, 'duplicate rule set name');
  else {
    seen.add(value);
    return true;
  }
  return false;
}

/** `ruleSets:` of one file: each set's rules are compiled with names `<set>/<rule>`. */
export function parseRuleSets(p: ScopeParser, value: unknown): { scopes: RuleScope[]; rules: CompiledRule[] } {
  const scopes: RuleScope[] = [];
  const rules: CompiledRule[] = [];
  if (!Array.isArray(value)) {
    p.problems.add(['ruleSets'], `must be a list of rule sets (name, match, rules), got ${describe(value)}`);
    return { scopes, rules };
  }
  const seen = new Set<string>();
  value.forEach((item, i) => {
    const path: Path = ['ruleSets', i];
    if (!isPlainObject(item)) {
      p.problems.add(path, `must be a mapping with name, match and rules, got ${describe(item)}`);
      return;
    }
    p.problems.unknownKeys(item, SET_KEYS, path);
    const named = setName(p, item.name, [...path, 'name'], seen);
    const name = named ? (item.name as string) : `#${i + 1}`;
    const scope: RuleScope = { name, file: p.file };
    if (typeof item.description === 'string') scope.description = item.description;
    else if (item.description !== undefined) p.problems.add([...path, 'description'], `must be a string, got ${describe(item.description)}`);
    if (item.match === undefined) p.problems.add([...path, 'match'], 'is required (use match: {} for a set that takes every call no earlier set took)');
    else parseMatch(p, item.match, [...path, 'match'], scope);
    if (!Array.isArray(item.rules) || item.rules.length === 0) {
      p.problems.add([...path, 'rules'], item.rules === undefined ? 'is required (a list of rules)' : `must be a non-empty list of rules, got ${describe(item.rules)}`);
      return;
    }
    const names = new Map<string, number>();
    item.rules.forEach((rule, j) => {
      const compiled = p.compileRule(rule, [...path, 'rules', j], `${name}/`, names);
      if (compiled) rules.push({ ...compiled, set: name });
    });
    if (named) scopes.push(scope);
  });
  return { scopes, rules };
}

interface Criteria {
  issuers?: ReadonlySet<string>;
  /** Explicit ids, narrowed by the ids the issuers imply. */
  servers?: ReadonlySet<string>;
  clientIds?: ReadonlySet<string>;
  conditional: boolean;
}

function criteriaOf(scope: RuleScope): Criteria | 'never' {
  let servers = scope.authorizationServerIds;
  if (scope.issuers) {
    const implied = new Set([...scope.issuers].map(authorizationServerId));
    servers = servers ? new Set([...servers].filter((id) => implied.has(id))) : implied;
    if (servers.size === 0) return 'never';
  }
  const criteria: Criteria = { conditional: scope.when !== undefined };
  if (scope.issuers) criteria.issuers = scope.issuers;
  if (servers) criteria.servers = servers;
  if (scope.clientIds) criteria.clientIds = scope.clientIds;
  return criteria;
}

const subset = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => [...a].every((item) => b.has(item));
const intersects = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => [...a].some((item) => b.has(item));

/** True when every call `later` matches is matched by `earlier` (which has no `when`). */
function covers(earlier: Criteria, later: Criteria): boolean {
  if (earlier.conditional) return false;
  if (earlier.issuers && !(later.issuers && subset(later.issuers, earlier.issuers))) return false;
  if (earlier.servers && !(later.servers && subset(later.servers, earlier.servers))) return false;
  if (earlier.clientIds && !(later.clientIds && subset(later.clientIds, earlier.clientIds))) return false;
  return true;
}

/** True when some call could match both (ignoring `when`). */
function overlaps(a: Criteria, b: Criteria): boolean {
  if (a.issuers && b.issuers && !intersects(a.issuers, b.issuers)) return false;
  if (a.servers && b.servers && !intersects(a.servers, b.servers)) return false;
  if (a.clientIds && b.clientIds && !intersects(a.clientIds, b.clientIds)) return false;
  return true;
}

function where(scope: RuleScope, several: boolean): string {
  return several ? `rule set "${scope.name}" (${scope.file})` : `rule set "${scope.name}"`;
}

/**
 * Unreachable sets (an earlier set without `when` takes every call they match, or their issuer and
 * authorization server id contradict each other) are errors; overlaps are warnings.
 */
export function analyzeScopes(scopes: readonly RuleScope[]): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const several = new Set(scopes.map((scope) => scope.file)).size > 1;
  const criteria = scopes.map(criteriaOf);
  scopes.forEach((scope, i) => {
    const mine = criteria[i] as Criteria | 'never';
    const head = `${scope.file}: ${where(scope, several)}`;
    if (mine === 'never') {
      errors.push(`${head}: is unreachable: no issuer in match.issuer belongs to the authorization servers in match.authorizationServerId`);
      return;
    }
    for (let j = 0; j < i; j++) {
      const earlier = criteria[j] as Criteria | 'never';
      const other = scopes[j] as RuleScope;
      if (earlier === 'never') continue;
      if (covers(earlier, mine)) {
        errors.push(`${head}: is unreachable: every call it matches is taken first by ${where(other, several)} (sets are tried in order, the first match applies)`);
        return;
      }
    }
    // A catch-all (`match: {}`) overlaps everything on purpose: it takes what no earlier set took.
    const catchAll = !mine.issuers && !mine.servers && !mine.clientIds && !mine.conditional;
    for (let j = 0; j < i && !catchAll; j++) {
      const earlier = criteria[j] as Criteria | 'never';
      const other = scopes[j] as RuleScope;
      if (earlier === 'never' || !overlaps(earlier, mine)) continue;
      const conditional = earlier.conditional || mine.conditional ? ' (unless their when conditions exclude each other)' : '';
      warnings.push(`${head}: overlaps ${where(other, several)}: calls matching both use "${other.name}", the earlier one${conditional}`);
    }
  });
  return { errors, warnings };
}

/** One line for `check` and `explain`: `portal (clientIds 0oa1, 0oa2; when …)`. */
export function describeScope(scope: RuleScope): string {
  const parts: string[] = [];
  if (scope.issuers) parts.push(`issuer ${[...scope.issuers].join(', ')}`);
  if (scope.authorizationServerIds) parts.push(`authorizationServerId ${[...scope.authorizationServerIds].join(', ')}`);
  if (scope.clientIds) parts.push(`clientIds ${[...scope.clientIds].join(', ')}`);
  if (scope.when) parts.push(`when ${scope.when.source}`);
  return `${scope.name}: ${parts.length > 0 ? parts.join('; ') : 'every call'}`;
}

/** What a match reads from the call, computed once per call. */
export interface ScopeInput {
  issuer: string;
  clientId: string | undefined;
  /** Runs a set's `when` (false when it fails: a set never matches by error). */
  when: (expression: CompiledExpression) => boolean;
}

/** The first set whose match holds, or undefined. */
export function selectScope(scopes: readonly RuleScope[], input: ScopeInput): RuleScope | undefined {
  if (scopes.length === 0) return undefined;
  const issuer = normalizeIssuer(input.issuer);
  let server: string | undefined;
  for (const scope of scopes) {
    if (scope.issuers && !scope.issuers.has(issuer)) continue;
    if (scope.authorizationServerIds && !scope.authorizationServerIds.has((server ??= authorizationServerId(issuer)))) continue;
    if (scope.clientIds && (input.clientId === undefined || !scope.clientIds.has(input.clientId))) continue;
    if (scope.when && !input.when(scope.when)) continue;
    return scope;
  }
  return undefined;
}

/**
 * Rules file loading and strict validation. Everything that can be checked before a login depends
 * on it is checked here: YAML/JSON syntax, unknown keys, names, CEL syntax and types, reserved
 * claims per token, lifetime range, `value` xor `expr`. All problems are collected, each naming the
 * file, the rule and the field:
 *   rules.yaml: rule "hello" (#1): claims[0].name: "sub" is reserved in the id token (line 7)
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Environment } from '@marcbachmann/cel-js';
import { LineCounter, type Document } from 'yaml';
import { MAX_FLOW_NESTING, parseYaml } from './yaml';
import { MAX_LIFETIME_SECONDS, MIN_LIFETIME_SECONDS, RESERVED_CLAIMS } from '../hook/builder';
import { targetLabel, type ClaimTarget } from '../hook/decision';
import type { JsonValue, TokenKind } from '../hook/types';
import { parseLookups } from '../lookups/definition';
import type { LookupDefinition } from '../lookups/types';
import { CEL_VARIABLES, compileExpression, createRulesEnvironment, LOOKUP_VARIABLE, type CompiledExpression } from './cel';
import { alwaysMatches, checkExpression, neverMatches, requiresClientCredentials } from './diagnostics';
import {
  FILE_TOKEN_NAMES,
  RulesFileError,
  TOKEN_LABEL,
  type ClaimSpec,
  type CompiledRule,
  type FileTokenName,
  type OnError,
  type RemoveSpec,
  type RuleScope,
  type RuleSet,
} from './types';
import { analyzeScopes, fileScopeName, parseMatch, parseRuleSets } from './sets';
import { deepFreeze, describe, didYouMean, isPlainObject, ProblemCollector, type Path, type Problem } from '../shared/values';

export const MAX_RULES_FILE_BYTES = 1024 * 1024;
export const RULE_NAME_PATTERN = /^[a-z0-9-]+$/;
const MAX_RULE_NAME_LENGTH = 63;
const MAX_CLAIM_NAME_LENGTH = 256;
const MAX_DENY_SUMMARY_LENGTH = 500;

const TOP_LEVEL_KEYS = ['rules', 'lookups', 'ruleSets', 'match'];
const RULE_KEYS = ['name', 'description', 'when', 'claims', 'remove', 'lifetime', 'onError', 'deny'];
const CLAIM_KEYS = ['name', 'member', 'index', 'append', 'value', 'expr', 'fallback', 'tokens'];
const REMOVE_KEYS = ['name', 'member', 'index', 'tokens'];
const MAX_MEMBER_DEPTH = 8;
const MAX_ELEMENT_INDEX = 9999;
const LIFETIME_KEYS: FileTokenName[] = ['id', 'access'];
const ALL_TOKENS: readonly TokenKind[] = ['identity', 'access'];
const NO_LOOKUPS: ReadonlySet<string> = new Set();

/** Short content hash used as the rules version (readyz, metrics, debugContext). */
export function rulesVersion(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

/** `claims[0].name` from `['claims', 0, 'name']`. */
function fieldPath(path: Path): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

/** Checks that a YAML value is plain JSON (no dates, binary, non-finite or unsafe numbers). */
function jsonProblem(value: unknown, depth = 0): string | undefined {
  if (depth > 32) return 'is nested deeper than 32 levels';
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'is not a finite number';
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) return 'is an integer outside the JSON-safe range';
    return undefined;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonProblem(item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  if (isPlainObject(value)) {
    for (const item of Object.values(value)) {
      const problem = jsonProblem(item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  return 'is not a JSON value';
}

/** What to do instead of changing a reserved claim, per claim (contract §2.3). */
const RESERVED_HINTS: Record<string, string> = {
  groups: 'use a differently named claim (e.g. "roles", from an oktaGroups lookup) or the authorization server\'s groups claim',
  group: 'use a differently named claim (e.g. "roles") or the authorization server\'s groups claim',
  scp: 'scopes are granted by the authorization server\'s access policy; a hook cannot change them',
  scope: 'scopes are granted by the authorization server\'s access policy; a hook cannot change them',
  scopes: 'scopes are granted by the authorization server\'s access policy; a hook cannot change them',
  exp: 'use lifetime: { id: ..., access: ... } to change how long the token lives',
  iat: 'Okta sets it when it mints the token',
  auth_time: 'Okta sets it from the session; put your own value in a differently named claim',
  amr: 'Okta sets it from the session; read session.amr and put your own value in a differently named claim',
};
const GENERIC_RESERVED_HINT = 'Okta sets it; choose another name, e.g. a namespaced "https://example.com/claims/<name>"';

class RuleValidator extends ProblemCollector {
  /** Names under `lookups:` (also those with invalid definitions, so each problem is reported once). */
  lookupNames: ReadonlySet<string> = NO_LOOKUPS;
  /** Findings that do not stop the service (check --strict fails on them). */
  readonly warnings: Problem[] = [];

  warn(path: Path, message: string): void {
    this.warnings.push({ path, message });
  }

  constructor(private readonly env: Environment) {
    super();
  }

  string(value: unknown, path: Path, what = 'a string'): value is string {
    if (typeof value === 'string' && value.length > 0) return true;
    this.add(path, value === undefined ? 'is required' : `must be ${what}, got ${describe(value)}`);
    return false;
  }

  tokens(value: unknown, path: Path): TokenKind[] | undefined {
    if (value === undefined) return [...ALL_TOKENS];
    if (!Array.isArray(value) || value.length === 0) {
      this.add(path, `must be a non-empty list of token names (id, access), got ${describe(value)}`);
      return undefined;
    }
    const tokens: TokenKind[] = [];
    let ok = true;
    value.forEach((item, i) => {
      // Own keys only: `constructor` and the other Object.prototype names are not token names.
      if (typeof item !== 'string' || !Object.hasOwn(FILE_TOKEN_NAMES, item)) {
        this.add([...path, i], `must be "id" or "access", got ${describe(item)}`);
        ok = false;
        return;
      }
      const kind = FILE_TOKEN_NAMES[item as FileTokenName];
      if (tokens.includes(kind)) {
        this.add([...path, i], `"${item}" is listed twice`);
        ok = false;
      }
      tokens.push(kind);
    });
    return ok ? tokens : undefined;
  }

  claimName(value: unknown, path: Path): value is string {
    if (!this.string(value, path, 'a non-empty string')) return false;
    if (value.length > MAX_CLAIM_NAME_LENGTH) {
      this.add(path, `is longer than ${MAX_CLAIM_NAME_LENGTH} characters`);
      return false;
    }
    if (value.trim() !== value) {
      this.add(path, `"${value}" has leading or trailing white space`);
      return false;
    }
    // NUL, line breaks and other control characters would be sent to Okta as part of the claim name.
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) {
      this.add(path, `${JSON.stringify(value)} contains a control character`);
      return false;
    }
    return true;
  }

  /**
   * `member` / `index` / `append`: a member or element of an existing claim. `undefined`: the
   * claim itself; `null`: invalid (reported).
   */
  target(item: Record<string, unknown>, itemPath: Path): ClaimTarget | undefined | null {
    if (item.member === undefined && item.index === undefined && item.append === undefined) return undefined;
    const at: ClaimTarget = {};
    const before = this.problems.length;
    if (item.member !== undefined) {
      const members = typeof item.member === 'string' ? [item.member] : item.member;
      if (!Array.isArray(members) || members.length === 0 || members.length > MAX_MEMBER_DEPTH || members.some((m) => typeof m !== 'string' || m.length === 0 || m.length > MAX_CLAIM_NAME_LENGTH)) {
        this.add([...itemPath, 'member'], `must be a member name, or a list of up to ${MAX_MEMBER_DEPTH} names for a deeper member (member: [address, city]), got ${describe(item.member)}`);
      } else at.member = members as string[];
    }
    if (item.index !== undefined) {
      if (typeof item.index !== 'number' || !Number.isInteger(item.index) || item.index < 0 || item.index > MAX_ELEMENT_INDEX) {
        this.add([...itemPath, 'index'], `must be an array position from 0 to ${MAX_ELEMENT_INDEX}, got ${describe(item.index)}`);
      } else at.index = item.index;
    }
    if (item.append !== undefined) {
      if (item.append !== true) this.add([...itemPath, 'append'], `must be true (adds value at the end of the array), got ${describe(item.append)}`);
      else if (item.index !== undefined) this.add([...itemPath, 'append'], 'cannot be combined with index (append adds at the end; index replaces one element)');
      else at.append = true;
    }
    return this.problems.length > before ? null : at;
  }

  reserved(name: string, tokens: readonly TokenKind[], path: Path, explicitTokens: boolean): void {
    const reservedIn = tokens.filter((token) => RESERVED_CLAIMS[token].has(name));
    if (reservedIn.length === 0) return;
    const other = ALL_TOKENS.find((t) => !RESERVED_CLAIMS[t].has(name));
    let hint: string;
    if (RESERVED_HINTS[name]) hint = `; ${RESERVED_HINTS[name]}`;
    else if (other && !explicitTokens) hint = ` (use tokens: [${TOKEN_LABEL[other]}] to change it in the ${TOKEN_LABEL[other]} token only)`;
    else if (other) hint = `; it can be changed in the ${TOKEN_LABEL[other]} token only`;
    else hint = `; ${GENERIC_RESERVED_HINT}`;
    const where = reservedIn.length === 2 ? 'the id and access tokens' : `the ${TOKEN_LABEL[reservedIn[0] as TokenKind]} token`;
    this.add(path, `"${name}" is reserved in ${where}${hint}`);
  }

  expression(value: unknown, path: Path, expect: 'bool' | 'json'): CompiledExpression | undefined {
    if (typeof value !== 'string') {
      this.add(path, `must be a CEL expression string, got ${describe(value)}`);
      return undefined;
    }
    const compiled = compileExpression(this.env, value, expect);
    if (!compiled.ok) {
      const unknown = /Unknown variable: ([A-Za-z_][A-Za-z0-9_]*)/.exec(compiled.message)?.[1];
      const variables = [...CEL_VARIABLES.map((v) => v.name), LOOKUP_VARIABLE.name];
      const hint = unknown ? `${didYouMean(unknown, variables)} (variables: ${variables.join(', ')})` : '';
      const column = /\(at column (\d+)(?:: `([^`]*)`)?/.exec(compiled.message);
      this.add(path, `${compiled.message}${hint}`, column ? { offset: Number(column[1]) - 1, length: column[2]?.length ?? 1 } : undefined);
      return undefined;
    }
    const findings = checkExpression(compiled.expression);
    for (const finding of findings) {
      if (finding.severity === 'error') this.add(path, finding.message, finding);
      else this.warnings.push({ path, message: finding.message, offset: finding.offset, length: finding.length });
    }
    return findings.some((f) => f.severity === 'error') ? undefined : compiled.expression;
  }

  /** The lookups an expression reads; each must be named statically and defined under `lookups:`. */
  lookupsOf(expr: CompiledExpression | undefined, path: Path): ReadonlySet<string> {
    if (!expr || !expr.references.variables.has('lookup')) return NO_LOOKUPS;
    const members = expr.references.members.get('lookup');
    if (!members || members.size === 0 || members.has('*')) {
      this.add(path, 'reads lookup without a static name: use lookup.<name> (or lookup["name"]) so the lookups a rule needs are known at load time');
      return NO_LOOKUPS;
    }
    for (const name of members) {
      if (this.lookupNames.has(name)) continue;
      const defined = [...this.lookupNames];
      this.add(path, `lookup "${name}" is not defined${didYouMean(name, defined)} (define it under lookups:${defined.length > 0 ? `; defined: ${defined.join(', ')}` : ''})`);
    }
    return members;
  }

  claims(value: unknown, path: Path, seen: Map<string, string>): ClaimSpec[] {
    if (!Array.isArray(value)) {
      this.add(path, `must be a list of claims, got ${describe(value)}`);
      return [];
    }
    const specs: ClaimSpec[] = [];
    value.forEach((item, i) => {
      const itemPath = [...path, i];
      if (!isPlainObject(item)) {
        this.add(itemPath, `must be a mapping with name and value or expr, got ${describe(item)}`);
        return;
      }
      this.unknownKeys(item, CLAIM_KEYS, itemPath);
      const nameOk = this.claimName(item.name, [...itemPath, 'name']);
      const tokens = this.tokens(item.tokens, [...itemPath, 'tokens']);
      const hasValue = 'value' in item;
      const hasExpr = 'expr' in item;
      let spec: ClaimSpec | undefined;
      if (hasValue === hasExpr) {
        this.add(itemPath, hasValue ? 'has both value and expr; set exactly one' : 'needs exactly one of value or expr');
      } else if (hasValue) {
        const problem = item.value === null ? 'must not be null (use remove to delete a claim)' : jsonProblem(item.value);
        if (problem) this.add([...itemPath, 'value'], problem);
        else spec = { name: '', tokens: [], value: deepFreeze(item.value as JsonValue), lookups: NO_LOOKUPS, field: fieldPath(itemPath.slice(2)) };
      } else {
        const expr = this.expression(item.expr, [...itemPath, 'expr'], 'json');
        if (expr) spec = { name: '', tokens: [], expr, lookups: this.lookupsOf(expr, [...itemPath, 'expr']), field: fieldPath(itemPath.slice(2)) };
      }
      if ('fallback' in item) {
        const problem = hasValue ? 'is only allowed with expr' : jsonProblem(item.fallback);
        if (problem) this.add([...itemPath, 'fallback'], problem);
        else if (spec?.expr && spec.lookups.size === 0) {
          this.add([...itemPath, 'fallback'], 'is used when a lookup read by expr fails, but expr reads no lookup');
        } else if (spec) spec.fallback = deepFreeze(item.fallback as JsonValue);
      }
      const at = this.target(item, itemPath);
      if (!nameOk || !tokens || at === null) return;
      this.reserved(item.name as string, tokens, [...itemPath, 'name'], item.tokens !== undefined);
      this.duplicate(seen, item.name as string, at, tokens, itemPath, fieldPath(itemPath.slice(2)));
      if (spec) specs.push(at ? { ...spec, name: item.name as string, tokens, at } : { ...spec, name: item.name as string, tokens });
    });
    return specs;
  }

  remove(value: unknown, path: Path, seen: Map<string, string>): RemoveSpec[] {
    if (!Array.isArray(value)) {
      this.add(path, `must be a list of claims to remove, got ${describe(value)}`);
      return [];
    }
    const specs: RemoveSpec[] = [];
    value.forEach((item, i) => {
      const itemPath = [...path, i];
      if (!isPlainObject(item)) {
        this.add(itemPath, `must be a mapping with a name, got ${describe(item)}`);
        return;
      }
      this.unknownKeys(item, REMOVE_KEYS, itemPath);
      const nameOk = this.claimName(item.name, [...itemPath, 'name']);
      const tokens = this.tokens(item.tokens, [...itemPath, 'tokens']);
      const at = this.target(item, itemPath);
      if (!nameOk || !tokens || at === null) return;
      this.reserved(item.name as string, tokens, [...itemPath, 'name'], item.tokens !== undefined);
      this.duplicate(seen, item.name as string, at, tokens, itemPath, fieldPath(itemPath.slice(2)));
      const spec: RemoveSpec = { name: item.name as string, tokens, field: fieldPath(itemPath.slice(2)) };
      if (at) spec.at = at;
      specs.push(spec);
    });
    return specs;
  }

  lifetime(value: unknown, path: Path): { token: TokenKind; seconds: number }[] {
    if (!isPlainObject(value)) {
      this.add(path, `must be a mapping with id and/or access seconds, got ${describe(value)}`);
      return [];
    }
    this.unknownKeys(value, LIFETIME_KEYS, path);
    const lifetimes: { token: TokenKind; seconds: number }[] = [];
    let any = false;
    for (const key of LIFETIME_KEYS) {
      if (!(key in value)) continue;
      any = true;
      const seconds = value[key];
      if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < MIN_LIFETIME_SECONDS || seconds > MAX_LIFETIME_SECONDS) {
        this.add([...path, key], `must be an integer number of seconds between ${MIN_LIFETIME_SECONDS} and ${MAX_LIFETIME_SECONDS}, got ${describe(seconds)}`);
        continue;
      }
      lifetimes.push({ token: FILE_TOKEN_NAMES[key], seconds });
    }
    if (!any) this.add(path, 'must set id and/or access');
    return lifetimes;
  }

  /** Same claim twice in one rule for the same token is ambiguous; across rules, later wins. */
  duplicate(seen: Map<string, string>, name: string, at: ClaimTarget | undefined, tokens: readonly TokenKind[], itemPath: Path, field: string): void {
    const label = targetLabel(name, at);
    let conflict: string | undefined;
    for (const token of tokens) {
      const key = `${token}\u0000${name}\u0000${JSON.stringify(at ?? null)}`;
      const first = seen.get(key);
      if (first) this.add([...itemPath, 'name'], `"${label}" is already changed in the ${TOKEN_LABEL[token]} token by ${first} of this rule`);
      else seen.set(key, field);
      // The whole claim and one of its members in one rule: Okta-safe output would drop the member change.
      const whole = seen.get(`${token}\u0000${name}\u0000null`);
      const part = seen.get(`part\u0000${token}\u0000${name}`);
      if (at && whole) conflict ??= `"${name}" is set or removed as a whole by ${whole} of this rule; change ${label} inside that value instead`;
      else if (!at && part) conflict ??= `${part} of this rule changes a member or element of "${name}"; change it inside this value instead`;
      if (at && !part) seen.set(`part\u0000${token}\u0000${name}`, field);
    }
    if (conflict) this.add([...itemPath, 'name'], conflict);
  }

  /** `base`/`prefix`: where the rule sits (`['ruleSets', 0, 'rules']`) and its set's `<set>/` name prefix. */
  rule(value: unknown, index: number, names: Map<string, number>, base: Path = ['rules'], prefix = ''): CompiledRule | undefined {
    const path: Path = [...base, index];
    if (!isPlainObject(value)) {
      this.add(path, `must be a mapping, got ${describe(value)}`);
      return undefined;
    }
    const before = this.problems.length;
    this.unknownKeys(value, RULE_KEYS, path);
    const name = value.name;
    if (this.string(name, [...path, 'name'])) {
      if (!RULE_NAME_PATTERN.test(name)) this.add([...path, 'name'], `"${name}" must match ${RULE_NAME_PATTERN.source} (lower-case letters, digits, -)`);
      else if (name.length > MAX_RULE_NAME_LENGTH) this.add([...path, 'name'], `is longer than ${MAX_RULE_NAME_LENGTH} characters`);
      const first = names.get(name);
      if (first !== undefined) this.add([...path, 'name'], `duplicate rule name (also rule #${first + 1})`);
      else names.set(name, index);
    }
    if (value.description !== undefined && typeof value.description !== 'string') {
      this.add([...path, 'description'], `must be a string, got ${describe(value.description)}`);
    }
    const when = value.when === undefined ? undefined : this.expression(value.when, [...path, 'when'], 'bool');
    const whenLookups = this.lookupsOf(when, [...path, 'when']);
    const seen = new Map<string, string>();
    const claims = value.claims === undefined ? [] : this.claims(value.claims, [...path, 'claims'], seen);
    const remove = value.remove === undefined ? [] : this.remove(value.remove, [...path, 'remove'], seen);
    const lifetimes = value.lifetime === undefined ? [] : this.lifetime(value.lifetime, [...path, 'lifetime']);
    let onError: OnError = 'skip';
    if (value.onError !== undefined) {
      if (value.onError === 'skip' || value.onError === 'deny') onError = value.onError;
      else this.add([...path, 'onError'], `must be "skip" or "deny", got ${describe(value.onError)}`);
    }
    let deny: string | undefined;
    if (value.deny !== undefined) {
      if (this.string(value.deny, [...path, 'deny'], 'a non-empty message')) {
        if (value.deny.length > MAX_DENY_SUMMARY_LENGTH) this.add([...path, 'deny'], `is longer than ${MAX_DENY_SUMMARY_LENGTH} characters`);
        deny = value.deny;
      }
      for (const key of ['claims', 'remove', 'lifetime']) {
        if (value[key] !== undefined) this.add([...path, key], 'cannot be combined with deny (a deny refuses the token, so nothing else of the rule would apply)');
      }
    } else if (value.claims === undefined && value.remove === undefined && value.lifetime === undefined) {
      this.add(path, 'does nothing: set at least one of claims, remove, lifetime or deny');
    }
    if (this.problems.length > before || typeof name !== 'string') return undefined;

    const variables = new Set<string>();
    for (const expr of [when, ...claims.map((c) => c.expr)]) {
      if (expr) for (const variable of expr.references.variables) variables.add(variable);
    }
    const lookups = new Set(whenLookups);
    for (const claim of claims) for (const lookup of claim.lookups) lookups.add(lookup);
    const rule: CompiledRule = { index, name: prefix + name, claims, remove, lifetimes, onError, variables, lookups, whenLookups };
    if (typeof value.description === 'string') rule.description = value.description;
    if (when) rule.when = when;
    if (deny !== undefined) rule.deny = deny;
    this.ruleWarnings(rule, path);
    return rule;
  }

  /** Rules that can never match or never change anything, and claim names that look like nested paths. */
  ruleWarnings(rule: CompiledRule, path: Path): void {
    const never = rule.when ? neverMatches(rule.when) : undefined;
    if (never) this.warn([...path, 'when'], `never matches: ${never}`);
    if (rule.deny !== undefined && alwaysMatches(rule.when)) {
      this.warn([...path, 'deny'], 'denies every token request (no condition): no token is issued while this rule is in the file');
    }
    const targets = [...rule.claims, ...rule.remove];
    if (requiresClientCredentials(rule.when) && targets.length > 0 && targets.every((c) => c.tokens.every((t) => t === 'identity'))) {
      this.warn([...path, 'when'], 'changes only the id token, which is never minted for client_credentials calls (add tokens: [access])');
    }
    for (const item of targets) {
      if (item.at || !item.name.includes('/') || item.name.includes(':')) continue;
      const [parent, ...members] = item.name.split('/');
      this.warn([...path, ...fieldSegments(item.field), 'name'], `"${item.name}" is a new top-level claim with a "/" in its name; to change a member of the existing claim "${parent}", write name: ${parent}, member: ${members.length === 1 ? members[0] : `[${members.join(', ')}]`}`);
    }
  }

  /** A member or element change that another rule's change of the whole claim drops whenever both match. */
  wholeClaimWarnings(rules: readonly CompiledRule[]): void {
    const whole = new Map<string, CompiledRule>();
    for (const rule of rules) for (const item of [...rule.claims, ...rule.remove]) if (!item.at) for (const token of item.tokens) if (!whole.has(`${token}\u0000${item.name}`)) whole.set(`${token}\u0000${item.name}`, rule);
    if (whole.size === 0) return;
    for (const rule of rules) {
      for (const item of [...rule.claims, ...rule.remove]) {
        if (!item.at) continue;
        const other = item.tokens.map((token) => whole.get(`${token}\u0000${item.name}`)).find((r) => r !== undefined && r !== rule);
        if (!other) continue;
        this.warn(
          ['rules', rule.index, ...fieldSegments(item.field), 'name'],
          `"${targetLabel(item.name, item.at)}" is left out whenever rule "${other.name}" (#${other.index + 1}) also matches: it sets or removes the whole claim "${item.name}", which wins over changes inside it`,
        );
      }
    }
  }

  /** A claim a rule sets that a later, unconditional rule always sets or removes again (later rules win). */
  overrideWarnings(rules: readonly CompiledRule[]): void {
    this.wholeClaimWarnings(rules);
    for (const later of rules) {
      if (!alwaysMatches(later.when) || later.deny !== undefined) continue;
      const always = new Map<string, string>();
      for (const claim of later.claims) if (claim.value !== undefined) for (const token of claim.tokens) always.set(`${token}\u0000${targetLabel(claim.name, claim.at)}`, claim.field);
      for (const item of later.remove) for (const token of item.tokens) always.set(`${token}\u0000${targetLabel(item.name, item.at)}`, item.field);
      for (const earlier of rules) {
        if (earlier.index >= later.index) break;
        for (const item of [...earlier.claims, ...earlier.remove]) {
          const tokens = item.tokens.filter((token) => always.has(`${token}\u0000${targetLabel(item.name, item.at)}`));
          if (tokens.length === 0) continue;
          this.warn(
            ['rules', earlier.index, ...fieldSegments(item.field), 'name'],
            `"${targetLabel(item.name, item.at)}" (${tokens.map((t) => TOKEN_LABEL[t]).join(', ')} token) is always overridden by rule "${later.name}" (#${later.index + 1}), which has no condition and runs later (later rules win)`,
          );
        }
      }
    }
  }
}

/** `['claims', 2]` from `claims[2]`. */
function fieldSegments(field: string): Path {
  const match = /^(claims|remove)\[(\d+)\]$/.exec(field);
  return match ? [match[1] as string, Number(match[2])] : [];
}

/**
 * `ruleSets:` and a file-level `match:` (which scopes the file's own rules as one set named after
 * the file, as in a rules directory). Returns the sets' rules and, for `match:`, the name prefix.
 */
function scopeFile(root: Record<string, unknown>, file: string, validator: RuleValidator, env: Environment): { scopes: RuleScope[]; rules: CompiledRule[]; prefix: string } {
  const parser = { problems: validator, env, file, compileRule: (value: unknown, path: Path, prefix: string, names: Map<string, number>) => validator.rule(value, path[path.length - 1] as number, names, path.slice(0, -1), prefix) };
  if (root.match !== undefined) {
    if (root.ruleSets !== undefined) validator.add(['match'], 'cannot be combined with ruleSets: (a file with match: is one rule set)');
    const name = fileScopeName(file);
    if (!name) {
      validator.add(['match'], `the file name must be a rule set name (lower-case letters, digits, -) followed by .yaml, .yml or .json: the set is named after it`);
      return { scopes: [], rules: [], prefix: '' };
    }
    const scope: RuleScope = { name, file };
    parseMatch(parser, root.match, ['match'], scope);
    return { scopes: [scope], rules: [], prefix: `${name}/` };
  }
  if (root.ruleSets === undefined) return { scopes: [], rules: [], prefix: '' };
  return { ...parseRuleSets(parser, root.ruleSets), prefix: '' };
}

export interface ParseRulesOptions {
  /** CEL environment; defaults to one declaring the request variables and `lookup`. */
  env?: Environment;
  /** Leave out the checks across rule sets (a rules directory runs them once over all its files). */
  skipScopeAnalysis?: boolean;
}

/** One finding of the loader, for `check`: the one-line text the service logs, its position and a code frame. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  /** `rules.yaml: rule "x" (#2): when: ... (line 12, column 18)`. */
  text: string;
  line?: number;
  column?: number;
  /** The lines around `line`, with a caret under the column when known. */
  frame?: string;
}

export type ParseRulesResult =
  | { ok: true; ruleSet: RuleSet; warnings: Diagnostic[] }
  | { ok: false; errors: string[]; diagnostics: Diagnostic[]; warnings: Diagnostic[] };

const FRAME_WIDTH = 160;

/**
 * Up to three lines of `source` around `line` (1-based), with a caret line under `column`. A caller
 * framing many problems of one file passes its lines, split once (splitting a 600 KB file for each
 * of 2,000 problems took seconds).
 */
export function codeFrame(source: string | readonly string[], line: number, column?: number, length = 1): string {
  const lines = typeof source === 'string' ? source.split(/\r?\n/) : source;
  const from = Math.max(1, line - 1);
  const to = Math.min(lines.length, line + 1);
  const width = String(to).length;
  const out: string[] = [];
  // Long lines are shown as a window of FRAME_WIDTH characters around the column (… marks a cut).
  const start = column !== undefined && column > FRAME_WIDTH / 2 ? column - 1 - FRAME_WIDTH / 2 : 0;
  const clip = (text: string, from: number): string => {
    if (text.length <= FRAME_WIDTH && from === 0) return text;
    return `${from > 0 ? '…' : ''}${text.slice(from, from + FRAME_WIDTH)}${from + FRAME_WIDTH < text.length ? '…' : ''}`;
  };
  for (let n = from; n <= to; n++) {
    out.push(`${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${clip(lines[n - 1] ?? '', n === line ? start : 0)}`);
    if (n === line && column !== undefined) {
      const offset = column - 1 - start + (start > 0 ? 1 : 0);
      out.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, offset))}${'^'.repeat(Math.max(1, Math.min(length, 80)))}`);
    }
  }
  return out.join('\n');
}

let defaultEnv: Environment | undefined;

/** Validates and compiles rules from text. `file` is only used in messages. Pure, no I/O. */
export function parseRules(text: string, file: string, options: ParseRulesOptions = {}): ParseRulesResult {
  let sourceLines: string[] | undefined;
  const lines = (): readonly string[] => (sourceLines ??= text.split(/\r?\n/));
  const lineCounter = new LineCounter();
  const { doc, errors } = parseYaml(text, lineCounter, MAX_FLOW_NESTING);
  if (!doc) {
    const diagnostics = errors.map((e): Diagnostic => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      const where = pos.line > 0 ? ` (line ${pos.line}, column ${pos.col})` : '';
      const message = `${file}: syntax error: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}${where}`;
      return pos.line > 0 ? { severity: 'error', text: message, line: pos.line, column: pos.col, frame: codeFrame(lines(), pos.line, pos.col) } : { severity: 'error', text: message };
    });
    return { ok: false, errors: diagnostics.map((d) => d.text), diagnostics, warnings: [] };
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    const message = `${file}: ${(err as Error).message}`;
    return { ok: false, errors: [message], diagnostics: [{ severity: 'error', text: message }], warnings: [] };
  }

  const env = options.env ?? (defaultEnv ??= createRulesEnvironment([LOOKUP_VARIABLE]));
  const validator = new RuleValidator(env);
  const rules: CompiledRule[] = [];
  const scopes: RuleScope[] = [];
  let scopedRules: CompiledRule[] = [];
  let lookups: LookupDefinition[] = [];
  if (isPlainObject(root) && root.lookups !== undefined) {
    const parsed = parseLookups(root.lookups, env);
    lookups = parsed.definitions;
    for (const problem of parsed.problems) validator.add(problem.path, problem.message);
    if (isPlainObject(root.lookups)) validator.lookupNames = new Set(Object.keys(root.lookups));
  }
  if (!isPlainObject(root)) {
    validator.add([], root === null || root === undefined ? 'is empty; expected a mapping with a "rules" list' : `must be a mapping with a "rules" list, got ${describe(root)}`);
  } else {
    validator.unknownKeys(root, TOP_LEVEL_KEYS, []);
    const scoped = scopeFile(root, file, validator, env);
    scopes.push(...scoped.scopes);
    scopedRules = scoped.rules;
    if (root.rules === undefined && root.ruleSets !== undefined) {
      // Only scoped sets: no rules for every call.
    } else if (!Array.isArray(root.rules)) {
      validator.add(['rules'], root.rules === undefined ? 'is required (a list of rules)' : `must be a list, got ${describe(root.rules)}`);
    } else {
      const names = new Map<string, number>();
      root.rules.forEach((value, index) => {
        const rule = validator.rule(value, index, names, ['rules'], scoped.prefix);
        if (rule) rules.push(scoped.prefix ? { ...rule, set: scoped.prefix.slice(0, -1) } : rule);
      });
    }
  }
  // Overrides are judged among the file's top-level rules (a set's rules run only for its calls).
  if (validator.problems.length === 0) validator.overrideWarnings(rules);
  rules.push(...scopedRules);
  const analysis = options.skipScopeAnalysis ? { errors: [], warnings: [] } : analyzeScopes(scopes);
  const diagnose = (problem: Problem, severity: Diagnostic['severity']): Diagnostic => formatProblem(file, problem, root, doc, lineCounter, text, lines, severity);
  const warnings = [...validator.warnings.map((p) => diagnose(p, 'warning')), ...analysis.warnings.map((text): Diagnostic => ({ severity: 'warning', text }))];
  if (validator.problems.length > 0 || analysis.errors.length > 0) {
    const diagnostics = [...validator.problems.map((p) => diagnose(p, 'error')), ...analysis.errors.map((text): Diagnostic => ({ severity: 'error', text }))];
    return { ok: false, errors: diagnostics.map((d) => d.text), diagnostics, warnings };
  }
  rules.forEach((rule, index) => (rule.index = index));
  return { ok: true, ruleSet: { file, version: rulesVersion(text), rules, lookups, scopes }, warnings };
}

/** Absolute position of `offset` in the CEL string at `node` (plain, quoted or block scalar), when it can be found. */
function positionInScalar(text: string, node: { range?: [number, number, number]; value?: unknown }, offset: number): number | undefined {
  if (!Array.isArray(node.range) || typeof node.value !== 'string') return undefined;
  const source = node.value;
  const before = source.slice(0, offset);
  const lineIndex = before.split('\n').length - 1;
  const column = offset - (before.lastIndexOf('\n') + 1);
  const sourceLine = source.split('\n')[lineIndex] ?? '';
  const raw = text.slice(node.range[0], node.range[1]);
  const found = raw.indexOf(sourceLine);
  return found === -1 ? undefined : node.range[0] + found + column;
}

function formatProblem(
  file: string,
  problem: Problem,
  root: unknown,
  doc: Document,
  lines: LineCounter,
  text: string,
  textLines: () => readonly string[],
  severity: Diagnostic['severity'],
): Diagnostic {
  let subject = '';
  let rest = problem.path;
  if (problem.path[0] === 'rules' && typeof problem.path[1] === 'number') {
    const index = problem.path[1];
    const rule = isPlainObject(root) && Array.isArray(root.rules) ? (root.rules[index] as unknown) : undefined;
    const name = isPlainObject(rule) && typeof rule.name === 'string' && rule.name.length > 0 ? rule.name : undefined;
    subject = name ? `rule "${name}" (#${index + 1}): ` : `rule #${index + 1}: `;
    rest = problem.path.slice(2);
  } else if (problem.path[0] === 'ruleSets' && typeof problem.path[1] === 'number') {
    const set = isPlainObject(root) && Array.isArray(root.ruleSets) ? (root.ruleSets[problem.path[1]] as unknown) : undefined;
    const name = isPlainObject(set) && typeof set.name === 'string' && set.name.length > 0 ? `rule set "${set.name}"` : `rule set #${problem.path[1] + 1}`;
    const index = problem.path[3];
    if (problem.path[2] === 'rules' && typeof index === 'number') {
      const rule = isPlainObject(set) && Array.isArray(set.rules) ? (set.rules[index] as unknown) : undefined;
      const ruleName = isPlainObject(rule) && typeof rule.name === 'string' && rule.name.length > 0 ? rule.name : undefined;
      subject = `${name}: ${ruleName ? `rule "${ruleName}" (#${index + 1})` : `rule #${index + 1}`}: `;
      rest = problem.path.slice(4);
    } else {
      subject = `${name}: `;
      rest = problem.path.slice(2);
    }
  } else if (problem.path[0] === 'lookups' && typeof problem.path[1] === 'string') {
    subject = `lookup "${problem.path[1]}": `;
    rest = problem.path.slice(2);
  }
  const field = fieldPath(rest);
  let line = lineOf(doc, lines, problem.path);
  let column: number | undefined;
  if (problem.offset !== undefined) {
    const node = doc.getIn(problem.path, true) as { range?: [number, number, number]; value?: unknown } | undefined;
    const position = node ? positionInScalar(text, node, problem.offset) : undefined;
    if (position !== undefined) ({ line, col: column } = lines.linePos(position));
  }
  const where = line ? ` (line ${line}${column !== undefined ? `, column ${column}` : ''})` : '';
  const diagnostic: Diagnostic = { severity, text: `${file}: ${subject}${field ? `${field}: ` : ''}${problem.message}${where}` };
  if (line) {
    diagnostic.line = line;
    if (column !== undefined) diagnostic.column = column;
    diagnostic.frame = codeFrame(textLines(), line, column, problem.length);
  }
  return diagnostic;
}

function lineOf(doc: Document, lines: LineCounter, path: Path): number | undefined {
  // The deepest node that exists on the path (a missing key points at its parent).
  for (let depth = path.length; depth >= 1; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node && Array.isArray(node.range)) return lines.linePos(node.range[0]).line || undefined;
  }
  return undefined;
}

/** Reads and compiles a rules file (async I/O). Throws `RulesFileError` listing every problem. */
export async function loadRulesFile(path: string, options: ParseRulesOptions = {}): Promise<RuleSet> {
  const text = await readRulesText(path);
  const result = parseRules(text, path, options);
  if (!result.ok) throw new RulesFileError(result.errors);
  return result.ruleSet;
}

/** Reads the file as UTF-8 with a size cap; I/O problems become a one-line `RulesFileError`. */
export async function readRulesText(path: string): Promise<string> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RulesFileError([`${path}: cannot read rules file (${code ?? (err as Error).message})`]);
  }
  if (content.length > MAX_RULES_FILE_BYTES) {
    throw new RulesFileError([`${path}: rules file is larger than ${MAX_RULES_FILE_BYTES} bytes`]);
  }
  return content.toString('utf8');
}

/**
 * Test files for `okta-token-hook test` (YAML, e.g. `rules.test.yaml` beside `rules.yaml`):
 *
 *   rules: rules.yaml                  # relative to this file
 *   lookups: { crm: { value: {...} } } # default stubs for every case (optional)
 *   tests:
 *     - name: portal users get their tier
 *       request: { template: authorization_code, set: { client.id: 0oa..., user.profile.department: Oncology } }
 *       lookups: { crm: timeout }
 *       expect:
 *         access: { claims: { tier: basic }, absent: [entitlements], lifetime: 900 }
 *         id: { removed: [locale], satisfy: { full_name: 'value.startsWith("Jordan")' } }
 *         rules: { matched: [hello, patient-portal] }
 *
 * Validation is strict (unknown keys are errors, with "did you mean") and every problem names the
 * file and line. Pure: the runner reads the files.
 */
import { Environment } from '@marcbachmann/cel-js';
import { LineCounter } from 'yaml';
import type { JsonValue } from '../../hook/types';
import { compileExpression, registerRegexFunctions, type CompiledExpression } from '../cel';
import { describe, didYouMean, isPlainObject, ProblemCollector, type Path } from '../../shared/values';
import { STUB_STATUSES, type LookupStub, type StubStatus } from './stubs';
import { TEMPLATE_NAMES, type TemplateName } from './templates';
import { parseYaml } from '../yaml';

export interface TokenExpectation {
  /** Claim -> expected value (deep equality). */
  claims: Map<string, JsonValue>;
  /** Claim -> CEL predicate over `value` (the claim's value) and `claims` (the whole token). */
  satisfy: Map<string, CompiledExpression>;
  /** Claims that must be in the resulting token, whatever their value. */
  present: string[];
  /** Claims that must not be in the resulting token. */
  absent: string[];
  /** Claims that were in the request's token and are not in the result. */
  removed: string[];
  lifetime?: number;
  /** The resulting token equals the request's. */
  unchanged?: boolean;
}

export interface RuleExpectation {
  matched?: string[];
  skipped?: string[];
  errored?: string[];
}

export interface CaseExpectation {
  /** true / false, or the exact errorSummary. */
  denied?: boolean | string;
  /** Neither token changes (and nothing is denied). */
  unchanged?: boolean;
  id?: TokenExpectation;
  access?: TokenExpectation;
  rules?: RuleExpectation;
  /** With scoped rule sets: the set selected for the call (`none` when no set matched). */
  ruleSet?: string;
}

export interface TestRequest {
  template?: TemplateName;
  /** Payload file, relative to the test file. */
  payload?: string;
  set: [string, unknown][];
}

export interface TestCase {
  name: string;
  line?: number;
  request: TestRequest;
  lookups: Map<string, LookupStub>;
  expect: CaseExpectation;
}

export interface TestFile {
  file: string;
  rules: string;
  cases: TestCase[];
}

export type ParseTestFileResult = { ok: true; spec: TestFile } | { ok: false; errors: string[] };

const TOP_KEYS = ['rules', 'lookups', 'tests'];
const CASE_KEYS = ['name', 'request', 'lookups', 'expect'];
const REQUEST_KEYS = ['template', 'payload', 'set'];
const EXPECT_KEYS = ['denied', 'unchanged', 'id', 'access', 'rules', 'ruleSet'];
const TOKEN_KEYS = ['claims', 'satisfy', 'present', 'absent', 'removed', 'lifetime', 'unchanged'];
const RULES_KEYS = ['matched', 'skipped', 'errored'];

let predicateEnv: Environment | undefined;

function predicateEnvironment(): Environment {
  if (!predicateEnv) {
    predicateEnv = new Environment({ enableOptionalTypes: true, homogeneousAggregateLiterals: false });
    predicateEnv.registerVariable('value', 'dyn', { description: "the claim's value in the resulting token" });
    predicateEnv.registerVariable('claims', 'map<string, dyn>', { description: 'every claim of the resulting token' });
    registerRegexFunctions(predicateEnv);
  }
  return predicateEnv;
}

class SpecValidator extends ProblemCollector {
  stringList(value: unknown, path: Path): string[] {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
      this.add(path, `must be a list of names, got ${describe(value)}`);
      return [];
    }
    return value as string[];
  }

  token(value: unknown, path: Path): TokenExpectation | undefined {
    if (!isPlainObject(value)) {
      this.add(path, `must be a mapping (${TOKEN_KEYS.join(', ')}), got ${describe(value)}`);
      return undefined;
    }
    this.unknownKeys(value, TOKEN_KEYS, path);
    const expectation: TokenExpectation = { claims: new Map(), satisfy: new Map(), present: [], absent: [], removed: [] };
    if (value.claims !== undefined) {
      if (!isPlainObject(value.claims)) this.add([...path, 'claims'], `must be a mapping of claim name to expected value, got ${describe(value.claims)}`);
      else for (const [name, claim] of Object.entries(value.claims)) expectation.claims.set(name, claim as JsonValue);
    }
    if (value.satisfy !== undefined) {
      if (!isPlainObject(value.satisfy)) this.add([...path, 'satisfy'], `must be a mapping of claim name to CEL predicate, got ${describe(value.satisfy)}`);
      else {
        for (const [name, source] of Object.entries(value.satisfy)) {
          if (typeof source !== 'string') {
            this.add([...path, 'satisfy', name], `must be a CEL predicate string (over value and claims), got ${describe(source)}`);
            continue;
          }
          const compiled = compileExpression(predicateEnvironment(), source, 'bool');
          if (!compiled.ok) this.add([...path, 'satisfy', name], `${compiled.message} (predicates read value, the claim's value, and claims)`);
          else expectation.satisfy.set(name, compiled.expression);
        }
      }
    }
    for (const key of ['present', 'absent', 'removed'] as const) {
      if (value[key] !== undefined) expectation[key] = this.stringList(value[key], [...path, key]);
    }
    if (value.lifetime !== undefined) {
      if (typeof value.lifetime !== 'number' || !Number.isInteger(value.lifetime)) this.add([...path, 'lifetime'], `must be a number of seconds, got ${describe(value.lifetime)}`);
      else expectation.lifetime = value.lifetime;
    }
    if (value.unchanged !== undefined) {
      if (typeof value.unchanged !== 'boolean') this.add([...path, 'unchanged'], `must be true or false, got ${describe(value.unchanged)}`);
      else expectation.unchanged = value.unchanged;
    }
    return expectation;
  }

  expect(value: unknown, path: Path): CaseExpectation {
    const expectation: CaseExpectation = {};
    if (!isPlainObject(value)) {
      this.add(path, `must be a mapping (${EXPECT_KEYS.join(', ')}), got ${describe(value)}`);
      return expectation;
    }
    this.unknownKeys(value, EXPECT_KEYS, path);
    if (value.denied !== undefined) {
      if (typeof value.denied !== 'boolean' && (typeof value.denied !== 'string' || value.denied.length === 0)) {
        this.add([...path, 'denied'], `must be true, false or the expected message, got ${describe(value.denied)}`);
      } else expectation.denied = value.denied;
    }
    if (value.unchanged !== undefined) {
      if (typeof value.unchanged !== 'boolean') this.add([...path, 'unchanged'], `must be true or false, got ${describe(value.unchanged)}`);
      else expectation.unchanged = value.unchanged;
    }
    for (const token of ['id', 'access'] as const) {
      if (value[token] !== undefined) expectation[token] = this.token(value[token], [...path, token]);
    }
    if (value.rules !== undefined) {
      if (!isPlainObject(value.rules)) this.add([...path, 'rules'], `must be a mapping (${RULES_KEYS.join(', ')}), got ${describe(value.rules)}`);
      else {
        this.unknownKeys(value.rules, RULES_KEYS, [...path, 'rules']);
        const rules: RuleExpectation = {};
        for (const key of RULES_KEYS as (keyof RuleExpectation)[]) {
          if (value.rules[key] !== undefined) rules[key] = this.stringList(value.rules[key], [...path, 'rules', key]);
        }
        expectation.rules = rules;
      }
    }
    if (value.ruleSet !== undefined) {
      if (typeof value.ruleSet !== 'string' || value.ruleSet.length === 0) this.add([...path, 'ruleSet'], `must be a rule set name (or none), got ${describe(value.ruleSet)}`);
      else expectation.ruleSet = value.ruleSet;
    }
    if (Object.keys(value).length === 0) this.add(path, 'expects nothing: add denied, unchanged, id, access, rules or ruleSet');
    return expectation;
  }

  lookups(value: unknown, path: Path): Map<string, LookupStub> {
    const stubs = new Map<string, LookupStub>();
    if (!isPlainObject(value)) {
      this.add(path, `must be a mapping of lookup name to a stub, got ${describe(value)}`);
      return stubs;
    }
    for (const [name, stub] of Object.entries(value)) {
      if (typeof stub === 'string') {
        if ((STUB_STATUSES as readonly string[]).includes(stub)) stubs.set(name, { status: stub as StubStatus });
        else this.add([...path, name], `"${stub}" is not a stub${didYouMean(stub, STUB_STATUSES)} (use { value: ... } or one of ${STUB_STATUSES.join(', ')})`);
      } else if (isPlainObject(stub) && Object.keys(stub).length === 1 && 'value' in stub) {
        stubs.set(name, { value: stub.value as JsonValue });
      } else {
        this.add([...path, name], `must be { value: ... } or one of ${STUB_STATUSES.join(', ')}, got ${describe(stub)}`);
      }
    }
    return stubs;
  }

  request(value: unknown, path: Path): TestRequest {
    const request: TestRequest = { set: [] };
    if (!isPlainObject(value)) {
      this.add(path, `must be a mapping with template or payload (and set), got ${describe(value)}`);
      return request;
    }
    this.unknownKeys(value, REQUEST_KEYS, path);
    if ((value.template === undefined) === (value.payload === undefined)) {
      this.add(path, `needs exactly one of template (${TEMPLATE_NAMES.join(', ')}) or payload (a JSON file)`);
    }
    if (value.template !== undefined) {
      if (typeof value.template !== 'string' || !(TEMPLATE_NAMES as string[]).includes(value.template)) {
        const hint = typeof value.template === 'string' ? didYouMean(value.template, TEMPLATE_NAMES) : '';
        this.add([...path, 'template'], `unknown template ${describe(value.template)}${hint} (templates: ${TEMPLATE_NAMES.join(', ')})`);
      } else request.template = value.template as TemplateName;
    }
    if (value.payload !== undefined) {
      if (typeof value.payload !== 'string' || value.payload.length === 0) this.add([...path, 'payload'], `must be a file name, got ${describe(value.payload)}`);
      else request.payload = value.payload;
    }
    if (value.set !== undefined) {
      if (!isPlainObject(value.set)) this.add([...path, 'set'], `must be a mapping of path to value, got ${describe(value.set)}`);
      else request.set = Object.entries(value.set);
    }
    return request;
  }
}

/** Deeper than the rules allow (a test may send a payload nested past the hook's 64 levels), far below what troubles the YAML parser. */
const TEST_FILE_MAX_FLOW_NESTING = 256;

/** Validates a test file's text. `file` is used in messages and to resolve relative names later. */
export function parseTestFile(text: string, file: string): ParseTestFileResult {
  const lineCounter = new LineCounter();
  const { doc, errors } = parseYaml(text, lineCounter, TEST_FILE_MAX_FLOW_NESTING);
  if (!doc) {
    return {
      ok: false,
      errors: errors.map((e) => {
        const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        return `${file}:${pos.line}:${pos.col}: syntax error: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`;
      }),
    };
  }
  const lineOf = (path: Path): number | undefined => {
    for (let depth = path.length; depth >= 1; depth--) {
      const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
      if (node && Array.isArray(node.range)) return lineCounter.linePos(node.range[0]).line || undefined;
    }
    return undefined;
  };
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { ok: false, errors: [`${file}: ${(err as Error).message}`] };
  }
  const v = new SpecValidator();
  const cases: TestCase[] = [];
  let rules = '';
  if (!isPlainObject(root)) {
    v.add([], `must be a mapping with rules and tests, got ${describe(root)}`);
  } else {
    v.unknownKeys(root, TOP_KEYS, []);
    if (typeof root.rules !== 'string' || root.rules.length === 0) v.add(['rules'], `must name the rules file (relative to this file), got ${describe(root.rules)}`);
    else rules = root.rules;
    const defaults = root.lookups === undefined ? new Map<string, LookupStub>() : v.lookups(root.lookups, ['lookups']);
    if (!Array.isArray(root.tests) || root.tests.length === 0) {
      v.add(['tests'], `must be a non-empty list of test cases, got ${describe(root.tests)}`);
    } else {
      const names = new Set<string>();
      root.tests.forEach((item, index) => {
        const path: Path = ['tests', index];
        if (!isPlainObject(item)) {
          v.add(path, `must be a mapping (${CASE_KEYS.join(', ')}), got ${describe(item)}`);
          return;
        }
        v.unknownKeys(item, CASE_KEYS, path);
        const name = typeof item.name === 'string' && item.name.length > 0 ? item.name : `case #${index + 1}`;
        if (typeof item.name !== 'string' || item.name.length === 0) v.add([...path, 'name'], `must be a non-empty string, got ${describe(item.name)}`);
        else if (names.has(name)) v.add([...path, 'name'], `duplicate test name "${name}"`);
        names.add(name);
        const request = v.request(item.request, [...path, 'request']);
        const lookups = new Map(defaults);
        if (item.lookups !== undefined) for (const [lookup, stub] of v.lookups(item.lookups, [...path, 'lookups'])) lookups.set(lookup, stub);
        const expect = v.expect(item.expect, [...path, 'expect']);
        const testCase: TestCase = { name, request, lookups, expect };
        const line = lineOf(path);
        if (line !== undefined) testCase.line = line;
        cases.push(testCase);
      });
    }
  }
  if (v.problems.length > 0) {
    return {
      ok: false,
      errors: v.problems.map((p) => {
        const line = lineOf(p.path);
        const field = p.path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${part}`)).join('').replace(/^\./, '');
        return `${file}${line ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${p.message}`;
      }),
    };
  }
  return { ok: true, spec: { file, rules, cases } };
}

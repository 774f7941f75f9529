/**
 * Runs rule tests: for each case, builds the request, plugs the case's lookup stubs into the
 * engine's lookup interface, and runs `preview` (the engine, the Okta-safe builder and Okta's patch
 * semantics, exactly as `explain`/`preview` and the service do), then checks the expectations on
 * the resulting tokens. Never uses the network.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { parseTokenHookEvent } from '../../hook/parse';
import type { JsonValue, TokenHookEvent } from '../../hook/types';
import type { LookupType } from '../../lookups/types';
import { cloneJson, didYouMean, isJsonObject } from '../../shared/values';
import { toCel } from '../cel';
import { RulesEngine } from '../engine';
import type { ParseRulesOptions } from '../load';
import { readRulesSource } from '../source';
import { formatDiffLines, preview, type PreviewReport, type TokenPreview } from '../preview';
import { RulesFileError, type RuleSet } from '../types';
import { parseTestFile, type CaseExpectation, type TestCase, type TokenExpectation } from './spec';
import { applyOverride, OverrideError } from './request';
import { StubLookups } from './stubs';
import { template } from './templates';

/** One unmet expectation: what was expected and what the tokens hold. */
export interface Failure {
  /** `access token, claim "tier"`, `outcome`, `rules matched`. */
  subject: string;
  expected: string;
  actual: string;
}

export interface CaseResult {
  name: string;
  line?: number;
  status: 'passed' | 'failed';
  failures: Failure[];
  /** Why the case could not run (bad request, invalid rules, unstubbed lookup). */
  error?: string;
  /** Context printed under a failure: the resulting tokens, skipped changes, lookups. */
  context: string[];
  matched: string[];
  durationMs: number;
}

export interface FileResult {
  file: string;
  rulesFile?: string;
  /** The test file or its rules file could not be used (each line a problem). */
  errors: string[];
  cases: CaseResult[];
  /** Every rule of the rules file, and those some case matched. */
  rules: string[];
  matched: Set<string>;
}

const show = (value: unknown): string => (value === undefined ? '(absent)' : (JSON.stringify(value) ?? String(value)));

/** JSON deep equality (object key order does not matter). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isJsonObject(a) && isJsonObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}

/** Names in a test file are relative to it. */
const relativeTo = (baseDir: string, name: string): string => (isAbsolute(name) ? name : join(baseDir, name));

async function readJson(path: string, cache: Map<string, unknown>): Promise<unknown> {
  if (!cache.has(path)) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new OverrideError(`payload ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    try {
      cache.set(path, JSON.parse(text));
    } catch (err) {
      throw new OverrideError(`payload ${path}: not valid JSON (${(err as Error).message})`);
    }
  }
  return cloneJson(cache.get(path));
}

async function buildEvent(testCase: TestCase, baseDir: string, payloads: Map<string, unknown>): Promise<TokenHookEvent> {
  const { request } = testCase;
  const event = (request.template ? template(request.template) : await readJson(relativeTo(baseDir, request.payload as string), payloads)) as TokenHookEvent;
  if (!isJsonObject(event) || !isJsonObject(event.data)) throw new OverrideError('the payload is not a token hook event (no data object)');
  for (const [path, value] of request.set) applyOverride(event, path, value);
  const parsed = parseTokenHookEvent(event);
  if (!parsed.ok) throw new OverrideError(`the request is not a token hook payload: ${parsed.message}`);
  return parsed.event;
}

function checkToken(label: 'id' | 'access', expected: TokenExpectation, token: TokenPreview, failures: Failure[]): void {
  const title = `${label} token`;
  const after = token.after ?? {};
  const before = token.before ?? {};
  if (!token.minted) {
    failures.push({ subject: title, expected: 'minted', actual: `not minted in this request (no data.${label === 'id' ? 'identity' : 'access'})` });
    return;
  }
  const has = (claims: Record<string, JsonValue>, name: string): boolean => Object.prototype.hasOwnProperty.call(claims, name);
  for (const [name, value] of expected.claims) {
    if (!has(after, name) || !deepEqual(after[name], value)) failures.push({ subject: `${title}, claim "${name}"`, expected: show(value), actual: show(after[name]) });
  }
  for (const [name, predicate] of expected.satisfy) {
    if (!has(after, name)) {
      failures.push({ subject: `${title}, claim "${name}"`, expected: `present and ${predicate.source}`, actual: '(absent)' });
      continue;
    }
    let result: unknown;
    try {
      result = predicate.run({ value: toCel(after[name]), claims: toCel(after) });
    } catch (err) {
      result = `error: ${(err as Error).message.split('\n')[0] ?? ''}`;
    }
    if (result !== true) failures.push({ subject: `${title}, claim "${name}"`, expected: predicate.source, actual: `${show(after[name])} (predicate gave ${String(result)})` });
  }
  for (const name of expected.present) {
    if (!has(after, name)) failures.push({ subject: `${title}, claim "${name}"`, expected: 'present', actual: '(absent)' });
  }
  for (const name of expected.absent) {
    if (has(after, name)) failures.push({ subject: `${title}, claim "${name}"`, expected: '(absent)', actual: show(after[name]) });
  }
  for (const name of expected.removed) {
    if (!has(before, name)) failures.push({ subject: `${title}, claim "${name}"`, expected: 'removed', actual: 'not in the request\'s token, so nothing to remove (use "absent")' });
    else if (has(after, name)) failures.push({ subject: `${title}, claim "${name}"`, expected: 'removed', actual: `still there: ${show(after[name])}` });
  }
  if (expected.lifetime !== undefined && token.lifetime?.after !== expected.lifetime) {
    failures.push({ subject: `${title}, lifetime`, expected: `${expected.lifetime} s`, actual: token.lifetime?.after === undefined ? '(not in the request)' : `${token.lifetime.after} s` });
  }
  if (expected.unchanged !== undefined) {
    const changed = token.diff.filter((d) => d.kind !== 'unchanged').map((d) => d.path);
    if (token.lifetime && token.lifetime.before !== token.lifetime.after) changed.push('lifetime');
    if (expected.unchanged !== (changed.length === 0)) {
      failures.push({ subject: title, expected: expected.unchanged ? 'unchanged' : 'changed', actual: changed.length === 0 ? 'unchanged' : `changed: ${changed.join(', ')}` });
    }
  }
}

function sorted(names: Iterable<string>): string {
  return `[${[...names].sort().join(', ')}]`;
}

function check(expect: CaseExpectation, report: PreviewReport, failures: Failure[]): void {
  const outcome = report.outcome === 'denied' ? `denied: ${JSON.stringify(report.message)}` : report.outcome === 'rejected' ? `rejected by Okta: ${report.rejected ?? ''}` : report.outcome;
  if (report.outcome === 'rejected') failures.push({ subject: 'response', expected: 'accepted by Okta', actual: outcome });
  if (expect.denied !== undefined) {
    const denied = report.outcome === 'denied';
    if (expect.denied === false && denied) failures.push({ subject: 'outcome', expected: 'not denied', actual: outcome });
    else if (expect.denied === true && !denied) failures.push({ subject: 'outcome', expected: 'denied', actual: outcome });
    else if (typeof expect.denied === 'string' && (!denied || report.message !== expect.denied)) {
      failures.push({ subject: 'outcome', expected: `denied: ${JSON.stringify(expect.denied)}`, actual: outcome });
    }
  }
  const tokenExpectations = (['id', 'access'] as const).filter((t) => expect[t] !== undefined);
  if (report.outcome === 'denied' && (tokenExpectations.length > 0 || expect.unchanged)) {
    if (expect.denied === undefined) failures.push({ subject: 'outcome', expected: 'tokens issued', actual: outcome });
  } else {
    if (expect.unchanged !== undefined) {
      const changed = report.tokens.flatMap((t) => t.diff.filter((d) => d.kind !== 'unchanged').map((d) => `${t.token}:${d.path}`));
      for (const t of report.tokens) if (t.lifetime && t.lifetime.before !== t.lifetime.after) changed.push(`${t.token}:lifetime`);
      if (expect.unchanged !== (changed.length === 0)) {
        failures.push({ subject: 'tokens', expected: expect.unchanged ? 'unchanged' : 'changed', actual: changed.length === 0 ? 'unchanged' : `changed: ${changed.join(', ')}` });
      }
    }
    for (const label of tokenExpectations) {
      const token = report.tokens.find((t) => t.token === label) as TokenPreview;
      checkToken(label, expect[label] as TokenExpectation, token, failures);
    }
  }
  if (expect.ruleSet !== undefined) {
    const actual = report.explain.ruleSet?.name ?? '(the rules declare no rule sets)';
    if (actual !== expect.ruleSet) failures.push({ subject: 'rule set', expected: expect.ruleSet, actual });
  }
  if (expect.rules) {
    const byResult = { matched: 'matched', skipped: 'not_matched', errored: 'error' } as const;
    for (const key of ['matched', 'skipped', 'errored'] as const) {
      const wanted = expect.rules[key];
      if (!wanted) continue;
      const actual = report.explain.explained.filter((r) => r.result === byResult[key]).map((r) => r.name);
      if (sorted(wanted) === sorted(actual)) continue;
      const missing = wanted.filter((name) => !actual.includes(name));
      const extra = actual.filter((name) => !wanted.includes(name));
      const delta = [missing.length > 0 && `missing ${missing.join(', ')}`, extra.length > 0 && `unexpected ${extra.join(', ')}`].filter(Boolean).join('; ');
      failures.push({ subject: `rules ${key}`, expected: sorted(wanted), actual: `${sorted(actual)} (${delta})` });
    }
  }
}

/** What a reader needs to see under a failure: outcome, resulting tokens, skipped changes, rule errors, lookups. */
function contextLines(report: PreviewReport, stubs: StubLookups): string[] {
  const lines: string[] = [];
  if (report.outcome === 'denied') lines.push(`outcome: denied by rule "${report.deniedBy ?? '?'}": ${JSON.stringify(report.message)}`);
  else {
    for (const token of report.tokens) {
      if (!token.minted) continue;
      lines.push(`${token.token} token after the hook (+ added, - removed, ~ changed):`);
      const interesting = token.diff.filter((d) => d.kind !== 'unchanged');
      lines.push(...(interesting.length > 0 ? formatDiffLines(interesting) : ['  (no claim changed)']));
    }
  }
  for (const skip of report.skipped) lines.push(`left out: ${skip.token} token, ${skip.claim} (rule "${skip.rule ?? '?'}"): ${skip.why}`);
  for (const rule of report.explain.explained) {
    if (rule.result === 'error') lines.push(`rule "${rule.name}" failed: ${rule.error ?? ''}${rule.detail ? ` (${rule.detail})` : ''}; onError: ${rule.onError ?? 'skip'}`);
    for (const fallback of rule.fallbacks ?? []) lines.push(`rule "${rule.name}": ${fallback.claim} took its fallback (lookup ${fallback.lookups.join(', ')} failed)`);
  }
  for (const name of stubs.called) {
    const outcome = stubs.outcome(name);
    lines.push(`lookup ${name}: ${outcome.status}${outcome.ok ? ` -> ${show(outcome.value)}` : ` (${outcome.error ?? ''})`}`);
  }
  return lines;
}

async function runCase(testCase: TestCase, ruleSet: RuleSet, baseDir: string, payloads: Map<string, unknown>): Promise<CaseResult> {
  const started = performance.now();
  const result: CaseResult = { name: testCase.name, status: 'failed', failures: [], context: [], matched: [], durationMs: 0 };
  if (testCase.line !== undefined) result.line = testCase.line;
  const finish = (): CaseResult => {
    result.durationMs = performance.now() - started;
    if (!result.error && result.failures.length === 0) result.status = 'passed';
    return result;
  };
  const types = new Map<string, LookupType>(ruleSet.lookups.map((l) => [l.name, l.type]));
  const unknown = [...testCase.lookups.keys()].filter((name) => !types.has(name));
  if (unknown.length > 0) {
    result.error = unknown.map((name) => `lookup stub "${name}" names no lookup of ${ruleSet.file}${didYouMean(name, types.keys())}`).join('; ');
    return finish();
  }
  let event: TokenHookEvent;
  try {
    event = await buildEvent(testCase, baseDir, payloads);
  } catch (err) {
    if (!(err instanceof OverrideError)) throw err;
    result.error = `request: ${err.message}`;
    return finish();
  }
  const stubs = new StubLookups(testCase.lookups, types);
  const engine = new RulesEngine(ruleSet, { lookups: stubs });
  const report = await preview(engine, event, { debugContext: true });
  result.matched = report.explain.explained.filter((r) => r.result === 'matched').map((r) => r.name);
  if (stubs.missing.size > 0) {
    const users = (name: string): string => ruleSet.rules.filter((r) => r.lookups.has(name)).map((r) => `"${r.name}"`).join(', ');
    result.error = [...stubs.missing]
      .map((name) => `lookup "${name}" (read by rule ${users(name)}) is not stubbed: add lookups: { ${name}: { value: ... } } or a failure (timeout, error, ...) to the case`)
      .join('; ');
  }
  check(testCase.expect, report, result.failures);
  if (result.error || result.failures.length > 0) result.context = contextLines(report, stubs);
  return finish();
}

/** Reads and runs one test file. Never throws for problems in the files: they are reported in `errors`. */
export async function runTestFile(file: string, options: ParseRulesOptions = {}): Promise<FileResult> {
  const result: FileResult = { file, errors: [], cases: [], rules: [], matched: new Set() };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    result.errors.push(`${file}: cannot read test file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return result;
  }
  const parsed = parseTestFile(text, file);
  if (!parsed.ok) {
    result.errors.push(...parsed.errors);
    return result;
  }
  const baseDir = dirname(file);
  const rulesFile = relativeTo(baseDir, parsed.spec.rules);
  result.rulesFile = rulesFile;
  let ruleSet: RuleSet;
  try {
    // A rules file or a rules directory, read as the service reads it.
    const rules = (await readRulesSource(rulesFile)).parse({ env: options.env });
    if (!rules.ok) throw new RulesFileError(rules.errors);
    ruleSet = rules.ruleSet;
  } catch (err) {
    if (!(err instanceof RulesFileError)) throw err;
    result.errors.push(`${file}: rules file ${rulesFile} is invalid, so no case can run:`, ...err.errors.map((e) => `  ${e}`));
    return result;
  }
  result.rules = ruleSet.rules.map((r) => r.name);
  const payloads = new Map<string, unknown>();
  for (const testCase of parsed.spec.cases) {
    const caseResult = await runCase(testCase, ruleSet, baseDir, payloads);
    for (const name of caseResult.matched) result.matched.add(name);
    result.cases.push(caseResult);
  }
  return result;
}

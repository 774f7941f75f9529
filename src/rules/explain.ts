/**
 * "Why is my claim missing?": runs the rules and the Okta-safe builder exactly as the service does
 * for one payload and reports, per rule, whether it matched (and the condition's value), what it
 * asked to change in which token, and what happened to each change (applied as add/replace/remove,
 * or skipped and why). Pure: no I/O; the CLI reads the files and prints.
 */
import { buildResponse, type BuildOutcome } from '../hook/builder';
import { LIFETIME_TARGET, targetLabel, type AppliedOperation, type SkippedChange, type SkipReason } from '../hook/decision';
import { summarizeEvent, type EventSummary } from '../hook/parse';
import type { JsonValue, TokenHookEvent, TokenHookResponse, TokenKind } from '../hook/types';
import type { RuleResult } from '../hook/engine';
import type { CacheResult, LookupDefinition, LookupStatus, LookupType } from '../lookups/types';
import { RulesEngine, type RuleTrace } from './engine';
import { describeScope } from './sets';
import { TOKEN_LABEL } from './types';

export type ChangeStatus = 'applied' | 'skipped' | 'denied';

export interface ExplainedChange {
  token: 'id' | 'access';
  kind: 'set' | 'remove' | 'lifetime';
  claim: string;
  value?: JsonValue;
  status: ChangeStatus;
  /** Operation sent to Okta (applied only). */
  op?: AppliedOperation['op'];
  /** Why it was left out (skipped only). */
  reason?: SkipReason;
  /** Human explanation of `reason` / `denied`. */
  why?: string;
}

export interface ExplainedRule {
  /** 1-based position in the file. */
  number: number;
  name: string;
  description?: string;
  result: RuleResult;
  /** Source of the `when` condition; absent means "always". */
  when?: string;
  /** Value of the condition; absent when it failed or is not evaluated. */
  condition?: boolean;
  error?: string;
  /** cel-js' own message (may quote request data: local use only). */
  detail?: string;
  onError?: 'skip' | 'deny';
  deny?: string;
  /** Lookups the rule reads. */
  lookups?: string[];
  /** Claims set from their `fallback` because a lookup failed. */
  fallbacks?: { claim: string; lookups: string[] }[];
  changes: ExplainedChange[];
}

/** One lookup of the rules file and what it did for this call. */
export interface ExplainedLookup {
  name: string;
  type: LookupType;
  /** What it calls, in templated form (`GET https://crm/users/{user.id}`). */
  target: string;
  /** Rules that read it. */
  usedBy: string[];
  /** False when no rule in play needed it (its rules' conditions were false). */
  called: boolean;
  status?: LookupStatus;
  cache?: CacheResult;
  stale?: 'while_revalidate' | 'if_error';
  httpStatus?: number;
  durationMs?: number;
  error?: string;
  /** The value rules saw (local use only: may contain user data). */
  value?: JsonValue;
}

export interface ExplainReport {
  rules: { file: string; version: string; count: number };
  request: EventSummary;
  outcome: BuildOutcome;
  /** Rule whose deny (or failing onError: deny) refused the token. */
  deniedBy?: string;
  /** With scoped rule sets: the set selected for this call (`none`: no set matched, only unscoped rules ran), and how it matches. */
  ruleSet?: { name: string; match?: string };
  explained: ExplainedRule[];
  /** Every lookup of the file, called or not. */
  lookups: ExplainedLookup[];
  /** Every change the builder left out, in order. */
  skipped: SkippedChange[];
  response: TokenHookResponse;
  bytes: number;
}

export interface ExplainOptions {
  /** Include `debugContext` as the service does with HOOK_DEBUG_CONTEXT=true (the default). */
  debugContext: boolean;
  /** The request deadline, as the service applies HOOK_DEADLINE_MS to lookups. */
  signal?: AbortSignal;
}

/** What a lookup calls, without request values. */
export function lookupTarget(definition: LookupDefinition): string {
  return definition.type === 'http' ? `${definition.method} ${definition.url.source}` : `GET ${definition.orgUrl}/api/v1/users/{userId}/groups`;
}

const label = (token: TokenKind): 'id' | 'access' => TOKEN_LABEL[token];

function reasonText(skip: SkippedChange, overriddenBy: string | undefined): string {
  const token = `${label(skip.token)} token`;
  switch (skip.reason) {
    case 'token_not_minted':
      return `no ${token} is being minted in this call`;
    case 'reserved_claim':
      return `"${skip.claim}" is reserved by Okta in the ${token}`;
    case 'claim_absent':
      return `"${skip.claim}" is not in the ${token}, nothing to remove`;
    case 'lifetime_out_of_range':
      return 'lifetime outside 300..86400 seconds';
    case 'invalid_claim_name':
      return 'invalid claim name';
    case 'overridden':
      return overriddenBy ? `overridden by rule "${overriddenBy}" (later rules win)` : 'overridden by a later change';
    case 'null_value':
      return 'the expression returned null, so nothing is set';
    case 'response_too_large':
      return "dropped to keep the response under Okta's 256 KB limit";
    case 'parent_missing':
      return `its parent is not in the ${token} (or is not an object/array): Okta only patches members and elements of claims the token already has`;
    case 'index_out_of_range':
      return `the index is past the end of the array in the ${token}`;
    case 'claim_replaced':
      return overriddenBy ? `the whole claim is set or removed by rule "${overriddenBy}", which wins over changes inside it` : 'the whole claim is set or removed by another change';
    default:
      return skip.reason;
  }
}

const sameTarget = (a: { token: TokenKind; claim: string; rule?: string }, b: { token: TokenKind; claim: string; rule?: string }): boolean =>
  a.token === b.token && a.claim === b.claim && a.rule === b.rule;

/** Evaluates and builds like the service, then lines the builder's result up with each rule. */
export async function explain(engine: RulesEngine, event: TokenHookEvent, options: ExplainOptions): Promise<ExplainReport> {
  const evaluation = await engine.evaluate(event, { explain: true, signal: options.signal });
  const built = buildResponse(event, evaluation, { debugContext: options.debugContext, version: engine.version });
  const { decision } = evaluation;
  const applied = [...built.applied];
  const skipped = [...built.skipped];

  // For `overridden`: the rule of the last change per (token, claim), i.e. the one that won.
  const winner = new Map<string, string | undefined>();
  for (const change of decision.changes) winner.set(`${change.token}\u0000${targetLabel(change.claim, change.at)}`, change.rule);
  // For `claim_replaced`: the rule that set or removed the whole claim.
  const wholeBy = new Map<string, string | undefined>();
  for (const change of decision.changes) if (!change.at) wholeBy.set(`${change.token}\u0000${change.claim}`, change.rule);
  for (const lifetime of decision.lifetimes) winner.set(`${lifetime.token}\u0000${LIFETIME_TARGET}`, lifetime.rule);

  const resolve = (target: { token: TokenKind; claim: string; rule?: string; base?: string }): Omit<ExplainedChange, 'token' | 'kind' | 'claim' | 'value'> => {
    if (decision.deny) return { status: 'denied', why: `token refused by rule "${decision.deny.rule ?? '?'}"` };
    const a = applied.findIndex((op) => sameTarget(op, target));
    if (a !== -1) {
      const [op] = applied.splice(a, 1);
      return { status: 'applied', op: op?.op };
    }
    const s = skipped.findIndex((skip) => sameTarget(skip, target));
    if (s !== -1) {
      const skip = skipped[s] as SkippedChange;
      skipped.splice(s, 1);
      const by = skip.reason === 'claim_replaced' ? wholeBy.get(`${skip.token}\u0000${target.base ?? skip.claim}`) : winner.get(`${skip.token}\u0000${skip.claim}`);
      return { status: 'skipped', reason: skip.reason, why: reasonText(skip, by) };
    }
    return { status: 'skipped', why: 'not in the response' };
  };

  const explained = evaluation.rules.map((trace: RuleTrace): ExplainedRule => {
    const rule = engine.ruleSet.rules[trace.index];
    const entry: ExplainedRule = { number: trace.index + 1, name: trace.rule, result: trace.result, changes: [] };
    if (rule?.description) entry.description = rule.description;
    if (rule?.when) entry.when = rule.when.source;
    if (trace.condition !== undefined) entry.condition = trace.condition;
    if (trace.error !== undefined) entry.error = trace.error;
    if (trace.detail !== undefined) entry.detail = trace.detail;
    if (trace.onError !== undefined) entry.onError = trace.onError;
    if (trace.deny !== undefined) entry.deny = trace.deny;
    if (trace.lookups) entry.lookups = trace.lookups;
    if (trace.fallbacks) entry.fallbacks = trace.fallbacks;
    for (const change of trace.changes) {
      const claim = targetLabel(change.claim, change.at);
      const item: ExplainedChange = { token: label(change.token), kind: change.kind, claim, ...resolve({ token: change.token, claim, rule: change.rule, base: change.claim }) };
      if (change.kind === 'set') item.value = change.value;
      entry.changes.push(item);
    }
    for (const lifetime of trace.lifetimes) {
      const target = { token: lifetime.token, claim: LIFETIME_TARGET, rule: lifetime.rule };
      entry.changes.push({ token: label(lifetime.token), kind: 'lifetime', claim: LIFETIME_TARGET, value: lifetime.seconds, ...resolve(target) });
    }
    return entry;
  });

  const outcomes = new Map(evaluation.lookups.map((outcome) => [outcome.lookup, outcome]));
  const lookups = engine.ruleSet.lookups.map((definition): ExplainedLookup => {
    const entry: ExplainedLookup = {
      name: definition.name,
      type: definition.type,
      target: lookupTarget(definition),
      usedBy: engine.ruleSet.rules.filter((rule) => rule.lookups.has(definition.name)).map((rule) => rule.name),
      called: false,
    };
    const outcome = outcomes.get(definition.name);
    if (!outcome) return entry;
    entry.called = true;
    entry.status = outcome.status;
    entry.durationMs = outcome.durationMs;
    if (outcome.cache) entry.cache = outcome.cache;
    if (outcome.stale) entry.stale = outcome.stale;
    if (outcome.httpStatus !== undefined) entry.httpStatus = outcome.httpStatus;
    if (outcome.error) entry.error = outcome.error;
    if (outcome.ok && outcome.value !== undefined) entry.value = outcome.value;
    return entry;
  });

  const report: ExplainReport = {
    rules: { file: engine.ruleSet.file, version: engine.version, count: engine.ruleCount },
    request: summarizeEvent(event),
    outcome: built.outcome,
    explained,
    lookups,
    skipped: built.skipped,
    response: built.response,
    bytes: built.bytes,
  };
  if (decision.deny?.rule) report.deniedBy = decision.deny.rule;
  if (evaluation.ruleSet !== undefined) {
    const scope = engine.ruleSet.scopes.find((candidate) => candidate.name === evaluation.ruleSet);
    report.ruleSet = scope ? { name: scope.name, match: describeScope(scope) } : { name: evaluation.ruleSet };
  }
  return report;
}

function short(value: JsonValue | undefined, max = 80): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function describeResult(rule: ExplainedRule): string {
  if (rule.result === 'error') {
    const action = rule.onError === 'deny' ? 'onError: deny, the token is refused' : 'onError: skip, the rule changes nothing';
    return `ERROR ${rule.error ?? ''}${rule.detail ? ` (${rule.detail})` : ''}; ${action}`;
  }
  const condition = rule.when === undefined ? 'no condition' : `condition = ${String(rule.condition)}`;
  if (rule.result === 'not_matched') return `not matched (${condition})`;
  return `matched (${condition})${rule.deny !== undefined ? `, denies: "${rule.deny}"` : ''}`;
}

function describeChange(change: ExplainedChange): string {
  const token = change.token.padEnd(6);
  const what =
    change.kind === 'remove' ? `remove ${change.claim}`
      : change.kind === 'lifetime' ? `lifetime = ${short(change.value)} s`
        : `set ${change.claim} = ${short(change.value)}`;
  const status =
    change.status === 'applied' ? `applied (${change.op === 'lifetime' ? `replace ${LIFETIME_TARGET}` : change.op})`
      : change.status === 'denied' ? `not applied: ${change.why ?? 'token refused'}`
        : `SKIPPED: ${change.why ?? change.reason ?? ''}`;
  return `     ${token} ${what}  ->  ${status}`;
}

function describeLookup(lookup: ExplainedLookup): string {
  const head = `  ${lookup.name} (${lookup.type} ${lookup.target})`;
  if (!lookup.called) {
    return `${head}: not called (${lookup.usedBy.length === 0 ? 'no rule reads it' : 'no rule in play needed it'})`;
  }
  const facts: string[] = [];
  if (lookup.cache) facts.push(`cache ${lookup.cache}`);
  if (lookup.httpStatus !== undefined) facts.push(`HTTP ${lookup.httpStatus}`);
  if (lookup.durationMs !== undefined) facts.push(`${lookup.durationMs.toFixed(1)} ms`);
  const failed = lookup.status !== 'success' && lookup.status !== 'not_found' && lookup.status !== 'skipped';
  const status = failed ? `FAILED ${lookup.status}${lookup.error ? ` (${lookup.error})` : ''}` : lookup.status;
  const stale =
    lookup.stale === 'if_error' ? '; served the last cached value (stale-if-error)'
      : lookup.stale === 'while_revalidate' ? '; served a cached value while it is refreshed' : '';
  const value = lookup.value !== undefined ? ` -> ${short(lookup.value)}` : failed && !lookup.stale ? ' -> rules reading it use their fallback or onError' : '';
  return `${head}: ${status}${facts.length > 0 ? `, ${facts.join(', ')}` : ''}${stale}${value}`;
}

/** The `Rules:`, `Request:` (and `Rule set:`) lines that start the explain and preview reports. */
export function reportHeader(report: Pick<ExplainReport, 'rules' | 'request' | 'ruleSet'>): string[] {
  const r = report.request;
  const facts = [r.eventId && `event ${r.eventId}`, r.clientId && `client ${r.clientId}`, r.grantType && `grant ${r.grantType}`, `tokens ${r.tokens}`];
  const lines = [
    `Rules:    ${report.rules.file} (version ${report.rules.version}, ${report.rules.count} rule${report.rules.count === 1 ? '' : 's'})`,
    `Request:  ${facts.filter(Boolean).join(', ')}`,
  ];
  // With scoped rule sets: which one this call selected, and how it matches.
  const set = report.ruleSet;
  if (set) lines.push(`Rule set: ${set.match ?? `${set.name} (no scoped set matched: only the rules for every call ran)`}`);
  return lines;
}

/** The human-readable report printed by `okta-token-hook explain`. */
export function formatExplainText(report: ExplainReport): string {
  const lines: string[] = reportHeader(report);
  const applied = report.explained.reduce((n, rule) => n + rule.changes.filter((c) => c.status === 'applied').length, 0);
  lines.push(
    report.outcome === 'denied'
      ? `Outcome:  denied by rule "${report.deniedBy ?? '?'}": no token is issued`
      : `Outcome:  ${report.outcome} (${applied} operation${applied === 1 ? '' : 's'}, ${report.skipped.length} skipped)`,
  );
  if (report.lookups.length > 0) {
    lines.push('', 'Lookups:');
    for (const lookup of report.lookups) lines.push(describeLookup(lookup));
  }
  lines.push('');
  for (const rule of report.explained) {
    lines.push(`#${rule.number} ${rule.name}: ${describeResult(rule)}`);
    if (rule.when !== undefined && rule.result !== 'matched') lines.push(`     when: ${rule.when}`);
    for (const fallback of rule.fallbacks ?? []) {
      lines.push(`     fallback used for ${fallback.claim}: lookup ${fallback.lookups.map((name) => `"${name}"`).join(', ')} failed`);
    }
    for (const change of rule.changes) lines.push(describeChange(change));
  }
  if (report.skipped.length > 0) {
    lines.push('', 'Skipped changes:');
    for (const skip of report.skipped) {
      const change = report.explained.flatMap((rule) => rule.changes.map((c) => ({ rule: rule.name, c }))).find(
        ({ rule, c }) => rule === skip.rule && c.reason === skip.reason && c.claim === skip.claim && c.token === label(skip.token),
      );
      lines.push(`  - ${label(skip.token)} token, ${skip.claim} (rule "${skip.rule ?? '?'}"): ${change?.c.why ?? skip.reason}`);
    }
  }
  lines.push('', `Response (HTTP 200, ${report.bytes} bytes):`, JSON.stringify(report.response, null, 2));
  return `${lines.join('\n')}\n`;
}

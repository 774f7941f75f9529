/**
 * The rules engine: evaluates a compiled `RuleSet` against one hook call and returns a `Decision`
 * (claim changes, lifetimes, deny) plus one trace per rule. It does not know Okta's patch rules;
 * the response builder applies those (and records what it skipped).
 *
 * Semantics: rules run in file order; every matching rule contributes; for the same claim and
 * token the later change wins (the builder reports earlier ones as `overridden`); the first deny
 * of a matching rule wins over every change. A CEL runtime error makes the whole rule contribute
 * nothing (`onError: skip`) or refuses the token with a generic summary (`onError: deny`).
 *
 * Lookups: which lookups each rule reads is known from its expressions at load time. Per call,
 * the `when` of every rule that reads lookups but whose `when` does not is evaluated first; the
 * lookups of the rules still in play (condition true, or a condition that itself reads lookups)
 * are then resolved in parallel under `options.signal` (the request deadline), and only then are
 * the rules evaluated in order. An expression that fails because a lookup it reads failed uses its
 * claim's `fallback` when there is one, else the rule follows its `onError`.
 */
import type { ClaimChange, Decision, LifetimeChange } from '../hook/decision';
import type { ClaimsEngine, EvaluateOptions, Evaluation, RuleOutcome } from '../hook/engine';
import type { JsonValue, TokenHookEvent } from '../hook/types';
import type { LookupContext, LookupDefinition, LookupOutcome } from '../lookups/types';
import { describeRuntimeError, fromCel, NotJsonError, toCel, type CompiledExpression } from './cel';
import { RequestContext } from './context';
import { NO_RULE_SET, selectScope } from './sets';
import type { CompiledRule, RuleSet } from './types';

/** errorSummary sent to Okta (and shown to the user) when a rule with `onError: deny` fails. */
export const RULE_ERROR_DENY_SUMMARY = 'The token could not be issued because a claim rule could not be evaluated.';

/** Everything one rule did for one call; `explain` prints it, metrics use `rule`/`result`. */
export interface RuleTrace extends RuleOutcome {
  /** 0-based position in the file. */
  index: number;
  /** Changes the rule asked for (empty unless matched without error). */
  changes: ClaimChange[];
  lifetimes: LifetimeChange[];
  /** The rule's deny message, when it matched and is a deny rule. */
  deny?: string;
  /** Field whose expression failed (`when`, `claims[1].expr`). */
  field?: string;
  /** cel-js' own error text; may quote request data, so only filled with `explain: true`. */
  detail?: string;
  /** Lookups the rule reads (absent when none). */
  lookups?: string[];
  /** Claims set from their `fallback` because a lookup their expression reads failed. */
  fallbacks?: { claim: string; lookups: string[] }[];
}

export interface RulesEvaluation extends Evaluation {
  rules: RuleTrace[];
  /** The lookups resolved for this call (only those a rule in play needed). */
  lookups: LookupOutcome[];
}

export interface RulesEvaluateOptions extends EvaluateOptions {
  /** Fill `RuleTrace.detail` (local `explain` command only: may contain request data). */
  explain?: boolean;
}

/** What resolves lookups for the engine: a `LookupSet` (src/lookups), or a stand-in (explain --offline). */
export interface LookupResolver {
  resolve(names: Iterable<string>, ctx: LookupContext, options: { signal?: AbortSignal }): Promise<Map<string, LookupOutcome>>;
}

export interface RulesEngineOptions {
  /** Needed when the rule set defines lookups; without it every lookup a rule needs fails. */
  lookups?: LookupResolver;
}

class RuleFailure extends Error {
  constructor(
    readonly field: string,
    readonly failure: unknown,
  ) {
    super(field);
  }
}

function run(expression: CompiledExpression, ctx: RequestContext, field: string): unknown {
  try {
    return expression.run(ctx as unknown as Record<string, unknown>);
  } catch (err) {
    throw new RuleFailure(field, err);
  }
}

function toJson(value: unknown, field: string): JsonValue {
  try {
    return fromCel(value);
  } catch (err) {
    throw new RuleFailure(field, err);
  }
}

type WhenResult = { value: boolean } | { failure: RuleFailure };

function evaluateWhen(when: CompiledExpression, ctx: RequestContext): WhenResult {
  try {
    const value = run(when, ctx, 'when');
    if (typeof value !== 'boolean') {
      throw new RuleFailure('when', new NotJsonError(`condition returned ${value === null ? 'null' : typeof value}, expected bool`));
    }
    return { value };
  } catch (err) {
    return { failure: err instanceof RuleFailure ? err : new RuleFailure('when', err) };
  }
}

type Outcomes = ReadonlyMap<string, LookupOutcome>;
const NO_OUTCOMES: Outcomes = new Map();

/** Lookups among `names` that gave no usable value for this call. */
function failedLookups(names: ReadonlySet<string>, outcomes: Outcomes): string[] {
  const failed: string[] = [];
  for (const name of names) if (!outcomes.get(name)?.ok) failed.push(name);
  return failed;
}

function describeLookupFailure(name: string, outcome: LookupOutcome | undefined): string {
  if (!outcome) return `lookup "${name}" was not resolved`;
  return `lookup "${name}" failed (${outcome.status}${outcome.error ? `: ${outcome.error}` : ''})`;
}

/**
 * Cached lookup values are frozen and shared by every request that reads them, so their CEL form
 * (integers as BigInt) is computed once per value, not per request.
 */
const celValues = new WeakMap<object, unknown>();

function lookupCelValue(value: JsonValue | undefined): unknown {
  if (value === null || value === undefined || typeof value !== 'object') return toCel(value ?? null);
  let converted = celValues.get(value);
  if (converted === undefined) {
    converted = toCel(value);
    if (Object.isFrozen(value)) celValues.set(value, converted);
  }
  return converted;
}

/** `debugContext.lookups`: per lookup `status/cache/ms` (no values, no errors). */
function lookupDebug(outcomes: Outcomes): Record<string, JsonValue> {
  const debug: Record<string, JsonValue> = {};
  for (const [name, outcome] of outcomes) {
    debug[name] = `${outcome.status}${outcome.cache ? `/${outcome.cache}` : ''}/${Math.round(outcome.durationMs)}ms`;
  }
  return debug;
}

/** Lookup name -> identity of its definition: two engines share a lookup's outcome only when these are equal. */
export function lookupFingerprints(definitions: readonly LookupDefinition[]): Map<string, string> {
  return new Map(definitions.map((definition) => [definition.name, `${definition.type}:${definition.fingerprint}`]));
}

const NOT_CONFIGURED: LookupResolver = {
  async resolve(names) {
    const outcomes = new Map<string, LookupOutcome>();
    for (const name of names) outcomes.set(name, { lookup: name, type: 'http', ok: false, status: 'error', error: 'lookups are not configured in this engine', durationMs: 0 });
    return outcomes;
  },
};

export class RulesEngine implements ClaimsEngine {
  readonly version: string;
  readonly ruleSet: RuleSet;
  readonly #lookups: LookupResolver;
  /** Rules that read at least one lookup. */
  readonly #lookupRules: readonly CompiledRule[];
  readonly lookupFingerprints: ReadonlyMap<string, string>;

  constructor(ruleSet: RuleSet, options: RulesEngineOptions = {}) {
    this.ruleSet = ruleSet;
    this.version = ruleSet.version;
    this.lookupFingerprints = lookupFingerprints(ruleSet.lookups);
    this.#lookups = options.lookups ?? NOT_CONFIGURED;
    this.#lookupRules = ruleSet.rules.filter((rule) => rule.lookups.size > 0);
  }

  get ruleCount(): number {
    return this.ruleSet.rules.length;
  }

  /** What resolves this engine's lookups (shadow rules share the live rules' lookups through it). */
  get lookupResolver(): LookupResolver {
    return this.#lookups;
  }

  /** Synchronous unless a lookup must be resolved for this call (see `ClaimsEngine.evaluate`). */
  evaluate(event: TokenHookEvent, options: RulesEvaluateOptions = {}): RulesEvaluation | Promise<RulesEvaluation> {
    if (this.#lookupRules.length === 0) return this.evaluateNow(event, options);
    const values: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    const ctx = new RequestContext(event, { lookup: values });
    const scope = this.#select(ctx);
    // Conditions that need no lookup decide whether their rule's lookups are needed at all.
    const pre = new Map<number, WhenResult>();
    const needed = new Set<string>();
    for (const rule of this.#lookupRules) {
      if (rule.set !== undefined && rule.set !== scope) continue;
      if (rule.when && rule.whenLookups.size === 0) {
        const result = evaluateWhen(rule.when, ctx);
        pre.set(rule.index, result);
        if (!('value' in result) || !result.value) continue;
      }
      for (const name of rule.lookups) needed.add(name);
    }
    if (needed.size === 0) return this.#run(ctx, options, pre, NO_OUTCOMES, scope);
    const known = new Map<string, LookupOutcome>();
    if (options.resolved) {
      for (const name of needed) {
        const outcome = options.resolved.get(name);
        if (outcome) known.set(name, outcome);
      }
      for (const name of known.keys()) needed.delete(name);
    }
    const settle = (outcomes: Outcomes): RulesEvaluation => {
      for (const [name, outcome] of outcomes) if (outcome.ok) values[name] = lookupCelValue(outcome.value);
      return this.#run(ctx, options, pre, outcomes, scope);
    };
    if (needed.size === 0) return settle(known);
    return this.#lookups.resolve(needed, ctx as unknown as LookupContext, { signal: options.signal }).then((outcomes) => {
      for (const [name, outcome] of known) outcomes.set(name, outcome);
      return settle(outcomes);
    });
  }

  /**
   * Synchronous core without I/O: lookups are not resolved, so a rule that needs one fails as
   * "not resolved" (its `fallback`/`onError` apply). `evaluate` is the public, async seam.
   */
  evaluateNow(event: TokenHookEvent, options: RulesEvaluateOptions = {}): RulesEvaluation {
    const ctx = new RequestContext(event, { lookup: Object.create(null) });
    return this.#run(ctx, options, undefined, NO_OUTCOMES, this.#select(ctx));
  }

  /** Name of the scoped set selected for this call (`none` when sets exist but none matched); undefined without sets. */
  #select(ctx: RequestContext): string | undefined {
    if (this.ruleSet.scopes.length === 0) return undefined;
    const client = ctx.client as { id?: unknown };
    const selected = selectScope(this.ruleSet.scopes, {
      issuer: ctx.issuer as string,
      clientId: typeof client.id === 'string' ? client.id : undefined,
      when: (expression) => {
        const result = evaluateWhen(expression, ctx);
        return 'value' in result && result.value;
      },
    });
    return selected?.name ?? NO_RULE_SET;
  }

  #run(ctx: RequestContext, options: RulesEvaluateOptions, pre: ReadonlyMap<number, WhenResult> | undefined, outcomes: Outcomes, scope: string | undefined): RulesEvaluation {
    const decision: Decision = { changes: [], lifetimes: [] };
    const traces: RuleTrace[] = [];
    for (const rule of this.ruleSet.rules) {
      // Rules of the sets not selected for this call are not in play (no trace, no metric).
      if (rule.set !== undefined && rule.set !== scope) continue;
      const trace = evaluateRule(rule, ctx, options.explain === true, pre?.get(rule.index), outcomes);
      traces.push(trace);
      if (trace.result === 'matched') {
        if (trace.deny !== undefined) decision.deny ??= { summary: trace.deny, rule: rule.name };
        for (const change of trace.changes) decision.changes.push(change);
        for (const lifetime of trace.lifetimes) decision.lifetimes.push(lifetime);
      } else if (trace.result === 'error' && rule.onError === 'deny') {
        decision.deny ??= { summary: RULE_ERROR_DENY_SUMMARY, rule: rule.name };
      }
    }
    const evaluation: RulesEvaluation = { decision, rules: traces, lookups: [...outcomes.values()] };
    if (outcomes.size > 0) evaluation.debug = { lookups: lookupDebug(outcomes) };
    if (scope !== undefined) {
      evaluation.ruleSet = scope;
      (evaluation.debug ??= {}).ruleSet = scope;
    }
    return evaluation;
  }
}

function evaluateRule(rule: CompiledRule, ctx: RequestContext, explain: boolean, pre: WhenResult | undefined, outcomes: Outcomes): RuleTrace {
  const started = performance.now();
  const trace: RuleTrace = { rule: rule.name, index: rule.index, result: 'not_matched', changes: [], lifetimes: [] };
  if (rule.lookups.size > 0) trace.lookups = [...rule.lookups];
  try {
    let condition = true;
    if (rule.when) {
      const result = pre ?? evaluateWhen(rule.when, ctx);
      if ('failure' in result) throw result.failure;
      condition = result.value;
    }
    trace.condition = condition;
    if (condition) {
      if (rule.deny !== undefined) trace.deny = rule.deny;
      for (const claim of rule.claims) {
        let value: JsonValue;
        if (claim.expr) {
          const field = `${claim.field}.expr`;
          try {
            value = toJson(run(claim.expr, ctx, field), field);
          } catch (err) {
            const failed = failedLookups(claim.lookups, outcomes);
            if (failed.length === 0 || claim.fallback === undefined) throw err;
            value = claim.fallback;
            (trace.fallbacks ??= []).push({ claim: claim.name, lookups: failed });
          }
        } else {
          value = claim.value as JsonValue;
        }
        for (const token of claim.tokens) {
          trace.changes.push(claim.at ? { kind: 'set', token, claim: claim.name, value, rule: rule.name, at: claim.at } : { kind: 'set', token, claim: claim.name, value, rule: rule.name });
        }
      }
      for (const item of rule.remove) {
        for (const token of item.tokens) {
          trace.changes.push(item.at ? { kind: 'remove', token, claim: item.name, rule: rule.name, at: item.at } : { kind: 'remove', token, claim: item.name, rule: rule.name });
        }
      }
      for (const lifetime of rule.lifetimes) trace.lifetimes.push({ token: lifetime.token, seconds: lifetime.seconds, rule: rule.name });
      trace.result = 'matched';
    }
  } catch (err) {
    const failure = err instanceof RuleFailure ? err : new RuleFailure('rule', err);
    const claim = rule.claims.find((c) => `${c.field}.expr` === failure.field);
    const source = failure.field === 'when' ? rule.when?.source : claim?.expr?.source;
    // An expression that fails while a lookup it reads has no value failed because of that lookup.
    const failed = failedLookups(failure.field === 'when' ? rule.whenLookups : (claim?.lookups ?? new Set<string>()), outcomes);
    const described =
      failed.length > 0
        ? { message: failed.map((name) => describeLookupFailure(name, outcomes.get(name))).join('; '), detail: '' }
        : failure.failure instanceof NotJsonError
          ? { message: `${failure.failure.code}: ${failure.failure.message}`, detail: failure.failure.message }
          : describeRuntimeError(failure.failure, source ?? '');
    trace.result = 'error';
    trace.field = failure.field;
    trace.error = `${failure.field}: ${described.message}`;
    trace.onError = rule.onError;
    trace.changes = [];
    trace.lifetimes = [];
    delete trace.deny;
    delete trace.fallbacks;
    if (explain && described.detail) trace.detail = described.detail;
  }
  trace.durationMs = performance.now() - started;
  return trace;
}

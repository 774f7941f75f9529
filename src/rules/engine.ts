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
 * Extension point (lookups): `RequestContext` takes extra variables (e.g. `lookup`), and each
 * rule knows the variables it reads (`CompiledRule.variables`), so an engine with lookups can
 * resolve, after the `when` phase, only the lookups matching rules need, under `options.signal`.
 */
import type { ClaimChange, Decision, LifetimeChange } from '../hook/decision';
import type { ClaimsEngine, EvaluateOptions, Evaluation, RuleOutcome } from '../hook/engine';
import type { JsonValue, TokenHookEvent } from '../hook/types';
import { describeRuntimeError, fromCel, NotJsonError, type CompiledExpression } from './cel';
import { RequestContext } from './context';
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
}

export interface RulesEvaluation extends Evaluation {
  rules: RuleTrace[];
}

export interface RulesEvaluateOptions extends EvaluateOptions {
  /** Fill `RuleTrace.detail` (local `explain` command only: may contain request data). */
  explain?: boolean;
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

export class RulesEngine implements ClaimsEngine {
  readonly version: string;
  readonly ruleSet: RuleSet;

  constructor(ruleSet: RuleSet) {
    this.ruleSet = ruleSet;
    this.version = ruleSet.version;
  }

  get ruleCount(): number {
    return this.ruleSet.rules.length;
  }

  async evaluate(event: TokenHookEvent, options: RulesEvaluateOptions = {}): Promise<RulesEvaluation> {
    return this.evaluateNow(event, options);
  }

  /** Synchronous core (no rule needs I/O yet); `evaluate` is the public, async seam. */
  evaluateNow(event: TokenHookEvent, options: RulesEvaluateOptions = {}): RulesEvaluation {
    const ctx = new RequestContext(event);
    const decision: Decision = { changes: [], lifetimes: [] };
    const traces: RuleTrace[] = [];
    for (const rule of this.ruleSet.rules) {
      const trace = evaluateRule(rule, ctx, options.explain === true);
      traces.push(trace);
      if (trace.result === 'matched') {
        if (trace.deny !== undefined) decision.deny ??= { summary: trace.deny, rule: rule.name };
        for (const change of trace.changes) decision.changes.push(change);
        for (const lifetime of trace.lifetimes) decision.lifetimes.push(lifetime);
      } else if (trace.result === 'error' && rule.onError === 'deny') {
        decision.deny ??= { summary: RULE_ERROR_DENY_SUMMARY, rule: rule.name };
      }
    }
    return { decision, rules: traces };
  }
}

function evaluateRule(rule: CompiledRule, ctx: RequestContext, explain: boolean): RuleTrace {
  const started = performance.now();
  const trace: RuleTrace = { rule: rule.name, index: rule.index, result: 'not_matched', changes: [], lifetimes: [] };
  try {
    let condition = true;
    if (rule.when) {
      const value = run(rule.when, ctx, 'when');
      if (typeof value !== 'boolean') {
        throw new RuleFailure('when', new NotJsonError(`condition returned ${value === null ? 'null' : typeof value}, expected bool`));
      }
      condition = value;
    }
    trace.condition = condition;
    if (condition) {
      if (rule.deny !== undefined) trace.deny = rule.deny;
      for (const claim of rule.claims) {
        const value = claim.expr ? toJson(run(claim.expr, ctx, `${claim.field}.expr`), `${claim.field}.expr`) : (claim.value as JsonValue);
        for (const token of claim.tokens) trace.changes.push({ kind: 'set', token, claim: claim.name, value, rule: rule.name });
      }
      for (const item of rule.remove) {
        for (const token of item.tokens) trace.changes.push({ kind: 'remove', token, claim: item.name, rule: rule.name });
      }
      for (const lifetime of rule.lifetimes) trace.lifetimes.push({ token: lifetime.token, seconds: lifetime.seconds, rule: rule.name });
      trace.result = 'matched';
    }
  } catch (err) {
    const failure = err instanceof RuleFailure ? err : new RuleFailure('rule', err);
    const source = failure.field === 'when' ? rule.when?.source : rule.claims.find((c) => `${c.field}.expr` === failure.field)?.expr?.source;
    const described = failure.failure instanceof NotJsonError
      ? { message: `${failure.failure.code}: ${failure.failure.message}`, detail: failure.failure.message }
      : describeRuntimeError(failure.failure, source ?? '');
    trace.result = 'error';
    trace.field = failure.field;
    trace.error = `${failure.field}: ${described.message}`;
    trace.onError = rule.onError;
    trace.changes = [];
    trace.lifetimes = [];
    delete trace.deny;
    if (explain) trace.detail = described.detail;
  }
  trace.durationMs = performance.now() - started;
  return trace;
}

/**
 * Shadow rules: a second rules file evaluated beside the live one on the same call, never applied.
 * The live answer is built first and returned untouched; the shadow evaluation is started after
 * it (on the next turn of the event loop, so the response is already on its way), under the same
 * request deadline, reusing every lookup result the live rules obtained for identical lookup
 * definitions. Its outcome is compared per token with the live one and reported through
 * `onComparison`; its errors are only counted. Pure logic: no HTTP, no metrics, no logger.
 */
import { buildResponse, type BuildResult } from './builder';
import type { ClaimsEngine, EvaluateOptions, Evaluation } from './engine';
import type { JsonValue, PatchOperation, TokenHookEvent, TokenKind } from './types';
import type { LookupOutcome } from '../lookups/types';
import { isPromise } from '../shared/values';

/** Closed set: used as the `kind` label of `okta_hook_shadow_differences_total`. */
export type ShadowDifferenceKind = 'claim_added' | 'claim_changed' | 'claim_removed' | 'lifetime' | 'deny' | 'allow';
export const SHADOW_DIFFERENCE_KINDS: readonly ShadowDifferenceKind[] = ['claim_added', 'claim_changed', 'claim_removed', 'lifetime', 'deny', 'allow'];
export type ShadowResult = 'same' | 'differs' | 'error';
export const SHADOW_RESULTS: readonly ShadowResult[] = ['same', 'differs', 'error'];

/**
 * One way the shadow answer differs from the live one. `claim` is a claim NAME (never a value);
 * absent for `deny`/`allow`, `/token/lifetime/expiration` for `lifetime`. `token` is absent for deny/allow.
 *   deny:  the shadow rules would refuse the token, the live rules issue it;
 *   allow: the live rules refuse it, the shadow rules would issue it.
 */
export interface ShadowDifference {
  kind: ShadowDifferenceKind;
  token?: 'id' | 'access';
  claim?: string;
}

export interface ShadowComparison {
  result: ShadowResult;
  differences: ShadowDifference[];
  liveVersion: string;
  shadowVersion: string;
  /** Why the comparison is an error: `rule_error` (a shadow rule failed), `deadline_exceeded`, `engine_failure`. */
  reason?: string;
  /** Shadow rules whose evaluation failed (`rule_error`). */
  failedRules?: string[];
  /** Rule set selected by the shadow rules, when they declare sets. */
  shadowRuleSet?: string;
  durationMs: number;
}

const TOKEN_OF_COMMAND: Record<string, TokenKind> = { 'com.okta.identity.patch': 'identity', 'com.okta.access.patch': 'access' };
const TOKEN_LABEL: Record<TokenKind, 'id' | 'access'> = { identity: 'id', access: 'access' };
const LIFETIME_PATH = '/token/lifetime/expiration';

function unescapePointer(segment: string): string {
  return segment.indexOf('~') === -1 ? segment : segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Per token: claim -> operation of the answer (claims only), and the lifetime set, if any. */
function operationsOf(build: BuildResult): Map<TokenKind, { claims: Map<string, PatchOperation>; lifetime?: JsonValue }> {
  const out = new Map<TokenKind, { claims: Map<string, PatchOperation>; lifetime?: JsonValue }>();
  for (const command of build.response.commands ?? []) {
    const token = TOKEN_OF_COMMAND[command.type];
    if (!token) continue;
    const entry = out.get(token) ?? { claims: new Map<string, PatchOperation>() };
    out.set(token, entry);
    for (const op of command.value) {
      if (op.path === LIFETIME_PATH) entry.lifetime = op.value ?? null;
      else if (op.path.startsWith('/claims/')) entry.claims.set(unescapePointer(op.path.slice('/claims/'.length)), op);
    }
  }
  return out;
}

function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  const ak = Object.keys(a);
  const bo = b as Record<string, JsonValue>;
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((key) => Object.prototype.hasOwnProperty.call(bo, key) && sameJson((a as Record<string, JsonValue>)[key], bo[key]));
}

type ClaimState = { present: false } | { present: true; value: JsonValue };

function stateAfter(op: PatchOperation | undefined, original: ClaimState): ClaimState {
  if (!op) return original;
  if (op.op === 'remove') return { present: false };
  return { present: true, value: op.value ?? null };
}

/**
 * What each token would look like under each answer, compared claim by claim (only claims either
 * answer touches), plus lifetime and deny/allow. Pure.
 */
export function compareAnswers(event: TokenHookEvent, live: BuildResult, shadow: BuildResult): ShadowDifference[] {
  const liveDenied = live.outcome === 'denied';
  const shadowDenied = shadow.outcome === 'denied';
  if (liveDenied || shadowDenied) {
    if (liveDenied && shadowDenied) return [];
    return [{ kind: shadowDenied ? 'deny' : 'allow' }];
  }
  const differences: ShadowDifference[] = [];
  const liveOps = operationsOf(live);
  const shadowOps = operationsOf(shadow);
  for (const token of ['identity', 'access'] as const) {
    const l = liveOps.get(token);
    const s = shadowOps.get(token);
    if (!l && !s) continue;
    const minted = event.data[token]?.claims;
    const claims = minted && typeof minted === 'object' && !Array.isArray(minted) ? minted : {};
    const names = new Set([...(l?.claims.keys() ?? []), ...(s?.claims.keys() ?? [])]);
    for (const claim of names) {
      const original: ClaimState = Object.prototype.hasOwnProperty.call(claims, claim) ? { present: true, value: claims[claim] as JsonValue } : { present: false };
      const a = stateAfter(l?.claims.get(claim), original);
      const b = stateAfter(s?.claims.get(claim), original);
      let kind: ShadowDifferenceKind | undefined;
      if (!a.present && b.present) kind = 'claim_added';
      else if (a.present && !b.present) kind = 'claim_removed';
      else if (a.present && b.present && !sameJson(a.value, b.value)) kind = 'claim_changed';
      if (kind) differences.push({ kind, token: TOKEN_LABEL[token], claim });
    }
    if (!sameJson(l?.lifetime, s?.lifetime)) differences.push({ kind: 'lifetime', token: TOKEN_LABEL[token], claim: LIFETIME_PATH });
  }
  return differences;
}

export interface ShadowRunnerOptions {
  /** The shadow engine for the call starting now; undefined when shadow rules are off. */
  engine: () => ClaimsEngine | undefined;
  /** Called once per call the shadow rules evaluated (never throws into the hook). */
  onComparison: (comparison: ShadowComparison, call: ShadowCall) => void;
  /** Extra time after the deadline before a shadow evaluation that did not settle counts as an error. */
  graceMs?: number;
}

/** What the runner knows about the live call. */
export interface ShadowCall {
  event: TokenHookEvent;
  liveEngine: ClaimsEngine;
  evaluation: Evaluation;
  build: BuildResult;
  /** `performance.now()` at which the request deadline expires. */
  deadlineAt: number;
  /** Opaque value handed back to `onComparison` (the app passes its span context and log fields). */
  tag?: unknown;
}

class ShadowDeadline extends Error {}

/** Live lookup outcomes whose definitions are identical in the shadow rules: reused, not called again. */
export function reusableOutcomes(live: ClaimsEngine, evaluation: Evaluation, shadow: ClaimsEngine): Map<string, LookupOutcome> | undefined {
  if (!evaluation.lookups || evaluation.lookups.length === 0 || !live.lookupFingerprints || !shadow.lookupFingerprints) return undefined;
  let reuse: Map<string, LookupOutcome> | undefined;
  for (const outcome of evaluation.lookups) {
    const fingerprint = shadow.lookupFingerprints.get(outcome.lookup);
    if (fingerprint !== undefined && fingerprint === live.lookupFingerprints.get(outcome.lookup)) (reuse ??= new Map()).set(outcome.lookup, outcome);
  }
  return reuse;
}

export class ShadowRunner {
  readonly #options: ShadowRunnerOptions;
  readonly #graceMs: number;
  /** Calls whose shadow evaluation waits for the next turn of the event loop (one `setImmediate` per batch). */
  #queue: { engine: ClaimsEngine; call: ShadowCall }[] = [];

  constructor(options: ShadowRunnerOptions) {
    this.#options = options;
    this.#graceMs = options.graceMs ?? 100;
  }

  /** True when a shadow rules file is loaded. */
  get enabled(): boolean {
    return this.#options.engine() !== undefined;
  }

  /**
   * Schedules the shadow evaluation of a call whose live answer is built. Returns at once; the
   * work starts on the next turn of the event loop (after the live response is written).
   */
  schedule(call: ShadowCall): void {
    const engine = this.#options.engine();
    if (!engine) return;
    this.#queue.push({ engine, call });
    if (this.#queue.length === 1) setImmediate(this.#drain);
  }

  readonly #drain = (): void => {
    const batch = this.#queue;
    this.#queue = [];
    for (const { engine, call } of batch) {
      try {
        const done = this.run(engine, call);
        if (isPromise(done)) done.catch(() => undefined);
      } catch {
        // run() reports its own failures; nothing may escape into the event loop.
      }
    }
  };

  /**
   * Evaluates, compares and reports one call (`schedule` is the hook's seam). Synchronous when the
   * shadow rules need no lookup for this call, like the live engine.
   */
  run(engine: ClaimsEngine, call: ShadowCall): ShadowComparison | Promise<ShadowComparison> {
    const started = performance.now();
    const remaining = Math.max(0, call.deadlineAt - started);
    let controller: AbortController | undefined;
    let abortTimer: NodeJS.Timeout | undefined;
    const options: EvaluateOptions = {
      get signal(): AbortSignal {
        if (!controller) {
          const created = new AbortController();
          controller = created;
          abortTimer = setTimeout(() => created.abort(new ShadowDeadline('request deadline exceeded')), remaining);
        }
        return controller.signal;
      },
    };
    const resolved = reusableOutcomes(call.liveEngine, call.evaluation, engine);
    if (resolved) options.resolved = resolved;
    let pending: Evaluation | Promise<Evaluation>;
    try {
      pending = engine.evaluate(call.event, options);
    } catch (err) {
      if (abortTimer) clearTimeout(abortTimer);
      return this.#report(this.#failed(engine, call, started, err), call);
    }
    if (!isPromise(pending)) {
      if (abortTimer) clearTimeout(abortTimer);
      return this.#report(this.#compare(engine, call, started, pending), call);
    }
    let hardStop: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      hardStop = setTimeout(() => reject(new ShadowDeadline('shadow engine did not answer within the deadline')), remaining + this.#graceMs);
    });
    return Promise.race([pending, deadline])
      .then(
        (evaluation) => this.#compare(engine, call, started, evaluation),
        (err: unknown) => this.#failed(engine, call, started, err),
      )
      .then((comparison) => {
        if (abortTimer) clearTimeout(abortTimer);
        if (hardStop) clearTimeout(hardStop);
        return this.#report(comparison, call);
      });
  }

  #compare(engine: ClaimsEngine, call: ShadowCall, started: number, evaluation: Evaluation): ShadowComparison {
    try {
      const build = buildResponse(call.event, evaluation, { debugContext: false, version: engine.version });
      const differences = compareAnswers(call.event, call.build, build);
      let failedRules: string[] | undefined;
      for (const rule of evaluation.rules) if (rule.result === 'error') (failedRules ??= []).push(rule.rule);
      // A rule that failed makes the comparison an error (its onError decided the shadow answer); differences are still reported.
      const result: ShadowResult = failedRules ? 'error' : differences.length > 0 ? 'differs' : 'same';
      const comparison: ShadowComparison = { liveVersion: call.liveEngine.version, shadowVersion: engine.version, result, differences, durationMs: performance.now() - started };
      if (failedRules) {
        comparison.reason = 'rule_error';
        comparison.failedRules = failedRules;
      }
      if (evaluation.ruleSet !== undefined) comparison.shadowRuleSet = evaluation.ruleSet;
      return comparison;
    } catch (err) {
      return this.#failed(engine, call, started, err);
    }
  }

  #failed(engine: ClaimsEngine, call: ShadowCall, started: number, err: unknown): ShadowComparison {
    return {
      liveVersion: call.liveEngine.version,
      shadowVersion: engine.version,
      result: 'error',
      differences: [],
      reason: err instanceof ShadowDeadline ? 'deadline_exceeded' : 'engine_failure',
      durationMs: performance.now() - started,
    };
  }

  #report(comparison: ShadowComparison, call: ShadowCall): ShadowComparison {
    try {
      this.#options.onComparison(comparison, call);
    } catch {
      // Reporting must never reach the hook.
    }
    return comparison;
  }
}

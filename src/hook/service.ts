/**
 * One token hook call, independent of HTTP: parse the envelope, evaluate the current claims engine
 * within the request deadline, build Okta's response. The Koa route (app.ts) adds authentication,
 * body parsing, metrics, logs and the span around it.
 */
import { buildResponse, type BuildResult } from './builder';
import type { ClaimsEngine, EngineProvider, Evaluation } from './engine';
import { parseTokenHookEvent, summarizeEvent, type EventSummary } from './parse';
import type { TokenHookEvent, TokenHookResponse } from './types';
import { isPromise } from '../shared/values';

export type ServiceOutcome = 'patched' | 'unchanged' | 'denied' | 'bad_request' | 'error';

export interface TokenHookServiceOptions {
  engine: EngineProvider;
  debugContext: boolean;
  /** Deadline given to the engine (AbortSignal); lookups are cancelled when it fires. */
  deadlineMs: number;
  /** Extra time after the deadline before the hook gives up on the engine altogether. */
  graceMs?: number;
}

export interface TokenHookResult {
  status: 200 | 400 | 500;
  body: TokenHookResponse | { error: string; message: string };
  outcome: ServiceOutcome;
  summary?: EventSummary;
  evaluation?: Evaluation;
  build?: BuildResult;
  version?: string;
  /** The engine that answered and the call's deadline (`performance.now()` time): shadow rules run under the same. */
  engine?: ClaimsEngine;
  deadlineAt?: number;
  event?: TokenHookEvent;
  /** Internal reason for `error` outcomes (safe to log; never request data). */
  reason?: string;
}

class DeadlineExceeded extends Error {}

export class TokenHookService {
  private readonly graceMs: number;
  constructor(private readonly options: TokenHookServiceOptions) {
    this.graceMs = options.graceMs ?? 100;
  }

  async handle(body: unknown): Promise<TokenHookResult> {
    const parsed = parseTokenHookEvent(body);
    if (!parsed.ok) {
      return { status: 400, body: { error: 'bad_request', message: parsed.message }, outcome: 'bad_request' };
    }
    const event = parsed.event;
    const summary = summarizeEvent(event);
    const engine = this.options.engine();
    // The deadline signal is created on first use: most calls need no I/O, and an AbortController
    // per call is a measurable share of the hot path.
    const deadlineAt = performance.now() + this.options.deadlineMs;
    let controller: AbortController | undefined;
    let abortTimer: NodeJS.Timeout | undefined;
    const evaluateOptions = {
      get signal(): AbortSignal {
        if (!controller) {
          const created = new AbortController();
          controller = created;
          abortTimer = setTimeout(() => created.abort(new DeadlineExceeded('request deadline exceeded')), Math.max(0, deadlineAt - performance.now()));
        }
        return controller.signal;
      },
    };
    let hardStop: NodeJS.Timeout | undefined;
    try {
      const pending = engine.evaluate(event, evaluateOptions);
      // No I/O (the common case): no deadline race, no timer.
      const evaluation = isPromise(pending)
        ? await Promise.race([
            pending,
            new Promise<never>((_, reject) => {
              hardStop = setTimeout(() => reject(new DeadlineExceeded('engine did not answer within the deadline')), this.options.deadlineMs + this.graceMs);
            }),
          ])
        : pending;
      const build = buildResponse(event, evaluation, { debugContext: this.options.debugContext, version: engine.version });
      return { status: 200, body: build.response, outcome: build.outcome, summary, evaluation, build, version: engine.version, engine, deadlineAt, event };
    } catch (err) {
      // Okta fails open on a non-200 (token issued unchanged) and records the failure in its System Log.
      const reason = err instanceof DeadlineExceeded ? 'deadline_exceeded' : 'engine_failure';
      return { status: 500, body: { error: 'internal_error', message: 'The hook could not evaluate its rules' }, outcome: 'error', summary, reason, version: engine.version };
    } finally {
      if (abortTimer) clearTimeout(abortTimer);
      if (hardStop) clearTimeout(hardStop);
    }
  }
}

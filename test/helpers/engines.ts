import type { Decision } from '../../src/hook/decision';
import type { ClaimsEngine, Evaluation, RuleOutcome } from '../../src/hook/engine';
import type { TokenHookEvent } from '../../src/hook/types';

/**
 * A real (if tiny) ClaimsEngine: returns a fixed decision, or one computed from the event. Used to
 * exercise the hook without depending on the rules engine.
 */
export function fixedEngine(
  decide: Decision | ((event: TokenHookEvent, signal?: AbortSignal) => Decision | Promise<Decision>),
  options: { version?: string; rules?: RuleOutcome[] } = {},
): ClaimsEngine {
  return {
    version: options.version ?? 'test-1',
    async evaluate(event, evaluateOptions): Promise<Evaluation> {
      const decision = typeof decide === 'function' ? await decide(event, evaluateOptions?.signal) : decide;
      return { decision, rules: options.rules ?? [{ rule: 'test-rule', result: 'matched', condition: true }] };
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Lookup stubs for `okta-token-hook test`: a `LookupResolver` (the engine's lookup interface, the
 * one `LookupSet` implements for the service) that answers from the test case instead of the
 * network. Failures are reported exactly as a real lookup reports them, so `fallback` and
 * `onError` behave as they would at a login.
 */
import type { JsonValue } from '../../hook/types';
import type { LookupOutcome, LookupStatus, LookupType } from '../../lookups/types';
import type { LookupResolver } from '../engine';

/** `not_found` is a 404 (value null); the others are failures. */
export const STUB_STATUSES = ['not_found', 'timeout', 'error', 'circuit_open', 'rejected'] as const;
export type StubStatus = (typeof STUB_STATUSES)[number];

export type LookupStub = { value: JsonValue } | { status: StubStatus };

const FAILURE_TEXT: Record<Exclude<StubStatus, 'not_found'>, string> = {
  timeout: 'stub: timed out',
  error: 'stub: upstream error',
  circuit_open: 'stub: circuit breaker open',
  rejected: 'stub: concurrency limit reached',
};

export class StubLookups implements LookupResolver {
  /** Lookups a rule needed that the case does not stub (the case fails: tests never call out). */
  readonly missing = new Set<string>();
  /** Every lookup the engine asked for. */
  readonly called = new Set<string>();

  constructor(
    private readonly stubs: ReadonlyMap<string, LookupStub>,
    private readonly types: ReadonlyMap<string, LookupType>,
  ) {}

  outcome(name: string): LookupOutcome {
    const type = this.types.get(name) ?? 'http';
    const stub = this.stubs.get(name);
    if (!stub) {
      this.missing.add(name);
      return { lookup: name, type, ok: false, status: 'error', error: 'not stubbed in this test case', durationMs: 0 };
    }
    if ('value' in stub) {
      const empty = stub.value === null || (Array.isArray(stub.value) && stub.value.length === 0);
      return { lookup: name, type, ok: true, status: empty ? 'not_found' : 'success', value: stub.value, cache: 'miss', durationMs: 0 };
    }
    if (stub.status === 'not_found') return { lookup: name, type, ok: true, status: 'not_found', value: null, cache: 'miss', durationMs: 0 };
    return { lookup: name, type, ok: false, status: stub.status as LookupStatus, error: FAILURE_TEXT[stub.status], durationMs: 0 };
  }

  async resolve(names: Iterable<string>): Promise<Map<string, LookupOutcome>> {
    const outcomes = new Map<string, LookupOutcome>();
    for (const name of names) {
      this.called.add(name);
      outcomes.set(name, this.outcome(name));
    }
    return outcomes;
  }
}

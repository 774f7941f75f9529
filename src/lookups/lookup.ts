/**
 * One lookup at run time: cache (LRU with TTL, stale-while-revalidate, stale-if-error, negative
 * entries), single-flight, circuit breaker and concurrency limit around a source, plus events and
 * one span per resolution.
 *
 * Life of a resolution: build the request from the context (cache key) -> fresh cache entry: done
 * -> stale but within stale-while-revalidate: served, one background refresh -> otherwise join
 * the call in flight for the same key, or start one. A call runs under breaker -> bulkhead ->
 * source with its own timeout; callers wait for it at most until their own signal (the request
 * deadline) aborts. The call itself is cancelled when its last waiting caller has gone, so a hung
 * upstream sees the connection closed. When the call fails, a value within stale-if-error is
 * served instead.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  bulkhead,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  IsolatedCircuitError,
  SamplingBreaker,
  type BulkheadPolicy,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { LRUCache } from 'lru-cache';
import type { JsonValue } from '../hook/types';
import { UpstreamError } from './http-client';
import type { LookupSource, PreparedCall, SourceResult } from './sources';
import { LookupInputError } from './template';
import type {
  CacheResult,
  CallResult,
  CircuitStateName,
  LookupContext,
  LookupDefinition,
  LookupEvents,
  LookupOutcome,
  LookupType,
} from './types';
import { deepFreeze } from '../shared/values';

const tracer = trace.getTracer('okta-token-hook/lookups');

interface Entry {
  value: JsonValue;
  notFound: boolean;
  empty: boolean;
  freshUntil: number;
  revalidateUntil: number;
  staleIfErrorUntil: number;
}

type FailedStatus = Extract<CallResult, 'error' | 'timeout' | 'circuit_open' | 'rejected'>;

type FlightResult = { ok: true; result: SourceResult } | { ok: false; status: FailedStatus; message: string; httpStatus?: number };

interface Flight {
  promise: Promise<FlightResult>;
  controller: AbortController;
  /** Callers still waiting; the call is cancelled when the last one leaves (not for background refreshes). */
  waiters: number;
  background: boolean;
}

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Open]: 'open',
  [CircuitState.Isolated]: 'open',
};

/** Abort reasons; their message is what the outcome reports. */
class CallAborted extends Error {
  override name = 'CallAborted';
}

/** An upstream answer that is an error for the caller but a success for the breaker (see `#execute`). */
class Answered {
  constructor(readonly error: UpstreamError) {}
}

/** A call cancelled while it waited for a concurrency slot: it never reached the upstream, so the breaker ignores it. */
class CancelledBeforeStart extends Error {
  override name = 'CancelledBeforeStart';
}

export interface LookupOptions {
  events?: LookupEvents;
  /** Wall clock for cache freshness (tests may drive it). */
  now?: () => number;
}

export interface ResolveOptions {
  /** The request deadline: the caller stops waiting when it aborts. */
  signal?: AbortSignal;
}

export class Lookup {
  readonly name: string;
  readonly type: LookupType;
  readonly definition: LookupDefinition;
  readonly source: LookupSource;
  readonly #cache: LRUCache<string, Entry> | undefined;
  readonly #inflight = new Map<string, Flight>();
  readonly #breaker: CircuitBreakerPolicy;
  readonly #bulkhead: BulkheadPolicy;
  readonly #events: LookupEvents;
  readonly #now: () => number;
  /** Breaker holds from `Retry-After`, released on close. */
  readonly #holds = new Set<{ dispose(): void }>();
  #closed = false;

  constructor(definition: LookupDefinition, source: LookupSource, options: LookupOptions = {}) {
    this.name = definition.name;
    this.type = definition.type;
    this.definition = definition;
    this.source = source;
    this.#events = options.events ?? {};
    this.#now = options.now ?? Date.now;
    const { cache, breaker, concurrency } = definition;
    if (cache.enabled) {
      this.#cache = new LRUCache<string, Entry>({ max: cache.maxEntries, ttlAutopurge: false });
    }
    this.#breaker = circuitBreaker(
      handleWhen((err) => err instanceof UpstreamError && err.countsAsFailure),
      {
        halfOpenAfter: breaker.halfOpenAfterMs,
        breaker:
          breaker.kind === 'consecutive'
            ? new ConsecutiveBreaker(breaker.failures)
            : new SamplingBreaker({ threshold: breaker.failureRatio, duration: breaker.windowMs, minimumRps: breaker.minimumRps }),
      },
    );
    this.#breaker.onStateChange((state) => this.#emitCircuit(STATE_NAMES[state]));
    this.#bulkhead = bulkhead(concurrency.limit, concurrency.queue);
    this.#emitCircuit('closed');
  }

  get circuitState(): CircuitStateName {
    return STATE_NAMES[this.#breaker.state];
  }

  /** Number of entries in the cache (tests, debugging). */
  get cacheSize(): number {
    return this.#cache?.size ?? 0;
  }

  /** Resolves the lookup for one request. Never rejects: failures are outcomes. */
  resolve(ctx: LookupContext, options: ResolveOptions = {}): Promise<LookupOutcome> {
    return tracer.startActiveSpan(
      `lookup ${this.name}`,
      { kind: SpanKind.INTERNAL, attributes: { 'lookup.name': this.name, 'lookup.type': this.type, 'lookup.target': this.source.target } },
      async (span) => {
        try {
          const outcome = await this.#resolve(ctx, options);
          span.setAttribute('lookup.result', outcome.status);
          if (outcome.cache) span.setAttribute('lookup.cache', outcome.cache);
          if (outcome.stale) span.setAttribute('lookup.stale', outcome.stale);
          if (outcome.httpStatus !== undefined) span.setAttribute('http.response.status_code', outcome.httpStatus);
          if (!outcome.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error ?? outcome.status });
          return outcome;
        } finally {
          span.end();
        }
      },
    );
  }

  /** Stops background work: cancels calls in flight. The lookup must not be used afterwards. */
  close(): void {
    this.#closed = true;
    for (const hold of [...this.#holds]) hold.dispose();
    for (const flight of this.#inflight.values()) flight.controller.abort(new CallAborted('lookup closed'));
    this.#inflight.clear();
  }

  async #resolve(ctx: LookupContext, options: ResolveOptions): Promise<LookupOutcome> {
    const started = performance.now();
    const finish = (outcome: Omit<LookupOutcome, 'lookup' | 'type' | 'durationMs'>): LookupOutcome => {
      if (outcome.cache) this.#events.cache?.({ lookup: this.name, result: outcome.cache });
      return { lookup: this.name, type: this.type, ...outcome, durationMs: performance.now() - started };
    };

    let call: PreparedCall | null;
    try {
      call = this.source.prepare(ctx);
    } catch (err) {
      const message = err instanceof LookupInputError ? err.message : 'the request could not be built';
      return finish({ ok: false, status: 'error', error: message });
    }
    if (call === null) return finish({ ok: true, status: 'skipped', value: null });

    const entry = this.#cache?.get(call.key);
    const now = this.#now();
    if (entry && now < entry.freshUntil) {
      return finish({ ok: true, status: entry.notFound ? 'not_found' : 'success', value: entry.value, cache: entry.empty ? 'negative_hit' : 'hit' });
    }
    if (entry && !entry.empty && now < entry.revalidateUntil) {
      this.#refresh(call);
      return finish({ ok: true, status: 'success', value: entry.value, cache: 'stale', stale: 'while_revalidate' });
    }

    let result: FlightResult;
    let cache: CacheResult = 'miss';
    let led = false;
    if (options.signal?.aborted) {
      // Past the deadline already: no new upstream call (a cached value above was still served).
      result = { ok: false, status: 'timeout', message: 'request deadline reached' };
    } else {
      let flight = this.#inflight.get(call.key);
      if (flight) cache = 'coalesced';
      else {
        flight = this.#start(call, false);
        led = true;
      }
      result = await this.#wait(flight, options.signal);
    }
    if (result.ok) {
      const { value, notFound, status } = result.result;
      const outcome: Omit<LookupOutcome, 'lookup' | 'type' | 'durationMs'> = { ok: true, status: notFound ? 'not_found' : 'success', value, cache };
      if (led) outcome.httpStatus = status;
      return finish(outcome);
    }
    const failure: Omit<LookupOutcome, 'lookup' | 'type' | 'durationMs'> = { ok: false, status: result.status, error: result.message, cache };
    if (led && result.httpStatus !== undefined) failure.httpStatus = result.httpStatus;
    // Stale-if-error: the entry read above, if still within its window.
    if (entry && this.#now() < entry.staleIfErrorUntil) {
      return finish({ ...failure, ok: true, value: entry.value, cache: 'stale', stale: 'if_error' });
    }
    return finish(failure);
  }

  /** Stale-while-revalidate: one background call per key, no caller waiting. */
  #refresh(call: PreparedCall): void {
    if (this.#inflight.has(call.key) || this.#closed) return;
    this.#start(call, true);
  }

  #start(call: PreparedCall, background: boolean): Flight {
    const controller = new AbortController();
    const flight: Flight = { controller, waiters: 0, background, promise: undefined as unknown as Promise<FlightResult> };
    this.#inflight.set(call.key, flight);
    flight.promise = this.#execute(call, controller, background).then((result) => {
      if (this.#inflight.get(call.key) === flight) this.#inflight.delete(call.key);
      if (result.ok && !this.#closed) this.#store(call.key, result.result);
      return result;
    });
    return flight;
  }

  async #execute(call: PreparedCall, controller: AbortController, background: boolean): Promise<FlightResult> {
    const { timeoutMs } = this.definition;
    const started = performance.now();
    const timer = setTimeout(() => controller.abort(new CallAborted(`timed out after ${timeoutMs} ms`)), timeoutMs);
    let result: FlightResult;
    try {
      const outcome = await this.#breaker.execute(() =>
        this.#bulkhead.execute(async (): Promise<SourceResult | Answered> => {
          const { signal } = controller;
          if (signal.aborted) throw new CancelledBeforeStart(signal.reason instanceof Error ? signal.reason.message : 'aborted');
          try {
            return await call.run(signal);
          } catch (err) {
            // The upstream answered a request it did not like (4xx, a redirect, a bad document): it is
            // up, and the breaker must see a success. Thrown, cockatiel would close a half-open breaker
            // without resetting its failure count, so the next single failure reopened it.
            if (err instanceof UpstreamError && !err.countsAsFailure) return new Answered(err);
            throw err;
          }
        }),
      );
      if (outcome instanceof Answered) throw outcome.error;
      result = { ok: true, result: outcome };
    } catch (err) {
      if (err instanceof UpstreamError && err.retryAfterMs !== undefined) this.#holdOpen(err.retryAfterMs);
      result = classify(err);
    } finally {
      clearTimeout(timer);
    }
    const callResult: CallResult = result.ok ? 'success' : result.status;
    this.#events.call?.({ lookup: this.name, type: this.type, result: callResult, seconds: (performance.now() - started) / 1000, background });
    return result;
  }

  /** Waits for a call, at most until `signal` aborts; the last caller leaving cancels the call. */
  #wait(flight: Flight, signal: AbortSignal | undefined): Promise<FlightResult> {
    if (!signal) {
      // Nobody can give up on this call: it is never cancelled for lack of waiters.
      flight.waiters = Number.POSITIVE_INFINITY;
      return flight.promise;
    }
    const deadline: FlightResult = { ok: false, status: 'timeout', message: 'request deadline reached' };
    flight.waiters++;
    return new Promise<FlightResult>((resolve) => {
      let done = false;
      const onAbort = (): void => {
        if (done) return;
        done = true;
        flight.waiters--;
        if (flight.waiters === 0 && !flight.background) flight.controller.abort(new CallAborted('request deadline reached'));
        resolve(deadline);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void flight.promise.then((result) => {
        signal.removeEventListener('abort', onAbort);
        if (done) return;
        done = true;
        flight.waiters--;
        resolve(result);
      });
    });
  }

  /**
   * `Retry-After` on a 429/503: no call reaches the upstream for that long (capped by the client),
   * whatever the breaker's own count says; calls meanwhile are `circuit_open`.
   */
  #holdOpen(ms: number): void {
    if (this.#closed) return;
    const hold = this.#breaker.isolate();
    const entry = {
      dispose: (): void => {
        clearTimeout(timer);
        hold.dispose();
        this.#holds.delete(entry);
      },
    };
    const timer = setTimeout(() => entry.dispose(), ms);
    timer.unref();
    this.#holds.add(entry);
  }

  #store(key: string, result: SourceResult): void {
    const cache = this.#cache;
    if (!cache) return;
    const settings = this.definition.cache;
    const now = this.#now();
    const freshFor = result.empty ? settings.negativeTtlMs : settings.ttlMs;
    if (freshFor <= 0) return;
    const freshUntil = now + freshFor;
    const entry: Entry = {
      value: deepFreeze(result.value),
      notFound: result.notFound,
      empty: result.empty,
      freshUntil,
      revalidateUntil: freshUntil + (result.empty ? 0 : settings.staleWhileRevalidateMs),
      staleIfErrorUntil: freshUntil + settings.staleIfErrorMs,
    };
    // The LRU's own TTL only bounds memory: an entry is dropped once no window can use it.
    const keepFor = Math.max(entry.revalidateUntil, entry.staleIfErrorUntil) - now;
    cache.set(key, entry, { ttl: Math.ceil(keepFor) });
  }

  #emitCircuit(state: CircuitStateName): void {
    this.#events.circuit?.({ lookup: this.name, state });
  }
}

function classify(err: unknown): Extract<FlightResult, { ok: false }> {
  if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) return { ok: false, status: 'circuit_open', message: 'circuit open: upstream failing, not called' };
  if (err instanceof BulkheadRejectedError) return { ok: false, status: 'rejected', message: 'concurrency limit reached, not called' };
  if (err instanceof CancelledBeforeStart) return { ok: false, status: 'timeout', message: `${err.message} while waiting for a concurrency slot` };
  if (err instanceof UpstreamError) {
    const failure: Extract<FlightResult, { ok: false }> = { ok: false, status: err.kind === 'timeout' ? 'timeout' : 'error', message: err.message };
    if (err.status !== undefined) failure.httpStatus = err.status;
    return failure;
  }
  return { ok: false, status: 'error', message: 'unexpected error' };
}

/**
 * Load shedding for the hook route. Okta waits at most 3 s and issues the token unchanged when the
 * hook fails; a call that cannot be answered in time is better refused at once (503, in
 * microseconds) than queued: Okta then fails open immediately instead of after its timeout, and
 * the calls already admitted keep their CPU. Two signals, both cheap:
 *  - calls in flight above `maxInFlight` (lookups waiting on a slow upstream pile up here);
 *  - event-loop lag above `maxEventLoopLagMs`: a timer firing that late means every queued
 *    request waits at least as long before its first line of code runs.
 * The lag is sampled by one unref'd timer; probes and metrics are never shed.
 */
export type ShedReason = 'in_flight' | 'event_loop_lag';

export interface LoadSheddingOptions {
  /** Calls in flight beyond which new ones are refused; 0 disables the check. */
  maxInFlight: number;
  /** Event-loop lag (ms) beyond which new calls are refused; 0 disables the check. */
  maxEventLoopLagMs: number;
  /** Sampling period of the lag timer. */
  sampleIntervalMs?: number;
  /** Called with every lag sample, in seconds (wire the gauge here). */
  onLagSample?: (seconds: number) => void;
}

export class LoadShedder {
  #inFlight = 0;
  #lagMs = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #options: LoadSheddingOptions;

  constructor(options: LoadSheddingOptions) {
    this.#options = options;
  }

  /** Starts sampling the event-loop lag (idempotent). */
  start(): this {
    if (this.#timer || this.#options.maxEventLoopLagMs <= 0) return this;
    const interval = this.#options.sampleIntervalMs ?? 100;
    let expected = performance.now() + interval;
    // A blocked loop is seen by one late sample; the value decays (half-life 250 ms) rather than
    // vanishing at the next on-time sample, so calls queued behind the block are still shed.
    const decay = 0.5 ** (interval / 250);
    const sample = (): void => {
      const now = performance.now();
      this.#lagMs = Math.max(now - expected, this.#lagMs * decay, 0);
      this.#options.onLagSample?.(this.#lagMs / 1000);
      expected = now + interval;
      this.#timer = setTimeout(sample, interval);
      this.#timer.unref();
    };
    this.#timer = setTimeout(sample, interval);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The event-loop lag in ms: the latest sample, or a decaying earlier one when larger. */
  get lagMs(): number {
    return this.#lagMs;
  }

  /** Why a new call must be refused now, or undefined to admit it (then call `leave()` when done). */
  admit(): ShedReason | undefined {
    const { maxInFlight, maxEventLoopLagMs } = this.#options;
    if (maxInFlight > 0 && this.#inFlight >= maxInFlight) return 'in_flight';
    if (maxEventLoopLagMs > 0 && this.#lagMs > maxEventLoopLagMs) return 'event_loop_lag';
    this.#inFlight++;
    return undefined;
  }

  leave(): void {
    this.#inFlight--;
  }
}

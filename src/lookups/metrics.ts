/**
 * Lookup events -> Prometheus. The metric objects live in `observability/metrics.ts` (names fixed
 * in docs/architecture.md); this only maps events to them. Labels are bounded: lookup names come
 * from the rules file (at most `MAX_LOOKUPS`), results and states are closed sets.
 */
import type { Metrics } from '../observability/metrics';
import { CIRCUIT_STATE_VALUE, type LookupEvents } from './types';

type LookupMetrics = Pick<Metrics, 'lookupDuration' | 'lookupCache' | 'lookupCircuitState' | 'lookupPreopened'>;

export function lookupMetricsEvents(metrics: LookupMetrics): LookupEvents {
  return {
    call: (event) => metrics.lookupDuration.observe({ lookup: event.lookup, result: event.result }, event.seconds),
    cache: (event) => metrics.lookupCache.inc({ lookup: event.lookup, result: event.result }),
    circuit: (event) => metrics.lookupCircuitState.set({ lookup: event.lookup }, CIRCUIT_STATE_VALUE[event.state]),
    removed: (event) => metrics.lookupCircuitState.remove({ lookup: event.lookup }),
    preopened: (event) => metrics.lookupPreopened.inc({ lookup: event.lookup, result: event.result }),
  };
}

/** Calls every sink in turn (e.g. metrics and a logger). */
export function combineLookupEvents(...sinks: readonly (LookupEvents | undefined)[]): LookupEvents {
  const present = sinks.filter((sink): sink is LookupEvents => sink !== undefined);
  return {
    call: (event) => present.forEach((sink) => sink.call?.(event)),
    cache: (event) => present.forEach((sink) => sink.cache?.(event)),
    circuit: (event) => present.forEach((sink) => sink.circuit?.(event)),
    removed: (event) => present.forEach((sink) => sink.removed?.(event)),
    preopened: (event) => present.forEach((sink) => sink.preopened?.(event)),
  };
}

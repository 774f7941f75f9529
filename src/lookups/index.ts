/** External data for claims: see docs/lookups.md. */
export { parseLookups, LOOKUP_DEFAULTS, LOOKUP_NAME_PATTERN, MAX_LOOKUPS, type LookupProblem, type ParsedLookups } from './definition';
export { Lookup, type ResolveOptions } from './lookup';
export { LookupSet, type LookupSetOptions } from './set';
export { lookupMetricsEvents, combineLookupEvents } from './metrics';
export * from './types';

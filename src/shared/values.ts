/** Small helpers for validating and protecting plain data (config, rules files, lookup results). */

/** Where a value sits in a document: `['rules', 0, 'claims', 1, 'name']`. */
export type Path = (string | number)[];

/** One thing wrong in a document, and where. */
export interface Problem {
  path: Path;
  message: string;
}

/** The part every document validator shares (rules, lookups): problems with their paths, unknown keys. */
export class ProblemCollector {
  readonly problems: Problem[] = [];

  add(path: Path, message: string): void {
    this.problems.push({ path, message });
  }

  unknownKeys(value: Record<string, unknown>, allowed: readonly string[], path: Path): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.add([...path, key], `unknown key (allowed: ${allowed.join(', ')})`);
    }
  }
}

/** Any non-array object, e.g. a parsed JSON object on the hot path (no prototype check needed there). */
export const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A `{…}` mapping from JSON/YAML (not an array, not a class instance). */
export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;

/** How a wrong value is named in a validation message: `a list`, `a mapping`, `string "x"`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Freezes a value and everything in it, so shared data cannot be altered by a request. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** True for a promise (or any thenable): hot paths await only when there is something to wait for. */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

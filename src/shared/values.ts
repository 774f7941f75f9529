/** Small helpers for validating and protecting plain data (config, rules files, lookup results). */

/** Where a value sits in a document: `['rules', 0, 'claims', 1, 'name']`. */
export type Path = (string | number)[];

/** One thing wrong in a document, and where. */
export interface Problem {
  path: Path;
  message: string;
  /** Where in the string value at `path` (a CEL expression) the problem is, for line/column and a caret. */
  offset?: number;
  length?: number;
}

/** The part every document validator shares (rules, lookups): problems with their paths, unknown keys. */
export class ProblemCollector {
  readonly problems: Problem[] = [];

  add(path: Path, message: string, at?: { offset?: number; length?: number }): void {
    const problem: Problem = { path, message };
    if (at?.offset !== undefined) {
      problem.offset = at.offset;
      if (at.length !== undefined) problem.length = at.length;
    }
    this.problems.push(problem);
  }

  unknownKeys(value: Record<string, unknown>, allowed: readonly string[], path: Path): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.add([...path, key], `unknown key${didYouMean(key, allowed)} (allowed: ${allowed.join(', ')})`);
    }
  }
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean". */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) row.push(j);
      else {
        const cost = a[i - 1] === b[j - 1] ? 0 : 1;
        let best = Math.min((rows[i - 1] as number[])[j]! + 1, row[j - 1]! + 1, (rows[i - 1] as number[])[j - 1]! + cost);
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (rows[i - 2] as number[])[j - 2]! + 1);
        row.push(best);
      }
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The candidate closest to `name` when it is close enough to be a typo (case, `-`/`_`, a few letters). */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const normalized = (s: string): string => s.toLowerCase().replace(/[-_ ]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === name) continue;
    const distance = normalized(candidate) === normalized(name) ? 0 : editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = name.length <= 3 ? 1 : name.length <= 6 ? 2 : 3;
  if (bestDistance <= limit) return best;
  // A prefix of a longer name (`mfa` for `mfaActive`).
  if (name.length >= 3) for (const candidate of candidates) if (candidate.toLowerCase().startsWith(name.toLowerCase()) && candidate !== name) return candidate;
  return undefined;
}

/** `; did you mean "when"?` or nothing. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const suggestion = closest(name, candidates);
  return suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
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

/**
 * Deep copy of JSON data. Not `structuredClone`: its copies take the prototypes of the realm that
 * created the clone function, which cel-js rejects when the two differ (jest's VM contexts).
 */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

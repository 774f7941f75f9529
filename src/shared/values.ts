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

/**
 * Freezes a value and everything in it, so shared data cannot be altered by a request. Iterative
 * (an explicit stack, not recursion): a value from outside may be nested arbitrarily deep.
 */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item && typeof item === 'object' && !Object.isFrozen(item)) {
      Object.freeze(item);
      for (const child of Object.values(item)) if (child && typeof child === 'object') stack.push(child);
    }
  }
  return value;
}

/** Bounds for a JSON value that crossed a trust boundary (request body, lookup answer). */
export interface JsonBounds {
  /** Deepest allowed nesting: a scalar is depth 0, `{"a": 1}` depth 1. */
  maxDepth: number;
  /** Most allowed values (objects, arrays and scalars counted alike). */
  maxNodes: number;
}

/**
 * Why `value` is outside `bounds` ("nested deeper than 64 levels"), or undefined when it is within.
 * Iterative and stops at the first excess, so the cost is bounded by `maxNodes` whatever the input.
 */
export function jsonBoundsProblem(value: unknown, bounds: JsonBounds): string | undefined {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  let nodes = 0;
  while (values.length > 0) {
    const item = values.pop();
    const depth = depths.pop() as number;
    if (++nodes > bounds.maxNodes) return `has more than ${bounds.maxNodes} values`;
    if (item === null || typeof item !== 'object') continue;
    if (depth >= bounds.maxDepth) return `is nested deeper than ${bounds.maxDepth} levels`;
    const children = Array.isArray(item) ? item : Object.values(item);
    for (const child of children) {
      values.push(child);
      depths.push(depth + 1);
    }
  }
  return undefined;
}

/**
 * Sets an own, enumerable property whatever the key: `obj["__proto__"] = v` would change the
 * prototype instead (and drop the key), so that one key is defined rather than assigned.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
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

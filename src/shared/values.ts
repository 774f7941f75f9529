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

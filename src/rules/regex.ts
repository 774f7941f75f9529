/**
 * Regular expressions for CEL's `matches()`: RE2 syntax and semantics (as the CEL specification and
 * cel-go have it), matched by re2js, a pure JavaScript port of RE2 whose matching time is linear in
 * the input for every pattern. JavaScript's RegExp backtracks: `"aaaa…!".matches("^(a+)+$")` would
 * hold the event loop for minutes, and no evaluation deadline can interrupt one RegExp call.
 *
 * Linear is not free: the worst case is about (program size x input length) steps, so a pattern's
 * program is capped (`MAX_PROGRAM_SIZE`) and one match may do at most `MAX_MATCH_WORK` of those
 * steps (a 100 KB input with a small pattern is fine; the same input with a pattern of thousands
 * of instructions fails as a rule error, fast, instead of running for seconds).
 *
 * Pure logic: no I/O, no Koa.
 */
import { LRUCache } from 'lru-cache';
import type { RE2JS } from 're2js';

/**
 * re2js (260 KB, about 16 ms to load on Node 20) is loaded on the first pattern compiled, so rules
 * without `matches()` start as fast as before (docs/performance.md, start-up).
 */
let re2js: typeof import('re2js') | undefined;
const loadRe2js = (): typeof import('re2js') => (re2js ??= require('re2js') as typeof import('re2js'));

/** Longest pattern accepted (a literal in a rule is also bounded by the expression length). */
export const MAX_PATTERN_LENGTH = 4096;
/** RE2 program size (instructions) a pattern may compile to; `x{1,1000}` is about 2,000. */
export const MAX_PROGRAM_SIZE = 10_000;
/**
 * Program size x (input length + 1) one match may cost: 0.1 to 0.25 s in the worst case (RE2's
 * NFA, a pattern whose DFA does not fit its cache) on one core of the 2-core CI machine.
 */
export const MAX_MATCH_WORK = 10_000_000;
/** Compiled patterns kept for patterns that are not literals (read from data at run time). */
export const DYNAMIC_PATTERN_CACHE_SIZE = 256;
/**
 * RE2 instructions the dynamic cache holds in all (about 200 bytes each: 20 MB). Typical patterns
 * are 10 to 100 instructions, so the entry count binds first; attacker-chosen patterns of 10,000
 * instructions evict each other instead of pinning 256 x 2 MB.
 */
export const DYNAMIC_PATTERN_CACHE_INSTRUCTIONS = 100_000;
/**
 * re2js keeps the lazily built DFA of a pattern between matches (up to 8 MB each, which a hostile
 * input can fill: 4 MB after one 90 KB match of `a[ab]{16}[^ab]`). Past this estimate it is
 * dropped after the match and rebuilt by the next one, so what a pattern holds stays small.
 */
export const MAX_KEPT_DFA_BYTES = 128 * 1024;

/** Why a pattern cannot be used; `code` is the CEL error code a rule error reports. */
export class RegexError extends Error {
  override name = 'RegexError';
  constructor(
    readonly code: 'invalid_regular_expression' | 'regular_expression_too_expensive',
    message: string,
  ) {
    super(message);
  }
}

/** A compiled pattern: `test` is RE2's partial match (like CEL's `matches`, anchors are explicit). */
export interface CompiledPattern {
  readonly pattern: string;
  readonly programSize: number;
  /** The re2js program (its DFA is trimmed after each match, see `MAX_KEPT_DFA_BYTES`). */
  readonly re: RE2JS;
  test(input: string): boolean;
}

/** Constructs RE2 does not have, by the text re2js quotes in its error: named so a rule author knows what to rewrite. */
const UNSUPPORTED: ReadonlyArray<{ test: RegExp; what: string }> = [
  { test: /^\(\?[=!]/, what: 'lookahead ((?=…), (?!…)) is not supported' },
  { test: /^\(\?<[=!]/, what: 'lookbehind ((?<=…), (?<!…)) is not supported' },
  { test: /^\\([1-9]|k<)/, what: 'backreferences (\\1, \\k<name>) are not supported' },
  { test: /^\(\?>/, what: 'atomic groups ((?>…)) are not supported' },
  { test: /^(?:[*+?]|\{[\d,]*\})\+$/, what: 'possessive quantifiers (a++, a*+) are not supported' },
];

/** `error parsing regexp: invalid escape sequence: `\1`` -> the reason, and a plainer one for unsupported constructs. */
function describeSyntaxError(err: unknown): string {
  const reason = String((err as Error)?.message ?? err).replace(/^error parsing regexp: /, '');
  const quoted = /`([^`]*)`\s*$/.exec(reason)?.[1] ?? '';
  return UNSUPPORTED.find((u) => u.test.test(quoted))?.what ?? reason;
}

/** The pattern as written (backslashes single), control characters escaped, long ones cut. */
const quote = (pattern: string): string =>
  // eslint-disable-next-line no-control-regex
  `"${(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;

interface Frame {
  /** Instructions of the finished alternatives. */
  done: number;
  /** Instructions of the alternative being read. */
  branch: number;
  /** Size of its last atom (what a quantifier repeats). */
  last: number;
  alternatives: number;
  capture: boolean;
}

/**
 * RE2 instructions `pattern` compiles to, estimated from its text without compiling it: compiling
 * expands counted repetitions, so `a{1000}` x 580 (4 KB) takes 11 s and 580,000 instructions to
 * build before its size can be refused. The estimate follows RE2's compiler: an atom (character,
 * class, escape, `.`, `^`, `$`) is 1, a capture group adds 2, `*` `+` `?` add 1, `x{n,m}` is
 * n copies of x and m - n optional ones, alternatives add 1 each. It is close to the real size
 * (compilePattern still checks that) and never far below it for the constructs that expand.
 */
export function estimateProgramSize(pattern: string): number {
  const stack: Frame[] = [];
  let frame: Frame = { done: 0, branch: 0, last: 0, alternatives: 0, capture: false };
  const atom = (size: number): void => {
    frame.branch += size;
    frame.last = size;
  };
  const close = (f: Frame): number => f.done + f.branch + f.alternatives + (f.capture ? 2 : 0);
  let i = 0;
  const n = pattern.length;
  // Past this, no `[:alpha:]` can close: later `[:` are literal (and need no search: linear time).
  const lastPosixEnd = pattern.lastIndexOf(':]');
  while (i < n) {
    const c = pattern[i] as string;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === 'Q') {
        // \Q...\E: literal text.
        const end = pattern.indexOf('\\E', i + 2);
        const stop = end === -1 ? n : end;
        for (let k = i + 2; k < stop; k++) atom(1);
        i = end === -1 ? n : end + 2;
        continue;
      }
      i += 2;
      if ((next === 'p' || next === 'P' || next === 'x') && pattern[i] === '{') {
        const end = pattern.indexOf('}', i);
        i = end === -1 ? n : end + 1;
      } else if (next === 'p' || next === 'P') i += 1;
      atom(1);
    } else if (c === '[') {
      // A character class is one instruction; skip to its closing bracket.
      let k = i + 1;
      if (pattern[k] === '^') k++;
      if (pattern[k] === ']') k++;
      while (k < n && pattern[k] !== ']') {
        if (pattern[k] === '\\') k += 2;
        else if (pattern[k] === '[' && pattern[k + 1] === ':' && k + 2 <= lastPosixEnd) {
          const end = pattern.indexOf(':]', k + 2);
          k = end === -1 ? k + 1 : end + 2;
        } else k++;
      }
      i = k + 1;
      atom(1);
    } else if (c === '(') {
      let capture = true;
      i++;
      if (pattern[i] === '?') {
        const name = /^\?P?<[^>]*>/.exec(pattern.slice(i, i + 300));
        const flags = /^\?[a-zA-Z-]*([:)])/.exec(pattern.slice(i, i + 40));
        if (name) i += name[0].length;
        else if (flags?.[1] === ')') {
          // (?i): flags only, no group.
          i += flags[0].length;
          continue;
        } else {
          capture = false;
          i += flags ? flags[0].length : 1;
        }
      }
      stack.push(frame);
      frame = { done: 0, branch: 0, last: 0, alternatives: 0, capture };
    } else if (c === ')') {
      i++;
      const parent = stack.pop();
      if (!parent) continue;
      const size = close(frame);
      frame = parent;
      atom(size);
    } else if (c === '|') {
      i++;
      frame.done += frame.branch;
      frame.alternatives++;
      frame.branch = 0;
      frame.last = 0;
    } else if (c === '*' || c === '+' || c === '?') {
      i++;
      if (pattern[i] === '?') i++;
      frame.branch += 1;
      frame.last += 1;
    } else if (c === '{') {
      const repeat = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i, i + 24));
      if (!repeat) {
        i++;
        atom(1);
        continue;
      }
      i += repeat[0].length;
      if (pattern[i] === '?') i++;
      const min = Number(repeat[1]);
      const max = repeat[2] === undefined ? min : repeat[3] === '' ? min : Number(repeat[3]);
      const unit = frame.last;
      const size = min * unit + Math.max(0, max - min) * (unit + 1) + (repeat[3] === '' ? 1 : 0);
      frame.branch += size - unit;
      frame.last = size;
    } else {
      i++;
      atom(1);
    }
  }
  while (stack.length > 0) {
    const size = close(frame);
    frame = stack.pop() as Frame;
    atom(size);
  }
  return close(frame) + 2;
}

/**
 * Compiles `pattern` with RE2 syntax, or throws `RegexError` with a message saying what is wrong
 * and, after it, `syntaxNote` (by default: CEL uses RE2 syntax; lookaround and backreferences are
 * the usual surprise).
 */
export function compilePattern(pattern: string, syntaxNote = "CEL's matches() uses RE2 syntax"): CompiledPattern {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new RegexError('invalid_regular_expression', `regular expression longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  const estimate = estimateProgramSize(pattern);
  if (estimate > 2 * MAX_PROGRAM_SIZE) throw tooComplex(pattern, `about ${estimate}`);
  let re: RE2JS;
  try {
    re = loadRe2js().RE2JS.compile(pattern);
  } catch (err) {
    throw new RegexError('invalid_regular_expression', `invalid regular expression ${quote(pattern)}: ${describeSyntaxError(err)} (${syntaxNote})`);
  }
  const programSize = re.programSize();
  if (programSize > MAX_PROGRAM_SIZE) throw tooComplex(pattern, String(programSize));
  const maxInput = Math.floor(MAX_MATCH_WORK / Math.max(programSize, 1)) - 1;
  return {
    pattern,
    programSize,
    re,
    test(input: string): boolean {
      if (input.length > maxInput) {
        throw new RegexError(
          'regular_expression_too_expensive',
          `input of ${input.length} characters is too long for this regular expression (at most ${maxInput} for a program of ${programSize} instructions)`,
        );
      }
      const matched = re.test(input);
      trimDfa(re);
      return matched;
    },
  };
}

const tooComplex = (pattern: string, instructions: string): RegexError =>
  new RegexError(
    'invalid_regular_expression',
    `regular expression ${quote(pattern)} is too complex (RE2 program of ${instructions} instructions, at most ${MAX_PROGRAM_SIZE}; large counted repetitions such as {1,1000} multiply)`,
  );

/** re2js internals read by `trimDfa` (guarded: if they change, the DFA is simply kept). */
interface Re2Internals {
  lazyDFA?: { maxMem?: unknown; memBudget?: unknown } | null;
}

function trimDfa(re: RE2JS): void {
  const re2 = re.re2() as unknown as Re2Internals;
  const dfa = re2.lazyDFA;
  if (dfa && typeof dfa.maxMem === 'number' && typeof dfa.memBudget === 'number' && dfa.maxMem - dfa.memBudget > MAX_KEPT_DFA_BYTES) re2.lazyDFA = null;
}

/** Bytes of DFA a compiled pattern holds now, as re2js estimates them (0 when it has none). */
export function keptDfaBytes(pattern: CompiledPattern): number {
  const dfa = (pattern.re.re2() as unknown as Re2Internals).lazyDFA;
  return dfa && typeof dfa.maxMem === 'number' && typeof dfa.memBudget === 'number' ? dfa.maxMem - dfa.memBudget : 0;
}

/**
 * Patterns known only at run time (`s.matches(lookup.x.pattern)`), compiled once each and kept in
 * a bounded LRU cache: attacker-chosen patterns evict each other and never grow memory. Invalid
 * patterns are cached too (as their error), so a hostile value is not recompiled on every call.
 */
export class PatternCache {
  readonly #cache: LRUCache<string, CompiledPattern | RegexError>;
  #compiles = 0;

  constructor(
    readonly maxEntries = DYNAMIC_PATTERN_CACHE_SIZE,
    readonly maxInstructions = DYNAMIC_PATTERN_CACHE_INSTRUCTIONS,
  ) {
    this.#cache = new LRUCache({
      max: maxEntries,
      maxSize: maxInstructions,
      sizeCalculation: (entry) => (entry instanceof RegexError ? 1 : Math.max(1, entry.programSize)),
    });
  }

  /** The compiled pattern; throws `RegexError` when it is not a valid RE2 pattern. */
  get(pattern: string): CompiledPattern {
    let entry = this.#cache.get(pattern);
    if (entry === undefined) {
      this.#compiles++;
      try {
        entry = compilePattern(pattern);
      } catch (err) {
        if (!(err instanceof RegexError)) throw err;
        entry = err;
      }
      // Over-long patterns are not kept: they would pin up to MAX_PATTERN_LENGTH x entries of keys.
      if (pattern.length <= MAX_PATTERN_LENGTH) this.#cache.set(pattern, entry);
    }
    if (entry instanceof RegexError) throw entry;
    return entry;
  }

  /** Patterns held now (at most `maxEntries`). */
  get size(): number {
    return this.#cache.size;
  }

  /** RE2 instructions held now (at most `maxInstructions`). */
  get instructions(): number {
    return this.#cache.calculatedSize;
  }

  /** Compilations so far (cache misses). */
  get compiles(): number {
    return this.#compiles;
  }
}

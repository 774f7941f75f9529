/**
 * scripts/bundle.js's post-pass over esbuild's output: the non-ASCII characters esbuild copies
 * into regular expression literals are escaped so the bundle is ASCII only, without changing
 * what any pattern matches. Each case runs the original and the escaped source and compares.
 */
import { runInThisContext } from 'node:vm';

const { escapeNonAscii } = require('../../scripts/bundle.js') as {
  escapeNonAscii(source: string): { code: string; left: number[] };
};

/** Evaluates `const name = <expr>;` declarations and returns them by name. */
function evaluate(source: string): Record<string, unknown> {
  const names = [...source.matchAll(/const (\w+) =/g)].map((m) => m[1]);
  return runInThisContext(`(() => { ${source}; return { ${names.join(', ')} }; })()`) as Record<string, unknown>;
}

describe('escapeNonAscii', () => {
  it('escapes non-ASCII characters of regular expression literals and keeps what they match', () => {
    const source = [
      'const duration = /(\\d+)(ns|us|µs|ms)/;',
      'const range = /^[é-ü]+$/i;',
      'const identity = /\\µ/;',
      'const astral = /^[😀]$/u;',
      'const astralPlain = /^😀$/;',
      'const division = 6 / 3 / 2;',
    ].join('\n');
    const { code, left } = escapeNonAscii(source);
    expect(left).toEqual([]);
    expect(code.search(/[\u0080-\uffff]/)).toBe(-1);
    expect(code).toContain('/(\\d+)(ns|us|\\u00b5s|ms)/');
    const before = evaluate(source);
    const after = evaluate(code);
    expect(after.division).toBe(1);
    const samples = ['12µs', '12us', 'µ', 'éü', 'ÉÜ', 'a', '😀', '\ud83d', ''];
    for (const name of ['duration', 'range', 'identity', 'astral', 'astralPlain']) {
      for (const sample of samples) expect([name, sample, (after[name] as RegExp).test(sample)]).toEqual([name, sample, (before[name] as RegExp).test(sample)]);
      expect((after[name] as RegExp).flags).toBe((before[name] as RegExp).flags);
    }
  });

  it('leaves raw template strings as they are and reports where non-ASCII text is left', () => {
    const source = 'const raw = String.raw`µ`;\nconst text = "plain";';
    const { code, left } = escapeNonAscii(source);
    expect(code).toBe(source);
    expect(left).toEqual([source.indexOf('µ')]);
  });

  it('escapes non-ASCII characters of comments (the licence notices esbuild keeps)', () => {
    const source = '/*! (c) Jimmy Wärting */\nconst a = 1; // Ünïcode\n';
    const { code, left } = escapeNonAscii(source);
    expect(left).toEqual([]);
    expect(code).toBe('/*! (c) Jimmy W\\u00e4rting */\nconst a = 1; // \\u00dcn\\u00efcode\n');
  });

  it('returns ASCII sources unchanged', () => {
    const source = 'const a = /x\\/y/g.test("x/y") ? `t${1}` : 1 / 2;';
    expect(escapeNonAscii(source)).toEqual({ code: source, left: [] });
  });
});

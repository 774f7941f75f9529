/**
 * CEL's `matches()` is RE2 (linear time) everywhere rules are evaluated: the service, `check`,
 * `test`, `preview` and `explain`. Patterns that make a backtracking engine run for minutes
 * (`^(a+)+$` on "aaaa…a!") answer at once; literal patterns are compiled once at load and
 * non-RE2 ones (lookaround, backreferences) are load errors; patterns from data go through a
 * bounded cache and an invalid one is an ordinary rule error.
 *
 * On the backtracking engine these inputs do not fail, they hang (31 characters: over 30 s per
 * call, doubling with each character), so the bounds below are generous (seconds) and only
 * there to say "finished", never to measure.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { RE2JS } from 're2js';
import type { TokenHookEvent } from '../../src/hook/types';
import { compileExpression, createRulesEnvironment, DYNAMIC_PATTERNS, LOOKUP_VARIABLE, toCel } from '../../src/rules/cel';
import { RulesEngine } from '../../src/rules/engine';
import { parseRules } from '../../src/rules/load';
import { compilePattern, DYNAMIC_PATTERN_CACHE_INSTRUCTIONS, DYNAMIC_PATTERN_CACHE_SIZE, estimateProgramSize, keptDfaBytes, MAX_KEPT_DFA_BYTES, MAX_MATCH_WORK, PatternCache, RegexError } from '../../src/rules/regex';
import { buildTestApp, metricValue, TEST_SECRET } from '../helpers/app';
import { hookSpans, installTestTracing } from '../observability/support/otel';
import { ROOT } from '../helpers/process';
import { oktaFixture } from '../helpers/fixtures';
import { cli, compile, engineFor, engineForFile, errorsFor, rulesFixturePath } from './helpers';

const HOSTILE_RULES = rulesFixturePath('matches-hostile.yaml');
const BAD_INPUT = `${'a'.repeat(31)}!`;
const LONG_BAD_INPUT = `${'a'.repeat(100_000)}!`;
/** Far beyond any real evaluation here (milliseconds), far below what the backtracking engine takes. */
const FINISHED_MS = 2000;

function eventWithProfile(profile: Record<string, unknown>): TokenHookEvent {
  const event = oktaFixture('token-hook-authcode-full');
  const user = event.data.context?.user as { profile: Record<string, unknown> };
  Object.assign(user.profile, profile);
  return event;
}

function accessClaims(evaluation: Awaited<ReturnType<RulesEngine['evaluate']>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const change of evaluation.decision.changes) if (change.kind === 'set' && change.token === 'access') out[change.claim] = change.value;
  return out;
}

/** `s` and `p` typed string (cel-js' static overload path); rules files read `dyn` values (its dynamic path). */
const stringsEnv = createRulesEnvironment([
  { name: 's', type: 'string', description: 'input' },
  { name: 'p', type: 'string', description: 'pattern' },
]);

function evaluateBool(expression: string, vars: Record<string, unknown>): unknown {
  const compiled = compileExpression(stringsEnv, expression, 'bool');
  if (!compiled.ok) throw new Error(compiled.message);
  return compiled.expression.run(toCel(vars) as Record<string, unknown>);
}

describe('catastrophic-backtracking patterns finish in linear time', () => {
  it.each([
    // Backtracking (Node 20): 31 a: > 30 s; 50 a: hours (31 a: 0.9 s); 19 a and 200 x: 2.8 s; 20 words: 1.6 s, x 2 per word.
    ['^(a+)+$', '31 a and !', BAD_INPUT, false],
    ['(a|aa)+$', '50 a and !', `${'a'.repeat(50)}!`, false],
    ['(.*a){20}', '19 a and 5,000 x', `${'a'.repeat(19)}${'x'.repeat(5000)}`, false],
    ['(\\w+\\s?)+$', '30 words and !', `${'ab '.repeat(30)}!`, false],
    ['^(a+)+$', '100 KB of a and !', LONG_BAD_INPUT, false],
    ['(a|aa)+$', '100 KB of a and !', LONG_BAD_INPUT, false],
    ['(.*a){20}', '50 KB of b and one a', `${'b'.repeat(50_000)}a`, false],
    ['(\\w+\\s?)+$', '33,000 words and !', `${'ab '.repeat(33_000)}!`, false],
  ])('%s against %s answers at once (receiver, global and literal forms)', (pattern, _label, input, expected) => {
    const started = performance.now();
    const receiver = evaluateBool('s.matches(p)', { s: input, p: pattern });
    const global = evaluateBool('matches(s, p)', { s: input, p: pattern });
    const literal = evaluateBool(`s.matches(${JSON.stringify(pattern)})`, { s: input });
    expect(performance.now() - started).toBeLessThan(FINISHED_MS);
    expect(receiver).toBe(expected);
    expect(global).toBe(receiver);
    expect(literal).toBe(receiver);
  });

  it('the rules of a file with all four shapes evaluate a hostile nickName at once, with the usual results', async () => {
    const engine = engineForFile(HOSTILE_RULES);
    const started = performance.now();
    const hostile = await engine.evaluate(eventWithProfile({ nickName: BAD_INPUT }));
    const long = await engine.evaluate(eventWithProfile({ nickName: LONG_BAD_INPUT }));
    expect(performance.now() - started).toBeLessThan(FINISHED_MS);
    // (.*a){20} is 102 RE2 instructions: 100 KB x 102 is past MAX_MATCH_WORK, a fast rule error.
    for (const [evaluation, dotStar] of [[hostile, 'matched'], [long, 'error']] as const) {
      expect(evaluation.rules.map((r) => [r.rule, r.result])).toEqual([
        ['nested-quantifier', 'not_matched'],
        ['overlapping-alternation', 'not_matched'],
        ['repeated-dot-star', dotStar],
        ['words-and-spaces', 'not_matched'],
        ['case-insensitive-login', 'matched'],
        ['pattern-from-data', 'not_matched'],
      ]);
    }
    expect(long.rules[2]?.error).toBe('when: regular_expression_too_expensive at `user.profile.nickName.matches("(.*a){20}")`');
    // The same rules still match what they should.
    expect(accessClaims(await engine.evaluate(eventWithProfile({ nickName: 'aaaa' })))).toMatchObject({ nested: true, alternation: true, words: true, jordan: true });
  });

  it('a pattern too large for a 100 KB input is a fast rule error, not seconds of matching', async () => {
    // 7,002 RE2 instructions x 100,000 characters: linear, but seconds; refused before it starts.
    const engine = engineFor(`rules:
  - name: big
    when: 'user.profile.nickName.matches(r"(\\w+\\s?){1,1000}$")'
    claims: [{ name: big, value: true, tokens: [access] }]
`);
    const started = performance.now();
    const evaluation = await engine.evaluate(eventWithProfile({ nickName: `${'ab '.repeat(33_000)}!` }));
    expect(performance.now() - started).toBeLessThan(FINISHED_MS);
    expect(evaluation.rules[0]).toMatchObject({ result: 'error', error: expect.stringContaining('regular_expression_too_expensive') });
    // Short inputs with the same pattern are fine.
    expect((await engine.evaluate(eventWithProfile({ nickName: 'ab cd' }))).rules[0]).toMatchObject({ result: 'matched' });
  });

  it('many matches in one call stop at the evaluation deadline (RULES_MAX_EVALUATION_MS) as a rule error', () => {
    const env = createRulesEnvironment([LOOKUP_VARIABLE], { maxEvaluationMs: 0 });
    const parsed = parseRules(
      `rules:
  - name: slow
    when: 'user.profile.nickName.matches("a") && user.profile.nickName.matches("b") && user.profile.nickName.matches("c")'
    claims: [{ name: slow, value: true, tokens: [access] }]
`,
      'rules.yaml',
      { env },
    );
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    const evaluation = new RulesEngine(parsed.ruleSet).evaluateNow(eventWithProfile({ nickName: 'abc' }));
    expect(evaluation.rules[0]).toMatchObject({ result: 'error', error: expect.stringContaining('evaluation_limit') });
  });
});

describe('RE2 syntax and semantics', () => {
  it.each([
    ['(?i) makes the rest of the pattern case-insensitive', 'Jordan.Lee@Example.COM', '(?i)^jordan\\.lee@example\\.com$', true],
    ['(?i) applies to a group only with (?i:...)', 'ADMIN-x', '^(?i:admin)-X$', false],
    ['\\d is an ASCII digit', '2024', '^\\d{4}$', true],
    ['\\d does not match other digits', '٢٠٢٤', '^\\d+$', false],
    ['matching is partial: anchors are explicit', 'role:admin:rw', 'admin', true],
    ['. matches one character, not one UTF-16 unit', '😀', '^.$', true],
    ['Unicode classes work', 'Ωμέγα', '^\\p{Greek}+$', true],
    ['named groups in RE2 syntax compile', 'ab', '(?P<first>a)b', true],
  ])('%s', (_label, input, pattern, expected) => {
    expect(evaluateBool('s.matches(p)', { s: input, p: pattern })).toBe(expected);
    expect(evaluateBool(`s.matches(${JSON.stringify(pattern)})`, { s: input })).toBe(expected);
  });

  it('arguments computed by an async function are matched with RE2 too', async () => {
    const env = createRulesEnvironment([{ name: 's', type: 'string', description: 'input' }]);
    env.registerFunction('later(string): string', async (value: string) => value);
    const compiled = compileExpression(env, 'later(s).matches("^(a+)+$") || matches(later(s), "(?i)^A+!$")', 'bool');
    if (!compiled.ok) throw new Error(compiled.message);
    const started = performance.now();
    await expect(compiled.expression.run({ s: BAD_INPUT })).resolves.toBe(true);
    expect(performance.now() - started).toBeLessThan(FINISHED_MS);
  });

  it.each([
    ['a comprehension (exists)', '[s, "x"].exists(v, v.matches("(?i)^JORDAN"))'],
    ['a map and filter', '[s].map(v, v.upperAscii()).filter(v, matches(v, "(?i)^jordan")).size() == 1'],
    ['cel.bind (a pattern that is not a literal)', 'cel.bind(p, "(?i)^JORDAN", s.matches(p))'],
    ['a ternary and an optional', '(s.size() > 0 ? s : "").matches("(?i)^JORDAN") && optional.of(s).value().matches("^(a+)+$|jordan")'],
  ])('matches() inside %s is RE2 too ((?i), which JavaScript refuses)', (_label, expression) => {
    expect(evaluateBool(expression, { s: 'jordan.lee' })).toBe(true);
  });

  it('arguments that are not strings get the usual no_matching_overload error, as before', async () => {
    const engine = engineFor(`rules:
  - name: typed
    when: 'user.profile.age.matches("1")'
    claims: [{ name: x, value: true }]
`);
    const evaluation = await engine.evaluate(eventWithProfile({ age: 12 }));
    expect(evaluation.rules[0]).toMatchObject({ result: 'error', error: expect.stringContaining('no_matching_overload') });
  });
});

describe('literal patterns are compiled once, at load', () => {
  it('evaluating a rule with literal patterns compiles nothing per call', async () => {
    const engine = engineForFile(HOSTILE_RULES);
    const compile = jest.spyOn(RE2JS, 'compile');
    try {
      for (let i = 0; i < 50; i++) await engine.evaluate(eventWithProfile({ nickName: `user-${i}` }));
      expect(compile).not.toHaveBeenCalled();
    } finally {
      compile.mockRestore();
    }
  });

  it.each([
    ['lookahead', '^(?=.*@example\\\\.com$)jordan', 'lookahead ((?=…), (?!…)) is not supported'],
    ['negative lookahead', '^(?!admin)', 'lookahead ((?=…), (?!…)) is not supported'],
    ['lookbehind', '(?<=@)example', 'lookbehind ((?<=…), (?<!…)) is not supported'],
    ['backreference', '(a)\\\\1', 'backreferences (\\1, \\k<name>) are not supported'],
    ['possessive quantifier', 'a++', 'possessive quantifiers (a++, a*+) are not supported'],
    ['unbalanced group', '(abc', 'missing closing ): `(abc`'],
  ])('a %s in a literal is a load error that says CEL uses RE2 syntax', (_label, pattern, what) => {
    const [error] = errorsFor(`rules:
  - name: r
    when: 'user.profile.login.matches("${pattern}")'
    claims: [{ name: x, value: true }]
`);
    expect(error).toContain(`rules.yaml: rule "r" (#1): when: invalid regular expression "`);
    expect(error).toContain(`: ${what} (CEL's matches() uses RE2 syntax)`);
    expect(error).toMatch(/\(at column 28: `"[^`]+"`\) \(line 3, column 39\)$/);
  });

  it('a pattern too complex for RE2 limits is a load error', () => {
    const [error] = errorsFor(`rules:
  - name: r
    when: 'matches(user.profile.login, r"(\\w+\\s?){1,1000}(\\w+\\s?){1,1000}")'
    claims: [{ name: x, value: true }]
`);
    expect(error).toContain('is too complex (RE2 program of 14');
  });

  it.each([
    '^(a+)+$',
    '(\\w+\\s?){1,1000}$',
    '((a{10}){10}){10}',
    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
    '(?i)^(America|Europe)/[A-Za-z_]+$',
    '(?P<first>[[:alpha:]]{3,})\\p{Greek}+|\\Qa.b\\E{2,5}?',
  ])('the program size of %s is estimated from its text as RE2 compiles it', (pattern) => {
    expect(estimateProgramSize(pattern)).toBe(compilePattern(pattern).programSize);
  });

  it('a pattern that would expand to hundreds of thousands of instructions is refused before compiling (11 s otherwise)', async () => {
    const huge = 'a{1000}'.repeat(580); // 4,060 characters, 580,002 instructions
    const started = performance.now();
    expect(() => compilePattern(huge)).toThrow('is too complex (RE2 program of about 580002 instructions, at most 10000');
    const evaluation = await engineFor(FROM_DATA_RULES).evaluate(eventWithProfile({ nickName: 'abc', pattern: huge }));
    expect(evaluation.rules[0]).toMatchObject({ result: 'error', error: expect.stringContaining('invalid_regular_expression') });
    expect(performance.now() - started).toBeLessThan(FINISHED_MS);
  });

  it('okta-token-hook check fails on a lookahead and a backreference with file:line:col and the RE2 message', async () => {
    const file = rulesFixturePath('invalid-regex.yaml');
    const { code, out, err } = await cli('check', file);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain(
      `${file}: rule "lookahead" (#1): when: invalid regular expression "^(?=.*@example\\.com$)jordan": lookahead ((?=…), (?!…)) is not supported (CEL's matches() uses RE2 syntax) (at column 28: \`"^(?=.*@example\\\\.com$)jordan"\`) (line 4, column 39)`,
    );
    expect(err).toContain(`${file}: rule "backreference" (#2): claims[0].expr: invalid regular expression "(a)\\1": backreferences (\\1, \\k<name>) are not supported (CEL's matches() uses RE2 syntax)`);
    expect(err).toContain('(line 9, column 47)');
    expect(err).toContain(`${file}: 2 errors; the service would refuse to start with this file`);
  });
});

/** One rule whose pattern is a profile attribute: data a user (or an upstream) controls. */
const FROM_DATA_RULES = `rules:
  - name: from-data
    when: 'user.profile.nickName.matches(user.profile.pattern)'
    claims: [{ name: x, value: true, tokens: [access] }]
`;

describe('patterns from data (not literals)', () => {
  it('an invalid pattern in the payload is an evaluation error of that rule, through its onError', async () => {
    const skip = engineFor(`rules:
  - name: from-data
    when: 'user.profile.nickName.matches(user.profile.pattern)'
    claims: [{ name: x, value: true, tokens: [access] }]
  - name: other
    claims: [{ name: y, value: true, tokens: [access] }]
`);
    const evaluation = await skip.evaluate(eventWithProfile({ nickName: 'abc', pattern: '(?<=a)b' }));
    expect(evaluation.rules[0]).toMatchObject({ rule: 'from-data', result: 'error', error: 'when: invalid_regular_expression at `user.profile.nickName.matches(user.profile.pattern)`' });
    expect(accessClaims(evaluation)).toEqual({ y: true });

    const deny = engineFor(`rules:
  - name: from-data
    onError: deny
    when: 'matches(user.profile.nickName, user.profile.pattern)'
    claims: [{ name: x, value: true, tokens: [access] }]
`);
    const denied = await deny.evaluate(eventWithProfile({ nickName: 'abc', pattern: '(' }));
    expect(denied.rules[0]).toMatchObject({ result: 'error' });
    expect(denied.decision.deny).toBeDefined();
  });

  it('a valid pattern from data matches with RE2, compiled once however often it is used', async () => {
    const engine = engineFor(FROM_DATA_RULES);
    const pattern = `^(a+)+$|^unique-${Date.now()}$`;
    const before = DYNAMIC_PATTERNS.compiles;
    for (let i = 0; i < 20; i++) {
      const evaluation = await engine.evaluate(eventWithProfile({ nickName: i % 2 === 0 ? 'aaaa' : BAD_INPUT, pattern }));
      expect(evaluation.rules[0]?.result).toBe(i % 2 === 0 ? 'matched' : 'not_matched');
    }
    expect(DYNAMIC_PATTERNS.compiles - before).toBe(1);
  });

  it('the cache of dynamic patterns stays bounded under thousands of distinct attacker-chosen patterns', async () => {
    const engine = engineFor(FROM_DATA_RULES);
    for (let i = 0; i < 3 * DYNAMIC_PATTERN_CACHE_SIZE; i++) {
      await engine.evaluate(eventWithProfile({ nickName: 'abc', pattern: i % 3 === 0 ? `(${i}` : `^x${i}(a+)+$` }));
      expect(DYNAMIC_PATTERNS.size).toBeLessThanOrEqual(DYNAMIC_PATTERN_CACHE_SIZE);
    }
    expect(DYNAMIC_PATTERNS.size).toBe(DYNAMIC_PATTERN_CACHE_SIZE);
  });

  it('a PatternCache keeps at most its size, caches invalid patterns as errors and skips over-long ones', () => {
    const cache = new PatternCache(4);
    for (let i = 0; i < 10; i++) cache.get(`a{${i}}`);
    expect(cache.size).toBe(4);
    expect(() => cache.get('(?=x)')).toThrow(RegexError);
    expect(() => cache.get('(?=x)')).toThrow('lookahead');
    const compiles = cache.compiles;
    expect(() => cache.get('(?=x)')).toThrow(RegexError);
    expect(cache.compiles).toBe(compiles);
    expect(() => cache.get('a'.repeat(5000))).toThrow('longer than 4096 characters');
    expect(cache.size).toBe(4);
  });

  it('the cache is also bounded in RE2 instructions: large attacker-chosen patterns evict each other', () => {
    const cache = new PatternCache(256, 20_000);
    for (let i = 0; i < 10; i++) cache.get(`(\\w+\\s?){1,${900 + i}}$`); // about 6,300 instructions each
    expect(cache.instructions).toBeLessThanOrEqual(20_000);
    expect(cache.size).toBe(3);
    expect(DYNAMIC_PATTERNS.maxInstructions).toBe(DYNAMIC_PATTERN_CACHE_INSTRUCTIONS);
    expect(DYNAMIC_PATTERNS.instructions).toBeLessThanOrEqual(DYNAMIC_PATTERN_CACHE_INSTRUCTIONS);
  });

  it('a pattern does not keep a DFA grown large by a hostile input (memory per cached pattern stays small)', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const ab = Array.from({ length: 30_000 }, () => (random() < 0.5 ? 'a' : 'b')).join('');
    // Must remember the last 17 characters: thousands of DFA states, megabytes in re2js' cache.
    const explosive = compilePattern('a[ab]{16}[^ab]');
    expect(explosive.test(ab)).toBe(false);
    expect(keptDfaBytes(explosive)).toBeLessThanOrEqual(MAX_KEPT_DFA_BYTES);
    // A small DFA is kept warm between matches (and this reads re2js' real DFA, not a stale field).
    const small = compilePattern('[ab]*bb[ab]');
    expect(small.test(ab)).toBe(true);
    expect(keptDfaBytes(small)).toBeGreaterThan(0);
    expect(keptDfaBytes(small)).toBeLessThanOrEqual(MAX_KEPT_DFA_BYTES);
  });

  it('one match may not do more than MAX_MATCH_WORK steps (program size x input length)', () => {
    const pattern = compilePattern('^x[a-z]{1,500}$');
    const longest = Math.floor(MAX_MATCH_WORK / pattern.programSize) - 1;
    expect(pattern.test('y'.repeat(longest))).toBe(false);
    expect(() => pattern.test('y'.repeat(longest + 1))).toThrow(expect.objectContaining({ code: 'regular_expression_too_expensive' }));
  });
});

describe('the service answers through the hook', () => {
  const hook = (event: TokenHookEvent, rulesText?: string) => {
    const engine = rulesText ? new RulesEngine(compile(rulesText)) : engineForFile(HOSTILE_RULES);
    const app = buildTestApp({ engine });
    return { ...app, send: () => request(app.callback).post('/hooks/token').set('Authorization', TEST_SECRET).set('Content-Type', 'application/json').send(event) };
  };

  it('a hostile profile value against catastrophic patterns gets its answer at once, and the next call too', async () => {
    const { send, callback } = hook(eventWithProfile({ nickName: BAD_INPUT }));
    const started = performance.now();
    const response = await send();
    expect(response.status).toBe(200);
    const health = await request(callback).get('/healthz');
    expect(performance.now() - started).toBeLessThan(FINISHED_MS);
    expect(health.status).toBe(200);
    const added = (response.body.commands as Array<{ value: Array<{ path: string; value: unknown }> }>).flatMap((c) => c.value).map((op) => [op.path, op.value]);
    expect(added).toEqual(expect.arrayContaining([['/claims/dotstar', true], ['/claims/jordan', true]]));
    expect(added.map(([path]) => path)).not.toContain('/claims/nested');
  });

  it('an invalid pattern from the payload shows up as a rule error in the metric and the log line', async () => {
    const { send, metrics, logs } = hook(eventWithProfile({ nickName: 'abc', pattern: '(a)\\1' }));
    const response = await send();
    expect(response.status).toBe(200);
    expect(await metricValue(metrics, 'okta_hook_rule_evaluations_total', { rule: 'pattern-from-data', result: 'error' })).toBe(1);
    expect(await metricValue(metrics, 'okta_hook_rule_evaluations_total', { rule: 'case-insensitive-login', result: 'matched' })).toBe(1);
    const line = logs.lines.find((l) => l.msg === 'token hook call');
    expect(line).toMatchObject({ outcome: 'patched', ruleErrors: 1 });
    // The pattern is request data: not in the log.
    expect(JSON.stringify(logs.lines)).not.toContain('(a)\\\\1');
  });

  it('an invalid pattern from the payload is counted in the hook span (okta.rules.errors), like any other rule error', async () => {
    const tracing = installTestTracing();
    try {
      const { send } = hook(eventWithProfile({ nickName: 'abc', pattern: '(?=x)' }));
      expect((await send()).status).toBe(200);
      const [span] = hookSpans(tracing.exporter);
      expect(span?.attributes).toMatchObject({ 'okta.rules.errors': 1, 'okta.hook.outcome': 'patched' });
    } finally {
      await tracing.uninstall();
    }
  });
});

describe('every command evaluates matches() with RE2', () => {
  const hostileSet = ['--set', `user.profile.nickName=${JSON.stringify(BAD_INPUT)}`];

  it('okta-token-hook explain and preview answer for a hostile value', async () => {
    const started = performance.now();
    const explained = await cli('explain', '--rules', HOSTILE_RULES, '--template', 'authorization_code', ...hostileSet, '--offline');
    const previewed = await cli('preview', '--rules', HOSTILE_RULES, '--template', 'authorization_code', ...hostileSet, '--offline');
    expect(performance.now() - started).toBeLessThan(FINISHED_MS);
    expect(explained.err).toBe('');
    expect(explained.code).toBe(0);
    expect(explained.out).toContain('#1 nested-quantifier: not matched (condition = false)');
    expect(explained.out).toContain('#3 repeated-dot-star: matched');
    expect(previewed.code).toBe(0);
    expect(previewed.out).toContain('dotstar');
  });

  it('okta-token-hook test runs cases with hostile values and (?i) patterns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regex-test-'));
    try {
      const file = join(dir, 'matches.test.yaml');
      await writeFile(
        file,
        `rules: ${JSON.stringify(HOSTILE_RULES)}
tests:
  - name: hostile nickName matches nothing catastrophic
    request: { template: authorization_code, set: { user.profile.nickName: ${JSON.stringify(BAD_INPUT)} } }
    expect:
      access: { claims: { dotstar: true, jordan: true }, absent: [nested, alternation, words] }
  - name: a predicate can use matches too
    request: { template: authorization_code, set: { user.profile.nickName: aaaa } }
    expect:
      access: { satisfy: { jordan: 'matches(string(claims.nested), "(?i)^TRUE$")' } }
`,
      );
      const { code, out } = await cli('test', file);
      expect(out).toContain('2 passed, 0 failed');
      expect(code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('start-up', () => {
  it('re2js is loaded only when a rules file has a regular expression (built dist)', () => {
    const script = `const { parseRules } = require(${JSON.stringify(join(ROOT, 'dist', 'rules', 'load.js'))});
const file = process.argv[1];
const parsed = parseRules(require('node:fs').readFileSync(file, 'utf8'), file);
if (!parsed.ok) throw new Error(parsed.errors.join('\\n'));
console.log(JSON.stringify(Object.keys(require.cache).some((path) => path.includes('/node_modules/re2js/'))));`;
    const loadsRe2js = (rulesFile: string): boolean => {
      const run = spawnSync(process.execPath, ['-e', script, rulesFile], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      return JSON.parse(run.stdout) as boolean;
    };
    expect(loadsRe2js(join(ROOT, 'examples', 'rules.yaml'))).toBe(false);
    expect(loadsRe2js(HOSTILE_RULES)).toBe(true);
  });
});

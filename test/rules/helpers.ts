import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli';
import { parseRules } from '../../src/rules/load';
import { RulesEngine } from '../../src/rules/engine';
import type { RuleSet } from '../../src/rules/types';
import type { TokenHookEvent } from '../../src/hook/types';

export const RULES_FIXTURES = join(__dirname, '..', 'fixtures', 'rules');
export const EXAMPLE_RULES = join(__dirname, '..', '..', 'examples', 'rules.yaml');

export function rulesFixturePath(name: string): string {
  return join(RULES_FIXTURES, name);
}

/** Compiles rules text; fails the test with every message when invalid. */
export function compile(text: string, file = 'rules.yaml'): RuleSet {
  const result = parseRules(text, file);
  if (!result.ok) throw new Error(`unexpected invalid rules:\n${result.errors.join('\n')}`);
  return result.ruleSet;
}

export function engineFor(text: string): RulesEngine {
  return new RulesEngine(compile(text));
}

export function engineForFile(path: string): RulesEngine {
  return new RulesEngine(compile(readFileSync(path, 'utf8'), path));
}

/** Errors for invalid rules text (fails the test when the text is valid). */
export function errorsFor(text: string, file = 'rules.yaml'): string[] {
  const result = parseRules(text, file);
  if (result.ok) throw new Error('expected the rules to be rejected');
  return result.errors;
}

/** A payload from test/fixtures/rules (our own realistic variants). */
export function rulesPayload(name: string): TokenHookEvent {
  return JSON.parse(readFileSync(join(RULES_FIXTURES, name), 'utf8')) as TokenHookEvent;
}

/** Runs the command line in-process and captures its output. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

#!/usr/bin/env node
/**
 * `okta-token-hook` command line: validate a rules file and explain what the service would answer
 * for a payload. Never starts a server and never imports Koa.
 *
 * Exit codes: 0 ok, 1 invalid rules file, 2 usage or I/O error (unreadable file, bad payload).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseTokenHookEvent } from './hook/parse';
import { LookupSet } from './lookups/set';
import { LookupSetupError, type LookupDefinition, type LookupOutcome } from './lookups/types';
import { RulesEngine, type LookupResolver } from './rules/engine';
import { explain, formatExplainText, lookupTarget } from './rules/explain';
import { readRulesSource, type RulesSource } from './rules/source';
import { describeScope } from './rules/sets';
import { RulesFileError, TOKEN_LABEL, type CompiledRule, type RuleSet } from './rules/types';

export const EXIT_OK = 0;
export const EXIT_INVALID_RULES = 1;
export const EXIT_USAGE = 2;

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

const USAGE = `Usage:
  okta-token-hook check RULES_FILE
      Validate a rules file (YAML or JSON), or a rules directory, exactly as the service does at
      startup; rule sets that overlap are listed as warnings.
  okta-token-hook explain --rules RULES_FILE --request PAYLOAD.json [--json] [--no-debug-context]
                          [--deadline-ms N] [--offline]
      Evaluate the rules against an Okta token hook payload and show, per rule, whether it matched,
      what it changed in which token, every skipped change and why, and the exact response.
      Lookups the matching rules need are called for real, within --deadline-ms (default 1500, as
      HOOK_DEADLINE_MS); --offline calls none and treats them as failed (shows fallbacks/onError).

Exit codes: 0 ok, 1 invalid rules file, 2 usage or I/O error.
`;

class UsageError extends Error {}

/** Reads and validates the rules; I/O problems are usage errors (2), invalid rules exit 1. */
async function loadRules(file: string, io: CliIO): Promise<RuleSet | number> {
  let source: RulesSource;
  try {
    source = await readRulesSource(file);
  } catch (err) {
    io.err(`${err instanceof RulesFileError ? err.errors.join('\n') : String(err)}\n`);
    return EXIT_USAGE;
  }
  const parsed = source.parse();
  if (!parsed.ok) {
    io.err(`${parsed.errors.join('\n')}\n`);
    io.err(`${file}: ${parsed.errors.length} error${parsed.errors.length === 1 ? '' : 's'}; the service would refuse to start with this file\n`);
    return EXIT_INVALID_RULES;
  }
  return parsed.ruleSet;
}

function tokensOf(tokens: readonly ('identity' | 'access')[]): string {
  return tokens.map((t) => TOKEN_LABEL[t]).join('+');
}

function summarizeRule(rule: CompiledRule): string {
  const parts: string[] = [];
  if (rule.deny !== undefined) parts.push(`deny "${rule.deny}"`);
  if (rule.claims.length > 0) parts.push(`set ${rule.claims.map((c) => `${c.name} [${tokensOf(c.tokens)}]`).join(', ')}`);
  if (rule.remove.length > 0) parts.push(`remove ${rule.remove.map((c) => `${c.name} [${tokensOf(c.tokens)}]`).join(', ')}`);
  if (rule.lifetimes.length > 0) parts.push(`lifetime ${rule.lifetimes.map((l) => `${TOKEN_LABEL[l.token]}=${l.seconds}s`).join(', ')}`);
  const when = rule.when ? `when ${rule.when.source}` : 'always';
  const lookups = rule.lookups.size > 0 ? `; reads lookup ${[...rule.lookups].join(', ')}` : '';
  return `  #${rule.index + 1} ${rule.name}: ${when}; ${parts.join('; ')}${lookups}${rule.onError === 'deny' ? '; onError: deny' : ''}`;
}

function summarizeLookup(definition: LookupDefinition): string {
  const cache = definition.cache.enabled ? `cache ${definition.cache.ttlMs / 1000} s` : 'no cache';
  return `  lookup ${definition.name}: ${definition.type} ${lookupTarget(definition)}; timeout ${definition.timeoutMs} ms; ${cache}`;
}

/** Stand-in for `--offline`: every lookup fails without a call. */
const OFFLINE: LookupResolver = {
  async resolve(names) {
    const outcomes = new Map<string, LookupOutcome>();
    for (const name of names) outcomes.set(name, { lookup: name, type: 'http', ok: false, status: 'error', error: 'not called (--offline)', durationMs: 0 });
    return outcomes;
  },
};

async function check(args: string[], io: CliIO): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('check needs exactly one RULES_FILE');
  const file = positionals[0] as string;
  const ruleSet = await loadRules(file, io);
  if (typeof ruleSet === 'number') return ruleSet;
  const count = ruleSet.rules.length;
  const lookups = ruleSet.lookups.length;
  const lookupCount = lookups > 0 ? `, ${lookups} lookup${lookups === 1 ? '' : 's'}` : '';
  io.out(`${file}: OK, ${count} rule${count === 1 ? '' : 's'}${lookupCount} (version ${ruleSet.version})\n`);
  for (const definition of ruleSet.lookups) io.out(`${summarizeLookup(definition)}\n`);
  for (const rule of ruleSet.rules) if (rule.set === undefined) io.out(`${summarizeRule(rule)}\n`);
  for (const scope of ruleSet.scopes) {
    io.out(`  rule set ${describeScope(scope)}\n`);
    for (const rule of ruleSet.rules) if (rule.set === scope.name) io.out(`  ${summarizeRule(rule)}\n`);
  }
  for (const warning of ruleSet.warnings) io.out(`warning: ${warning}\n`);
  // Lookup files (secrets, CA, keys) are read by the service and by explain, not here: CI has no secrets.
  return EXIT_OK;
}

async function explainCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      rules: { type: 'string' },
      request: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-debug-context': { type: 'boolean', default: false },
      'deadline-ms': { type: 'string', default: '1500' },
      offline: { type: 'boolean', default: false },
    },
  });
  const deadlineMs = Number(values['deadline-ms']);
  if (!Number.isInteger(deadlineMs) || deadlineMs < 1 || deadlineMs > 60_000) throw new UsageError('--deadline-ms must be an integer between 1 and 60000');
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.rules) throw new UsageError('explain needs --rules RULES_FILE');
  if (!values.request) throw new UsageError('explain needs --request PAYLOAD.json');

  const ruleSet = await loadRules(values.rules, io);
  if (typeof ruleSet === 'number') return ruleSet;

  let body: unknown;
  try {
    body = JSON.parse(await readFile(values.request, 'utf8'));
  } catch (err) {
    const reason = err instanceof SyntaxError ? `not valid JSON (${err.message})` : `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
    io.err(`${values.request}: ${reason}\n`);
    return EXIT_USAGE;
  }
  const parsed = parseTokenHookEvent(body);
  if (!parsed.ok) {
    io.err(`${values.request}: not a token hook payload: ${parsed.message} (the service would answer 400)\n`);
    return EXIT_USAGE;
  }
  let lookups: LookupSet | undefined;
  if (!values.offline && ruleSet.lookups.length > 0) {
    try {
      lookups = await LookupSet.create(ruleSet.lookups);
    } catch (err) {
      if (!(err instanceof LookupSetupError)) throw err;
      io.err(`${err.errors.map((e) => `${values.rules}: ${e}`).join('\n')}\n(run with --offline to explain without calling lookups)\n`);
      return EXIT_USAGE;
    }
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('request deadline exceeded')), deadlineMs);
  try {
    const engine = new RulesEngine(ruleSet, { lookups: values.offline ? OFFLINE : lookups });
    const report = await explain(engine, parsed.event, { debugContext: !values['no-debug-context'], signal: controller.signal });
    io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatExplainText(report));
  } finally {
    clearTimeout(timer);
    await lookups?.close();
  }
  return EXIT_OK;
}

/** Runs the command line; returns the exit code. `argv` excludes `node` and the script. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check':
        return await check(rest, io);
      case 'explain':
        return await explainCommand(rest, io);
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return EXIT_OK;
      default:
        throw new UsageError(command === undefined ? 'missing command' : `unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`okta-token-hook: ${(err as Error).message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`okta-token-hook: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = EXIT_USAGE;
    },
  );
}

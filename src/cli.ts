#!/usr/bin/env node
/**
 * `okta-token-hook` command line: validate rules (`check`), explain one call per rule
 * (`explain`), show the tokens Okta would mint (`preview`) and run rule tests (`test`). Never
 * starts a server and never imports Koa. `explain`, `preview` and `test` run the rules through the
 * same engine and response builder as the service.
 *
 * Exit codes: 0 ok, 1 invalid rules file or failed tests, 2 usage or I/O error.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Environment } from '@marcbachmann/cel-js';
import { ConfigError, loadRulesLimits } from './config';
import { targetLabel } from './hook/decision';
import { parseTokenHookEvent } from './hook/parse';
import type { JsonValue, TokenHookEvent } from './hook/types';
import { LookupSet } from './lookups/set';
import { LookupSetupError, type LookupDefinition, type LookupOutcome, type LookupType } from './lookups/types';
import { createRulesEnvironment, LOOKUP_VARIABLE } from './rules/cel';
import { RulesEngine, type LookupResolver } from './rules/engine';
import { explain, formatExplainText, lookupTarget } from './rules/explain';
import type { Diagnostic } from './rules/load';
import { describeScope } from './rules/sets';
import { readRulesSource, type RulesSource } from './rules/source';
import { formatPreviewText, preview, previewJson } from './rules/preview';
import { expandFileArguments } from './rules/testing/files';
import { formatJunit, formatTestText, tally } from './rules/testing/report';
import { applyOverride, OverrideError } from './rules/testing/request';
import { runTestFile } from './rules/testing/runner';
import { STUB_STATUSES, StubLookups, type LookupStub, type StubStatus } from './rules/testing/stubs';
import { template, TEMPLATE_NAMES, type TemplateName } from './rules/testing/templates';
import { RulesFileError, TOKEN_LABEL, type CompiledRule, type RuleSet } from './rules/types';
import { didYouMean } from './shared/values';
import { VERSION } from './version';

export const EXIT_OK = 0;
export const EXIT_INVALID_RULES = 1;
export const EXIT_USAGE = 2;

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /**
   * Environment variables read by the commands: the service's CEL limits (`RULES_MAX_COST`,
   * `RULES_MAX_ITERATIONS`, `RULES_MAX_EVALUATION_MS`). The entry point passes `process.env`.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

const LIMITS_HELP = `  --max-cost N   CEL cost budget of one expression (default: RULES_MAX_COST, else 1000000)
The CEL limits are the service's: RULES_MAX_COST, RULES_MAX_ITERATIONS and RULES_MAX_EVALUATION_MS
are read from the environment (same defaults and bounds), so rules are judged as they would be
by the deployment with those settings.`;

const COMMANDS: Record<string, { synopsis: string; help: string }> = {
  check: {
    synopsis: 'okta-token-hook check [--strict] [--max-cost N] RULES_FILE...',
    help: `Validate rules files (YAML or JSON) or rules directories exactly as the service does at
startup, plus warnings (rules that can never match, claims always overridden by a later rule, rule
sets that overlap). Several at once.
  --strict       warnings fail the check too (exit 1)
${LIMITS_HELP}`,
  },
  explain: {
    synopsis:
      'okta-token-hook explain --rules RULES_FILE (--request PAYLOAD.json | --template NAME) [--set PATH=JSON]... [--lookup NAME=VALUE]... [--json] [--no-debug-context] [--deadline-ms N] [--offline] [--max-cost N]',
    help: `Evaluate the rules against an Okta token hook payload and show, per rule, whether it matched,
what it changed in which token, every skipped change and why, and the exact response.
Lookups the matching rules need are called for real, within --deadline-ms (default 1500, as
HOOK_DEADLINE_MS); --offline calls none and treats them as failed (shows fallbacks/onError).
--template, --set and --lookup work as for preview (see okta-token-hook preview --help).
${LIMITS_HELP}`,
  },
  preview: {
    synopsis:
      'okta-token-hook preview --rules RULES_FILE (--request PAYLOAD.json | --template NAME) [--set PATH=JSON]... [--lookup NAME=VALUE]... [--json] [--offline] [--deadline-ms N] [--max-cost N]',
    help: `Show the ID and access tokens Okta would mint: every claim before and after the hook's patch
(+ added, - removed, ~ changed), the lifetimes, or the deny message the client gets. The
response is applied with Okta's own rules, so what Okta would reject is shown as such.
  --template NAME      a built-in request: ${TEMPLATE_NAMES.join(', ')}
  --set PATH=JSON      change the request, with the names rules read (client.id=..., scopes=[...],
                       user.profile.department=..., identity.employee_profile=...; null deletes)
  --lookup NAME=VALUE  stub a lookup instead of calling it: a JSON value, @file.json, or one of
                       ${STUB_STATUSES.join(', ')}; lookups not stubbed are called for real
                       (--offline: treated as failed)
  --json               machine-readable output
${LIMITS_HELP}`,
  },
  test: {
    synopsis: 'okta-token-hook test [--junit FILE] [--verbose] [--max-cost N] TEST_FILE|GLOB...',
    help: `Run rule tests (YAML files such as rules.test.yaml: a rules file and cases, each with a request,
lookup stubs and expectations on the resulting tokens). Prints every failing case with expected
vs actual per token, rules no case matched, and "N passed, N failed". No network is used.
  --junit FILE   also write a JUnit XML report
  --verbose      list passing cases too
${LIMITS_HELP}`,
  },
};

const USAGE = `Usage: okta-token-hook COMMAND [options]

Commands:
  check    RULES_FILE...                            validate rules files as the service does at startup
  explain  --rules RULES_FILE --request PAYLOAD.json  per rule: matched or not, changes, skipped changes, response
  preview  --rules RULES_FILE --request PAYLOAD.json  the ID and access tokens Okta would issue, before and after
  test     TEST_FILE|GLOB...                        run rule tests: expected tokens per request, lookup stubs

  okta-token-hook COMMAND --help    options of a command
  okta-token-hook --version

Exit codes: 0 ok, 1 invalid rules file or failed tests, 2 usage or I/O error.
`;

function commandHelp(name: string): string {
  const command = COMMANDS[name] as { synopsis: string; help: string };
  return `Usage: ${command.synopsis}\n\n${command.help}\n\nExit codes: 0 ok, 1 invalid rules file${name === 'test' ? ' or failed tests' : ''}, 2 usage or I/O error.\n`;
}

class UsageError extends Error {}

/** A diagnostic as `check` prints it: the line the service logs, then the code frame. */
function formatDiagnostic(diagnostic: Diagnostic): string {
  const head = diagnostic.severity === 'warning' ? `warning: ${diagnostic.text}` : diagnostic.text;
  return diagnostic.frame ? `${head}\n${diagnostic.frame.replace(/^/gm, '    ')}\n` : `${head}\n`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Reads and validates the rules; I/O problems are usage errors (2), invalid rules exit 1. */
async function loadRules(file: string, io: CliIO, env: Environment): Promise<{ ruleSet: RuleSet; warnings: Diagnostic[] } | number> {
  let source: RulesSource;
  try {
    source = await readRulesSource(file);
  } catch (err) {
    io.err(`${err instanceof RulesFileError ? err.errors.join('\n') : String(err)}\n`);
    return EXIT_USAGE;
  }
  const parsed = source.parse({ env });
  if (!parsed.ok) {
    for (const diagnostic of [...parsed.diagnostics, ...parsed.warnings]) io.err(formatDiagnostic(diagnostic));
    io.err(`${file}: ${plural(parsed.errors.length, 'error')}; the service would refuse to start with this file\n`);
    return EXIT_INVALID_RULES;
  }
  return { ruleSet: parsed.ruleSet, warnings: parsed.warnings };
}

function tokensOf(tokens: readonly ('identity' | 'access')[]): string {
  return tokens.map((t) => TOKEN_LABEL[t]).join('+');
}

function summarizeRule(rule: CompiledRule): string {
  const parts: string[] = [];
  if (rule.deny !== undefined) parts.push(`deny "${rule.deny}"`);
  if (rule.claims.length > 0) parts.push(`set ${rule.claims.map((c) => `${targetLabel(c.name, c.at)} [${tokensOf(c.tokens)}]`).join(', ')}`);
  if (rule.remove.length > 0) parts.push(`remove ${rule.remove.map((c) => `${targetLabel(c.name, c.at)} [${tokensOf(c.tokens)}]`).join(', ')}`);
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

/** Stubbed lookups answer from the command line; the others go to `rest` (real calls, or --offline). */
class MixedLookups implements LookupResolver {
  constructor(
    private readonly stubs: StubLookups,
    private readonly stubbed: ReadonlySet<string>,
    private readonly rest: LookupResolver,
  ) {}

  async resolve(...args: Parameters<LookupResolver['resolve']>): Promise<Map<string, LookupOutcome>> {
    const [names, ctx, options] = args;
    const all = [...names];
    const outcomes = await this.stubs.resolve(all.filter((name) => this.stubbed.has(name)));
    const others = all.filter((name) => !this.stubbed.has(name));
    if (others.length > 0) for (const [name, outcome] of await this.rest.resolve(others, ctx, options)) outcomes.set(name, outcome);
    return outcomes;
  }
}

/** `--max-cost`, shared by the commands that compile rules. */
const LIMIT_OPTIONS = { 'max-cost': { type: 'string' } } as const;

/**
 * The CEL environment rules are compiled in, under the service's limits: RULES_MAX_* from the
 * environment (validated as at startup), `--max-cost` over RULES_MAX_COST.
 */
function rulesEnvironment(io: CliIO, maxCostFlag: string | undefined): Environment {
  let limits: ReturnType<typeof loadRulesLimits>;
  try {
    limits = loadRulesLimits({ ...io.env, ...(maxCostFlag !== undefined ? { RULES_MAX_COST: maxCostFlag } : {}) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new UsageError(maxCostFlag !== undefined ? `${err.message} (--max-cost or the environment)` : err.message);
  }
  return createRulesEnvironment([LOOKUP_VARIABLE], limits);
}

async function check(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { strict: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' }, ...LIMIT_OPTIONS },
  });
  if (values.help) {
    io.out(commandHelp('check'));
    return EXIT_OK;
  }
  if (positionals.length === 0) throw new UsageError('check needs at least one RULES_FILE');
  const env = rulesEnvironment(io, values['max-cost']);
  let code = EXIT_OK;
  for (const file of positionals) {
    const loaded = await loadRules(file, io, env);
    if (typeof loaded === 'number') {
      code = Math.max(code, loaded);
      continue;
    }
    const { ruleSet, warnings } = loaded;
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
    // Lookup files (secrets, CA, keys) are read by the service and by explain, not here: CI has no secrets.
    for (const warning of warnings) io.err(formatDiagnostic(warning));
    if (warnings.length > 0) {
      io.err(`${file}: ${plural(warnings.length, 'warning')}${values.strict ? ' (--strict: failing)' : ' (the service starts anyway; --strict fails on warnings)'}\n`);
      if (values.strict) code = Math.max(code, EXIT_INVALID_RULES);
    }
  }
  return code;
}

/** The payload of `--request FILE`, or a template with `--set` overrides; a number is an exit code. */
async function loadRequest(values: { request?: string; template?: string; set?: string[] }, io: CliIO): Promise<TokenHookEvent | number> {
  if ((values.request === undefined) === (values.template === undefined)) throw new UsageError('give exactly one of --request PAYLOAD.json or --template NAME');
  let body: unknown;
  let source: string;
  if (values.template !== undefined) {
    if (!(TEMPLATE_NAMES as string[]).includes(values.template)) {
      throw new UsageError(`unknown template "${values.template}"${didYouMean(values.template, TEMPLATE_NAMES)} (templates: ${TEMPLATE_NAMES.join(', ')})`);
    }
    body = template(values.template as TemplateName);
    source = `template ${values.template}`;
  } else {
    source = values.request as string;
    try {
      body = JSON.parse(await readFile(source, 'utf8'));
    } catch (err) {
      const reason = err instanceof SyntaxError ? `not valid JSON (${err.message})` : `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
      io.err(`${source}: ${reason}\n`);
      return EXIT_USAGE;
    }
  }
  const parsed = parseTokenHookEvent(body);
  if (!parsed.ok) {
    io.err(`${source}: not a token hook payload: ${parsed.message} (the service would answer 400)\n`);
    return EXIT_USAGE;
  }
  for (const assignment of values.set ?? []) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set needs PATH=JSON, got "${assignment}"`);
    const raw = assignment.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw; // a bare string: --set client.id=0oa...
    }
    try {
      applyOverride(parsed.event, assignment.slice(0, eq), value);
    } catch (err) {
      if (err instanceof OverrideError) throw new UsageError(`--set ${err.message}`);
      throw err;
    }
  }
  return parsed.event;
}

async function parseLookupStubs(assignments: readonly string[], ruleSet: RuleSet): Promise<Map<string, LookupStub>> {
  const names = ruleSet.lookups.map((l) => l.name);
  const stubs = new Map<string, LookupStub>();
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new UsageError(`--lookup needs NAME=VALUE, got "${assignment}"`);
    const name = assignment.slice(0, eq);
    const raw = assignment.slice(eq + 1);
    if (!names.includes(name)) throw new UsageError(`--lookup ${name}: ${ruleSet.file} defines no lookup "${name}"${didYouMean(name, names)}${names.length > 0 ? ` (lookups: ${names.join(', ')})` : ''}`);
    if ((STUB_STATUSES as readonly string[]).includes(raw)) {
      stubs.set(name, { status: raw as StubStatus });
      continue;
    }
    let text = raw;
    if (raw.startsWith('@')) {
      try {
        text = await readFile(raw.slice(1), 'utf8');
      } catch (err) {
        throw new UsageError(`--lookup ${name}: cannot read ${raw.slice(1)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    }
    try {
      stubs.set(name, { value: JSON.parse(text) as JsonValue });
    } catch {
      if (raw.startsWith('@')) throw new UsageError(`--lookup ${name}: ${raw.slice(1)} is not valid JSON`);
      stubs.set(name, { value: raw });
    }
  }
  return stubs;
}

const EVALUATE_OPTIONS = {
  rules: { type: 'string' },
  request: { type: 'string' },
  template: { type: 'string' },
  set: { type: 'string', multiple: true },
  lookup: { type: 'string', multiple: true },
  json: { type: 'boolean', default: false },
  'no-debug-context': { type: 'boolean', default: false },
  'deadline-ms': { type: 'string', default: '1500' },
  offline: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
  ...LIMIT_OPTIONS,
} as const;

/** explain and preview: same inputs, same engine and builder as the service; only the report differs. */
async function evaluateCommand(command: 'explain' | 'preview', args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: EVALUATE_OPTIONS });
  if (values.help) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  const deadlineMs = Number(values['deadline-ms']);
  if (!Number.isInteger(deadlineMs) || deadlineMs < 1 || deadlineMs > 60_000) throw new UsageError('--deadline-ms must be an integer between 1 and 60000');
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.rules) throw new UsageError(`${command} needs --rules RULES_FILE`);
  if (!values.request && !values.template) throw new UsageError(`${command} needs --request PAYLOAD.json${command === 'preview' ? ' or --template NAME' : ''}`);

  const loaded = await loadRules(values.rules, io, rulesEnvironment(io, values['max-cost']));
  if (typeof loaded === 'number') return loaded;
  const { ruleSet } = loaded;
  const event = await loadRequest(values, io);
  if (typeof event === 'number') return event;
  const stubbed = await parseLookupStubs(values.lookup ?? [], ruleSet);

  let lookups: LookupSet | undefined;
  const needReal = ruleSet.lookups.some((l) => !stubbed.has(l.name));
  if (!values.offline && needReal) {
    try {
      lookups = await LookupSet.create(ruleSet.lookups.filter((l) => !stubbed.has(l.name)));
    } catch (err) {
      if (!(err instanceof LookupSetupError)) throw err;
      io.err(`${err.errors.map((e) => `${values.rules}: ${e}`).join('\n')}\n(run with --offline to ${command} without calling lookups, or stub it with --lookup NAME=VALUE)\n`);
      return EXIT_USAGE;
    }
  }
  const types = new Map<string, LookupType>(ruleSet.lookups.map((l) => [l.name, l.type]));
  const resolver = new MixedLookups(new StubLookups(stubbed, types), new Set(stubbed.keys()), values.offline || !lookups ? OFFLINE : lookups);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('request deadline exceeded')), deadlineMs);
  try {
    const engine = new RulesEngine(ruleSet, { lookups: resolver });
    const options = { debugContext: !values['no-debug-context'], signal: controller.signal };
    if (command === 'explain') {
      const report = await explain(engine, event, options);
      io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatExplainText(report));
    } else {
      const report = await preview(engine, event, options);
      io.out(values.json ? `${JSON.stringify(previewJson(report), null, 2)}\n` : formatPreviewText(report));
    }
  } finally {
    clearTimeout(timer);
    await lookups?.close();
  }
  return EXIT_OK;
}

async function testCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { junit: { type: 'string' }, verbose: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' }, ...LIMIT_OPTIONS },
  });
  if (values.help) {
    io.out(commandHelp('test'));
    return EXIT_OK;
  }
  const env = rulesEnvironment(io, values['max-cost']);
  if (positionals.length === 0) throw new UsageError('test needs at least one TEST_FILE or glob (e.g. "examples/*.test.yaml")');
  const { files, unmatched } = await expandFileArguments(positionals);
  for (const pattern of unmatched) io.err(`okta-token-hook test: no file matches ${pattern}\n`);
  if (files.length === 0) return EXIT_USAGE;
  const results = [];
  for (const file of files) results.push(await runTestFile(file, { env }));
  io.out(formatTestText(results, { verbose: values.verbose }));
  if (values.junit) {
    try {
      await writeFile(values.junit, formatJunit(results));
    } catch (err) {
      io.err(`okta-token-hook test: cannot write ${values.junit} (${(err as NodeJS.ErrnoException).code ?? String(err)})\n`);
      return EXIT_USAGE;
    }
  }
  return tally(results).failed > 0 || unmatched.length > 0 ? EXIT_INVALID_RULES : EXIT_OK;
}

/** Runs the command line; returns the exit code. `argv` excludes `node` and the script. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check':
        return await check(rest, io);
      case 'explain':
      case 'preview':
        return await evaluateCommand(command, rest, io);
      case 'test':
        return await testCommand(rest, io);
      case 'help':
      case '--help':
      case '-h':
        if (rest[0] && COMMANDS[rest[0]]) io.out(commandHelp(rest[0]));
        else io.out(USAGE);
        return EXIT_OK;
      case 'version':
      case '--version':
      case '-v':
        io.out(`okta-token-hook ${VERSION}\n`);
        return EXIT_OK;
      default:
        throw new UsageError(
          command === undefined ? 'missing command' : `unknown command "${command}"${didYouMean(command, Object.keys(COMMANDS))}`,
        );
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const usage = command && COMMANDS[command] ? commandHelp(command) : USAGE;
      io.err(`okta-token-hook: ${(err as Error).message}\n\n${usage}`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
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

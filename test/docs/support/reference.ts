/**
 * The generated parts of the docs, built from the code itself: the configuration table from the
 * convict schema, the CLI page from the CLI's own help, the metrics table from the registry the app
 * builds, the reserved-claim table from the response builder. Each lives in its page between
 * `<!-- generated: NAME ... -->` and `<!-- /generated: NAME -->`; `npm run docs:generate` rewrites them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../../src/cli';
import { configReference } from '../../../src/config';
import { RESERVED_CLAIMS } from '../../../src/hook/builder';
import { Metrics } from '../../../src/observability/metrics';
import { ROOT } from '../../helpers/process';

export interface GeneratedSection {
  page: string;
  name: string;
  build: () => Promise<string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** Runs the CLI in-process and returns what it printed, with its exit code. */
export async function cliOutput(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/**
 * The CLI's commands, as its help lists them: a `Commands:` section (`  check   RULES_FILE...  what`)
 * or `okta-token-hook <command> ...` usage lines.
 */
export function cliCommands(help: string): string[] {
  const commands = [...help.matchAll(/^\s*okta-token-hook ([a-z][a-z-]*)/gm)].map((m) => m[1] as string);
  const section = /^Commands:\n((?:[ \t]+\S.*\n?)+)/m.exec(help);
  if (section) for (const m of (section[1] as string).matchAll(/^[ \t]+([a-z][a-z-]*)\s/gm)) commands.push(m[1] as string);
  const unique = [...new Set(commands)];
  if (unique.length === 0) throw new Error(`no command found in the CLI's help:\n${help}`);
  return unique;
}

/** The help texts of the CLI: the general one, then each command's own when it has one. */
export async function cliHelpTexts(): Promise<Array<{ title: string; text: string }>> {
  const main = await cliOutput(['--help']);
  if (main.code !== 0) throw new Error(`okta-token-hook --help exited ${main.code}: ${main.err}`);
  const texts = [{ title: 'okta-token-hook --help', text: main.out }];
  for (const command of cliCommands(main.out)) {
    const own = await cliOutput([command, '--help']);
    if (own.code === 0 && own.out.trim() !== '' && own.out !== main.out) texts.push({ title: `okta-token-hook ${command} --help`, text: own.out });
  }
  return texts;
}

/** Every `--flag` the CLI's help mentions. */
export async function cliFlags(): Promise<Set<string>> {
  const flags = new Set<string>(['--help']);
  for (const { text } of await cliHelpTexts()) for (const m of text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) flags.add(m[0]);
  return flags;
}

interface MetricInfo {
  name: string;
  type: string;
  labelNames: string[];
  help: string;
}

function metricsOf(options: Partial<ConstructorParameters<typeof Metrics>[0]>): MetricInfo[] {
  const metrics = new Metrics({ version: pkg.version, ...options });
  return (metrics.registry.getMetricsAsArray() as unknown as MetricInfo[]).map((m) => ({ name: m.name, type: m.type, labelNames: [...(m.labelNames ?? [])], help: m.help }));
}

/** The service's own metrics (okta_hook_*), with every optional label switched on. */
export function serviceMetrics(): { all: MetricInfo[]; optionalLabels: Map<string, string[]> } {
  const plain = new Map(metricsOf({}).map((m) => [m.name, m]));
  const all = metricsOf({ clientIdLabel: true }).filter((m) => m.name.startsWith('okta_hook_'));
  const optionalLabels = new Map<string, string[]>();
  for (const m of all) {
    const extra = m.labelNames.filter((l) => !(plain.get(m.name)?.labelNames ?? []).includes(l));
    if (extra.length > 0) optionalLabels.set(m.name, extra);
  }
  return { all, optionalLabels };
}

/** Names of the Node.js runtime metrics prom-client adds (process_*, nodejs_*) on this Node version. */
export function runtimeMetricNames(): Set<string> {
  return new Set(metricsOf({ defaultMetrics: true }).map((m) => m.name).filter((n) => !n.startsWith('okta_hook_')));
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

async function metricsTable(): Promise<string> {
  const { all, optionalLabels } = serviceMetrics();
  const rows = ['| metric | type | labels | help (from the code) |', '|---|---|---|---|'];
  for (const m of all) {
    const optional = optionalLabels.get(m.name) ?? [];
    const labels = m.labelNames.map((l) => (optional.includes(l) ? `\`${l}\` (optional, see below)` : `\`${l}\``)).join(', ');
    rows.push(`| \`${m.name}\` | ${m.type} | ${labels} | ${cell(m.help)} |`);
  }
  return rows.join('\n');
}

async function cliReference(): Promise<string> {
  const parts: string[] = [];
  for (const { title, text } of await cliHelpTexts()) parts.push(`### \`${title}\`\n\n\`\`\`text\n${text.trimEnd()}\n\`\`\``);
  return parts.join('\n\n');
}

async function reservedClaimsTable(): Promise<string> {
  const names = [...new Set([...RESERVED_CLAIMS.identity, ...RESERVED_CLAIMS.access])].sort((a, b) => a.localeCompare(b, 'en'));
  const mark = (reserved: boolean): string => (reserved ? 'reserved' : 'allowed');
  const rows = ['| claim | ID token (`tokens: [id]`) | access token (`tokens: [access]`) |', '|---|---|---|'];
  for (const name of names) rows.push(`| \`${name}\` | ${mark(RESERVED_CLAIMS.identity.has(name))} | ${mark(RESERVED_CLAIMS.access.has(name))} |`);
  return rows.join('\n');
}

export const GENERATED: GeneratedSection[] = [
  { page: 'docs/reference/configuration.md', name: 'configuration', build: async () => configReference() },
  { page: 'docs/reference/cli.md', name: 'cli-help', build: cliReference },
  { page: 'docs/reference/metrics.md', name: 'metrics', build: metricsTable },
  { page: 'docs/rules/reference.md', name: 'reserved-claims', build: reservedClaimsTable },
];

const START = (name: string): RegExp => new RegExp(`<!-- generated: ${name}\\b[^>]*-->\\n`);
const END = (name: string): string => `<!-- /generated: ${name} -->`;

/** The page with the section's content replaced; throws when the markers are missing. */
export function withSection(page: string, text: string, name: string, content: string): string {
  const start = START(name).exec(text);
  const end = text.indexOf(END(name));
  if (!start || end < start.index) throw new Error(`${page}: markers <!-- generated: ${name} --> ... ${END(name)} not found`);
  const from = start.index + start[0].length;
  return `${text.slice(0, from)}\n${content}\n\n${text.slice(end)}`;
}

/**
 * What the docs name exists, and what exists is documented. The truth comes from the code:
 * environment variables from the convict schema (plus the OTEL_* and K8S_* variables the tracing
 * bootstrap and the OpenTelemetry SDK read), metrics from the prom-client registry the app builds,
 * CLI flags from the CLI's own help, chart values from values.yaml.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { configReference } from '../../src/config';
import { ROOT } from '../helpers/process';
import { codeSpans, docPages, type Page } from './support/markdown';
import { cliCommands, cliFlags, cliHelpTexts, runtimeMetricNames, serviceMetrics } from './support/reference';

const pages = docPages();
const GENERATED_PAGES = new Set(['docs/reference/configuration.md', 'docs/reference/metrics.md', 'docs/reference/cli.md']);
const handWritten = pages.filter((p) => !GENERATED_PAGES.has(p.path));
const allText = (list: Page[]): string => list.map((p) => p.text).join('\n');

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(ts|js)$/.test(entry)) files.push(path);
  }
  return files;
}

/** Paragraphs and table rows of the prose: the context in which a name is mentioned. */
function contexts(page: Page): string[] {
  const out: string[] = [];
  for (const paragraph of page.prose.split(/\n\s*\n/)) {
    const lines = paragraph.split('\n');
    if (lines.every((l) => l.trim().startsWith('|'))) out.push(...lines);
    else out.push(paragraph);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Environment variables

const ENV_SHAPE = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g;
const schemaEnv = new Set([...configReference().matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string));
const srcText = sourceFiles(join(ROOT, 'src'))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');
/** Variables the service reads outside the schema: OTEL_* / K8S_* names and `env.NAME` accesses in src/. */
const srcEnv = new Set([...srcText.matchAll(/\b(?:OTEL|K8S)_[A-Z0-9_]+\b/g)].map((m) => m[0]).concat([...srcText.matchAll(/\benv(?:\.|\[['"])([A-Z][A-Z0-9_]+)/g)].map((m) => m[1] as string)));
let otelSdkText: string | undefined;
/** Whether the installed OpenTelemetry SDK reads this variable (its build output names it). */
function otelSdkReads(name: string): boolean {
  if (otelSdkText === undefined) {
    const base = join(ROOT, 'node_modules', '@opentelemetry');
    const texts: string[] = [];
    for (const pkg of readdirSync(base)) {
      const src = join(base, pkg, 'build', 'src');
      try {
        for (const file of sourceFiles(src)) if (file.endsWith('.js')) texts.push(readFileSync(file, 'utf8'));
      } catch {
        // a package without build/src
      }
    }
    otelSdkText = texts.join('\n');
  }
  return new RegExp(`\\b${name}\\b`).test(otelSdkText);
}
/** First segments of our own variables (HOOK, AUTH, OAUTH, RULES, ...): a documented name with one must exist. */
// NODE_* belongs to Node.js itself (NODE_OPTIONS, NODE_EXTRA_CA_CERTS...), even though NODE_ENV is in the schema.
const ownPrefixes = new Set([...schemaEnv, ...srcEnv].map((n) => n.split('_')[0] as string).filter((p) => p !== 'NODE'));

function unknownEnvVars(list: Page[]): string[] {
  const problems: string[] = [];
  for (const page of list) {
    for (const name of new Set([...page.text.matchAll(ENV_SHAPE)].map((m) => m[0]))) {
      if (!ownPrefixes.has(name.split('_')[0] as string)) continue;
      if (schemaEnv.has(name) || srcEnv.has(name)) continue;
      if (name.startsWith('OTEL_') && otelSdkReads(name)) continue;
      problems.push(`${page.path}: ${name} is neither in the config schema nor read by the service or the OpenTelemetry SDK`);
    }
  }
  return problems;
}

describe('environment variables in the docs', () => {
  it('every variable of the config schema is in the configuration reference', () => {
    const reference = pages.find((p) => p.path === 'docs/reference/configuration.md')!.text;
    expect([...schemaEnv].filter((name) => !reference.includes(`\`${name}\``))).toEqual([]);
    expect(schemaEnv.size).toBeGreaterThan(20);
  });

  it('every OTEL_* / K8S_* variable the service itself reads is documented', () => {
    const text = allText(handWritten);
    expect([...srcEnv].filter((name) => /^(OTEL|K8S)_/.test(name) && !text.includes(name))).toEqual([]);
  });

  it('every documented variable of ours exists', () => {
    expect(unknownEnvVars(pages)).toEqual([]);
  });

  it('flags a documented variable that does not exist', () => {
    const page = { path: 'x.md', text: 'Set `HOOK_TIMEOUT_MS` and `OAUTH_ISSUER`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_MADE_UP`; `UPDATE_DOCS` is not ours.', prose: '', blocks: [] };
    expect(unknownEnvVars([page])).toEqual([
      'x.md: HOOK_TIMEOUT_MS is neither in the config schema nor read by the service or the OpenTelemetry SDK',
      'x.md: OTEL_MADE_UP is neither in the config schema nor read by the service or the OpenTelemetry SDK',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Metrics

const { all: ownMetrics } = serviceMetrics();
const ownMetricNames = new Set(ownMetrics.map((m) => m.name));
const histograms = new Set(ownMetrics.filter((m) => m.type === 'histogram').map((m) => m.name));
const runtimeMetrics = runtimeMetricNames();

function unknownMetrics(list: Page[]): string[] {
  const problems: string[] = [];
  for (const page of list) {
    for (const m of new Set([...page.text.matchAll(/\b(?:okta_hook|nodejs|process)_[a-z0-9_]*[a-z0-9]\b(?!:)/g)].map((x) => x[0]))) {
      const base = m.replace(/_(bucket|sum|count)$/, '');
      if (ownMetricNames.has(m) || runtimeMetrics.has(m) || (histograms.has(base) && base !== m)) continue;
      if (!m.startsWith('okta_hook_') && runtimeMetrics.has(base)) continue;
      problems.push(`${page.path}: metric ${m} is not registered by the service`);
    }
  }
  return problems;
}

describe('metrics in the docs', () => {
  it('every documented metric is registered by the service (okta_hook_*) or prom-client (nodejs_*, process_*)', () => {
    expect(unknownMetrics(pages)).toEqual([]);
  });

  it('every metric of the service is explained in a hand-written page, not only in the generated reference', () => {
    const text = allText(handWritten);
    expect([...ownMetricNames].filter((name) => !text.includes(name))).toEqual([]);
    expect(ownMetricNames.size).toBeGreaterThan(15);
  });

  it('flags a metric that does not exist (and accepts histogram series)', () => {
    const page = { path: 'x.md', text: '`okta_hook_requests_total`, `okta_hook_request_duration_seconds_bucket`, `okta_hook_request_total`, `nodejs_eventloop_lag_p99_seconds`, `okta_hook:slo_errors:ratio_rate5m`', prose: '', blocks: [] };
    expect(unknownMetrics([page])).toEqual(['x.md: metric okta_hook_request_total is not registered by the service']);
  });
});

// ---------------------------------------------------------------------------------------------
// CLI flags

/** `--flags` the docs attribute to okta-token-hook: on its command lines, or as code spans next to a mention of a command. */
function documentedCliFlags(list: Page[], commands: string[]): Array<{ page: string; flag: string }> {
  const found: Array<{ page: string; flag: string }> = [];
  const commandLine = new RegExp(`okta-token-hook\\s+(?:${commands.join('|')})\\b`);
  const flagsIn = (s: string): string[] => [...s.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]);
  for (const page of list) {
    const commandLines = [...page.blocks.map((b) => b.text.replace(/\\\n/g, ' ')), ...codeSpans(page.prose)].flatMap((s) => s.split('\n'));
    for (const line of commandLines) {
      const at = line.search(commandLine);
      if (at < 0) continue;
      // Up to a shell separator: `okta-token-hook check x && helm install --set ...` is two commands.
      const command = line.slice(at).split(/&&|\|\||;|\|/)[0] as string;
      for (const flag of flagsIn(command)) found.push({ page: page.path, flag });
    }
    for (const context of contexts(page)) {
      const spans = codeSpans(context);
      if (!commandLine.test(context) && !spans.some((s) => commands.includes(s))) continue;
      // `--set...` next to Helm is Helm's (the chart values check reads it), even beside a CLI command.
      const helm = /\bhelm\b|\bchart\b/i.test(context);
      for (const span of spans) if (/^--[a-z]/.test(span) && !(helm && span.startsWith('--set'))) found.push({ page: page.path, flag: flagsIn(span)[0] as string });
    }
  }
  return found;
}

describe('CLI flags in the docs', () => {
  it('every flag the docs give okta-token-hook is in its help', async () => {
    const flags = await cliFlags();
    const commands = cliCommands((await cliHelpTexts())[0]!.text);
    const documented = documentedCliFlags(pages, commands);
    expect(documented.filter((f) => !flags.has(f.flag))).toEqual([]);
    expect(new Set(documented.map((f) => f.flag)).size).toBeGreaterThanOrEqual(4);
  });

  it('every flag and command of the help is explained in a hand-written page', async () => {
    const flags = [...(await cliFlags())].filter((f) => f !== '--help');
    const commands = cliCommands((await cliHelpTexts())[0]!.text);
    const text = allText(handWritten);
    expect(flags.filter((f) => !text.includes(f))).toEqual([]);
    expect(commands.filter((c) => !text.includes(`okta-token-hook ${c}`))).toEqual([]);
  });

  it('finds flags on command lines and next to a command name, not those of other tools', () => {
    const page: Page = {
      path: 'x.md',
      text: '',
      prose:
        'Use `explain` with `--jsonn`.\n\nPrometheus needs `--enable-feature=exemplar-storage`.\n\nRun `okta-token-hook check --strict x.yaml`.\n\n`check` it, then Helm: `--set-file rules.content=x.yaml`.',
      blocks: [{ lang: 'bash', line: 1, marker: undefined, text: 'npx okta-token-hook explain --rules r.yaml \\\n  --request p.json && helm install x --set a=b' }],
    };
    expect(documentedCliFlags([page], ['check', 'explain'])).toEqual([
      { page: 'x.md', flag: '--rules' },
      { page: 'x.md', flag: '--request' },
      { page: 'x.md', flag: '--strict' },
      { page: 'x.md', flag: '--jsonn' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Chart values

const values = parse(readFileSync(join(ROOT, 'charts', 'okta-token-hook', 'values.yaml'), 'utf8')) as Record<string, unknown>;
const configKeys = new Set([...configReference().matchAll(/^\| `[A-Z0-9_]+` \| `([a-zA-Z.]+)` \|/gm)].map((m) => m[1] as string));

/** Whether `a.b[0].c` is a value of the chart (anything below a list or a free-form map counts). */
function isChartValue(path: string, root: Record<string, unknown> = values): boolean {
  const segments = path.replace(/\[\d+\]/g, '.#').split('.');
  let node: unknown = root;
  for (const segment of segments) {
    if (Array.isArray(node)) return true;
    if (node === null || typeof node !== 'object') return false;
    const map = node as Record<string, unknown>;
    if (!(segment in map)) return Object.keys(map).length === 0 && segment !== '#';
    node = map[segment];
  }
  return true;
}

function documentedChartValues(list: Page[]): Array<{ page: string; value: string }> {
  const found: Array<{ page: string; value: string }> = [];
  const tops = new Set(Object.keys(values));
  const setFlags = (command: string): string[] => [...command.matchAll(/--set(?:-file|-string|-json)?[ =]['"]?([a-zA-Z][\w.[\]-]*)=/g)].map((m) => m[1] as string);
  for (const page of list) {
    // `--set` of helm (and skaffold's helm), not of other commands (okta-token-hook preview has one too).
    const commands = [...page.blocks.map((b) => b.text.replace(/\\\n/g, ' ')), ...codeSpans(page.prose)].flatMap((s) => s.split('\n')).flatMap((l) => l.split(/&&|\|\||;|\|/));
    for (const command of commands) if (/\bhelm\s+(install|upgrade|template)\b/.test(command)) for (const value of setFlags(command)) found.push({ page: page.path, value });
    for (const context of contexts(page)) {
      if (!/\bchart\b|\bhelm\b|values\.yaml/i.test(context)) continue;
      for (const span of codeSpans(context)) {
        if (span.startsWith('--set')) for (const value of setFlags(span)) found.push({ page: page.path, value });
        const m = /^([a-z][A-Za-z0-9]*(?:\.[A-Za-z0-9_-]+|\[\d+\])+)(?:=.*)?$/.exec(span);
        if (m && tops.has(m[1]!.split(/[.[]/)[0] as string)) found.push({ page: page.path, value: m[1] as string });
      }
    }
  }
  return found;
}

describe('chart values in the docs', () => {
  it('every value the docs set or name next to the chart exists in values.yaml', () => {
    const documented = documentedChartValues(pages);
    expect(documented.filter((v) => !isChartValue(v.value) && !configKeys.has(v.value))).toEqual([]);
    expect(new Set(documented.map((v) => v.value)).size).toBeGreaterThan(10);
  });

  it('the chart values reference page points at the generated table of the chart README', () => {
    const page = pages.find((p) => p.path === 'docs/reference/chart-values.md')!;
    expect(page.text).toContain('(../../charts/okta-token-hook/README.md#values)');
  });

  it('resolves paths through lists and free-form maps, and flags misspelled ones', () => {
    expect(isChartValue('ingress.tls[0].secretName')).toBe(true);
    expect(isChartValue('serviceMonitor.additionalLabels.release')).toBe(true);
    expect(isChartValue('auth.existingSecret')).toBe(true);
    expect(isChartValue('auth.existingSecrets')).toBe(false);
    expect(isChartValue('image.repository.name')).toBe(false);
    const page: Page = {
      path: 'x.md',
      text: '',
      prose: 'With the chart: `grafanaDashboard.enabled` and `grafanaDashbord.enabled`, `--set image.tagg=1`.',
      blocks: [{ lang: 'sh', line: 1, marker: undefined, text: 'helm install x \\\n  --set ingress.enabld=true && npx okta-token-hook preview --set user.id=1' }],
    };
    expect(documentedChartValues([page]).filter((v) => !isChartValue(v.value))).toEqual([
      { page: 'x.md', value: 'ingress.enabld' },
      { page: 'x.md', value: 'image.tagg' },
    ]);
  });
});

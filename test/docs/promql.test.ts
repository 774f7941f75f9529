/**
 * The Prometheus queries in the docs (```promql blocks, and code spans that call a function or
 * select with labels, such as the runbook's "First queries") parse with promtool, and every
 * recording rule they name is one the chart's rule file defines.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { describeWithBinary, runTool } from '../helpers/prometheus';
import { ROOT } from '../helpers/process';
import { codeSpans, docPages, type Page } from './support/markdown';

const RULES = join(ROOT, 'charts', 'okta-token-hook', 'files', 'prometheus-rules.yaml');
const RECORDING = /\b[a-z_]+:okta_hook_[a-z0-9_]+:[a-z0-9_]+\b/g;
const recorded = new Set(
  (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ record?: string }> }> }).groups.flatMap((g) => g.rules.map((r) => r.record).filter((r): r is string => r !== undefined)),
);

interface Query {
  where: string;
  expr: string;
}

/**
 * The queries of a promql block: one per unindented line, with the indented lines after it as its
 * continuation; `#` comments and blank lines separate queries.
 */
function splitQueries(text: string): string[] {
  const queries: string[] = [];
  let current: string[] = [];
  const flush = (): void => {
    if (current.length > 0) queries.push(current.join('\n'));
    current = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trim().startsWith('#')) flush();
    else if (/^\s/.test(line) && current.length > 0) current.push(line);
    else {
      flush();
      current.push(line);
    }
  }
  flush();
  return queries;
}

/** Queries of the pages: promql blocks, and spans naming our series with a call or a label matcher. */
function queriesOf(pages: Page[]): Query[] {
  const queries: Query[] = [];
  for (const page of pages) {
    for (const block of page.blocks) if (block.lang === 'promql') for (const expr of splitQueries(block.text)) queries.push({ where: `${page.path}:${block.line}`, expr });
    for (const span of codeSpans(page.prose)) {
      const names = /\b(okta_hook_[a-z0-9_]+|nodejs_[a-z0-9_]+|up)\b|:okta_hook_/.test(span);
      const query = /\(/.test(span) || /\{[^}]*=/.test(span);
      // Prose notation such as `metric{label,label}` (label names only) is not a query.
      if (names && query && !/^[\w:]+\{[\w, ]+\}$/.test(span) && !/^(kubectl|curl|npx|helm) /.test(span)) queries.push({ where: page.path, expr: span });
    }
  }
  return queries;
}

const pages = docPages();
const queries = queriesOf(pages);

describe('Prometheus queries in the docs', () => {
  it('are found (runbook first queries, rotation checks)', () => {
    expect(queries.filter((q) => q.where.startsWith('docs/runbook.md')).length).toBeGreaterThanOrEqual(16);
  });

  it('split a block into its queries: comments and unindented lines start a new one', () => {
    expect(splitQueries('# a\nsum(rate(x[5m]))\n  / sum(rate(y[5m]))\n# b\nup == 0\nup == 1\n')).toEqual(['sum(rate(x[5m]))\n  / sum(rate(y[5m]))', 'up == 0', 'up == 1']);
  });

  it('name only recording rules that the chart defines', () => {
    const unknown = pages.flatMap((p) => [...p.text.matchAll(RECORDING)].map((m) => `${p.path}: ${m[0]}`)).filter((s) => !recorded.has(s.split(': ')[1] as string));
    expect(unknown).toEqual([]);
  });
});

describeWithBinary('promtool', 'Prometheus queries in the docs (promtool)', (promtool) => {
  it('parse: each one loads as a recording rule with `promtool check rules`', () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-promql-'));
    try {
      const file = join(dir, 'queries.yaml');
      const rules = queries.map((q, i) => ({ record: `docs:query_${i}:check`, expr: q.expr.replace(/\$NS/g, 'okta-token-hook') }));
      writeFileSync(file, stringify({ groups: [{ name: 'docs', rules }] }));
      const result = runTool(promtool, ['check', 'rules', file]);
      const located = result.stdout + result.stderr;
      // promtool names the failing rule by its index: map it back to the page.
      const explained = located.replace(/docs:query_(\d+):check/g, (_m, i: string) => `${queries[Number(i)]?.where}: ${queries[Number(i)]?.expr}`);
      expect({ status: result.status, output: result.status === 0 ? '' : explained }).toEqual({ status: 0, output: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a broken query (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-promql-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, stringify({ groups: [{ name: 'docs', rules: [{ record: 'docs:bad', expr: 'sum by (pod (rate(okta_hook_requests_total[5m]))' }] }] }));
      expect(runTool(promtool, ['check', 'rules', file]).status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

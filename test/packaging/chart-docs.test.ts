/**
 * The chart's documentation and templates cannot drift from values.yaml: every key documented
 * (helm-docs `# --`), the README values table generated from those comments, every `.Values` path a
 * template reads present in values.yaml, every helper and file a template uses present.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { templateFiles } from './support/helm';
import { chartDir, readYaml, repoRoot } from './support/paths';
import { valuesDocs, valuesTable } from './support/values-docs';

const valuesFile = path.join(chartDir, 'values.yaml');
const values = readYaml(valuesFile) as Record<string, unknown>;
const docs = valuesDocs(valuesFile);
const templates = templateFiles().map((file) => ({ file, source: readFileSync(path.join(chartDir, file), 'utf8') }));
const chartReadmeFile = path.join(chartDir, 'README.md');

describe('values.yaml documentation', () => {
  it('documents every key with a helm-docs `# --` comment', () => {
    expect(docs.undocumented).toEqual([]);
    expect(docs.documented.length).toBeGreaterThan(50);
    for (const doc of docs.documented) expect(doc.description.length).toBeGreaterThan(5);
  });

  it('the chart README values table is generated from those comments', () => {
    const readme = readFileSync(chartReadmeFile, 'utf8');
    const start = '<!-- values-table:start -->';
    const end = '<!-- values-table:end -->';
    expect(readme).toContain(start);
    expect(readme).toContain(end);
    const expected = `${start}\n${valuesTable(docs.documented)}\n${end}`;
    const actual = readme.slice(readme.indexOf(start), readme.indexOf(end) + end.length);
    if (actual !== expected && process.env.UPDATE_CHART_README === '1') {
      writeFileSync(chartReadmeFile, readme.replace(actual, expected));
      return;
    }
    expect(actual).toBe(expected);
  });

  it('the README values table lists every key of values.yaml', () => {
    const readme = readFileSync(chartReadmeFile, 'utf8');
    for (const doc of docs.documented) expect(readme).toContain(`| ${doc.key} | ${doc.type} |`);
  });
});

describe('templates', () => {
  const exists = (keyPath: string[]): boolean => {
    let node: unknown = values;
    for (const key of keyPath) {
      if (typeof node !== 'object' || node === null || Array.isArray(node) || !(key in node)) return false;
      node = (node as Record<string, unknown>)[key];
    }
    return true;
  };

  it('read only .Values paths that values.yaml defines', () => {
    const missing: string[] = [];
    let references = 0;
    for (const { file, source } of templates) {
      for (const match of source.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        references++;
        const keyPath = match[1]!.slice(1).split('.');
        if (!exists(keyPath)) missing.push(`${file}: .Values.${keyPath.join('.')}`);
      }
    }
    expect(references).toBeGreaterThan(80);
    expect(missing).toEqual([]);
  });

  it('use every documented value somewhere (no dead keys)', () => {
    const all = templates.map((t) => t.source).join('\n');
    const unused = docs.documented.map((d) => d.key).filter((key) => !new RegExp(`\\.Values\\.${key.replace(/\./g, '\\.')}(?![A-Za-z0-9_])`).test(all));
    expect(unused).toEqual([]);
  });

  it('include only helpers that _helpers.tpl defines, and every helper is used', () => {
    const helpers = readFileSync(path.join(chartDir, 'templates/_helpers.tpl'), 'utf8');
    const defined = new Set([...helpers.matchAll(/{{-? define "([^"]+)" -?}}/g)].map((m) => m[1]!));
    const used = new Set(templates.flatMap(({ source }) => [...source.matchAll(/include "([^"]+)"/g)].map((m) => m[1]!)));
    expect([...used].filter((name) => !defined.has(name))).toEqual([]);
    expect([...defined].filter((name) => !used.has(name))).toEqual([]);
  });

  it('read only chart files that exist (sample request, dashboard, alert rules)', () => {
    const files = new Set(templates.flatMap(({ source }) => [...source.matchAll(/\.Files\.Get "([^"]+)"/g)].map((m) => m[1]!)));
    expect([...files].sort()).toEqual(['files/grafana-dashboard.json', 'files/prometheus-rules.yaml', 'files/sample-request.json']);
    expect([...files].filter((f) => !existsSync(path.join(chartDir, f)))).toEqual([]);
  });

  it('ship the shared Okta fixture as the helm test sample request', () => {
    const fixture = path.join(repoRoot, '../shared/reference/fixtures/token-hook-authcode-full.json');
    const sample = JSON.parse(readFileSync(path.join(chartDir, 'files/sample-request.json'), 'utf8')) as unknown;
    if (existsSync(fixture)) expect(sample).toEqual(JSON.parse(readFileSync(fixture, 'utf8')));
    expect(sample).toMatchObject({ eventType: 'com.okta.oauth2.tokens.transform', data: { identity: {}, access: {} } });
  });
});

describe('Chart.yaml', () => {
  const chart = readYaml(path.join(chartDir, 'Chart.yaml')) as Record<string, string>;
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };

  it('is a v2 chart with a Kubernetes version constraint and the service version as appVersion', () => {
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('okta-token-hook');
    expect(chart.kubeVersion).toMatch(/^>=1\.\d+\.\d+-0$/);
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('deployment docs', () => {
  const deployment = readFileSync(path.join(repoRoot, 'docs', 'deployment.md'), 'utf8');
  const gettingStarted = readFileSync(path.join(repoRoot, 'docs', 'getting-started.md'), 'utf8');

  it('cover Helm and kubectl/kustomize, and link the values table', () => {
    expect(deployment).toMatch(/helm install okta-token-hook charts\/okta-token-hook/);
    expect(deployment).toContain('kubectl apply -k k8s/');
    expect(deployment).toContain('../charts/okta-token-hook/README.md#values');
  });

  it('cover skaffold on kind and minikube in the getting-started page', () => {
    expect(gettingStarted).toContain('kind create cluster --config k8s/kind-config.yaml');
    expect(gettingStarted).toContain('skaffold dev -p kind');
    expect(gettingStarted).toContain('skaffold dev -p minikube');
  });
});

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { findOne, renderChart } from '../packaging/support/helm';
import { describeWithBinary, runTool } from '../helpers/prometheus';
import { ROOT } from '../helpers/process';

const FILES = join(ROOT, 'charts', 'okta-token-hook', 'files');
const RULES = join(FILES, 'prometheus-rules.yaml');
const RULE_TESTS = join(FILES, 'prometheus-rules.test.yaml');
const RUNBOOK = join(ROOT, 'docs', 'runbook.md');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface RuleTests {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

const ruleFile = parse(readFileSync(RULES, 'utf8')) as RuleFile;
const alerts = ruleFile.groups.flatMap((group) => group.rules).filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined);

/**
 * The rules as the chart deploys them: templates/prometheusrule.yaml rendered (monitoring scenario)
 * for a release named okta-token-hook in each namespace the unit tests use, each PrometheusRule's
 * groups written as a rule file. prometheus-rules.test.yaml names these files in rule_files.
 */
const NAMESPACES = ['identity', 'quiet', 'busy', 'staging'];
function renderRuleFiles(dir: string): string[] {
  const monitoring = parse(readFileSync(join(ROOT, 'charts/okta-token-hook/ci/monitoring-values.yaml'), 'utf8')) as Record<string, unknown>;
  return NAMESPACES.map((namespace) => {
    const rule = findOne(renderChart([monitoring], { name: 'okta-token-hook', namespace }), 'PrometheusRule') as unknown as { spec: { groups: unknown[] } };
    const file = join(dir, `rendered-${namespace}.yaml`);
    writeFileSync(file, stringify({ groups: rule.spec.groups }, { lineWidth: 0 }));
    return file;
  });
}

describeWithBinary('promtool', 'alerting and recording rules as the chart renders them (promtool)', (promtool) => {
  let dir: string;
  let ruleFiles: string[];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'promtool-rules-'));
    ruleFiles = renderRuleFiles(dir);
    copyFileSync(RULE_TESTS, join(dir, 'prometheus-rules.test.yaml'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the plain rule file and every rendered one pass `promtool check rules`', () => {
    for (const file of [RULES, ...ruleFiles]) {
      const result = runTool(promtool, ['check', 'rules', file]);
      expect({ file, status: result.status, stderr: result.stderr }).toEqual({ file, status: 0, stderr: '' });
      expect(result.stdout).toMatch(/SUCCESS: \d+ rules found/);
    }
  });

  it('the rendered rules pass their unit tests (`promtool test rules`)', () => {
    // The day-over-day deny test evaluates every rule for 25 simulated hours, for four releases: 20 s on
    // an idle machine, up to 2 min on a busy one (runTool's 100 s cap is too short here).
    const result = spawnSync(promtool, ['test', 'rules', join(dir, 'prometheus-rules.test.yaml')], { encoding: 'utf8', timeout: 400000 });
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  }, 420000);
});

describe('the rule file as shipped in the chart', () => {
  it('is a plain Prometheus rule file with no Helm template syntax outside alert annotations', () => {
    const text = readFileSync(RULES, 'utf8');
    // .Files.Get does not render, but `{{ ... }}` must only appear where Prometheus expands it.
    for (const group of ruleFile.groups) {
      for (const rule of group.rules) {
        expect(rule.expr).not.toContain('{{');
        for (const value of Object.values(rule.labels ?? {})) expect(value).not.toContain('{{');
      }
    }
    expect(text).not.toMatch(/\{\{-|\.Values|\.Release|include "/);
  });

  it.each(alerts.map((a) => [a.alert, a] as const))('%s has a severity, a summary, a description and a section in docs/runbook.md', (name, alert) => {
    expect(['critical', 'warning']).toContain(alert.labels?.severity);
    expect(alert.annotations?.summary?.length).toBeGreaterThan(15);
    expect(alert.annotations?.description?.length).toBeGreaterThan(40);
    const anchor = name.toLowerCase();
    expect(alert.annotations?.runbook_url).toMatch(new RegExp(`/docs/runbook\\.md#${anchor}$`));
    // GitHub's anchor of a `### <AlertName>` heading is the lower-cased name.
    expect(readFileSync(RUNBOOK, 'utf8')).toContain(`### ${name}\n`);
  });

  it('has unit tests where each alert fires and where it stays silent', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTests;
    expect(tests.rule_files).toEqual(NAMESPACES.map((n) => `rendered-${n}.yaml`));
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      const own = cases.filter((c) => c.alertname === alert);
      expect({ alert, fires: own.some((c) => c.exp_alerts.length > 0), silent: own.some((c) => c.exp_alerts.length === 0) }).toEqual({
        alert,
        fires: true,
        silent: true,
      });
    }
  });
});

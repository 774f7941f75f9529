import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
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

describeWithBinary('promtool', 'alerting and recording rules (promtool)', (promtool) => {
  it('pass `promtool check rules`', () => {
    const result = runTool(promtool, ['check', 'rules', RULES]);
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(result.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('pass their unit tests (`promtool test rules`)', () => {
    const result = runTool(promtool, ['test', 'rules', RULE_TESTS]);
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    // The day-over-day deny test evaluates every rule for 25 simulated hours: ~15 s on a busy machine.
  }, 120000);
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
    expect(tests.rule_files).toEqual(['prometheus-rules.yaml']);
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

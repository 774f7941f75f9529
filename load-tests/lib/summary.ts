/**
 * End-of-test summary without remote imports (jslib.k6.io is out of reach offline and a load test
 * should not fetch code at run time): a short text report for stdout and a JSON report for files.
 *
 * Reads the data object k6 passes to handleSummary() by default (the shape k6 keeps for
 * handleSummary; `--new-machine-readable-summary` switches to another one, which is reported as
 * unrecognised rather than misread as a pass). Pure module, tested with jest.
 */

export interface SummaryMetric {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains?: 'default' | 'time' | 'data';
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

export interface SummaryCheck {
  name: string;
  passes: number;
  fails: number;
}

export interface SummaryGroup {
  name: string;
  checks?: SummaryCheck[];
  groups?: SummaryGroup[];
}

export interface SummaryData {
  metrics?: Record<string, SummaryMetric>;
  root_group?: SummaryGroup;
  state?: { testRunDurationMs?: number; isStdOutTTY?: boolean };
  [key: string]: unknown;
}

export interface SummaryMeta {
  testType: string;
  target: string;
  /** ISO timestamp of the end of the run. */
  finishedAt: string;
}

export interface BreachedThreshold {
  metric: string;
  threshold: string;
}

export interface SummaryReport {
  testType: string;
  target: string;
  finishedAt: string;
  /** null when the data is not in the expected shape: trust k6's exit code then. */
  passed: boolean | null;
  breachedThresholds: BreachedThreshold[];
  requests: number;
  durationMs: number | null;
  /** The complete object k6 handed to handleSummary, for tooling. */
  k6: SummaryData;
}

/** True when `data` has the metrics/values shape this module reads. */
export function isRecognisedSummary(data: SummaryData): boolean {
  const metrics: unknown = data.metrics;
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) return false;
  return Object.keys(metrics).every((name) => {
    const metric = (metrics as Record<string, unknown>)[name];
    return typeof metric === 'object' && metric !== null && typeof (metric as { values?: unknown }).values === 'object';
  });
}

export function breachedThresholds(data: SummaryData): BreachedThreshold[] {
  const breached: BreachedThreshold[] = [];
  const metrics = data.metrics ?? {};
  for (const metric of Object.keys(metrics).sort()) {
    const thresholds = metrics[metric]?.thresholds ?? {};
    for (const threshold of Object.keys(thresholds)) {
      if (thresholds[threshold]?.ok === false) breached.push({ metric, threshold });
    }
  }
  return breached;
}

export function summaryReport(data: SummaryData, meta: SummaryMeta): SummaryReport {
  const recognised = isRecognisedSummary(data);
  const breached = recognised ? breachedThresholds(data) : [];
  return {
    testType: meta.testType,
    target: meta.target,
    finishedAt: meta.finishedAt,
    passed: recognised ? breached.length === 0 : null,
    breachedThresholds: breached,
    requests: recognised ? (data.metrics?.http_reqs?.values.count ?? 0) : 0,
    durationMs: data.state?.testRunDurationMs ?? null,
    k6: data,
  };
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(2)}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)}s`;
  const minutes = Math.floor(ms / 60000);
  const seconds = Math.round((ms % 60000) / 1000);
  return `${minutes}m${seconds}s`;
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function formatStat(metric: SummaryMetric, stat: string, value: number): string {
  if (metric.type === 'rate' && stat === 'rate') return `${(value * 100).toFixed(2)}%`;
  if (metric.type === 'trend' && metric.contains === 'time' && stat !== 'count') return formatDuration(value);
  return formatNumber(value);
}

function padRight(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text + ' '.repeat(width - text.length);
}

/** `p(95)<50` -> `p(95)`; `rate<0.001` -> `rate`. */
function thresholdStat(expression: string): string | undefined {
  const match = /^\s*([a-z]+(\(\d+(\.\d+)?\))?)\s*(<|>|<=|>=|==|===|!=)/.exec(expression);
  return match ? match[1] : undefined;
}

function describeMetric(metric: SummaryMetric): string {
  const v = metric.values;
  if (metric.type === 'trend') {
    return ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max']
      .filter((stat) => v[stat] !== undefined)
      .map((stat) => `${stat}=${formatStat(metric, stat, v[stat] as number)}`)
      .join(' ');
  }
  if (metric.type === 'rate') {
    const passes = v.passes ?? 0;
    const fails = v.fails ?? 0;
    return `${formatStat(metric, 'rate', v.rate ?? 0)} (${passes} of ${passes + fails})`;
  }
  if (metric.type === 'counter') return `${formatNumber(v.count ?? 0)} (${formatNumber(v.rate ?? 0)}/s)`;
  return `${formatNumber(v.value ?? 0)} min=${formatNumber(v.min ?? 0)} max=${formatNumber(v.max ?? 0)}`;
}

function collectChecks(group: SummaryGroup | undefined, prefix: string, out: Array<{ name: string; passes: number; fails: number }>): void {
  if (group === undefined) return;
  for (const check of group.checks ?? []) out.push({ name: prefix + check.name, passes: check.passes, fails: check.fails });
  for (const child of group.groups ?? []) collectChecks(child, `${prefix}${child.name} › `, out);
}

/** Metrics shown in the report, in this order, when present. */
const REPORT_METRICS = [
  'http_reqs',
  'http_req_duration',
  'http_req_failed',
  'okta_valid_response',
  'okta_patched_responses',
  'okta_unchanged_responses',
  'okta_denied_responses',
  'iterations',
  'dropped_iterations',
  'vus_max',
];

export function textSummary(data: SummaryData, meta: SummaryMeta): string {
  if (!isRecognisedSummary(data)) {
    return `\nokta-token-hook ${meta.testType} test against ${meta.target}: summary data not recognised (was --new-machine-readable-summary set?); k6's exit code tells whether the thresholds held.\n`;
  }
  const metrics = data.metrics ?? {};
  const breached = breachedThresholds(data);
  const lines: string[] = [];
  const duration = data.state?.testRunDurationMs;
  lines.push('');
  lines.push(`okta-token-hook ${meta.testType} test against ${meta.target}: ${breached.length === 0 ? 'PASSED' : `FAILED (${breached.length} threshold${breached.length === 1 ? '' : 's'} breached)`}`);
  if (duration !== undefined) lines.push(`run time ${formatDuration(duration)}, finished ${meta.finishedAt}`);

  const thresholdLines: string[] = [];
  for (const name of Object.keys(metrics).sort()) {
    const metric = metrics[name] as SummaryMetric;
    for (const expression of Object.keys(metric.thresholds ?? {})) {
      const ok = metric.thresholds?.[expression]?.ok !== false;
      const stat = thresholdStat(expression);
      const actual = stat !== undefined && metric.values[stat] !== undefined ? `${stat}=${formatStat(metric, stat, metric.values[stat] as number)}` : '';
      thresholdLines.push(`  ${ok ? '✓' : '✗'} ${padRight(`${name} ${expression}`, 44)}${actual}`);
    }
  }
  if (thresholdLines.length > 0) {
    lines.push('', 'THRESHOLDS (SLO)');
    lines.push(...thresholdLines);
  }

  const metricLines: string[] = [];
  for (const name of REPORT_METRICS) {
    const metric = metrics[name];
    if (metric !== undefined) metricLines.push(`  ${padRight(name, 28)}${describeMetric(metric)}`);
  }
  for (const name of Object.keys(metrics).sort()) {
    // Submetrics (e.g. http_req_duration{kind:refresh}) appear when a threshold names them.
    if (name.indexOf('{') !== -1) metricLines.push(`  ${padRight(name, 28)}${describeMetric(metrics[name] as SummaryMetric)}`);
  }
  if (metricLines.length > 0) {
    lines.push('', 'RESULTS');
    lines.push(...metricLines);
  }

  const checks: Array<{ name: string; passes: number; fails: number }> = [];
  collectChecks(data.root_group, '', checks);
  if (checks.length > 0) {
    lines.push('', 'CHECKS');
    for (const check of checks) {
      const total = check.passes + check.fails;
      const pct = total === 0 ? '0.00' : ((check.passes / total) * 100).toFixed(2);
      lines.push(`  ${check.fails === 0 ? '✓' : '✗'} ${padRight(check.name, 44)}${pct}% (${check.passes} of ${total})`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

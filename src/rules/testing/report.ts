/**
 * Output of `okta-token-hook test`: a promtool-like text report (each failing case with expected
 * vs actual per token, then the resulting tokens), the coverage hint, the summary line
 * `N passed, N failed`, and JUnit XML for CI.
 */
import type { CaseResult, FileResult } from './runner';

export interface Tally {
  passed: number;
  failed: number;
}

/** A test file that could not run counts as one failed test. */
export function tally(results: readonly FileResult[]): Tally {
  let passed = 0;
  let failed = 0;
  for (const file of results) {
    if (file.errors.length > 0) failed++;
    for (const testCase of file.cases) {
      if (testCase.status === 'passed') passed++;
      else failed++;
    }
  }
  return { passed, failed };
}

function caseLines(testCase: CaseResult, file: string): string[] {
  const lines = [`    "${testCase.name}" (${file}${testCase.line !== undefined ? `:${testCase.line}` : ''}):`];
  if (testCase.error) lines.push(`      error: ${testCase.error}`);
  for (const failure of testCase.failures) {
    lines.push(`      ${failure.subject}:`, `        expected: ${failure.expected}`, `        actual:   ${failure.actual}`);
  }
  if (testCase.context.length > 0) lines.push('      --', ...testCase.context.map((line) => `      ${line}`));
  return lines;
}

/** Rules no case matched, per rules file (a rule tested only as "not matched" counts as untested). */
export function neverMatched(results: readonly FileResult[]): Map<string, string[]> {
  const byRulesFile = new Map<string, { rules: string[]; matched: Set<string> }>();
  for (const file of results) {
    if (!file.rulesFile || file.rules.length === 0) continue;
    const entry = byRulesFile.get(file.rulesFile) ?? { rules: file.rules, matched: new Set<string>() };
    for (const name of file.matched) entry.matched.add(name);
    byRulesFile.set(file.rulesFile, entry);
  }
  const out = new Map<string, string[]>();
  for (const [rulesFile, entry] of byRulesFile) {
    const missing = entry.rules.filter((name) => !entry.matched.has(name));
    if (missing.length > 0) out.set(rulesFile, missing);
  }
  return out;
}

export function formatTestText(results: readonly FileResult[], options: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  for (const file of results) {
    lines.push(`Unit Testing: ${file.file}${file.rulesFile ? ` (rules ${file.rulesFile})` : ''}`);
    if (file.errors.length > 0) {
      lines.push('  FAILED (the file could not be used):', ...file.errors.map((e) => `    ${e}`));
      continue;
    }
    const failed = file.cases.filter((c) => c.status === 'failed');
    if (options.verbose) for (const c of file.cases) if (c.status === 'passed') lines.push(`  PASS "${c.name}"`);
    if (failed.length === 0) lines.push(`  SUCCESS (${file.cases.length} case${file.cases.length === 1 ? '' : 's'})`);
    else {
      lines.push(`  FAILED (${failed.length} of ${file.cases.length}):`);
      for (const testCase of failed) lines.push(...caseLines(testCase, file.file));
    }
  }
  const uncovered = neverMatched(results);
  if (uncovered.size > 0) {
    lines.push('');
    for (const [rulesFile, rules] of uncovered) lines.push(`Never matched in tests (${rulesFile}): ${rules.join(', ')}`);
  }
  const { passed, failed } = tally(results);
  lines.push('', `${passed} passed, ${failed} failed`);
  return `${lines.join('\n')}\n`;
}

const xml = (text: string): string =>
  text
    // eslint-disable-next-line no-control-regex -- XML 1.0 forbids these characters
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/** JUnit XML (the flavour GitLab, Jenkins and GitHub test reporters read). */
export function formatJunit(results: readonly FileResult[]): string {
  const { passed, failed } = tally(results);
  const total = passed + failed;
  const time = results.reduce((sum, file) => sum + file.cases.reduce((s, c) => s + c.durationMs, 0), 0);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="okta-token-hook test" tests="${total}" failures="${failed}" time="${seconds(time)}">`];
  for (const file of results) {
    const fileFailed = file.cases.filter((c) => c.status === 'failed').length + (file.errors.length > 0 ? 1 : 0);
    const fileTime = file.cases.reduce((s, c) => s + c.durationMs, 0);
    const count = file.cases.length + (file.errors.length > 0 ? 1 : 0);
    out.push(`  <testsuite name="${xml(file.file)}" tests="${count}" failures="${fileFailed}" time="${seconds(fileTime)}">`);
    if (file.errors.length > 0) {
      out.push(`    <testcase name="${xml(`${file.file} (load)`)}" classname="${xml(file.file)}" time="0.000">`);
      out.push(`      <failure message="${xml(file.errors[0] ?? 'invalid test file')}">${xml(file.errors.join('\n'))}</failure>`, '    </testcase>');
    }
    for (const testCase of file.cases) {
      const open = `    <testcase name="${xml(testCase.name)}" classname="${xml(file.file)}" time="${seconds(testCase.durationMs)}"`;
      if (testCase.status === 'passed') {
        out.push(`${open}/>`);
        continue;
      }
      const message = testCase.error ?? `${testCase.failures.length} expectation${testCase.failures.length === 1 ? '' : 's'} not met`;
      const body = caseLines(testCase, file.file).map((line) => line.slice(4)).join('\n');
      out.push(`${open}>`, `      <failure message="${xml(message)}">${xml(body)}</failure>`, '    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

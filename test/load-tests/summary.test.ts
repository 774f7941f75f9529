import { breachedThresholds, formatDuration, summaryReport, textSummary, type SummaryData } from '../../load-tests/lib/summary';

/** The shape k6 hands to handleSummary(), trimmed to what a run of these scripts produces. */
function k6Data(p99Ok: boolean): SummaryData {
  return {
    state: { testRunDurationMs: 301234.5, isStdOutTTY: false },
    root_group: {
      name: '',
      checks: [
        { name: 'status is 200', passes: 14990, fails: 10 },
        { name: 'valid Okta answer', passes: 15000, fails: 0 },
      ],
      groups: [],
    },
    metrics: {
      http_reqs: { type: 'counter', contains: 'default', values: { count: 15002, rate: 49.8 } },
      http_req_duration: {
        type: 'trend',
        contains: 'time',
        values: { avg: 4.2, min: 0.8, med: 3.1, 'p(90)': 7.5, 'p(95)': 9.25, 'p(99)': 312.4, max: 1630, count: 15002 },
        thresholds: { 'p(95)<50': { ok: true }, 'p(99)<250': { ok: p99Ok } },
      },
      http_req_failed: { type: 'rate', contains: 'default', values: { rate: 0.000666, passes: 10, fails: 14992 }, thresholds: { 'rate<0.001': { ok: true } } },
      okta_valid_response: { type: 'rate', contains: 'default', values: { rate: 1, passes: 15000, fails: 0 }, thresholds: { 'rate>0.999': { ok: true } } },
      okta_patched_responses: { type: 'counter', contains: 'default', values: { count: 15000, rate: 49.8 } },
      'http_req_duration{kind:refresh}': { type: 'trend', contains: 'time', values: { avg: 3, med: 2.5, 'p(95)': 0.5, 'p(99)': 8, max: 20 }, thresholds: { 'p(99)<250': { ok: true } } },
    },
  };
}

const meta = { testType: 'average-load', target: 'http://127.0.0.1:8080/hooks/token', finishedAt: '2025-03-04T12:05:01.000Z' };

describe('end-of-test summary', () => {
  it('lists breached thresholds by metric', () => {
    expect(breachedThresholds(k6Data(true))).toEqual([]);
    expect(breachedThresholds(k6Data(false))).toEqual([{ metric: 'http_req_duration', threshold: 'p(99)<250' }]);
  });

  it('writes a JSON report that says whether the SLOs held and keeps the raw k6 data', () => {
    const report = summaryReport(k6Data(false), meta);
    expect(report).toMatchObject({
      testType: 'average-load',
      target: meta.target,
      passed: false,
      breachedThresholds: [{ metric: 'http_req_duration', threshold: 'p(99)<250' }],
      requests: 15002,
      durationMs: 301234.5,
    });
    expect(report.k6.metrics?.http_req_duration?.values['p(99)']).toBe(312.4);
    expect(JSON.parse(JSON.stringify(report)).passed).toBe(false);
  });

  it('prints PASSED with every threshold and its measured value', () => {
    const text = textSummary(k6Data(true), meta);
    expect(text).toContain('okta-token-hook average-load test against http://127.0.0.1:8080/hooks/token: PASSED');
    expect(text).toMatch(/✓ http_req_duration p\(95\)<50\s+p\(95\)=9\.25ms/);
    expect(text).toMatch(/✓ http_req_duration p\(99\)<250\s+p\(99\)=312\.40ms/);
    expect(text).toMatch(/✓ http_req_failed rate<0\.001\s+rate=0\.07%/);
    expect(text).toMatch(/✓ okta_valid_response rate>0\.999\s+rate=100\.00%/);
    expect(text).toContain('run time 5m1s');
  });

  it('prints FAILED and marks the breached threshold', () => {
    const text = textSummary(k6Data(false), meta);
    expect(text).toContain(': FAILED (1 threshold breached)');
    expect(text).toMatch(/✗ http_req_duration p\(99\)<250\s+p\(99\)=312\.40ms/);
  });

  it('shows results, submetrics and checks with their pass rates', () => {
    const text = textSummary(k6Data(true), meta);
    expect(text).toMatch(/http_req_duration\s+avg=4\.20ms med=3\.10ms p\(90\)=7\.50ms p\(95\)=9\.25ms p\(99\)=312\.40ms max=1\.63s/);
    expect(text).toMatch(/http_req_failed\s+0\.07% \(10 of 15002\)/);
    expect(text).toMatch(/okta_patched_responses\s+15000 \(49\.80\/s\)/);
    expect(text).toMatch(/http_req_duration\{kind:refresh\}\s+avg=3\.00ms med=2\.50ms p\(95\)=500µs/);
    expect(text).toMatch(/✗ status is 200\s+99\.93% \(14990 of 15000\)/);
    expect(text).toMatch(/✓ valid Okta answer\s+100\.00% \(15000 of 15000\)/);
  });

  it('never reports a pass for data it cannot read (another summary shape)', () => {
    const otherShape = { version: '1.0.0', results: { metrics: [] } } as unknown as SummaryData;
    for (const data of [{}, otherShape, { metrics: { http_reqs: { type: 'counter' } } } as unknown as SummaryData]) {
      expect(textSummary(data, meta)).toContain('summary data not recognised');
      expect(textSummary(data, meta)).not.toContain('PASSED');
      expect(summaryReport(data, meta)).toMatchObject({ passed: null, requests: 0 });
    }
  });

  it('reports a run without thresholds or checks as passed', () => {
    const data: SummaryData = { metrics: { http_reqs: { type: 'counter', values: { count: 3, rate: 1 } } } };
    expect(textSummary(data, meta)).toContain(': PASSED');
    expect(summaryReport(data, meta)).toMatchObject({ passed: true, requests: 3, durationMs: null });
  });

  it('formats durations from microseconds to minutes', () => {
    expect(formatDuration(0.25)).toBe('250µs');
    expect(formatDuration(12.345)).toBe('12.35ms');
    expect(formatDuration(2500)).toBe('2.50s');
    expect(formatDuration(3_723_000)).toBe('62m3s');
  });
});

import { envBoolean, envDuration, envNumber, envString, hookUrl } from '../../load-tests/lib/env';
import { DEFAULT_SLO, SUMMARY_TREND_STATS, sloThresholds } from '../../load-tests/lib/thresholds';

describe('SLO thresholds', () => {
  it('encode the default SLOs and only judge at the end when the policy is none', () => {
    expect(sloThresholds(DEFAULT_SLO, { abort: 'none' })).toEqual({
      http_req_failed: ['rate<0.001'],
      http_req_duration: ['p(95)<50', 'p(99)<250'],
      okta_valid_response: ['rate>0.999'],
      checks: ['rate>0.999'],
    });
  });

  it('abort on failed or invalid answers but not on latency for the errors policy (spike)', () => {
    const t = sloThresholds(DEFAULT_SLO, { abort: 'errors', delayAbortEval: '20s' });
    expect(t.http_req_failed).toEqual([{ threshold: 'rate<0.001', abortOnFail: true, delayAbortEval: '20s' }]);
    expect(t.okta_valid_response).toEqual([{ threshold: 'rate>0.999', abortOnFail: true, delayAbortEval: '20s' }]);
    expect(t.checks).toEqual([{ threshold: 'rate>0.999', abortOnFail: true, delayAbortEval: '20s' }]);
    expect(t.http_req_duration).toEqual(['p(95)<50', 'p(99)<250']);
  });

  it('abort on every SLO for the all policy (stress/breakpoint), after 30s by default', () => {
    const t = sloThresholds(DEFAULT_SLO, { abort: 'all' });
    for (const rules of Object.values(t)) {
      for (const rule of rules) expect(rule).toMatchObject({ abortOnFail: true, delayAbortEval: '30s' });
    }
    expect(t.http_req_duration).toHaveLength(2);
  });

  it('never abort when aborting is switched off (ABORT_ON_FAIL=false)', () => {
    const t = sloThresholds(DEFAULT_SLO, { abort: 'all', abortEnabled: false });
    expect(Object.values(t).flat().every((rule) => typeof rule === 'string')).toBe(true);
  });

  it('use the given budget', () => {
    const t = sloThresholds({ p95Ms: 20, p99Ms: 100, maxFailedRate: 0.01, minValidRate: 0.99, minChecksRate: 0.95 }, { abort: 'none' });
    expect(t).toEqual({
      http_req_failed: ['rate<0.01'],
      http_req_duration: ['p(95)<20', 'p(99)<100'],
      okta_valid_response: ['rate>0.99'],
      checks: ['rate>0.95'],
    });
  });

  it('list p(95) and p(99) in the summary trend stats so they appear next to their thresholds', () => {
    expect(SUMMARY_TREND_STATS).toEqual(expect.arrayContaining(['p(95)', 'p(99)']));
  });
});

describe('environment parameters', () => {
  it('fall back to defaults for missing or blank values', () => {
    expect(envNumber({}, 'RATE', 50)).toBe(50);
    expect(envNumber({ RATE: ' ' }, 'RATE', 50)).toBe(50);
    expect(envString({}, 'X', 'd')).toBe('d');
    expect(envBoolean({}, 'X', true)).toBe(true);
    expect(envDuration({}, 'DURATION', '5m')).toBe('5m');
  });

  it('parse valid values', () => {
    expect(envNumber({ RATE: '250' }, 'RATE', 50, { min: 1, integer: true })).toBe(250);
    expect(envNumber({ P: '0.005' }, 'P', 0.001, { min: 0, max: 1 })).toBe(0.005);
    expect(envBoolean({ X: 'false' }, 'X', true)).toBe(false);
    expect(envBoolean({ X: 'YES' }, 'X', false)).toBe(true);
    expect(envDuration({ D: '1h30m' }, 'D', '5m')).toBe('1h30m');
    expect(envDuration({ D: '500ms' }, 'D', '5m')).toBe('500ms');
  });

  it('fail loudly on malformed values instead of running a different test', () => {
    expect(() => envNumber({ RATE: 'fast' }, 'RATE', 50)).toThrow('RATE=fast is not a number');
    expect(() => envNumber({ RATE: '2.5' }, 'RATE', 50, { integer: true })).toThrow('RATE=2.5 is not an integer');
    expect(() => envNumber({ RATE: '0' }, 'RATE', 50, { min: 1 })).toThrow('>= 1');
    expect(() => envNumber({ P: '2' }, 'P', 0.1, { min: 0, max: 1 })).toThrow('>= 0 and <= 1');
    expect(() => envBoolean({ X: 'maybe' }, 'X', true)).toThrow('X=maybe is not a boolean');
    expect(() => envDuration({ D: '5 minutes' }, 'D', '5m')).toThrow('not a k6 duration');
  });

  it('build the hook URL from BASE_URL and HOOK_PATH', () => {
    expect(hookUrl({})).toBe('http://localhost:8080/hooks/token');
    expect(hookUrl({ BASE_URL: 'https://hook.example.com/' })).toBe('https://hook.example.com/hooks/token');
    expect(hookUrl({ BASE_URL: 'http://127.0.0.1:18080', HOOK_PATH: 'okta/token' })).toBe('http://127.0.0.1:18080/okta/token');
    expect(() => hookUrl({ BASE_URL: 'hook.example.com' })).toThrow('must start with http:// or https://');
  });
});

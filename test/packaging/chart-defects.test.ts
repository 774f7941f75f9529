/**
 * Regression tests of the chart defects found in a review with real helm 4 renders (issue 14,
 * section 2): each describe block is one defect, each test failed on the chart before the fix.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FailError } from './support/go-template';
import { findOne, renderChart, SchemaError, type K8sObject, type RenderedChart } from './support/helm';
import { chartDir, readYaml } from './support/paths';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const scenario = (name: string): Record<string, unknown> => readYaml(path.join(chartDir, 'ci', `${name}-values.yaml`)) as Record<string, unknown>;
const render = (...overrides: Record<string, unknown>[]): RenderedChart => renderChart([scenario('default'), ...overrides]);
const container = (chart: RenderedChart): Obj => (findOne(chart, 'Deployment') as Obj).spec.template.spec.containers[0];
const env = (chart: RenderedChart): Obj[] => container(chart).env as Obj[];
const envValue = (chart: RenderedChart, name: string): string | undefined => env(chart).find((e) => e.name === name)?.value as string | undefined;
const rules = (chart: RenderedChart): Obj[] => ((findOne(chart, 'PrometheusRule') as Obj).spec.groups as Obj[]).flatMap((g) => g.rules as Obj[]);
const alerts = (chart: RenderedChart): Obj[] => rules(chart).filter((r) => r.alert);
const testPods = (chart: RenderedChart): Obj[] => chart.objects.filter((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test');
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

describe('the header secret is never published on the pod template', () => {
  it('no checksum/secret annotation, and no hash or copy of the secret outside the Secret', () => {
    const chart = render({ auth: { secret: 'weak' } });
    const deployment = JSON.stringify(findOne(chart, 'Deployment'));
    expect(deployment).not.toContain('checksum/secret');
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    expect(deployment).not.toContain(createHash('sha256').update('weak').digest('hex'));
  });
});

describe('extraEnv never renders a duplicate environment variable', () => {
  it('an extraEnv name the chart sets replaces the chart value (one entry, the user\'s)', () => {
    const chart = render({ extraEnv: [{ name: 'LOG_LEVEL', value: 'debug' }, { name: 'OTEL_SERVICE_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] });
    const names = env(chart).map((e) => e.name as string);
    expect(names.filter((n) => n === 'LOG_LEVEL')).toHaveLength(1);
    expect(new Set(names).size).toBe(names.length);
    expect(envValue(chart, 'LOG_LEVEL')).toBe('debug');
    expect(env(chart).find((e) => e.name === 'OTEL_SERVICE_NAME')).toEqual({ name: 'OTEL_SERVICE_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
  });

  it.each([
    [[{ name: 'HOOK_PORT', value: '9000' }], /extraEnv cannot set HOOK_PORT/],
    [[{ name: 'A', value: '1' }, { name: 'A', value: '2' }], /extraEnv sets a name twice/],
  ])('fails naming the conflict for %j', (extraEnv, message) => {
    expect(() => render({ extraEnv })).toThrow(FailError);
    expect(() => render({ extraEnv })).toThrow(message);
  });
});

describe('alerts follow the release: job and namespace matchers, metrics gate, runbook, labels, disable map', () => {
  const selectors = (expr: string, metric: string): string[] => [...expr.matchAll(new RegExp(`${metric}\\{([^}]*)\\}`, 'g'))].map((m) => m[1]!);

  it('with nameOverride, every selector matches the job the ServiceMonitor gives the targets, in the release namespace', () => {
    const chart = renderChart([scenario('alerts')], { name: 'okta-token-hook', namespace: 'identity' });
    const monitor = findOne(chart, 'ServiceMonitor') as Obj;
    const service = findOne(chart, 'Service') as Obj;
    const job = service.metadata.labels[monitor.spec.jobLabel] as string;
    expect(job).toBe('token-hook');
    const exprs = rules(chart).map((r) => r.expr as string);
    const ups = exprs.flatMap((e) => selectors(e, 'up'));
    expect(ups.length).toBeGreaterThanOrEqual(3);
    for (const sel of ups) expect(sel).toBe('job="token-hook", namespace="identity"');
    // Every raw okta_hook_* selector is scoped too, so two releases never mix their series.
    const raw = exprs.flatMap((e) => [...e.matchAll(/(?<![:\w])okta_hook_[a-z_]+(?![:\w])(\{[^}]*\})?/g)].map((m) => m[1] ?? ''));
    expect(raw.length).toBeGreaterThan(20);
    for (const sel of raw) expect(sel).toMatch(/^\{job="token-hook", namespace="identity"/);
  });

  it('OktaTokenHookDown is scoped to the release namespace (absent() no longer spans all namespaces)', () => {
    const chart = renderChart([scenario('monitoring')], { name: 'okta-token-hook', namespace: 'identity' });
    const down = alerts(chart).find((a) => a.alert === 'OktaTokenHookDown')!;
    expect(down.expr).toContain('absent(up{job="okta-token-hook", namespace="identity"})');
    expect(down.expr).not.toContain('=~');
  });

  it('no PrometheusRule (nor ServiceMonitor) when metrics.enabled=false', () => {
    const chart = renderChart([scenario('monitoring'), { metrics: { enabled: false } }]);
    expect(chart.objects.map((o) => o.kind)).not.toContain('PrometheusRule');
    expect(chart.objects.map((o) => o.kind)).not.toContain('ServiceMonitor');
    expect(chart.notes).toContain('metrics.enabled=false, so the ServiceMonitor and PrometheusRule were not created');
  });

  it('runbook_url is runbookBaseUrl#<alert name in lower case>; default: docs/runbook.md of the project', () => {
    for (const a of alerts(renderChart([scenario('monitoring')]))) {
      expect(a.annotations.runbook_url).toBe(`https://github.com/okta-token-hook/okta-token-hook/blob/main/docs/runbook.md#${(a.alert as string).toLowerCase()}`);
    }
    for (const a of alerts(renderChart([scenario('alerts')]))) {
      expect(a.annotations.runbook_url).toBe(`https://wiki.example.com/identity/okta-token-hook-runbook#${(a.alert as string).toLowerCase()}`);
    }
  });

  it('additionalRuleLabels reach every alert (not recording rules); an alert\'s own severity wins', () => {
    const chart = renderChart([scenario('alerts')]);
    for (const a of alerts(chart)) {
      expect(a.labels.team).toBe('identity');
      expect(['critical', 'warning']).toContain(a.labels.severity);
    }
    for (const r of rules(chart).filter((x) => x.record)) expect(r.labels).toBeUndefined();
  });

  it('the disabled map drops exactly the named alerts; recording rules stay', () => {
    const all = renderChart([scenario('monitoring')]);
    const chart = renderChart([scenario('alerts')]);
    expect(alerts(all).map((a) => a.alert)).toContain('OktaTokenHookLookupSlow');
    expect(alerts(chart).map((a) => a.alert)).toEqual(alerts(all).map((a) => a.alert).filter((n) => n !== 'OktaTokenHookLookupSlow'));
    expect(rules(chart).filter((r) => r.record)).toHaveLength(rules(all).filter((r) => r.record).length);
  });

  it('a misspelled alert name in the disabled map is rejected by the schema', () => {
    expect(() => renderChart([scenario('alerts'), { prometheusRule: { disabled: { OktaTokenHookLookupSlowness: true } } }])).toThrow(SchemaError);
  });
});

describe('helm test pods are not part of the workload', () => {
  let chart: RenderedChart;
  let deployment: Obj;
  beforeAll(() => {
    chart = render({ imagePullSecrets: [{ name: 'regcred' }], nodeSelector: { pool: 'identity' }, tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] });
    deployment = findOne(chart, 'Deployment') as Obj;
  });

  it('carry their own labels: the PDB, Service and Deployment selectors do not match them', () => {
    const selectors = [deployment.spec.selector.matchLabels, (findOne(chart, 'PodDisruptionBudget') as Obj).spec.selector.matchLabels, (findOne(chart, 'Service') as Obj).spec.selector];
    expect(testPods(chart)).toHaveLength(3);
    for (const pod of testPods(chart)) for (const selector of selectors) expect(matches(selector, pod.metadata.labels)).toBe(false);
  });

  it('are deleted when they pass, and use the pull secrets, node selector and tolerations of the workload', () => {
    for (const pod of testPods(chart)) {
      expect(pod.metadata.annotations['helm.sh/hook-delete-policy']).toBe('before-hook-creation,hook-succeeded');
      expect(pod.spec).toMatchObject({ imagePullSecrets: [{ name: 'regcred' }], nodeSelector: { pool: 'identity' }, tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] });
    }
  });

  it('retry, so a test right after an install without --wait does not fail while pods start', () => {
    for (const pod of testPods(chart)) {
      const c = pod.spec.containers[0];
      const argv = (c.command as string[]).join(' ');
      const attempts = (c.env as Obj[] | undefined)?.find((e) => e.name === 'ATTEMPTS')?.value;
      expect(attempts === '10' || /--retry 10 .*--retry-all-errors/.test(argv)).toBe(true);
    }
  });
});

describe('NetworkPolicy: restricting egress never cuts DNS', () => {
  let chart: RenderedChart;
  let policy: Obj;
  beforeAll(() => {
    chart = renderChart([scenario('network-policy-egress')]);
    policy = findOne(chart, 'NetworkPolicy') as Obj;
  });

  it('always allows DNS on UDP and TCP 53 once egress is restricted, then allowExternal and extraEgress', () => {
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const egress = policy.spec.egress as Obj[];
    expect(egress[0]!.ports).toEqual([{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }]);
    expect(egress[0]!.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
    expect(egress[1]).toMatchObject({ ports: [{ port: 443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] });
    expect(egress.slice(2)).toEqual((scenario('network-policy-egress').networkPolicy as Obj).extraEgress);
  });

  it('DNS to any destination when dnsTo is empty', () => {
    const open = findOne(renderChart([scenario('default'), { networkPolicy: { enabled: true, restrictEgress: true } }]), 'NetworkPolicy') as Obj;
    expect(open.spec.egress).toEqual([{ ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }]);
  });

  it('lets this release\'s helm test pods reach the hook port when hookFrom restricts it', () => {
    const from = (policy.spec.ingress as Obj[])[0]!.from as Obj[];
    const testSelector = from.at(-1)!.podSelector.matchLabels as Record<string, string>;
    for (const pod of testPods(chart)) expect(matches(testSelector, pod.metadata.labels)).toBe(true);
    expect(matches(testSelector, (findOne(chart, 'Deployment') as Obj).spec.template.metadata.labels)).toBe(false);
  });

  it('refuses egress settings that would do nothing without restrictEgress', () => {
    expect(() => render({ networkPolicy: { enabled: true, extraEgress: [{ to: [] }] } })).toThrow(/only apply with networkPolicy.restrictEgress=true/);
  });
});

describe('the grace period counts the telemetry flush', () => {
  it('with tracing on, delay + drain + the 5 s flush must fit in terminationGracePeriodSeconds', () => {
    const tracing = { tracing: { enabled: true, endpoint: 'http://collector:4318' } };
    expect(() => render(tracing, { shutdown: { delayMs: 5000, timeoutMs: 10000, terminationGracePeriodSeconds: 20 } })).toThrow(/20000 ms with tracing.enabled=true/);
    expect(() => render(tracing, { shutdown: { delayMs: 5000, timeoutMs: 10000, terminationGracePeriodSeconds: 21 } })).not.toThrow();
    expect(() => render({ shutdown: { delayMs: 5000, timeoutMs: 10000, terminationGracePeriodSeconds: 16 } })).not.toThrow();
  });
});

describe('values that render today but cannot work are refused', () => {
  it.each([
    ['PDB minAvailable equal to the replicas', { replicaCount: 2, podDisruptionBudget: { minAvailable: 2 } }, /podDisruptionBudget.minAvailable \(2\) must be below the number of pods \(2\)/],
    ['PDB minAvailable 100%', { podDisruptionBudget: { minAvailable: '100%' } }, /must be below the number of pods/],
    ['PDB minAvailable at the HPA minimum', { autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 5 }, podDisruptionBudget: { minAvailable: 3 } }, /\(3\) must be below the number of pods \(3\)/],
    ['PDB maxUnavailable 0', { podDisruptionBudget: { maxUnavailable: 0 } }, /maxUnavailable=0 forbids every eviction/],
    ['HPA min above max', { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } }, /autoscaling.minReplicas \(5\) must not exceed autoscaling.maxReplicas \(3\)/],
    ['tracing without an endpoint', { tracing: { enabled: true } }, /tracing.enabled=true needs tracing.endpoint/],
    ['scrapeTimeout above the interval', { serviceMonitor: { enabled: true, interval: '10s', scrapeTimeout: '1m' } }, /scrapeTimeout \(1m\) must not exceed serviceMonitor.interval \(10s\)/],
    ['an HTTPRoute without parentRefs', { httpRoute: { enabled: true, hostnames: ['h.example.com'] } }, /httpRoute.enabled=true needs httpRoute.parentRefs/],
    ['a Certificate without issuer', { certificate: { enabled: true, dnsNames: ['h.example.com'] } }, /needs certificate.issuerRef.name/],
  ])('fails on %s', (_what, override, message) => {
    expect(() => render(override)).toThrow(FailError);
    expect(() => render(override)).toThrow(message);
  });

  it('accepts the same settings within bounds (tracing endpoint from extraEnv, 1m30s interval)', () => {
    expect(() => render({ tracing: { enabled: true }, extraEnv: [{ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://c:4318' }] })).not.toThrow();
    expect(() => render({ serviceMonitor: { enabled: true, interval: '1m30s', scrapeTimeout: '1m' } })).not.toThrow();
    expect(() => render({ replicaCount: 3, podDisruptionBudget: { minAvailable: 2 } })).not.toThrow();
  });

  it.each([
    ['a typo inside resources', { resources: { requests: { cpu: '100m' }, limit: { memory: '256Mi' } } }],
    ['a typo inside a probe', { readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSecond: 5 } }],
    ['a wrong type inside a probe', { livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, failureThreshold: 'three' } }],
    ['a memory quantity that is not one', { resources: { limits: { memory: '256 MB' } } }],
  ])('rejects %s before rendering (Kubernetes schemas in values.schema.json)', (_what, override) => {
    expect(() => render(override)).toThrow(SchemaError);
  });
});

describe('memory: request above the measured peak, V8 heap sized from the limit', () => {
  it('requests more memory than the peak RSS measured with tracing on (see values.yaml)', () => {
    const values = readFileSync(path.join(chartDir, 'values.yaml'), 'utf8');
    const measured = /Measured peak RSS with tracing on under load: (\d+) MiB/.exec(values);
    expect(measured).not.toBeNull();
    const request = /^(\d+)Mi$/.exec((container(render()).resources as Obj).requests.memory as string);
    expect(Number(request![1])).toBeGreaterThan(Number(measured![1]));
  });

  it.each([
    [{}, '--max-old-space-size=288'],
    [{ resources: { limits: { memory: '1Gi' } } }, '--max-old-space-size=768'],
    [{ resources: { limits: { memory: '512M' } } }, '--max-old-space-size=366'],
    [{ resources: { limits: { memory: 268435456 } } }, '--max-old-space-size=192'],
    [{ heapLimitPercent: 50 }, '--max-old-space-size=192'],
  ])('values %j set NODE_OPTIONS=%s', (override, expected) => {
    expect(envValue(render(override), 'NODE_OPTIONS')).toBe(expected);
  });

  it('sets no NODE_OPTIONS without a memory limit or with heapLimitPercent 0, and lets extraEnv replace it', () => {
    expect(envValue(render({ resources: { limits: null } }), 'NODE_OPTIONS')).toBeUndefined();
    expect(envValue(render({ heapLimitPercent: 0 }), 'NODE_OPTIONS')).toBeUndefined();
    expect(envValue(render({ extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=100' }] }), 'NODE_OPTIONS')).toBe('--max-old-space-size=100');
  });
});

describe('namespaces, NOTES, version label, Chart.yaml, README', () => {
  it('namespaceOverride puts every namespaced object (tests included) in that namespace', () => {
    const chart = renderChart([scenario('monitoring'), { namespaceOverride: 'identity' }], { name: 'okta-token-hook', namespace: 'default' });
    for (const obj of chart.objects) expect(`${obj.kind}/${obj.metadata.name} ${obj.metadata.namespace}`).toBe(`${obj.kind}/${obj.metadata.name} identity`);
    expect((findOne(chart, 'ServiceMonitor') as Obj).spec.namespaceSelector.matchNames).toEqual(['identity']);
    expect(chart.notes).toContain('kubectl --namespace identity port-forward');
  });

  it('every namespaced object names its namespace even without an override', () => {
    for (const name of ['default', 'monitoring', 'gateway']) {
      for (const obj of renderChart([scenario(name)]).objects) expect(obj.metadata.namespace).toBeTruthy();
    }
  });

  it.each([
    ['NodePort', "jsonpath='{.spec.ports[?(@.name==\"http\")].nodePort}'"],
    ['LoadBalancer', "jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}'"],
  ])('NOTES for service.type %s tell how to find the address', (type, text) => {
    const notes = render({ service: { type } }).notes;
    expect(notes).toContain(text);
    expect(notes).not.toContain('service.type ClusterIP');
  });

  it('NOTES print the HTTPRoute URL and post the chart\'s sample request', () => {
    const notes = renderChart([scenario('gateway')]).notes;
    expect(notes).toContain("curl -sS -X POST 'https://okta-hook.example.com/hooks/token'");
    expect(notes).toContain('--data-binary @okta-token-hook/files/sample-request.json');
  });

  it.each([
    [{}, '0.1.0'],
    [{ image: { tag: '1.4.2' } }, '1.4.2'],
    [{ image: { tag: `abc123@sha256:${'a'.repeat(64)}` } }, 'abc123'],
  ])('app.kubernetes.io/version comes from the image tag: %j -> %s', (override, version) => {
    const chart = render(override);
    for (const obj of chart.objects.filter((o) => o.metadata.annotations?.['helm.sh/hook'] !== 'test')) {
      expect(obj.metadata.labels?.['app.kubernetes.io/version']).toBe(version);
    }
  });

  it('Chart.yaml has home, sources, icon and maintainers', () => {
    const chart = readYaml(path.join(chartDir, 'Chart.yaml')) as Obj;
    expect(chart.home).toMatch(/^https:\/\//);
    expect(chart.sources.length).toBeGreaterThan(0);
    expect(chart.icon).toMatch(/^https:\/\/.+\.(svg|png)$/);
    expect(chart.maintainers[0]).toMatchObject({ name: expect.any(String) });
  });

  it('the chart README links nothing outside the packaged chart (relative links stay inside charts/okta-token-hook)', () => {
    const readme = readFileSync(path.join(chartDir, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((href) => !/^(https?:|#|mailto:)/.test(href));
    for (const href of relative) expect(path.resolve(chartDir, href.split('#')[0]!).startsWith(`${chartDir}${path.sep}`)).toBe(true);
  });
});

export type { K8sObject };

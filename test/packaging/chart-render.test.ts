/**
 * Renders charts/okta-token-hook for every install scenario (ci/*-values.yaml) with the Go-template
 * renderer in support/, then checks what Kubernetes and the service would see: every object valid
 * against the Kubernetes OpenAPI schemas with no unknown field, and the behaviours the chart
 * promises (secret as a file, hot-reloadable mounts, no replicas under an HPA, hook-only Ingress...).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { configReference } from '../../src/config';
import { FailError } from './support/go-template';
import { findOne, renderChart, SchemaError, type K8sObject, type RenderedChart } from './support/helm';
import { customSchemaErrors, isCustomKind } from './support/crd-schemas';
import { isBuiltinKind, schemaErrors, unknownFieldErrors } from './support/k8s-validate';
import { chartDir, readYaml } from './support/paths';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const scenario = (name: string): Record<string, unknown> => readYaml(path.join(chartDir, 'ci', `${name}-values.yaml`)) as Record<string, unknown>;
const SCENARIOS = ['default', 'ingress-tls', 'hpa', 'monitoring', 'existing-secret', 'oauth', 'gateway', 'network-policy-egress', 'alerts'] as const;
const rendered = new Map<string, RenderedChart>();
/** Renders a scenario once, on first use (so one broken scenario fails only its own tests). */
const get = (name: (typeof SCENARIOS)[number]): RenderedChart => {
  if (!rendered.has(name)) rendered.set(name, renderChart([scenario(name)]));
  return rendered.get(name)!;
};

/** Every environment variable the service reads (src/config.ts), plus the OTel and downward-API ones. */
const configEnvNames = new Set([...configReference().matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
const isKnownEnv = (name: string): boolean =>
  configEnvNames.has(name) || /^OTEL_[A-Z_]+$/.test(name) || /^K8S_(POD|NAMESPACE|NODE)_NAME$/.test(name) || name === 'NODE_OPTIONS';

function container(deployment: K8sObject): Obj {
  return (deployment as Obj).spec.template.spec.containers[0];
}
function envMap(c: Obj): Map<string, Obj> {
  return new Map((c.env as Obj[]).map((e) => [e.name as string, e]));
}
function envValue(c: Obj, name: string): string | undefined {
  return envMap(c).get(name)?.value as string | undefined;
}

describe('chart rendering: every scenario produces valid Kubernetes objects', () => {
  it.each(SCENARIOS)('%s: built-in kinds validate against the Kubernetes schemas', (name) => {
    const errors = get(name)
      .objects.filter(isBuiltinKind)
      .flatMap((o) => schemaErrors(o).map((e) => `${o.kind}/${o.metadata.name}: ${e}`));
    expect(errors).toEqual([]);
  });

  it.each(SCENARIOS)('%s: HTTPRoute and Certificate validate against the Gateway API and cert-manager schemas', (name) => {
    const errors = get(name)
      .objects.filter(isCustomKind)
      .flatMap((o) => customSchemaErrors(o).map((e) => `${o.kind}/${o.metadata.name}: ${e}`));
    expect(errors).toEqual([]);
  });

  it('the HTTPRoute and Certificate schema checks have teeth: a misspelled or misplaced field is rejected', () => {
    const route = structuredClone(findOne(get('gateway'), 'HTTPRoute')) as Obj;
    route.spec.rules[0].matches[0].path.type = 'Prefix';
    route.spec.hostname = route.spec.hostnames;
    expect(customSchemaErrors(route).length).toBeGreaterThanOrEqual(2);
    const cert = structuredClone(findOne(get('gateway'), 'Certificate')) as Obj;
    delete cert.spec.issuerRef;
    expect(customSchemaErrors(cert)).not.toEqual([]);
  });

  it('no object in any scenario carries an unknown or misplaced field', () => {
    const objects = SCENARIOS.flatMap((name) =>
      get(name)
        .objects.filter(isBuiltinKind)
        .map((obj) => ({ label: `${name} ${obj.template} ${obj.kind}/${obj.metadata.name}`, obj })),
    );
    expect(unknownFieldErrors(objects)).toEqual([]);
  });

  it.each(SCENARIOS)('%s: only expected kinds, every name a valid DNS label with the chart labels', (name) => {
    const known = new Set([
      ...['ConfigMap', 'Secret', 'Service', 'ServiceAccount', 'Pod', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress', 'NetworkPolicy'],
      ...['ServiceMonitor', 'PrometheusRule', 'HTTPRoute', 'Certificate'],
    ]);
    const chartName = (get(name).values.nameOverride as string) || 'okta-token-hook';
    for (const obj of get(name).objects) {
      expect(known.has(obj.kind)).toBe(true);
      expect(obj.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
      const isTest = obj.metadata.annotations?.['helm.sh/hook'] === 'test';
      expect(obj.metadata.labels?.['app.kubernetes.io/name']).toBe(isTest ? `${chartName}-test` : chartName);
      expect(obj.metadata.labels?.['app.kubernetes.io/instance']).toBe('okta-token-hook');
    }
  });

  it.each(SCENARIOS)('%s: the Deployment sets only environment variables the service knows', (name) => {
    const names = [...envMap(container(findOne(get(name), 'Deployment'))).keys()];
    expect(names.filter((n) => !isKnownEnv(n))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('chart defaults (ci/default-values.yaml)', () => {
  let chart: RenderedChart;
  let deployment: Obj;
  let pod: Obj;
  let c: Obj;
  beforeAll(() => {
    chart = get('default');
    deployment = findOne(chart, 'Deployment');
    pod = deployment.spec.template.spec;
    c = container(deployment as K8sObject);
  });

  it('runs the hook hardened: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    const tmp = (pod.volumes as Obj[]).find((v) => v.name === 'tmp');
    expect(tmp?.emptyDir).toBeDefined();
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('probes liveness and startup on the metrics port, readiness on the hook port, and exposes both ports', () => {
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9464, protocol: 'TCP' },
    ]);
    expect(envValue(c, 'HOOK_PORT')).toBe('8080');
    expect(envValue(c, 'METRICS_PORT')).toBe('9464');
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.livenessProbe.periodSeconds).toBe(10);
    expect(c.image).toBe('okta-token-hook:0.1.0');
  });

  it('moves metrics-port probes to the hook port when the metrics server is off', () => {
    const off = container(findOne(renderChart([scenario('default'), { metrics: { enabled: false } }]), 'Deployment'));
    expect(off.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(off.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(off.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(off.livenessProbe.failureThreshold).toBe(3);
  });

  it('gives pods longer to terminate than the readiness delay plus the drain deadline', () => {
    const drainMs = Number(envValue(c, 'SHUTDOWN_DELAY_MS')) + Number(envValue(c, 'SHUTDOWN_TIMEOUT_MS'));
    expect(drainMs).toBe(15000);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(drainMs);
  });

  it('mounts the header secret as a file in a directory (hot rotation), never as an environment variable', () => {
    const secret = findOne(chart, 'Secret') as Obj;
    const secretValue = 'ci-only-header-secret-do-not-use';
    expect(Buffer.from(secret.data['hook-secret'], 'base64').toString()).toBe(secretValue);
    const volume = (pod.volumes as Obj[]).find((v) => v.secret)!;
    expect(volume.secret.secretName).toBe(secret.metadata.name);
    const mount = (c.volumeMounts as Obj[]).find((m) => m.name === volume.name)!;
    expect(mount.subPath).toBeUndefined();
    expect(envValue(c, 'HOOK_SECRET_FILE')).toBe(`${mount.mountPath}/hook-secret`);
    expect(envMap(c).has('HOOK_SECRET')).toBe(false);
    expect(JSON.stringify(c.env)).not.toContain(secretValue);
  });

  it('mounts the rules ConfigMap as a directory so the service hot-reloads it', () => {
    const configMap = findOne(chart, 'ConfigMap', '-rules') as Obj;
    const volume = (pod.volumes as Obj[]).find((v) => v.configMap?.name === configMap.metadata.name)!;
    const mount = (c.volumeMounts as Obj[]).find((m) => m.name === volume.name)!;
    expect(mount.subPath).toBeUndefined();
    expect(envValue(c, 'RULES_FILE')).toBe(`${mount.mountPath}/rules.yaml`);
    expect(configMap.data['rules.yaml']).toBe(chart.values.rules && (chart.values.rules as Obj).content);
    expect((readYaml(path.join(chartDir, 'values.yaml')) as Obj).rules.content).toContain('hello-from-hook');
  });

  it('rules.shadow: mounts the shadow rules from their own ConfigMap under another directory and sets RULES_SHADOW_FILE; off by default', () => {
    expect(envValue(c, 'RULES_SHADOW_FILE')).toBeUndefined();
    const shadowChart = renderChart([scenario('default'), { rules: { shadow: { enabled: true, content: 'rules: []\n' } } }]);
    const sc = container(findOne(shadowChart, 'Deployment'));
    const configMap = findOne(shadowChart, 'ConfigMap', '-shadow-rules') as Obj;
    expect(configMap.data['shadow-rules.yaml']).toBe('rules: []\n');
    const volume = ((findOne(shadowChart, 'Deployment') as Obj).spec.template.spec.volumes as Obj[]).find((v) => v.configMap?.name === configMap.metadata.name)!;
    const mount = (sc.volumeMounts as Obj[]).find((m) => m.name === volume.name)!;
    expect(mount.subPath).toBeUndefined();
    expect(envValue(sc, 'RULES_SHADOW_FILE')).toBe(`${mount.mountPath}/shadow-rules.yaml`);
    expect(mount.mountPath).not.toBe('/etc/okta-token-hook/rules');
    // An existing ConfigMap instead of content: no chart-owned one.
    const existing = renderChart([scenario('default'), { rules: { shadow: { enabled: true, existingConfigMap: 'next-rules', key: 'next.yaml' } } }]);
    expect(existing.objects.some((o) => o.metadata.name.endsWith('-shadow-rules'))).toBe(false);
    expect(envValue(container(findOne(existing, 'Deployment')), 'RULES_SHADOW_FILE')).toBe('/etc/okta-token-hook/shadow/next.yaml');
    expect(() => renderChart([scenario('default'), { rules: { shadow: { enabled: true } } }])).toThrow(/rules.shadow.content/);
  });

  it('rules.directory: mounts every key of the rules ConfigMap and points RULES_FILE at the directory', () => {
    const dirChart = renderChart([scenario('default'), { rules: { directory: true } }]);
    const deploymentObj = findOne(dirChart, 'Deployment') as Obj;
    expect(envValue(container(findOne(dirChart, 'Deployment')), 'RULES_FILE')).toBe('/etc/okta-token-hook/rules');
    const volume = (deploymentObj.spec.template.spec.volumes as Obj[]).find((v) => v.name === 'rules')!;
    expect(volume.configMap.items).toBeUndefined();
  });

  it('passes pod annotations through next to the checksums', () => {
    const chart = renderChart([scenario('existing-secret'), { podAnnotations: { 'example.com/team': 'identity' } }]);
    expect((findOne(chart, 'Deployment') as Obj).spec.template.metadata.annotations).toEqual({ 'example.com/team': 'identity' });
  });

  it('rolls the pods when the chart-owned rules ConfigMap changes (checksum annotation)', () => {
    const annotations = deployment.spec.template.metadata.annotations as Obj;
    const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
    expect(annotations).toEqual({ 'checksum/rules': sha((chart.values.rules as Obj).content) });
    const other = renderChart([scenario('default'), { rules: { content: 'rules: []\n' } }]);
    expect((findOne(other, 'Deployment') as Obj).spec.template.metadata.annotations['checksum/rules']).not.toBe(annotations['checksum/rules']);
  });

  it('sets replicas, spreads pods across nodes and zones, and protects them with a PDB', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect((pod.topologySpreadConstraints as Obj[]).map((t) => t.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const t of pod.topologySpreadConstraints as Obj[]) expect(t.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const pdb = findOne(chart, 'PodDisruptionBudget') as Obj;
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } });
  });

  it('exposes the hook and metrics ports on the Service, selecting the Deployment pods', () => {
    const service = findOne(chart, 'Service') as Obj;
    expect(service.spec.ports).toEqual([
      { name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' },
      { name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  it('creates no optional object unless enabled (Ingress, HPA, NetworkPolicy, monitoring)', () => {
    const kinds = chart.objects.map((o) => o.kind);
    for (const kind of ['Ingress', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'ServiceMonitor', 'PrometheusRule']) expect(kinds).not.toContain(kind);
    expect(chart.objects.filter((o) => o.metadata.name.endsWith('-dashboard'))).toEqual([]);
    expect(envValue(c, 'OTEL_SDK_DISABLED')).toBe('true');
  });

  it('ships helm test pods that post the sample Okta request with the real secret and check the answer', () => {
    const tests = chart.objects.filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test');
    for (const t of tests) expect(t.metadata.annotations?.['helm.sh/hook-delete-policy']).toBe('before-hook-creation,hook-succeeded');
    expect(tests.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/okta-token-hook-test-sample',
      'Pod/okta-token-hook-test-hook',
      'Pod/okta-token-hook-test-readyz',
      'Pod/okta-token-hook-test-unauthenticated',
    ]);
    const sample = tests.find((o) => o.kind === 'ConfigMap') as Obj;
    expect(Number(sample.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(0);
    const fixture = readFileSync(path.join(chartDir, 'files/sample-request.json'), 'utf8');
    expect(sample.data['sample-request.json']).toBe(fixture);
    expect(JSON.parse(fixture).eventType).toBe('com.okta.oauth2.tokens.transform');

    const hookTest = tests.find((o) => o.metadata.name.endsWith('-test-hook')) as Obj;
    const testPod = hookTest.spec;
    const secretVolume = (testPod.volumes as Obj[]).find((v) => v.secret)!;
    expect(secretVolume.secret.secretName).toBe((pod.volumes as Obj[]).find((v) => v.secret)!.secret.secretName);
    const tc = testPod.containers[0];
    expect(envValue(tc, 'HOOK_URL')).toBe('http://okta-token-hook:8080/hooks/token');
    expect(envValue(tc, 'AUTH_HEADER')).toBe('authorization');
    const secretMount = (tc.volumeMounts as Obj[]).find((m) => m.name === secretVolume.name)!;
    expect(envValue(tc, 'SECRET_FILE')).toBe(`${secretMount.mountPath}/hook-secret`);
    const script = tc.command.join(' ');
    expect(script).toContain('if [ "$status" = 200 ]; then break; fi');
    expect(envValue(tc, 'ATTEMPTS')).toBe('10');
    expect(script).toContain(`grep -q '"commands"'`);
    expect(testPod.restartPolicy).toBe('Never');
    expect(tc.securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it('prints the hook URL and a curl that uses the real header and secret in NOTES.txt', () => {
    expect(chart.notes).toContain('kubectl --namespace okta port-forward service/okta-token-hook 8080:8080');
    expect(chart.notes).toContain("curl -sS -X POST 'http://localhost:8080/hooks/token'");
    expect(chart.notes).toContain('-H "authorization: ${SECRET}"');
    expect(chart.notes).toContain(`-o jsonpath='{.data.hook-secret}'`);
    expect(chart.notes).toContain('--data-binary @okta-token-hook/files/sample-request.json');
    // Passed test pods are deleted (hook-succeeded), which `helm test --logs` cannot cope with.
    expect(chart.notes).toContain('helm test okta-token-hook --namespace okta\n');
    expect(chart.notes).not.toContain('--logs');
  });
});

describe('chart scenarios', () => {
  it('ingress-tls: routes only POST /hooks/token to the hook port, with TLS, class and annotations', () => {
    const chart = get('ingress-tls');
    const ingress = findOne(chart, 'Ingress') as Obj;
    expect(ingress.spec.ingressClassName).toBe('traefik');
    expect(ingress.metadata.annotations['cert-manager.io/cluster-issuer']).toBe('letsencrypt');
    expect(ingress.spec.tls).toEqual([{ secretName: 'okta-token-hook-tls', hosts: ['okta-hook.example.com'] }]);
    const paths = (ingress.spec.rules as Obj[]).flatMap((r) => (r.http.paths as Obj[]).map((p) => ({ host: r.host, ...p })));
    expect(paths).toEqual([
      { host: 'okta-hook.example.com', path: '/hooks/token', pathType: 'Exact', backend: { service: { name: 'okta-token-hook', port: { name: 'http' } } } },
    ]);
    const service = findOne(chart, 'Service') as Obj;
    expect((service.spec.ports as Obj[]).find((p) => p.name === 'http')!.targetPort).toBe('http');
    expect(chart.notes).toContain('https://okta-hook.example.com/hooks/token');
    expect(chart.notes).not.toContain('WARNING');
  });

  it('ingress without TLS: NOTES warns that Okta only calls https URLs', () => {
    const chart = renderChart([scenario('ingress-tls'), { ingress: { tls: [] } }]);
    expect(chart.notes).toContain('http://okta-hook.example.com/hooks/token');
    expect(chart.notes).toContain('WARNING: Okta only calls https:// URLs');
  });

  it('hpa: omits replicas and scales on CPU plus requests per second from prometheus-adapter', () => {
    const chart = get('hpa');
    const deployment = findOne(chart, 'Deployment') as Obj;
    expect('replicas' in deployment.spec).toBe(false);
    const hpa = findOne(chart, 'HorizontalPodAutoscaler') as Obj;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 6, behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } });
    expect(hpa.spec.metrics).toEqual([
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
      { type: 'Pods', pods: { metric: { name: 'okta_hook_requests_per_second' }, target: { type: 'AverageValue', averageValue: '40' } } },
    ]);
    expect((findOne(chart, 'PodDisruptionBudget') as Obj).spec).toMatchObject({ minAvailable: 1 });
    expect('maxUnavailable' in (findOne(chart, 'PodDisruptionBudget') as Obj).spec).toBe(false);
  });

  it('existing-secret: uses the Secret and ConfigMap the user manages, creates neither, adds no checksum', () => {
    const chart = get('existing-secret');
    const deployment = findOne(chart, 'Deployment') as Obj;
    const volumes = deployment.spec.template.spec.volumes as Obj[];
    expect(volumes.find((v) => v.secret)!.secret).toMatchObject({ secretName: 'okta-token-hook-ci', items: [{ key: 'hook-secret', path: 'hook-secret' }] });
    expect(volumes.find((v) => v.configMap)!.configMap.name).toBe('okta-token-hook-ci-rules');
    expect(chart.objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(chart.objects.filter((o) => o.kind === 'ConfigMap' && !o.metadata.annotations?.['helm.sh/hook'])).toEqual([]);
    expect('annotations' in deployment.spec.template.metadata).toBe(false);
    const hookTest = findOne(chart, 'Pod', '-test-hook') as Obj;
    expect((hookTest.spec.volumes as Obj[]).find((v) => v.secret)!.secret.secretName).toBe('okta-token-hook-ci');
  });

  it('oauth: configures the JWT verifier, mounts no header secret and skips the header-secret test', () => {
    const chart = get('oauth');
    const c = container(findOne(chart, 'Deployment'));
    expect(envValue(c, 'AUTH_MODE')).toBe('oauth2');
    expect(envValue(c, 'OAUTH_ISSUER')).toBe('https://example.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9');
    expect(envValue(c, 'OAUTH_AUDIENCE')).toBe('api://okta-token-hook');
    expect(envValue(c, 'OAUTH_REQUIRED_SCOPES')).toBe('okta-token-hook:invoke');
    expect(envValue(c, 'OAUTH_ALLOWED_CLIENT_IDS')).toBe('0oa1a2b3c4d5e6f7g8h9');
    expect(envValue(c, 'OAUTH_ALGORITHMS')).toBe('RS256');
    expect(envMap(c).has('HOOK_SECRET_FILE')).toBe(false);
    expect(chart.objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(chart.objects.map((o) => o.metadata.name)).not.toContain('okta-token-hook-test-hook');
    expect(chart.objects.map((o) => o.metadata.name)).toContain('okta-token-hook-test-unauthenticated');
    expect(chart.notes).toContain('Do not use the authorization server whose policy calls');
  });

  it('either mode: both the header secret and the OAuth settings reach the service', () => {
    const chart = renderChart([scenario('oauth'), { auth: { mode: 'either', secret: 'x' } }]);
    const c = container(findOne(chart, 'Deployment'));
    expect(envValue(c, 'AUTH_MODE')).toBe('either');
    expect(envMap(c).has('HOOK_SECRET_FILE')).toBe(true);
    expect(envMap(c).has('OAUTH_ISSUER')).toBe(true);
  });

  it('monitoring: ServiceMonitor scrapes the metrics port, PrometheusRule and dashboard come from the plain files', () => {
    const chart = get('monitoring');
    const service = findOne(chart, 'Service') as Obj;
    const monitor = findOne(chart, 'ServiceMonitor') as Obj;
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['okta'] });
    // Prometheus takes the job label from this Service label: "okta-token-hook" for any release name.
    expect(service.metadata.labels[monitor.spec.jobLabel]).toBe('okta-token-hook');
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }]);
    expect((service.spec.ports as Obj[]).map((p) => p.name)).toContain('metrics');

    const rule = findOne(chart, 'PrometheusRule') as Obj;
    const ruleFile = readYaml(path.join(chartDir, 'files/prometheus-rules.yaml')) as Obj;
    expect((rule.spec.groups as Obj[]).map((g) => g.name)).toEqual((ruleFile.groups as Obj[]).map((g) => g.name));
    expect((rule.spec.groups as Obj[]).flatMap((g) => g.rules as Obj[]).length).toBe((ruleFile.groups as Obj[]).flatMap((g) => g.rules as Obj[]).length);
    expect(rule.spec.groups.length).toBeGreaterThan(0);
    for (const group of rule.spec.groups as Obj[]) for (const r of group.rules as Obj[]) expect(typeof r.expr).toBe('string');

    const dashboard = findOne(chart, 'ConfigMap', '-dashboard') as Obj;
    expect(dashboard.metadata.labels.grafana_dashboard).toBe('1');
    expect(dashboard.metadata.annotations).toEqual({ grafana_folder: 'Okta' });
    const json = dashboard.data['okta-token-hook.json'] as string;
    expect(json).toBe(readFileSync(path.join(chartDir, 'files/grafana-dashboard.json'), 'utf8'));
    expect(JSON.parse(json).panels.length).toBeGreaterThan(0);

    const c = container(findOne(chart, 'Deployment'));
    expect(envValue(c, 'OTEL_SDK_DISABLED')).toBe('false');
    expect(envValue(c, 'OTEL_EXPORTER_OTLP_ENDPOINT')).toBe('http://otel-collector.observability:4318');
    expect(envValue(c, 'OTEL_TRACES_SAMPLER')).toBe('parentbased_traceidratio');
    expect(envValue(c, 'OTEL_TRACES_SAMPLER_ARG')).toBe('0.1');
    for (const name of ['K8S_POD_NAME', 'K8S_NAMESPACE_NAME', 'K8S_NODE_NAME']) expect(envMap(c).get(name)?.valueFrom?.fieldRef).toBeDefined();

    const policy = findOne(chart, 'NetworkPolicy') as Obj;
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }] },
      { ports: [{ port: 'metrics', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }] },
    ]);
  });

  it('a custom sidecar label and namespace reach the dashboard ConfigMap', () => {
    const chart = renderChart([scenario('monitoring'), { grafanaDashboard: { sidecarLabel: 'example.com/dashboard', sidecarLabelValue: 'yes', namespace: 'grafana' } }]);
    const dashboard = findOne(chart, 'ConfigMap', '-dashboard') as Obj;
    expect(dashboard.metadata.namespace).toBe('grafana');
    expect(dashboard.metadata.labels['example.com/dashboard']).toBe('yes');
  });

  it.each([
    [{}, 'okta-token-hook:0.1.0'],
    [{ image: { repository: 'r.example.com/hook', tag: 'abc' } }, 'r.example.com/hook:abc'],
    [{ image: { tag: `abc@sha256:${'a'.repeat(64)}` } }, `okta-token-hook:abc@sha256:${'a'.repeat(64)}`],
    [{ image: { tag: 'abc@' } }, 'okta-token-hook:abc'],
    [{ image: { tag: 'abc', digest: `sha256:${'b'.repeat(64)}` } }, `okta-token-hook@sha256:${'b'.repeat(64)}`],
  ])('image values %j give the reference %s (including skaffold\'s TAG@DIGEST form)', (image, expected) => {
    const chart = renderChart([scenario('default'), image]);
    expect(container(findOne(chart, 'Deployment')).image).toBe(expected);
  });

  it('renders large integers as integers, not in float notation', () => {
    const chart = renderChart([scenario('default'), { config: { bodyLimitBytes: 4194304 } }]);
    expect(envValue(container(findOne(chart, 'Deployment')), 'HOOK_BODY_LIMIT_BYTES')).toBe('4194304');
  });
});

describe('chart refuses contradictory or incomplete values', () => {
  it.each([
    ['both auth.secret and auth.existingSecret', [{ auth: { secret: 'a', existingSecret: 'b' } }], /mutually exclusive/],
    ['header mode without any secret', [{}], /auth.mode=header needs the header secret/],
    ['either mode without a secret', [{ auth: { mode: 'either', oauth: { issuer: 'https://i.example.com', audience: 'a' } } }], /auth.mode=either needs the header secret/],
    ['oauth2 mode without issuer', [{ auth: { mode: 'oauth2', oauth: { audience: 'a' } } }], /needs auth.oauth.issuer and auth.oauth.audience/],
    ['a grace period not above delay + drain', [{ auth: { secret: 's' }, shutdown: { terminationGracePeriodSeconds: 15 } }], /must be longer than shutdown.delayMs \+ shutdown.timeoutMs \+ the telemetry flush \(15000 ms with tracing.enabled=false\)/],
    ['an Ingress without hosts', [{ auth: { secret: 's' }, ingress: { enabled: true } }], /needs at least one host/],
  ])('fails on %s', (_what, overrides, message) => {
    expect(() => renderChart(overrides as Record<string, unknown>[])).toThrow(FailError);
    expect(() => renderChart(overrides as Record<string, unknown>[])).toThrow(message);
  });

  it('rejects unknown keys before rendering (values.schema.json)', () => {
    expect(() => renderChart([{ auth: { secret: 's', secretkey: 'x' } }])).toThrow(SchemaError);
  });
});

/**
 * Local development: skaffold.yaml validates against the skaffold/v4beta14 JSON schema (also with
 * each profile applied), and the files it wires together agree with each other: image name and
 * value templates, chart service ports, kind cluster name, and the observability stack's values
 * (dashboard sidecar label, rule selectors, exemplar datasource, collector -> Tempo).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart } from './support/helm';
import { chartDir, compileSchema, readYaml, repoRoot, sharedDir } from './support/paths';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const schemaFile = path.join(sharedDir, 'schemas/skaffold-v4beta14.json');
const skaffold = readYaml(path.join(repoRoot, 'skaffold.yaml'), '1.2') as Obj;
const devFile = (name: string): Obj => readYaml(path.join(repoRoot, 'k8s/dev', name)) as Obj;

/** RFC 6902 add/replace/remove, enough for skaffold profile patches. */
function applyPatch(doc: Obj, patches: { op: string; path: string; value?: unknown }[]): Obj {
  const result = structuredClone(doc);
  for (const patch of patches) {
    const keys = patch.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    let parent: Obj = result;
    for (const key of keys) {
      if (parent[key] === undefined) throw new Error(`patch path ${patch.path}: ${key} does not exist`);
      parent = parent[key];
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index > parent.length) throw new Error(`patch path ${patch.path}: bad index`);
      if (patch.op === 'add') parent.splice(index, 0, structuredClone(patch.value));
      else if (patch.op === 'replace') parent[index] = structuredClone(patch.value);
      else if (patch.op === 'remove') parent.splice(index, 1);
      else throw new Error(`unsupported op ${patch.op}`);
    } else if (patch.op === 'add' || patch.op === 'replace') {
      if (patch.op === 'replace' && !(last in parent)) throw new Error(`patch path ${patch.path}: nothing to replace`);
      parent[last] = structuredClone(patch.value);
    } else if (patch.op === 'remove') {
      delete parent[last];
    } else {
      throw new Error(`unsupported op ${patch.op}`);
    }
  }
  return result;
}

/** The config skaffold runs with a profile: its patches, then its fields overlaid. */
function withProfile(name: string): Obj {
  const profile = (skaffold.profiles as Obj[]).find((p) => p.name === name)!;
  const patched = applyPatch(skaffold, profile.patches ?? []);
  for (const field of ['build', 'deploy', 'portForward', 'manifests', 'test', 'verify']) {
    if (profile[field] === undefined) continue;
    patched[field] = Array.isArray(profile[field]) ? profile[field] : { ...patched[field], ...profile[field] };
  }
  delete patched.profiles;
  return patched;
}

describe('skaffold.yaml', () => {
  // The schema is draft-07 with $ref definitions and IDE-only keywords (preferredOrder, x-intellij-*).
  const validate = compileSchema(schemaFile, { strict: false });

  it('validates against the skaffold/v4beta14 schema', () => {
    expect(skaffold.apiVersion).toBe('skaffold/v4beta14');
    expect(validate(skaffold) ? [] : validate.errors).toEqual([]);
  });

  it('the schema check has teeth: a misspelled field is rejected', () => {
    const broken = structuredClone(skaffold);
    broken.deploy.helm.releases[0].chartpath = broken.deploy.helm.releases[0].chartPath;
    expect(validate(broken)).toBe(false);
  });

  it.each(['kind', 'minikube', 'observability', 'dev'])('with profile %s applied, still validates', (name) => {
    const config = withProfile(name);
    expect(validate(config) ? [] : validate.errors).toEqual([]);
  });

  it('builds the image from the Dockerfile and deploys the chart with it', () => {
    const artifact = (skaffold.build.artifacts as Obj[])[0]!;
    expect(artifact.image).toBe('okta-token-hook');
    expect(existsSync(path.join(repoRoot, artifact.context, artifact.docker.dockerfile))).toBe(true);
    const release = (skaffold.deploy.helm.releases as Obj[])[0]!;
    expect(path.resolve(repoRoot, release.chartPath)).toBe(chartDir);
    // Skaffold exposes the artifact as IMAGE_*_<name> with "-", "/" and "." replaced by "_".
    const sanitized = String(artifact.image).replace(/[-/.]/g, '_');
    expect(release.setValueTemplates).toEqual({
      'image.repository': `{{.IMAGE_REPO_${sanitized}}}`,
      'image.tag': `{{.IMAGE_TAG_${sanitized}}}@{{.IMAGE_DIGEST_${sanitized}}}`,
    });
    for (const file of release.valuesFiles as string[]) expect(existsSync(path.join(repoRoot, file))).toBe(true);
  });

  it('port-forwards the hook and metrics ports of the Service the chart creates for the release', () => {
    const release = (skaffold.deploy.helm.releases as Obj[])[0]!;
    const values = (release.valuesFiles as string[]).map((f) => readYaml(path.join(repoRoot, f)) as Obj);
    const chart = renderChart(values, { name: release.name, namespace: release.namespace });
    const service = chart.objects.find((o) => o.kind === 'Service') as Obj;
    const forwards = (skaffold.portForward as Obj[]).map((f) => ({ ...f }));
    expect(forwards).toEqual(
      (service.spec.ports as Obj[]).map((p) => ({
        resourceType: 'service',
        resourceName: service.metadata.name,
        namespace: release.namespace,
        port: p.port,
        localPort: p.port,
      })),
    );
    expect(forwards.map((f) => f.port)).toEqual([8080, 9464]);
  });

  it('the kind profile targets the cluster k8s/kind-config.yaml creates, spread over two zones', () => {
    const kind = readYaml(path.join(repoRoot, 'k8s/kind-config.yaml')) as Obj;
    expect(kind).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    const profile = (skaffold.profiles as Obj[]).find((p) => p.name === 'kind')!;
    expect(profile.deploy.kubeContext).toBe(`kind-${kind.name}`);
    expect(profile.activation).toEqual([{ kubeContext: `kind-${kind.name}` }]);
    const zones = (kind.nodes as Obj[])
      .filter((n) => n.role === 'worker')
      .map((n) => /topology\.kubernetes\.io\/zone=([\w-]+)/.exec((n.kubeadmConfigPatches as string[]).join('\n'))?.[1]);
    expect(new Set(zones).size).toBe(2);
  });

  it.each(['kind', 'dev', 'observability'])('with profile %s, the chart renders with the values files the profile passes', (name) => {
    const release = (withProfile(name).deploy.helm.releases as Obj[]).find((r) => r.name === 'okta-token-hook')!;
    const values = (release.valuesFiles as string[]).map((f) => readYaml(path.join(repoRoot, f)) as Obj);
    expect(() => renderChart(values, { name: release.name, namespace: release.namespace })).not.toThrow();
  });

  it('the dev profile builds the dev stage and syncs src/**/*.ts into the pod instead of rebuilding', () => {
    const artifact = (withProfile('dev').build.artifacts as Obj[])[0]!;
    expect(artifact.docker.target).toBe('dev');
    expect(readFileSync(path.join(repoRoot, artifact.docker.dockerfile), 'utf8')).toMatch(/^FROM \S+ AS dev$/m);
    expect(artifact.sync).toEqual({ manual: [{ src: 'src/**/*.ts', dest: '.' }] });
    const release = (withProfile('dev').deploy.helm.releases as Obj[])[0]!;
    const chart = renderChart((release.valuesFiles as string[]).map((f) => readYaml(path.join(repoRoot, f)) as Obj));
    const c = (chart.objects.find((o) => o.kind === 'Deployment') as Obj).spec.template.spec.containers[0];
    // tsc --watch writes dist/ in the pod.
    expect(c.securityContext.readOnlyRootFilesystem).toBe(false);
    expect(c.securityContext.runAsNonRoot).toBe(true);
  });

  it('pins every remote chart of the observability profile to an exact version', () => {
    const remote = (withProfile('observability').deploy.helm.releases as Obj[]).filter((r) => r.remoteChart);
    expect(remote).toHaveLength(3);
    for (const r of remote) expect({ chart: r.remoteChart, version: r.version }).toEqual({ chart: r.remoteChart, version: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
  });

  it('the observability profile installs the stack from official charts before the hook, with k8s/dev values', () => {
    const config = withProfile('observability');
    const releases = config.deploy.helm.releases as Obj[];
    expect(releases.map((r) => r.name)).toEqual(['kube-prometheus-stack', 'tempo', 'otel-collector', 'okta-token-hook']);
    expect(releases.slice(0, 3).map((r) => [r.repo, r.remoteChart])).toEqual([
      ['https://prometheus-community.github.io/helm-charts', 'kube-prometheus-stack'],
      ['https://grafana-community.github.io/helm-charts', 'tempo'],
      ['https://open-telemetry.github.io/opentelemetry-helm-charts', 'opentelemetry-collector'],
    ]);
    for (const r of releases) for (const f of r.valuesFiles as string[]) expect(existsSync(path.join(repoRoot, f))).toBe(true);
    expect(releases[3]!.valuesFiles).toEqual(['k8s/dev/skaffold-values.yaml', 'k8s/dev/skaffold-observability-values.yaml']);
    expect(config.portForward).toContainEqual({ resourceType: 'service', resourceName: 'kube-prometheus-stack-grafana', namespace: 'observability', port: 80, localPort: 3000 });
  });
});

describe('local observability stack (k8s/dev)', () => {
  const kps = devFile('kube-prometheus-stack-values.yaml');
  const collector = devFile('otel-collector-values.yaml');
  const tempo = devFile('tempo-values.yaml');
  const hookValues = devFile('skaffold-observability-values.yaml');
  const chartDefaults = readYaml(path.join(chartDir, 'values.yaml')) as Obj;

  it('Prometheus selects every ServiceMonitor and PrometheusRule and keeps exemplars', () => {
    expect(kps.prometheus.prometheusSpec).toMatchObject({
      serviceMonitorSelectorNilUsesHelmValues: false,
      ruleSelectorNilUsesHelmValues: false,
      enableFeatures: ['exemplar-storage'],
    });
  });

  it("Grafana's sidecar watches the label the chart puts on its dashboard ConfigMap", () => {
    expect(kps.grafana.sidecar.dashboards).toMatchObject({
      enabled: true,
      label: chartDefaults.grafanaDashboard.sidecarLabel,
      labelValue: chartDefaults.grafanaDashboard.sidecarLabelValue,
      searchNamespace: 'ALL',
    });
  });

  it('exemplars (label trace_id) link to the Tempo datasource, which points at the Tempo release', () => {
    const destination = kps.grafana.sidecar.datasources.exemplarTraceIdDestinations;
    expect(destination.traceIdLabelName).toBe('trace_id');
    const datasource = (kps.grafana.additionalDataSources as Obj[]).find((d) => d.uid === destination.datasourceUid)!;
    expect(datasource).toMatchObject({ type: 'tempo', url: 'http://tempo.observability.svc:3200' });
  });

  it('the hook exports OTLP/HTTP to the collector, which forwards OTLP/gRPC to Tempo', () => {
    expect(hookValues.tracing).toMatchObject({ enabled: true, endpoint: `http://${collector.fullnameOverride}.observability.svc:4318` });
    expect(collector.config.receivers.otlp.protocols.http.endpoint).toMatch(/:4318$/);
    expect(collector.config.service.pipelines.traces).toMatchObject({ receivers: ['otlp'], exporters: expect.arrayContaining(['otlp/tempo']) });
    expect(collector.config.exporters['otlp/tempo'].endpoint).toBe('tempo.observability.svc:4317');
    expect(tempo.tempo.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
  });

  it('the hook values switch on the ServiceMonitor, alerts, dashboard and tracing', () => {
    expect(hookValues).toMatchObject({ serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true }, tracing: { enabled: true } });
    expect(readFileSync(path.join(repoRoot, 'skaffold.yaml'), 'utf8')).toContain('k8s/dev/skaffold-observability-values.yaml');
  });
});

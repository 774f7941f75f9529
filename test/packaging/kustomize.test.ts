/**
 * k8s/: `kubectl kustomize` renders the base and the dev overlay (kubectl is required: CI has it),
 * every object validates against the Kubernetes schemas with no unknown field, and the base keeps
 * the chart's guarantees (secret as a file, hot-reloadable rules, no replicas under the HPA...).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { configReference } from '../../src/config';
import { renderChart } from './support/helm';
import { schemaErrors, unknownFieldErrors } from './support/k8s-validate';
import { chartDir, readYaml, readYamlStream, repoRoot } from './support/paths';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const run = promisify(execFile);

async function kustomize(dir: string): Promise<Obj[]> {
  // No skip when kubectl is missing: the packaging cannot be checked without it, so the test fails.
  const { stdout } = await run('kubectl', ['kustomize', path.join(repoRoot, dir)], { timeout: 30000 });
  return readYamlStream(stdout);
}

const configEnvNames = new Set([...configReference().matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
const isKnownEnv = (name: string): boolean =>
  configEnvNames.has(name) || /^OTEL_[A-Z_]+$/.test(name) || /^K8S_(POD|NAMESPACE|NODE)_NAME$/.test(name) || name === 'NODE_OPTIONS';

const byKind = (objects: Obj[], kind: string): Obj => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
};
const env = (container: Obj): Map<string, string | undefined> => new Map((container.env as Obj[]).map((e) => [e.name, e.value]));

describe('k8s/ kustomize', () => {
  let base: Obj[];
  let dev: Obj[];
  beforeAll(async () => {
    // The base also renders with old kustomize (v2, Debian's kubectl 1.20); the overlay needs v4+.
    base = await kustomize('k8s/base');
  });

  it('kubectl embeds kustomize v4 or later (the dev overlay uses `patches`)', async () => {
    const { stdout } = await run('kubectl', ['version', '--client'], { timeout: 30000 });
    const kustomizeVersion = /Kustomize Version: (v[\d.]+)/.exec(stdout)?.[1];
    if (!kustomizeVersion || Number(kustomizeVersion.slice(1).split('.')[0]) < 4) {
      throw new Error(`kubectl embeds kustomize ${kustomizeVersion ?? 'v2 or older'}; install a kubectl from 1.21 on (${stdout.split('\n')[0]})`);
    }
    dev = await kustomize('k8s/overlays/dev');
  });

  it('renders the base and the dev overlay into objects that validate against the Kubernetes schemas', () => {
    const all = [...base.map((obj) => ({ label: `base ${obj.kind}`, obj })), ...dev.map((obj) => ({ label: `dev ${obj.kind}`, obj }))];
    expect(all.flatMap(({ label, obj }) => schemaErrors(obj).map((e) => `${label}: ${e}`))).toEqual([]);
    expect(unknownFieldErrors(all)).toEqual([]);
  });

  it('the base holds a Deployment, Service, rules ConfigMap, placeholder Secret, HPA, PDB and ServiceAccount', () => {
    expect(base.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount']);
  });

  it('ships the header Secret as an empty placeholder that fails closed until replaced', () => {
    const secret = byKind(base, 'Secret');
    expect(secret.stringData).toEqual({ 'hook-secret': '' });
  });

  it('lets the HPA own the replica count and targets the Deployment', () => {
    const deployment = byKind(base, 'Deployment');
    expect('replicas' in deployment.spec).toBe(false);
    expect(byKind(base, 'HorizontalPodAutoscaler').spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
  });

  it('mounts the secret and the rules as directories, with the env pointing at the files', () => {
    const deployment = byKind(base, 'Deployment');
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0];
    const mounts = new Map((c.volumeMounts as Obj[]).map((m) => [m.name, m]));
    const volumes = new Map((pod.volumes as Obj[]).map((v) => [v.name, v]));
    for (const m of mounts.values()) expect(m.subPath).toBeUndefined();
    expect(volumes.get('hook-secret')!.secret.secretName).toBe(byKind(base, 'Secret').metadata.name);
    expect(env(c).get('HOOK_SECRET_FILE')).toBe(`${mounts.get('hook-secret')!.mountPath}/hook-secret`);
    const rules = byKind(base, 'ConfigMap');
    expect(rules.metadata.name).toBe('okta-token-hook-rules'); // no hash suffix: updated in place, hot-reloaded
    expect(volumes.get('rules')!.configMap.name).toBe(rules.metadata.name);
    expect(env(c).get('RULES_FILE')).toBe(`${mounts.get('rules')!.mountPath}/rules.yaml`);
    expect(env(c).has('HOOK_SECRET')).toBe(false);
  });

  it('sets only environment variables the service knows, and a grace period longer than the drain', () => {
    const pod = byKind(base, 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect([...env(c).keys()].filter((n) => !isKnownEnv(n))).toEqual([]);
    const drainMs = Number(env(c).get('SHUTDOWN_DELAY_MS')) + Number(env(c).get('SHUTDOWN_TIMEOUT_MS'));
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(drainMs);
  });

  it('matches the chart defaults for the container (ports, probes, security, resources) and the rules', () => {
    const chart = renderChart([readYaml(path.join(chartDir, 'ci/default-values.yaml')) as Obj]);
    const chartDeployment = chart.objects.find((o) => o.kind === 'Deployment') as Obj;
    const chartPod = chartDeployment.spec.template.spec;
    const basePod = byKind(base, 'Deployment').spec.template.spec;
    for (const field of ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'securityContext', 'resources']) {
      expect({ field, value: basePod.containers[0][field] }).toEqual({ field, value: chartPod.containers[0][field] });
    }
    expect(basePod.securityContext).toEqual(chartPod.securityContext);
    expect(basePod.terminationGracePeriodSeconds).toBe(chartPod.terminationGracePeriodSeconds);
    const chartEnv = env(chartPod.containers[0]);
    for (const name of ['NODE_ENV', 'HOOK_PORT', 'METRICS_PORT', 'AUTH_MODE', 'HOOK_AUTH_HEADER', 'SHUTDOWN_DELAY_MS', 'SHUTDOWN_TIMEOUT_MS', 'OTEL_SDK_DISABLED', 'NODE_OPTIONS']) {
      expect({ name, value: env(basePod.containers[0]).get(name) }).toEqual({ name, value: chartEnv.get(name) });
    }
    const chartRules = (chart.values.rules as Obj).content as string;
    expect(readYaml(path.join(repoRoot, 'k8s/base/rules.yaml'))).toEqual(readYamlStream(chartRules)[0]);
    expect(byKind(base, 'Service').spec.ports).toEqual((chart.objects.find((o) => o.kind === 'Service') as Obj).spec.ports);
  });

  it('the dev overlay: own namespace under the restricted Pod Security Standard, a dev secret, one replica', () => {
    const namespace = byKind(dev, 'Namespace');
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const obj of dev.filter((o) => o.kind !== 'Namespace')) expect(obj.metadata.namespace).toBe(namespace.metadata.name);
    const secret = byKind(dev, 'Secret');
    expect(Buffer.from(secret.data['hook-secret'], 'base64').toString()).toBe('dev-only-secret-not-for-okta');
    expect(secret.stringData).toBeUndefined();
    expect(byKind(dev, 'HorizontalPodAutoscaler').spec.minReplicas).toBe(1);
    expect(byKind(dev, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 0 });
    const c = byKind(dev, 'Deployment').spec.template.spec.containers[0];
    expect(env(c).get('LOG_LEVEL')).toBe('debug');
    expect(c.image).toBe('okta-token-hook:dev');
  });
});

/**
 * values.schema.json: every shipped values file validates (merged over values.yaml, as Helm does),
 * and the schema is strict enough that a typo or a wrong type fails `helm install`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { coalesce } from './support/helm';
import { chartDir, compileSchema, readYaml, repoRoot } from './support/paths';

const validate = compileSchema(path.join(chartDir, 'values.schema.json'));
const defaults = readYaml(path.join(chartDir, 'values.yaml')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as Record<string, unknown>;

const scenarioFiles = readdirSync(path.join(chartDir, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .map((f) => path.join(chartDir, 'ci', f));
/** Chart values files used by skaffold.yaml. */
const skaffoldValuesFiles = ['k8s/dev/skaffold-values.yaml', 'k8s/dev/skaffold-observability-values.yaml'].map((f) => path.join(repoRoot, f));

function errorsOf(values: unknown): string {
  return validate(values) ? '' : JSON.stringify(validate.errors, null, 1);
}

function withOverride(override: Record<string, unknown>): Record<string, unknown> {
  return coalesce(defaults, override);
}

describe('values.schema.json', () => {
  it('accepts the chart defaults', () => {
    expect(errorsOf(defaults)).toBe('');
  });

  it('ships the install scenarios the issue asks for', () => {
    expect(scenarioFiles.map((f) => path.basename(f)).sort()).toEqual(
      ['alerts', 'default', 'existing-secret', 'gateway', 'hpa', 'ingress-tls', 'monitoring', 'network-policy-egress', 'oauth'].map((s) => `${s}-values.yaml`),
    );
  });

  it.each([...scenarioFiles, ...skaffoldValuesFiles].map((f) => [path.relative(repoRoot, f), f]))('accepts %s merged over the defaults', (_name, file) => {
    expect(errorsOf(withOverride(readYaml(file) as Record<string, unknown>))).toBe('');
  });

  it.each([
    ['a misspelled top-level key', { replicaCont: 3 }, 'additionalProperties'],
    ['a misspelled nested key', { auth: { existingSecrets: 'x' } }, 'additionalProperties'],
    ['a misspelled key deep in our objects', { autoscaling: { requestsPerSecond: { targetAverage: '5' } } }, 'additionalProperties'],
    ['a string where a number belongs', { replicaCount: '3' }, 'type'],
    ['an unknown auth mode', { auth: { mode: 'basic' } }, 'enum'],
    ['an HS256 (symmetric) algorithm', { auth: { oauth: { algorithms: ['HS256'] } } }, 'pattern'],
    ['a deadline above Okta\'s 3 s budget', { config: { deadlineMs: 3000 } }, 'maximum'],
    ['a sampler ratio above 1', { tracing: { samplerRatio: 2 } }, 'maximum'],
    ['a non-duration scrape interval', { serviceMonitor: { interval: 30 } }, 'type'],
    ['an annotation with a non-string value', { podAnnotations: { 'example.com/flag': true } }, 'type'],
    ['`latest` as the test image tag', { tests: { image: { tag: 'latest' } } }, 'not'],
    ['an image digest that is not sha256', { image: { digest: 'md5:abc' } }, 'pattern'],
  ])('rejects %s', (_what, override, keyword) => {
    expect(validate(withOverride(override))).toBe(false);
    expect(validate.errors?.map((e) => e.keyword)).toContain(keyword);
  });

  it('checks resources and probes field by field against the Kubernetes schemas (io.k8s.api.core.v1)', () => {
    // The field names of the interface in kubernetes-models' type declarations (the Kubernetes OpenAPI schema).
    const props = (name: string): string[] => {
      const dts = readFileSync(path.join(repoRoot, `node_modules/kubernetes-models/v1/${name}.d.ts`), 'utf8');
      const body = dts.slice(dts.indexOf(`export interface I${name} {`), dts.indexOf('\n}', dts.indexOf(`export interface I${name} {`)));
      return [...body.matchAll(/^ {4}"(\w+)"\??:/gm)].map((m) => m[1]!).sort();
    };
    const definitions = schema.definitions as Record<string, { properties: object }>;
    expect(Object.keys(definitions.probe!.properties).sort()).toEqual(props('Probe'));
    expect(Object.keys(definitions.resources!.properties).sort()).toEqual(props('ResourceRequirements'));
  });

  it('leaves the other Kubernetes types free-form (resources map values, affinity, tolerations, pod annotations)', () => {
    const values = withOverride({
      resources: { requests: { cpu: '1', 'nvidia.com/gpu': 1 } },
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'auth', effect: 'NoSchedule' }],
      podAnnotations: { 'vault.hashicorp.com/agent-inject': 'true' },
    });
    expect(errorsOf(values)).toBe('');
  });

  it('allows the keys Helm injects when the chart is a dependency (global, enabled)', () => {
    expect(errorsOf(withOverride({ global: { imageRegistry: 'r.example.com' }, enabled: true }))).toBe('');
  });

  it('declares no key that values.yaml lacks (every schema property has a documented default)', () => {
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, value: unknown, prefix: string): void => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      if (!props || node.additionalProperties !== false) return;
      for (const [key, child] of Object.entries(props)) {
        const keyPath = `${prefix}${key}`;
        if (keyPath === 'global' || keyPath === 'enabled') continue;
        const v = (value as Record<string, unknown> | undefined)?.[key];
        if (v === undefined) missing.push(keyPath);
        else walk(child, v, `${keyPath}.`);
      }
    };
    walk(schema, defaults, '');
    expect(missing).toEqual([]);
  });
});

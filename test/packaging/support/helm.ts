/**
 * Enough of `helm template` to render charts/okta-token-hook on a machine without helm: values
 * coalescing (later files win, `null` deletes a key), the values.schema.json check Helm runs first,
 * the built-in objects (.Values, .Chart, .Release, .Files), partials (`_*.tpl`), NOTES.txt, and
 * splitting the output into YAML documents parsed as YAML 1.1 (as Helm's YAML library does).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Engine } from './go-template';
import { chartDir, compileSchema, readYaml } from './paths';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

export interface RenderedChart {
  values: Record<string, unknown>;
  /** Every object, in template file order. */
  objects: (K8sObject & { template: string })[];
  notes: string;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's coalescing of user values over chart defaults: maps merge, anything else replaces, null deletes. */
export function coalesce(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete result[key];
    else if (isMap(value) && isMap(result[key])) result[key] = coalesce(result[key], value);
    else result[key] = structuredClone(value);
  }
  return result;
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const full = path.join(dir, entry);
      return statSync(full).isDirectory() ? listFiles(full, `${prefix}${entry}/`) : [`${prefix}${entry}`];
    });
}

export function templateFiles(dir = chartDir): string[] {
  return listFiles(path.join(dir, 'templates')).map((f) => `templates/${f}`);
}

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/**
 * Renders the chart like `helm template RELEASE charts/okta-token-hook -n NAMESPACE -f ...`.
 * Throws SchemaError when the values do not match values.schema.json, FailError on `fail`.
 */
export function renderChart(
  overrides: Record<string, unknown>[] = [],
  release = { name: 'okta-token-hook', namespace: 'okta' },
  dir = chartDir,
): RenderedChart {
  const chart = readYaml(path.join(dir, 'Chart.yaml')) as Record<string, string>;
  const values = overrides.reduce((acc, o) => coalesce(acc, o), readYaml(path.join(dir, 'values.yaml')) as Record<string, unknown>);

  const validate = compileSchema(path.join(dir, 'values.schema.json'));
  if (!validate(values)) {
    throw new SchemaError(`values don't meet the specifications of the schema: ${JSON.stringify(validate.errors)}`);
  }

  const files = {
    Get: (file: unknown): string => {
      const rel = String(file);
      if (rel.startsWith('templates/') || rel.startsWith('ci/') || rel.includes('..')) return '';
      try {
        return readFileSync(path.join(dir, rel), 'utf8');
      } catch {
        return '';
      }
    },
  };
  const data = {
    Values: values,
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion, KubeVersion: chart.kubeVersion },
    Release: { Name: release.name, Namespace: release.namespace, Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
    Files: files,
  };

  const engine = new Engine();
  const parsed = templateFiles(dir).map((file) => ({ file, nodes: engine.parse(file, readFileSync(path.join(dir, file), 'utf8')) }));

  const objects: RenderedChart['objects'] = [];
  let notes = '';
  for (const { file, nodes } of parsed) {
    if (path.basename(file).startsWith('_')) continue;
    const output = engine.render(nodes, data);
    if (file === 'templates/NOTES.txt') {
      notes = output;
      continue;
    }
    for (const source of output.split(/^---\s*$/m)) {
      if (source.trim() === '') continue;
      const doc = YAML.parseDocument(source, { version: '1.1', uniqueKeys: true });
      if (doc.errors.length > 0) {
        throw new Error(`${file} renders invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}\n${source}`);
      }
      const object = doc.toJS() as K8sObject | null;
      if (object === null) continue;
      objects.push({ ...object, template: file });
    }
  }
  return { values, objects, notes };
}

/** Finds exactly one rendered object of a kind (and name suffix), failing loudly otherwise. */
export function findOne(rendered: RenderedChart, kind: string, nameSuffix = ''): K8sObject {
  const matches = rendered.objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (matches.length !== 1) throw new Error(`expected one ${kind}${nameSuffix ? ` named *${nameSuffix}` : ''}, found ${matches.length}`);
  return matches[0]!;
}

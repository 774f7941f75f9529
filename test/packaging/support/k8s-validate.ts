/**
 * Validation of rendered Kubernetes objects, offline:
 * - `schemaErrors`: the OpenAPI schemas compiled into kubernetes-models (types, formats, required
 *   fields, enums). They do not reject unknown fields, so
 * - `unknownFieldErrors` type-checks every object as a TypeScript object literal against the
 *   kubernetes-models interfaces: excess-property checks flag any misspelled or misplaced field
 *   (`readinesProbe`, `securityContext.runAsNonRot`), like `kubectl apply --validate=strict`.
 */
import path from 'node:path';
import ts from 'typescript';
import { repoRoot } from './paths';

interface ModelClass {
  new (data: Record<string, unknown>): { validate(): void };
}

interface Kind {
  module: string;
  type: string;
}

/** The built-in kinds our manifests use; anything else must be handled explicitly by the caller. */
const KINDS: Record<string, Kind> = {
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', type: 'ConfigMap' },
  'v1/Secret': { module: 'kubernetes-models/v1/Secret', type: 'Secret' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', type: 'Service' },
  'v1/ServiceAccount': { module: 'kubernetes-models/v1/ServiceAccount', type: 'ServiceAccount' },
  'v1/Pod': { module: 'kubernetes-models/v1/Pod', type: 'Pod' },
  'v1/Namespace': { module: 'kubernetes-models/v1/Namespace', type: 'Namespace' },
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', type: 'Deployment' },
  'autoscaling/v2/HorizontalPodAutoscaler': { module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', type: 'HorizontalPodAutoscaler' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'PodDisruptionBudget' },
  'networking.k8s.io/v1/Ingress': { module: 'kubernetes-models/networking.k8s.io/v1/Ingress', type: 'Ingress' },
  'networking.k8s.io/v1/NetworkPolicy': { module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', type: 'NetworkPolicy' },
};

export function kindKey(obj: { apiVersion?: unknown; kind?: unknown }): string {
  return `${String(obj.apiVersion)}/${String(obj.kind)}`;
}

export function isBuiltinKind(obj: { apiVersion?: unknown; kind?: unknown }): boolean {
  return kindKey(obj) in KINDS;
}

function stripTestFields(obj: Record<string, unknown>): Record<string, unknown> {
  const { template: _template, ...rest } = obj;
  return rest;
}

/** Errors from the kubernetes-models JSON schema of the object's kind ([] when valid). */
export function schemaErrors(obj: Record<string, unknown>): string[] {
  const kind = KINDS[kindKey(obj)];
  if (!kind) return [`no kubernetes-models schema for ${kindKey(obj)}`];
  const Model = (require(kind.module) as Record<string, ModelClass>)[kind.type]!;
  try {
    new Model(stripTestFields(obj)).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/**
 * Unknown or misplaced fields in the given objects, as "<label>: <message>" lines. One TypeScript
 * program checks all objects at once (a few seconds), so call it once per test file.
 */
export function unknownFieldErrors(objects: { label: string; obj: Record<string, unknown> }[]): string[] {
  const virtualFile = path.join(repoRoot, 'test/packaging/__k8s_objects__.ts');
  const lines: string[] = [];
  const starts: { line: number; label: string }[] = [];
  const imports = new Map<string, string>();
  objects.forEach(({ obj }) => {
    const kind = KINDS[kindKey(obj)];
    if (kind) imports.set(kind.module, `I${kind.type}`);
  });
  for (const [module, type] of imports) lines.push(`import type { ${type} } from '${module}';`);
  objects.forEach(({ label, obj }, index) => {
    const kind = KINDS[kindKey(obj)];
    if (!kind) return;
    starts.push({ line: lines.length, label });
    lines.push(`export const object${index}: I${kind.type} = ${JSON.stringify(stripTestFields(obj), null, 1)};`);
  });
  const source = lines.join('\n');
  // Each entry of `lines` may span several physical lines: map physical lines back to objects.
  let physical = 0;
  const physicalStart = new Map<number, string>();
  lines.forEach((entry, i) => {
    const start = starts.find((s) => s.line === i);
    if (start) physicalStart.set(physical, start.label);
    physical += entry.split('\n').length;
  });
  const labelAt = (line: number): string => {
    let label = '';
    for (const [start, name] of physicalStart) if (start <= line) label = name;
    return label;
  };

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) =>
    path.resolve(fileName) === virtualFile ? ts.createSourceFile(fileName, source, languageVersion, true) : getSourceFile(fileName, languageVersion, onError, shouldCreate);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => path.resolve(fileName) === virtualFile || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => (path.resolve(fileName) === virtualFile ? source : readFile(fileName));

  const program = ts.createProgram([virtualFile], options, host);
  const file = program.getSourceFile(virtualFile)!;
  return [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
    const { line } = file.getLineAndCharacterOfPosition(d.start ?? 0);
    const snippet = source.split('\n')[line]?.trim() ?? '';
    return `${labelAt(line)}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')} (at ${snippet})`;
  });
}

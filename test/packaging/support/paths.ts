/** Paths and loaders shared by the packaging tests. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import YAML from 'yaml';

export const repoRoot = path.resolve(__dirname, '../../..');
export const chartDir = path.join(repoRoot, 'charts/okta-token-hook');
/** CI clones the repository with a copy of shared/ beside it. */
export const sharedDir = path.resolve(repoRoot, '../shared');

/**
 * Parses one YAML file, by default as YAML 1.1 (Helm and kubectl read with go-yaml v2); skaffold
 * reads its config with go-yaml v3, which follows YAML 1.2.
 */
export function readYaml(file: string, version: '1.1' | '1.2' = '1.1'): unknown {
  const doc = YAML.parseDocument(readFileSync(file, 'utf8'), { version, uniqueKeys: true });
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS();
}

/** Parses a multi-document YAML stream (kubectl kustomize output). */
export function readYamlStream(text: string): Record<string, unknown>[] {
  return YAML.parseAllDocuments(text, { version: '1.1' }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
    return doc.toJS() as Record<string, unknown>;
  });
}

/** Compiles a draft-07 JSON schema with every error reported. */
export function compileSchema(file: string, options: { strict?: boolean } = {}): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: options.strict ?? true, allowUnionTypes: true });
  return ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
}

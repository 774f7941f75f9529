/**
 * JSON schemas of the custom resources the chart renders beyond the built-in kinds, for the fields
 * the chart writes, strict (unknown fields rejected): Gateway API HTTPRoute (gateway.networking.k8s.io/v1,
 * standard channel v1.x) and cert-manager Certificate (cert-manager.io/v1). Transcribed from the
 * upstream CRDs (field names, required fields, enums, patterns); kubernetes-models has no Gateway API
 * or cert-manager kinds, and the @kubernetes-models packages for them are ESM-only.
 */
import Ajv, { type ValidateFunction } from 'ajv';

const dnsLabel = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const hostname = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const metadata = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', pattern: dnsLabel }, namespace: { type: 'string', pattern: dnsLabel }, labels: stringMap, annotations: stringMap },
};

/** A namespaced object of one apiVersion/kind with the given spec schema. */
const resource = (apiVersion: string, kind: string, spec: object): object => ({
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: { apiVersion: { const: apiVersion }, kind: { const: kind }, metadata, spec },
});

/** A Gateway API reference to another object (ParentReference, BackendRef) plus its own fields. */
const reference = (extra: object): object => ({
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    group: { type: 'string' },
    kind: { type: 'string' },
    namespace: { type: 'string', pattern: dnsLabel },
    name: { type: 'string', minLength: 1, maxLength: 253 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    ...extra,
  },
});

const httpRoute = resource('gateway.networking.k8s.io/v1', 'HTTPRoute', {
      type: 'object',
      additionalProperties: false,
      properties: {
        parentRefs: {
          type: 'array',
          maxItems: 32,
          items: reference({ sectionName: { type: 'string', pattern: dnsLabel } }),
        },
        hostnames: { type: 'array', maxItems: 16, items: { type: 'string', pattern: hostname, maxLength: 253 } },
        rules: {
          type: 'array',
          maxItems: 16,
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              matches: {
                type: 'array',
                maxItems: 64,
                items: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    path: {
                      type: 'object',
                      additionalProperties: false,
                      properties: { type: { enum: ['Exact', 'PathPrefix', 'RegularExpression'] }, value: { type: 'string', pattern: '^/', maxLength: 1024 } },
                    },
                    method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] },
                  },
                },
              },
              backendRefs: {
                type: 'array',
                maxItems: 16,
                items: reference({ weight: { type: 'integer', minimum: 0, maximum: 1000000 } }),
              },
            },
          },
        },
      },
});

const certificate = resource('cert-manager.io/v1', 'Certificate', {
      type: 'object',
      required: ['secretName', 'issuerRef'],
      additionalProperties: false,
      properties: {
        secretName: { type: 'string', pattern: dnsLabel },
        dnsNames: { type: 'array', minItems: 1, items: { type: 'string', pattern: hostname } },
        issuerRef: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1 }, kind: { type: 'string' }, group: { type: 'string' } },
        },
        privateKey: { type: 'object', additionalProperties: false, properties: { rotationPolicy: { enum: ['Never', 'Always'] } } },
        duration: { type: 'string' },
        renewBefore: { type: 'string' },
      },
});

const ajv = new Ajv({ allErrors: true, strict: true });
const validators: Record<string, ValidateFunction> = {
  'gateway.networking.k8s.io/v1/HTTPRoute': ajv.compile(httpRoute),
  'cert-manager.io/v1/Certificate': ajv.compile(certificate),
};

export function isCustomKind(obj: { apiVersion?: unknown; kind?: unknown }): boolean {
  return `${String(obj.apiVersion)}/${String(obj.kind)}` in validators;
}

/** Schema errors of an HTTPRoute or Certificate ([] when valid). */
export function customSchemaErrors(obj: Record<string, unknown>): string[] {
  const validate = validators[`${String(obj.apiVersion)}/${String(obj.kind)}`];
  if (!validate) return [`no schema for ${String(obj.apiVersion)}/${String(obj.kind)}`];
  const { template: _template, ...rest } = obj;
  return validate(rest) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

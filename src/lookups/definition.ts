/**
 * Validation of the rules file's top-level `lookups:` map into `LookupDefinition`s. Pure and
 * synchronous (the rules loader calls it): files named here (secrets, CA, keys) are read later,
 * asynchronously, by `LookupSet.create`. Every problem is collected with its path
 * (`['lookups', 'crm', 'cache', 'ttlSeconds']`) so the loader can name the file, field and line.
 */
import { createHash } from 'node:crypto';
import type { Environment } from '@marcbachmann/cel-js';
import { compileExpression, type CompiledExpression } from '../rules/cel';
import { parseTemplate, templateVariables } from './template';
import {
  LOOKUP_TYPES,
  type BreakerSettings,
  type CacheSettings,
  type ConcurrencySettings,
  type HttpAuth,
  type HttpLookupDefinition,
  type LookupDefinition,
  type LookupType,
  type OktaAuth,
  type OktaGroupsLookupDefinition,
  type Template,
} from './types';
import { describe, isPlainObject, ProblemCollector, type Path, type Problem } from '../shared/values';
import { compilePattern, RegexError, type CompiledPattern } from '../rules/regex';

export type LookupProblem = Problem;

export interface ParsedLookups {
  definitions: LookupDefinition[];
  problems: LookupProblem[];
}

/** `lookup.<name>` must be a plain CEL field selection, and a short metric label. */
export const LOOKUP_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/;
const CEL_RESERVED = new Set([
  'as', 'break', 'const', 'continue', 'else', 'false', 'for', 'function', 'if', 'import', 'in', 'let', 'loop', 'package', 'namespace', 'null', 'return', 'true', 'var',
]);
export const MAX_LOOKUPS = 32;

export const LOOKUP_DEFAULTS = {
  timeoutMs: 500,
  maxResponseBytes: 1024 * 1024,
  cache: { maxEntries: 10_000, ttlSeconds: 60, staleWhileRevalidateSeconds: 30, staleIfErrorSeconds: 600, negativeTtlSeconds: 10 },
  breaker: { consecutiveFailures: 5, halfOpenAfterSeconds: 10 },
  concurrency: { limit: 20, queue: 50 },
  oktaGroups: { pageSize: 200, maxPages: 5, userId: 'user != null ? user.id : null', scopes: ['okta.users.read'] },
} as const;

const COMMON_KEYS = ['type', 'description', 'timeoutMs', 'cache', 'breaker', 'concurrency', 'tls', 'maxResponseBytes'];
const HTTP_KEYS = [...COMMON_KEYS, 'method', 'url', 'headers', 'body', 'auth', 'extract'];
const OKTA_KEYS = [...COMMON_KEYS, 'orgUrl', 'userId', 'auth', 'filter', 'result', 'pageSize', 'maxPages'];
const CACHE_KEYS = ['maxEntries', 'ttlSeconds', 'staleWhileRevalidateSeconds', 'staleIfErrorSeconds', 'negativeTtlSeconds'];
const BREAKER_KEYS = ['consecutiveFailures', 'failureRatio', 'windowSeconds', 'minimumRps', 'halfOpenAfterSeconds'];
const CONCURRENCY_KEYS = ['limit', 'queue'];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Set by the lookup itself (auth) or by the HTTP client: a template must not override them. */
const MANAGED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'content-type']);
const MAX_SECONDS = 7 * 24 * 3600;

/** Key order does not change the fingerprint. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableStringify(value[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

class LookupValidator extends ProblemCollector {
  constructor(private readonly env: Environment) {
    super();
  }

  mapping(value: unknown, path: Path, what: string): value is Record<string, unknown> {
    if (isPlainObject(value)) return true;
    this.add(path, `must be ${what}, got ${describe(value)}`);
    return false;
  }

  string(value: unknown, path: Path, what = 'a non-empty string'): value is string {
    if (typeof value === 'string' && value.trim().length > 0) return true;
    this.add(path, value === undefined ? 'is required' : `must be ${what}, got ${describe(value)}`);
    return false;
  }

  number(value: unknown, path: Path, fallback: number, min: number, max: number, integer: boolean): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
      this.add(path, `must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  seconds(value: unknown, path: Path, fallback: number): number {
    return Math.round(this.number(value, path, fallback, 0, MAX_SECONDS, false) * 1000);
  }

  expression(value: unknown, path: Path): CompiledExpression | undefined {
    if (!this.string(value, path, 'a CEL expression string')) return undefined;
    const compiled = compileExpression(this.env, value, 'json');
    if (!compiled.ok) {
      this.add(path, compiled.message);
      return undefined;
    }
    if (compiled.expression.references.variables.has('lookup')) {
      this.add(path, 'a lookup cannot read other lookups');
      return undefined;
    }
    return compiled.expression;
  }

  template(value: unknown, path: Path): Template | undefined {
    if (typeof value !== 'string') {
      this.add(path, value === undefined ? 'is required' : `must be a string (literal text with {CEL} placeholders), got ${describe(value)}`);
      return undefined;
    }
    const parsed = parseTemplate(this.env, value);
    if (!parsed.ok) {
      this.add(path, parsed.message);
      return undefined;
    }
    return parsed.template;
  }

  file(value: unknown, path: Path): value is string {
    if (!this.string(value, path, 'a file path')) return false;
    return true;
  }

  cache(value: unknown, path: Path): CacheSettings {
    const d = LOOKUP_DEFAULTS.cache;
    const defaults: CacheSettings = {
      enabled: true,
      maxEntries: d.maxEntries,
      ttlMs: d.ttlSeconds * 1000,
      staleWhileRevalidateMs: d.staleWhileRevalidateSeconds * 1000,
      staleIfErrorMs: d.staleIfErrorSeconds * 1000,
      negativeTtlMs: d.negativeTtlSeconds * 1000,
    };
    if (value === undefined) return defaults;
    if (value === false) return { ...defaults, enabled: false };
    if (!this.mapping(value, path, 'a mapping (or false to disable caching)')) return defaults;
    this.unknownKeys(value, CACHE_KEYS, path);
    return {
      enabled: true,
      maxEntries: this.number(value.maxEntries, [...path, 'maxEntries'], d.maxEntries, 1, 1_000_000, true),
      ttlMs: this.seconds(value.ttlSeconds, [...path, 'ttlSeconds'], d.ttlSeconds),
      staleWhileRevalidateMs: this.seconds(value.staleWhileRevalidateSeconds, [...path, 'staleWhileRevalidateSeconds'], d.staleWhileRevalidateSeconds),
      staleIfErrorMs: this.seconds(value.staleIfErrorSeconds, [...path, 'staleIfErrorSeconds'], d.staleIfErrorSeconds),
      negativeTtlMs: this.seconds(value.negativeTtlSeconds, [...path, 'negativeTtlSeconds'], d.negativeTtlSeconds),
    };
  }

  breaker(value: unknown, path: Path): BreakerSettings {
    const d = LOOKUP_DEFAULTS.breaker;
    const fallback: BreakerSettings = { kind: 'consecutive', failures: d.consecutiveFailures, halfOpenAfterMs: d.halfOpenAfterSeconds * 1000 };
    if (value === undefined) return fallback;
    if (!this.mapping(value, path, 'a mapping')) return fallback;
    this.unknownKeys(value, BREAKER_KEYS, path);
    const halfOpenAfterMs = Math.max(1, this.seconds(value.halfOpenAfterSeconds, [...path, 'halfOpenAfterSeconds'], d.halfOpenAfterSeconds));
    const sampling = value.failureRatio !== undefined || value.windowSeconds !== undefined || value.minimumRps !== undefined;
    if (sampling) {
      if (value.consecutiveFailures !== undefined) {
        this.add([...path, 'consecutiveFailures'], 'cannot be combined with failureRatio/windowSeconds/minimumRps (choose a consecutive or a sampling breaker)');
      }
      if (value.failureRatio === undefined) this.add([...path, 'failureRatio'], 'is required for a sampling breaker');
      return {
        kind: 'sampling',
        failureRatio: this.number(value.failureRatio, [...path, 'failureRatio'], 0.5, 0.01, 1, false),
        windowMs: Math.max(1000, this.seconds(value.windowSeconds, [...path, 'windowSeconds'], 30)),
        minimumRps: this.number(value.minimumRps, [...path, 'minimumRps'], 5, 0, 100_000, false),
        halfOpenAfterMs,
      };
    }
    return { kind: 'consecutive', failures: this.number(value.consecutiveFailures, [...path, 'consecutiveFailures'], d.consecutiveFailures, 1, 1000, true), halfOpenAfterMs };
  }

  concurrency(value: unknown, path: Path): ConcurrencySettings {
    const d = LOOKUP_DEFAULTS.concurrency;
    if (value === undefined) return { limit: d.limit, queue: d.queue };
    if (!this.mapping(value, path, 'a mapping')) return { limit: d.limit, queue: d.queue };
    this.unknownKeys(value, CONCURRENCY_KEYS, path);
    return {
      limit: this.number(value.limit, [...path, 'limit'], d.limit, 1, 1000, true),
      queue: this.number(value.queue, [...path, 'queue'], d.queue, 0, 10_000, true),
    };
  }

  tls(value: unknown, path: Path): string | undefined {
    if (value === undefined) return undefined;
    if (!this.mapping(value, path, 'a mapping with caFile')) return undefined;
    this.unknownKeys(value, ['caFile'], path);
    return this.file(value.caFile, [...path, 'caFile']) ? value.caFile : undefined;
  }

  httpAuth(value: unknown, path: Path): HttpAuth | undefined {
    if (value === undefined) return undefined;
    if (!this.mapping(value, path, 'a mapping with bearerTokenFile, or header and valueFile')) return undefined;
    this.unknownKeys(value, ['bearerTokenFile', 'header', 'valueFile'], path);
    if (value.bearerTokenFile !== undefined) {
      if (value.header !== undefined || value.valueFile !== undefined) this.add(path, 'set either bearerTokenFile, or header and valueFile');
      return this.file(value.bearerTokenFile, [...path, 'bearerTokenFile']) ? { kind: 'bearer', tokenFile: value.bearerTokenFile } : undefined;
    }
    const headerOk = this.string(value.header, [...path, 'header']) && this.headerName(value.header, [...path, 'header']);
    const fileOk = this.file(value.valueFile, [...path, 'valueFile']);
    return headerOk && fileOk ? { kind: 'header', header: (value.header as string).toLowerCase(), valueFile: value.valueFile as string } : undefined;
  }

  headerName(name: string, path: Path): boolean {
    if (!HEADER_NAME.test(name)) {
      this.add(path, `"${name}" is not a valid HTTP header name`);
      return false;
    }
    if (MANAGED_HEADERS.has(name.toLowerCase())) {
      this.add(path, `"${name}" is set by the lookup itself`);
      return false;
    }
    return true;
  }

  /** Static origin, placeholders only in the path or query: a request value can never pick the host. Returns that origin. */
  url(template: Template, path: Path): string | undefined {
    const first = template.parts[0];
    if (typeof first !== 'string') {
      this.add(path, 'must start with a literal scheme and host (https://host/...) before any placeholder');
      return undefined;
    }
    const origin = /^(https?):\/\/([^/?#{}]+)(?=[/?]|$)/.exec(first);
    if (!origin) {
      this.add(path, 'must start with http:// or https:// and a host, followed by / or ? before any placeholder');
      return undefined;
    }
    const static_ = template.parts.length === 1;
    if (!static_ && first.length === origin[0].length) {
      this.add(path, 'the host must be followed by / or ? before the first placeholder');
      return undefined;
    }
    try {
      return new URL(template.parts.map((part) => (typeof part === 'string' ? part : 'x')).join('')).origin;
    } catch {
      this.add(path, 'is not a valid URL');
      return undefined;
    }
  }

  common(name: string, value: Record<string, unknown>, path: Path, type: LookupType) {
    const timeoutMs = this.number(value.timeoutMs, [...path, 'timeoutMs'], LOOKUP_DEFAULTS.timeoutMs, 10, 2900, true);
    const base = {
      name,
      type,
      timeoutMs,
      cache: this.cache(value.cache, [...path, 'cache']),
      breaker: this.breaker(value.breaker, [...path, 'breaker']),
      concurrency: this.concurrency(value.concurrency, [...path, 'concurrency']),
      maxResponseBytes: this.number(value.maxResponseBytes, [...path, 'maxResponseBytes'], LOOKUP_DEFAULTS.maxResponseBytes, 1024, 16 * 1024 * 1024, true),
      fingerprint: createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16),
    };
    const caFile = this.tls(value.tls, [...path, 'tls']);
    if (value.description !== undefined && typeof value.description !== 'string') {
      this.add([...path, 'description'], `must be a string, got ${describe(value.description)}`);
    }
    return { ...base, ...(caFile ? { caFile } : {}), ...(typeof value.description === 'string' ? { description: value.description } : {}) };
  }

  http(name: string, value: Record<string, unknown>, path: Path): HttpLookupDefinition | undefined {
    const before = this.problems.length;
    this.unknownKeys(value, HTTP_KEYS, path);
    const common = this.common(name, value, path, 'http');
    let method: 'GET' | 'POST' = 'GET';
    if (value.method !== undefined) {
      if (value.method === 'GET' || value.method === 'POST') method = value.method;
      else this.add([...path, 'method'], `must be GET or POST, got ${describe(value.method)}`);
    }
    const url = this.template(value.url, [...path, 'url']);
    const origin = url ? this.url(url, [...path, 'url']) : undefined;
    const headers: { name: string; value: Template }[] = [];
    if (value.headers !== undefined && this.mapping(value.headers, [...path, 'headers'], 'a mapping of header names to values')) {
      const seen = new Set<string>();
      for (const [headerName, headerValue] of Object.entries(value.headers)) {
        const headerPath = [...path, 'headers', headerName];
        if (!this.headerName(headerName, headerPath)) continue;
        const lower = headerName.toLowerCase();
        if (seen.has(lower)) {
          this.add(headerPath, 'is set twice (header names are case-insensitive)');
          continue;
        }
        seen.add(lower);
        const template = this.template(typeof headerValue === 'number' || typeof headerValue === 'boolean' ? String(headerValue) : headerValue, headerPath);
        if (template) headers.push({ name: lower, value: template });
      }
    }
    let body: CompiledExpression | undefined;
    if (value.body !== undefined) {
      if (method !== 'POST') this.add([...path, 'body'], 'is only allowed with method: POST');
      body = this.expression(value.body, [...path, 'body']);
    }
    const auth = this.httpAuth(value.auth, [...path, 'auth']);
    if (auth && headers.some((h) => h.name === (auth.kind === 'bearer' ? 'authorization' : auth.header))) {
      this.add([...path, 'headers'], `sets ${auth.kind === 'bearer' ? 'authorization' : auth.header}, which auth already sets`);
    }
    let extract: string[] | undefined;
    if (value.extract !== undefined) {
      if (typeof value.extract === 'string' && /^[^.\s]+(\.[^.\s]+)*$/.test(value.extract)) extract = value.extract.split('.');
      else this.add([...path, 'extract'], `must be a dotted path into the JSON response (data.items, roles.0), got ${describe(value.extract)}`);
    }
    if (this.problems.length > before || !url || !origin) return undefined;
    const variables = templateVariables(url);
    for (const header of headers) for (const variable of templateVariables(header.value)) variables.add(variable);
    if (body) for (const variable of body.references.variables) variables.add(variable);
    const definition: HttpLookupDefinition = { ...common, type: 'http', method, url, origin, headers, variables };
    if (body) definition.body = body;
    if (auth) definition.auth = auth;
    if (extract) definition.extract = extract;
    return definition;
  }

  oktaAuth(value: unknown, path: Path): OktaAuth | undefined {
    if (!this.mapping(value, path, 'a mapping with apiTokenFile, or oauth (clientId, privateKeyFile)')) return undefined;
    this.unknownKeys(value, ['apiTokenFile', 'oauth'], path);
    if ((value.apiTokenFile === undefined) === (value.oauth === undefined)) {
      this.add(path, 'set exactly one of apiTokenFile and oauth');
      return undefined;
    }
    if (value.apiTokenFile !== undefined) {
      return this.file(value.apiTokenFile, [...path, 'apiTokenFile']) ? { kind: 'apiToken', tokenFile: value.apiTokenFile } : undefined;
    }
    const oauthPath = [...path, 'oauth'];
    if (!this.mapping(value.oauth, oauthPath, 'a mapping with clientId and privateKeyFile')) return undefined;
    const oauth = value.oauth;
    this.unknownKeys(oauth, ['clientId', 'privateKeyFile', 'keyId', 'algorithm', 'scopes'], oauthPath);
    const clientOk = this.string(oauth.clientId, [...oauthPath, 'clientId']);
    const keyOk = this.file(oauth.privateKeyFile, [...oauthPath, 'privateKeyFile']);
    let scopes: string[] = [...LOOKUP_DEFAULTS.oktaGroups.scopes];
    if (oauth.scopes !== undefined) {
      if (Array.isArray(oauth.scopes) && oauth.scopes.length > 0 && oauth.scopes.every((s) => typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) {
        scopes = oauth.scopes as string[];
      } else this.add([...oauthPath, 'scopes'], `must be a non-empty list of scope names, got ${describe(oauth.scopes)}`);
    }
    if (oauth.keyId !== undefined) this.string(oauth.keyId, [...oauthPath, 'keyId']);
    if (oauth.algorithm !== undefined && !(typeof oauth.algorithm === 'string' && /^(RS|PS|ES)(256|384|512)$|^EdDSA$/.test(oauth.algorithm))) {
      this.add([...oauthPath, 'algorithm'], `must be one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, got ${describe(oauth.algorithm)}`);
    }
    if (!clientOk || !keyOk) return undefined;
    const auth: OktaAuth = { kind: 'privateKeyJwt', clientId: oauth.clientId as string, privateKeyFile: oauth.privateKeyFile as string, scopes };
    if (typeof oauth.keyId === 'string') auth.keyId = oauth.keyId;
    if (typeof oauth.algorithm === 'string') auth.algorithm = oauth.algorithm;
    return auth;
  }

  okta(name: string, value: Record<string, unknown>, path: Path): OktaGroupsLookupDefinition | undefined {
    const before = this.problems.length;
    this.unknownKeys(value, OKTA_KEYS, path);
    const common = this.common(name, value, path, 'oktaGroups');
    let orgUrl: string | undefined;
    if (this.string(value.orgUrl, [...path, 'orgUrl'], 'a URL (https://example.okta.com)')) {
      try {
        const parsed = new URL(value.orgUrl);
        if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('scheme');
        if (parsed.pathname !== '/' || parsed.search || parsed.hash) {
          this.add([...path, 'orgUrl'], 'must be the org origin only (https://example.okta.com), without a path');
        } else orgUrl = parsed.origin;
      } catch {
        this.add([...path, 'orgUrl'], `must be an http(s) URL, got ${describe(value.orgUrl)}`);
      }
    }
    const userId = this.expression(value.userId ?? LOOKUP_DEFAULTS.oktaGroups.userId, [...path, 'userId']);
    const auth = value.auth === undefined ? (this.add([...path, 'auth'], 'is required (apiTokenFile, or oauth)'), undefined) : this.oktaAuth(value.auth, [...path, 'auth']);
    const filter: { prefix?: string; regex?: CompiledPattern } = {};
    if (value.filter !== undefined && this.mapping(value.filter, [...path, 'filter'], 'a mapping with prefix and/or regex')) {
      const f = value.filter;
      this.unknownKeys(f, ['prefix', 'regex'], [...path, 'filter']);
      if (f.prefix !== undefined && this.string(f.prefix, [...path, 'filter', 'prefix'])) filter.prefix = f.prefix;
      if (f.regex !== undefined && this.string(f.regex, [...path, 'filter', 'regex'], 'a regular expression')) {
        if (f.regex.length > 512) this.add([...path, 'filter', 'regex'], 'is longer than 512 characters');
        else {
          // RE2, as CEL's matches(): linear in the group name, whatever the pattern.
          try {
            filter.regex = compilePattern(f.regex, 'RE2 syntax, as matches() in rules');
          } catch (err) {
            if (!(err instanceof RegexError)) throw err;
            this.add([...path, 'filter', 'regex'], `is not a valid regular expression (${err.message})`);
          }
        }
      }
    }
    let result: 'names' | 'objects' = 'names';
    if (value.result !== undefined) {
      if (value.result === 'names' || value.result === 'objects') result = value.result;
      else this.add([...path, 'result'], `must be "names" or "objects", got ${describe(value.result)}`);
    }
    const pageSize = this.number(value.pageSize, [...path, 'pageSize'], LOOKUP_DEFAULTS.oktaGroups.pageSize, 1, 200, true);
    const maxPages = this.number(value.maxPages, [...path, 'maxPages'], LOOKUP_DEFAULTS.oktaGroups.maxPages, 1, 50, true);
    if (this.problems.length > before || !orgUrl || !userId || !auth) return undefined;
    return { ...common, type: 'oktaGroups', orgUrl, userId, auth, filter, result, pageSize, maxPages, variables: new Set(userId.references.variables) };
  }

  lookup(name: string, value: unknown, path: Path): LookupDefinition | undefined {
    if (!LOOKUP_NAME_PATTERN.test(name) || CEL_RESERVED.has(name)) {
      this.add(path, `lookup name "${name}" must be a CEL identifier (letters, digits, _; not starting with a digit; not a CEL keyword) of at most 63 characters`);
      return undefined;
    }
    if (!this.mapping(value, path, 'a mapping with a type')) return undefined;
    if (!LOOKUP_TYPES.includes(value.type as LookupType)) {
      this.add([...path, 'type'], value.type === undefined ? `is required (${LOOKUP_TYPES.join(' or ')})` : `must be ${LOOKUP_TYPES.join(' or ')}, got ${describe(value.type)}`);
      return undefined;
    }
    return value.type === 'http' ? this.http(name, value, path) : this.okta(name, value, path);
  }
}

/**
 * Validates the `lookups:` value of a rules file (undefined: no lookups). `env` is the rules'
 * CEL environment; lookups may read every request variable but not `lookup` itself.
 */
export function parseLookups(value: unknown, env: Environment): ParsedLookups {
  const validator = new LookupValidator(env);
  const definitions: LookupDefinition[] = [];
  if (value === undefined) return { definitions, problems: [] };
  if (!isPlainObject(value)) {
    validator.add(['lookups'], `must be a mapping of lookup names to definitions, got ${describe(value)}`);
    return { definitions, problems: validator.problems };
  }
  const names = Object.keys(value);
  if (names.length > MAX_LOOKUPS) validator.add(['lookups'], `defines ${names.length} lookups; at most ${MAX_LOOKUPS} are allowed`);
  for (const name of names) {
    const definition = validator.lookup(name, value[name], ['lookups', name]);
    if (definition) definitions.push(definition);
  }
  return { definitions, problems: validator.problems };
}

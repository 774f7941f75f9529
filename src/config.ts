/**
 * Configuration: one convict schema, every key with doc/format/env/default, validated strictly.
 * `loadConfig(env)` never reads `process.env` itself: the entry point passes it in, tests pass
 * plain objects. Secrets are not part of this object: only the *paths* to them are (see
 * `http/secrets.ts`), plus `HOOK_SECRET` for local development.
 */
import convict from 'convict';
import { deepFreeze } from './shared/values';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const nonEmptyListFormat = {
  name: 'comma-list',
  validate(value: unknown): void {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new Error('must be a comma-separated list of strings');
    }
  },
  coerce(value: unknown): string[] {
    if (Array.isArray(value)) return value.map(String);
    return String(value)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  },
};

const portFormat = (value: unknown): void => {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) {
    throw new Error('must be a TCP port between 0 and 65535');
  }
};

const positiveInt = (min: number, max: number) => (value: unknown): void => {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new Error(`must be an integer between ${min} and ${max}`);
  }
};

/** Only true/false (and 1/0): convict's Boolean would read any other string as true. */
const strictBooleanFormat = {
  name: 'boolean-strict',
  validate(value: unknown): void {
    if (typeof value !== 'boolean') throw new Error('must be true or false');
  },
  coerce(value: unknown): unknown {
    if (typeof value === 'boolean') return value;
    const text = String(value).trim().toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    return value;
  },
};

convict.addFormat(nonEmptyListFormat);
convict.addFormat(strictBooleanFormat);

const schema = {
  env: {
    doc: 'Runtime mode. `production` refuses to start without a configured hook secret (or OAuth settings) and never generates one.',
    format: ['production', 'development', 'test'],
    default: 'development',
    env: 'NODE_ENV',
  },
  server: {
    host: {
      doc: 'Address the hook server binds to.',
      format: String,
      default: '0.0.0.0',
      env: 'HOOK_HOST',
    },
    port: {
      doc: 'Port of the hook server (hook endpoint and health probes).',
      format: portFormat,
      default: 8080,
      env: 'HOOK_PORT',
    },
    bodyLimitBytes: {
      doc: 'Largest accepted request body in bytes; larger bodies get 413.',
      format: positiveInt(1024, 16 * 1024 * 1024),
      default: 1024 * 1024,
      env: 'HOOK_BODY_LIMIT_BYTES',
    },
    deadlineMs: {
      doc: 'Request deadline for one hook call in milliseconds (Okta gives up after 3000). Outstanding lookups are cancelled when it expires and the rule falls back to its onError policy.',
      format: positiveInt(50, 2900),
      default: 1500,
      env: 'HOOK_DEADLINE_MS',
    },
    debugContext: {
      doc: 'Add a non-sensitive `debugContext` (matched rules, rules version, timings) to responses; Okta writes it to the System Log.',
      format: 'boolean-strict',
      default: true,
      env: 'HOOK_DEBUG_CONTEXT',
    },
    keepAliveTimeoutMs: {
      doc: 'HTTP keep-alive timeout in milliseconds; keep it above the idle timeout of the load balancer in front.',
      format: positiveInt(1000, 600000),
      default: 65000,
      env: 'HOOK_KEEP_ALIVE_TIMEOUT_MS',
    },
    headersTimeoutMs: {
      doc: 'Time in milliseconds a client has to send the request headers once it started a request; slower clients are disconnected (slowloris). Checked every second.',
      format: positiveInt(1000, 120000),
      default: 5000,
      env: 'HOOK_HEADERS_TIMEOUT_MS',
    },
    requestTimeoutMs: {
      doc: 'Time in milliseconds a client has to send a whole request (headers and body); slower clients get 408 and are disconnected. Okta sends a few kilobytes at once.',
      format: positiveInt(1000, 300000),
      default: 10000,
      env: 'HOOK_REQUEST_TIMEOUT_MS',
    },
    maxConnections: {
      doc: 'Most open connections the hook port accepts; further connections are closed at once. Keep it well below the open-file limit: probes and metrics have their own port and stay answerable.',
      format: positiveInt(1, 1000000),
      default: 2000,
      env: 'HOOK_MAX_CONNECTIONS',
    },
    maxInFlight: {
      doc: 'Hook calls processed at once beyond which new calls are refused at once with 503 (Okta then issues the token unchanged without waiting). 0 disables.',
      format: positiveInt(0, 1000000),
      default: 1000,
      env: 'HOOK_MAX_IN_FLIGHT',
    },
    maxEventLoopLagMs: {
      doc: 'Event-loop lag in milliseconds beyond which new hook calls are refused at once with 503, because an answer could no longer arrive within Okta\'s 3 s. 0 disables.',
      format: positiveInt(0, 60000),
      default: 1000,
      env: 'HOOK_MAX_EVENT_LOOP_LAG_MS',
    },
  },
  auth: {
    mode: {
      doc: 'How Okta\'s calls are authenticated: `header` (shared secret in a header), `oauth2` (Bearer JWT from an authorization server) or `either` (accept both, for migrations).',
      format: ['header', 'oauth2', 'either'],
      default: 'header',
      env: 'AUTH_MODE',
    },
    header: {
      doc: 'Name of the header carrying the shared secret (Okta\'s authScheme.key). Case-insensitive.',
      format: (value: unknown): void => {
        if (typeof value !== 'string' || !/^[A-Za-z0-9-]+$/.test(value)) throw new Error('must be an HTTP header name');
      },
      default: 'authorization',
      env: 'HOOK_AUTH_HEADER',
    },
    secretFile: {
      doc: 'File holding the accepted header secret value(s), one per line (two during rotation). Re-read when it changes (Kubernetes Secret mount).',
      format: String,
      default: '',
      env: 'HOOK_SECRET_FILE',
    },
    secret: {
      doc: 'Header secret value for local use. Prefer HOOK_SECRET_FILE; ignored when it is set.',
      format: String,
      default: '',
      env: 'HOOK_SECRET',
      sensitive: true,
    },
  },
  oauth: {
    issuer: {
      doc: 'Issuer (`iss`) of the Bearer tokens Okta presents in `oauth2` mode, e.g. https://example.okta.com/oauth2/ausXXXX. Used for JWKS discovery.',
      format: String,
      default: '',
      env: 'OAUTH_ISSUER',
    },
    audience: {
      doc: 'Required audience (`aud`) of the Bearer tokens, e.g. api://okta-token-hook.',
      format: String,
      default: '',
      env: 'OAUTH_AUDIENCE',
    },
    jwksUri: {
      doc: 'JWKS URL. Empty: discovered from `<issuer>/.well-known/oauth-authorization-server` (then openid-configuration).',
      format: String,
      default: '',
      env: 'OAUTH_JWKS_URI',
    },
    requiredScopes: {
      doc: 'Comma-separated scopes that must all be present in the token\'s `scp` claim.',
      format: 'comma-list',
      default: [] as string[],
      env: 'OAUTH_REQUIRED_SCOPES',
    },
    allowedClientIds: {
      doc: 'Comma-separated allow-list for the token\'s `cid` claim (Okta hook client id). Empty: any client.',
      format: 'comma-list',
      default: [] as string[],
      env: 'OAUTH_ALLOWED_CLIENT_IDS',
    },
    algorithms: {
      doc: 'Comma-separated JWS algorithms accepted (asymmetric only: RS*, PS*, ES*, EdDSA).',
      format: 'comma-list',
      default: ['RS256'],
      env: 'OAUTH_ALGORITHMS',
    },
    clockSkewSeconds: {
      doc: 'Tolerance in seconds when checking `exp` and `nbf`.',
      format: positiveInt(0, 300),
      default: 30,
      env: 'OAUTH_CLOCK_SKEW_SECONDS',
    },
    jwksTimeoutMs: {
      doc: 'Timeout in milliseconds for fetching the JWKS or discovery document.',
      format: positiveInt(100, 2500),
      default: 1000,
      env: 'OAUTH_JWKS_TIMEOUT_MS',
    },
    jwksCooldownMs: {
      doc: 'Minimum time in milliseconds between two JWKS refetches triggered by an unknown `kid`.',
      format: positiveInt(0, 3600000),
      default: 30000,
      env: 'OAUTH_JWKS_COOLDOWN_MS',
    },
    jwksCacheMaxAgeMs: {
      doc: 'How long in milliseconds a fetched JWKS is used before it is refreshed.',
      format: positiveInt(1000, 86400000),
      default: 600000,
      env: 'OAUTH_JWKS_CACHE_MAX_AGE_MS',
    },
  },
  rules: {
    file: {
      doc: 'Path of the claim rules file (YAML or JSON), or of a directory of rules files (each file one scope; dotfiles ignored, as a ConfigMap with several keys mounts). Empty: no rules, every call answers an empty patch.',
      format: String,
      default: '',
      env: 'RULES_FILE',
    },
    shadowFile: {
      doc: 'Path of a shadow rules file (or directory): evaluated beside the live rules on every call after the answer is built, compared per token, never applied (okta_hook_shadow_* metrics, one log line per differing call). Empty: off.',
      format: String,
      default: '',
      env: 'RULES_SHADOW_FILE',
    },
    watch: {
      doc: 'Reload the rules file (and the shadow rules file) when it changes (including a ConfigMap symlink swap). SIGHUP always reloads.',
      format: 'boolean-strict',
      default: true,
      env: 'RULES_WATCH',
    },
    maxCost: {
      doc: 'Static cost budget of one CEL expression, checked at load and reload: about the number of steps one evaluation takes, a comprehension over a list of unknown length counting 100 iterations. Costlier expressions are refused. okta-token-hook check, explain, preview and test read the RULES_MAX_* variables too (or --max-cost).',
      format: positiveInt(1000, 1000000000),
      default: 1000000,
      env: 'RULES_MAX_COST',
    },
    maxIterations: {
      doc: 'Comprehension iterations (map, filter, all, exists, exists_one) all the expressions of one hook call may run; past it the expression fails as a rule error (onError applies).',
      format: positiveInt(1, 100000000),
      default: 200000,
      env: 'RULES_MAX_ITERATIONS',
    },
    maxEvaluationMs: {
      doc: 'CPU time in milliseconds the CEL expressions of one hook call may take together; past it the expression fails as a rule error (onError applies). Keeps one bad rule from holding the event loop.',
      format: positiveInt(1, 2900),
      default: 100,
      env: 'RULES_MAX_EVALUATION_MS',
    },
    lookupConnections: {
      doc: "Connections opened to each lookup's upstream before the instance is ready (at most the lookup's concurrency.limit; again for new or changed lookups on reload), so the first logins after a start do not wait for DNS, TCP and TLS inside the lookup's timeout. Start-up waits at most the lookup's timeoutMs; an unreachable upstream is a warning, not an error. Unused connections close after 30 s. 0: off.",
      format: positiveInt(0, 16),
      default: 1,
      env: 'LOOKUP_PREOPEN_CONNECTIONS',
    },
  },
  logging: {
    level: {
      doc: 'Log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'LOG_LEVEL',
    },
    requests: {
      doc: 'Log one line per hook call (event id, client id, outcome, duration).',
      format: 'boolean-strict',
      default: true,
      env: 'LOG_REQUESTS',
    },
  },
  metrics: {
    enabled: {
      doc: 'Serve Prometheus metrics on METRICS_PORT and record them.',
      format: 'boolean-strict',
      default: true,
      env: 'METRICS_ENABLED',
    },
    host: {
      doc: 'Address the metrics server binds to.',
      format: String,
      default: '0.0.0.0',
      env: 'METRICS_HOST',
    },
    port: {
      doc: 'Port of the metrics server (GET /metrics). Never exposed through the Ingress.',
      format: portFormat,
      default: 9464,
      env: 'METRICS_PORT',
    },
    clientIdLabel: {
      doc: 'Add a `client_id` label to the hook request counter (bounded by METRICS_CLIENT_ID_LIMIT; further clients are counted as `other`).',
      format: 'boolean-strict',
      default: false,
      env: 'METRICS_CLIENT_ID_LABEL',
    },
    clientIdLimit: {
      doc: 'Maximum number of distinct client ids used as label values.',
      format: positiveInt(1, 1000),
      default: 50,
      env: 'METRICS_CLIENT_ID_LIMIT',
    },
  },
  shutdown: {
    delayMs: {
      doc: 'On SIGTERM, how long readiness reports 503 while the server keeps serving, so endpoints are updated before it stops accepting.',
      format: positiveInt(0, 120000),
      default: 5000,
      env: 'SHUTDOWN_DELAY_MS',
    },
    timeoutMs: {
      doc: 'After the delay, how long in-flight requests may take to drain before connections are closed.',
      format: positiveInt(0, 120000),
      default: 10000,
      env: 'SHUTDOWN_TIMEOUT_MS',
    },
  },
};

type Schema = typeof schema;

export interface Config {
  env: 'production' | 'development' | 'test';
  server: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    deadlineMs: number;
    debugContext: boolean;
    keepAliveTimeoutMs: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    maxConnections: number;
    maxInFlight: number;
    maxEventLoopLagMs: number;
  };
  auth: { mode: 'header' | 'oauth2' | 'either'; header: string; secretFile: string; secret: string };
  oauth: {
    issuer: string;
    audience: string;
    jwksUri: string;
    requiredScopes: string[];
    allowedClientIds: string[];
    algorithms: string[];
    clockSkewSeconds: number;
    jwksTimeoutMs: number;
    jwksCooldownMs: number;
    jwksCacheMaxAgeMs: number;
  };
  rules: { file: string; shadowFile: string; watch: boolean; maxCost: number; maxIterations: number; maxEvaluationMs: number; lookupConnections: number };
  logging: { level: string; requests: boolean };
  metrics: { enabled: boolean; host: string; port: number; clientIdLabel: boolean; clientIdLimit: number };
  shutdown: { delayMs: number; timeoutMs: number };
}

const ASYMMETRIC_ALG = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^ES256K$/;

/** Cross-key checks that convict's per-key formats cannot express. */
function validateCombination(config: Config): void {
  const problems: string[] = [];
  if (config.auth.mode !== 'header') {
    if (!config.oauth.issuer) problems.push('oauth.issuer (OAUTH_ISSUER) is required when AUTH_MODE is oauth2 or either');
    if (!config.oauth.audience) problems.push('oauth.audience (OAUTH_AUDIENCE) is required when AUTH_MODE is oauth2 or either');
    for (const alg of config.oauth.algorithms) {
      if (!ASYMMETRIC_ALG.test(alg)) problems.push(`oauth.algorithms (OAUTH_ALGORITHMS): "${alg}" is not an asymmetric JWS algorithm`);
    }
    if (config.oauth.algorithms.length === 0) problems.push('oauth.algorithms (OAUTH_ALGORITHMS) must name at least one algorithm');
  }
  if (config.metrics.enabled && config.metrics.port !== 0 && config.metrics.port === config.server.port) {
    problems.push('metrics.port (METRICS_PORT) must differ from server.port (HOOK_PORT)');
  }
  if (config.server.headersTimeoutMs > config.server.requestTimeoutMs) {
    problems.push('server.headersTimeoutMs (HOOK_HEADERS_TIMEOUT_MS) must not exceed server.requestTimeoutMs (HOOK_REQUEST_TIMEOUT_MS)');
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
}

/**
 * Builds and validates the configuration from an environment map. Unknown keys in the schema are
 * impossible from env; values of the wrong format fail with the key and the variable named.
 */
export function loadConfig(env: Record<string, string | undefined>): Readonly<Config> {
  const cleanEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) cleanEnv[key] = value;
  const conf = convict<Schema>(schema, { env: cleanEnv, args: [] });
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(`Invalid configuration: ${(err as Error).message}`);
  }
  const config = conf.getProperties() as unknown as Config;
  validateCombination(config);
  return deepFreeze(config);
}

/**
 * The CEL limits of the rules (`RULES_MAX_COST`, `RULES_MAX_ITERATIONS`, `RULES_MAX_EVALUATION_MS`)
 * read and validated exactly as the service reads them, without the rest of the configuration:
 * for the command line (`check`, `explain`, `preview`, `test`), which must judge a rules file
 * under the same budget as the deployment it is meant for.
 */
export function loadRulesLimits(env: Record<string, string | undefined>): { maxCost: number; maxIterations: number; maxEvaluationMs: number } {
  const cleanEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) cleanEnv[key] = value;
  const { maxCost, maxIterations, maxEvaluationMs } = schema.rules;
  const conf = convict({ rules: { maxCost, maxIterations, maxEvaluationMs } }, { env: cleanEnv, args: [] });
  try {
    conf.validate({ allowed: 'warn' });
  } catch (err) {
    // Name the variable, as the command line user sets it: `RULES_MAX_COST (rules.maxCost): ...`.
    const message = (err as Error).message.replace(/\brules\.(maxCost|maxIterations|maxEvaluationMs)\b/g, (key, name: 'maxCost' | 'maxIterations' | 'maxEvaluationMs') => `${schema.rules[name].env} (${key})`);
    throw new ConfigError(`Invalid configuration: ${message}`);
  }
  return conf.get('rules') as { maxCost: number; maxIterations: number; maxEvaluationMs: number };
}

/** Markdown table of every key, used to keep docs/reference/configuration.md in sync (see test). */
export function configReference(): string {
  const rows: string[] = ['| Variable | Key | Default | Description |', '|---|---|---|---|'];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const entry = value as Record<string, unknown>;
      if ('doc' in entry && 'env' in entry) {
        const def = Array.isArray(entry.default) ? (entry.default as unknown[]).join(',') : String(entry.default);
        const shown = entry.sensitive ? '(none)' : def === '' ? '(empty)' : def;
        rows.push(`| \`${String(entry.env)}\` | \`${prefix}${key}\` | \`${shown}\` | ${String(entry.doc)} |`);
      } else {
        walk(entry, `${prefix}${key}.`);
      }
    }
  };
  walk(schema as unknown as Record<string, unknown>, '');
  return rows.join('\n');
}

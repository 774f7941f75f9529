#!/usr/bin/env node
/**
 * Stub upstream for load tests with lookups: answers like the HTTP services and the Okta groups API
 * the hook may call, with configurable latency and failures, so a k6 run measures the hook and its
 * lookup machinery (cache, timeouts, breaker) without touching a real system.
 *
 * Plain Node (node:http, no dependencies). Binds 127.0.0.1 unless told otherwise. Run
 * `node load-tests/stub-upstream.js --help` for options; every flag has a STUB_* env twin.
 *
 * Routes (GET only):
 *   /users/:id/entitlements      {"userId", "tier", "entitlements": [...], "costCenter"}
 *   /api/v1/users/:id/groups     Okta-shaped group objects, paginated with ?limit=&after= and Link headers
 *   /healthz                     {"status":"ok"}, never delayed or failed
 *   /stats                       request/injected-failure counters, never delayed or failed
 * A user id containing "notfound" gets Okta's 404 (E0000007), for negative-cache tests.
 */
'use strict';

const http = require('node:http');

const OPTIONS = {
  host: { env: 'STUB_HOST', default: '127.0.0.1', kind: 'string', doc: 'address to bind' },
  port: { env: 'STUB_PORT', default: 8090, kind: 'int', min: 0, max: 65535, doc: 'port (0 = any free port)' },
  'latency-ms': { env: 'STUB_LATENCY_MS', default: 20, kind: 'number', min: 0, doc: 'mean added latency per request' },
  'jitter-ms': { env: 'STUB_JITTER_MS', default: 10, kind: 'number', min: 0, doc: 'latency varies uniformly by +/- this much' },
  'error-rate': { env: 'STUB_ERROR_RATE', default: 0, kind: 'number', min: 0, max: 1, doc: 'fraction of requests answered with --error-status' },
  'error-status': { env: 'STUB_ERROR_STATUS', default: 503, kind: 'int', min: 400, max: 599, doc: 'status of injected failures (429 adds Retry-After)' },
  'hang-rate': { env: 'STUB_HANG_RATE', default: 0, kind: 'number', min: 0, max: 1, doc: 'fraction of requests held for --hang-ms (timeouts)' },
  'hang-ms': { env: 'STUB_HANG_MS', default: 10000, kind: 'number', min: 0, doc: 'how long a hung request is held before it is answered' },
  groups: { env: 'STUB_GROUPS', default: 25, kind: 'int', min: 0, max: 10000, doc: 'groups per user on /api/v1/users/:id/groups' },
  'page-size': { env: 'STUB_PAGE_SIZE', default: 20, kind: 'int', min: 1, max: 10000, doc: 'default page size of the groups API (?limit= overrides)' },
  'require-auth': { env: 'STUB_REQUIRE_AUTH', default: '', kind: 'string', doc: 'exact Authorization header required (e.g. "SSWS token"); empty = none' },
  'max-seconds': { env: 'STUB_MAX_SECONDS', default: 0, kind: 'number', min: 0, doc: 'stop after this many seconds (0 = run until SIGINT/SIGTERM)' },
  seed: { env: 'STUB_SEED', default: '', kind: 'string', doc: 'seed for latency/failure draws, for reproducible runs; empty = random' },
};

class UsageError extends Error {}

function coerce(name, spec, raw) {
  if (spec.kind === 'string') return raw;
  const value = Number(raw);
  const bad =
    raw.trim() === '' ||
    !Number.isFinite(value) ||
    (spec.kind === 'int' && !Number.isInteger(value)) ||
    (spec.min !== undefined && value < spec.min) ||
    (spec.max !== undefined && value > spec.max);
  if (bad) {
    const range = [spec.min !== undefined ? `>= ${spec.min}` : '', spec.max !== undefined ? `<= ${spec.max}` : ''].filter(Boolean).join(' and ');
    throw new UsageError(`--${name} must be ${spec.kind === 'int' ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}, got "${raw}"`);
  }
  return value;
}

/** Flags win over STUB_* env vars, which win over defaults. */
function parseOptions(argv, env) {
  const options = {};
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const raw = env[spec.env];
    options[name] = raw === undefined || raw === '' ? spec.default : coerce(name, spec, raw);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return { help: true };
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = OPTIONS[name];
    if (spec === undefined) throw new UsageError(`unknown option --${name}`);
    let raw;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else {
      raw = argv[i + 1];
      i++;
      if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    }
    options[name] = coerce(name, spec, raw);
  }
  return options;
}

function usage() {
  const lines = ['usage: node load-tests/stub-upstream.js [--option value ...]', ''];
  for (const [name, spec] of Object.entries(OPTIONS)) {
    lines.push(`  --${name.padEnd(13)} ${spec.env.padEnd(18)} ${spec.doc} (default: ${JSON.stringify(spec.default)})`);
  }
  return lines.join('\n');
}

/** mulberry32: small, fast, seedable; Math.random when no seed is given. */
function makeRandom(seed) {
  if (seed === '' || seed === undefined) return Math.random;
  let state = 0;
  for (const ch of String(seed)) state = (Math.imul(state, 31) + ch.charCodeAt(0)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Stable small hash of a string, so the same user always gets the same data. */
function hash(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

const TIERS = ['bronze', 'silver', 'gold', 'platinum'];
const ENTITLEMENTS = ['patients:read', 'patients:write', 'billing:read', 'reports:export', 'admin:audit', 'scheduling:manage'];
const GROUP_EPOCH = '2024-06-01T09:00:00.000Z';

function entitlementsFor(userId) {
  const h = hash(userId);
  return {
    userId,
    tier: TIERS[h % TIERS.length],
    entitlements: ENTITLEMENTS.filter((_, i) => ((h >>> i) & 1) === 1),
    costCenter: `CC-${1000 + (h % 9000)}`,
  };
}

function groupId(userId, index) {
  // Okta group ids are 20 characters starting with 00g.
  const suffix = (hash(`${userId}/${index}`).toString(36) + index.toString(36) + '00000000000000000').slice(0, 17);
  return `00g${suffix}`;
}

function groupFor(baseUrl, userId, index) {
  const id = groupId(userId, index);
  const name = index === 0 ? 'Everyone' : `load-group-${String(index).padStart(4, '0')}`;
  return {
    id,
    created: GROUP_EPOCH,
    lastUpdated: GROUP_EPOCH,
    lastMembershipUpdated: GROUP_EPOCH,
    objectClass: ['okta:user_group'],
    type: index === 0 ? 'BUILT_IN' : 'OKTA_GROUP',
    profile: { name, description: index === 0 ? 'All users in your organization' : `Synthetic group ${index}` },
    _links: {
      logo: [{ name: 'medium', href: 'https://op1static.oktacdn.example/assets/img/logos/groups/okta-medium.png', type: 'image/png' }],
      users: { href: `${baseUrl}/api/v1/groups/${id}/users` },
      apps: { href: `${baseUrl}/api/v1/groups/${id}/apps` },
    },
  };
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function oktaError(code, summary) {
  return { errorCode: code, errorSummary: summary, errorLink: code, errorId: 'oaeStubUpstream0000000', errorCauses: [] };
}

/**
 * Builds the stub server (not yet listening). `options` uses the flag names; `stats` is live.
 */
function createStubUpstream(options) {
  const random = makeRandom(options.seed);
  const pending = new Set();
  const stats = { requests: 0, answered: 0, injectedErrors: 0, injectedHangs: 0, notFound: 0, unauthorized: 0, byRoute: { entitlements: 0, groups: 0, other: 0 } };

  function delayFor() {
    const jitter = options['jitter-ms'];
    const delay = options['latency-ms'] + (jitter > 0 ? (random() * 2 - 1) * jitter : 0);
    return Math.max(0, delay);
  }

  function later(ms, fn) {
    if (ms <= 0) return fn();
    const timer = setTimeout(() => {
      pending.delete(timer);
      fn();
    }, ms);
    pending.add(timer);
  }

  function route(req, url) {
    const path = url.pathname;
    let match = /^\/users\/([^/]+)\/entitlements\/?$/.exec(path);
    if (match) return { name: 'entitlements', userId: decodeURIComponent(match[1]) };
    match = /^\/api\/v1\/users\/([^/]+)\/groups\/?$/.exec(path);
    if (match) return { name: 'groups', userId: decodeURIComponent(match[1]) };
    return { name: 'other' };
  }

  function answer(req, res, url, target) {
    stats.answered++;
    if (target.name === 'other') return sendJson(res, 404, oktaError('E0000022', `The endpoint does not support the provided HTTP method or path: ${url.pathname}`));
    if (target.userId.includes('notfound')) {
      stats.notFound++;
      return sendJson(res, 404, oktaError('E0000007', `Not found: Resource not found: ${target.userId} (User)`));
    }
    if (target.name === 'entitlements') return sendJson(res, 200, entitlementsFor(target.userId));

    const baseUrl = `http://${req.headers.host || `${options.host}:${options.port}`}`;
    const total = options.groups;
    const limitRaw = url.searchParams.get('limit');
    const limit = limitRaw !== null && /^\d+$/.test(limitRaw) && Number(limitRaw) > 0 ? Math.min(Number(limitRaw), 10000) : options['page-size'];
    const afterRaw = url.searchParams.get('after');
    let start = 0;
    if (afterRaw !== null) {
      // The cursor is the id of the last group of the previous page, as in Okta.
      const found = Array.from({ length: total }, (_, i) => i).find((i) => groupId(target.userId, i) === afterRaw);
      if (found === undefined) return sendJson(res, 400, oktaError('E0000001', 'Api validation failed: after'));
      start = found + 1;
    }
    const end = Math.min(total, start + limit);
    const page = [];
    for (let i = start; i < end; i++) page.push(groupFor(baseUrl, target.userId, i));
    const self = `${baseUrl}${url.pathname}${url.search}`;
    const links = [`<${self}>; rel="self"`];
    if (end < total) {
      const nextUrl = `${baseUrl}${url.pathname}?limit=${limit}&after=${encodeURIComponent(groupId(target.userId, end - 1))}`;
      links.push(`<${nextUrl}>; rel="next"`);
    }
    return sendJson(res, 200, page, { Link: links.join(', ') });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url || '/', 'http://stub.invalid');
    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (url.pathname === '/stats') return sendJson(res, 200, stats);
    stats.requests++;
    const target = route(req, url);
    stats.byRoute[target.name]++;
    if (req.method !== 'GET') return sendJson(res, 405, oktaError('E0000022', `The endpoint does not support the provided HTTP method: ${req.method}`), { Allow: 'GET' });
    if (options['require-auth'] !== '' && req.headers.authorization !== options['require-auth']) {
      stats.unauthorized++;
      return sendJson(res, 401, oktaError('E0000011', 'Invalid token provided'));
    }
    // Draw failure and latency in a fixed order so a seeded run is reproducible.
    const hang = options['hang-rate'] > 0 && random() < options['hang-rate'];
    const failure = options['error-rate'] > 0 && random() < options['error-rate'];
    const delay = hang ? options['hang-ms'] : delayFor();
    if (hang) stats.injectedHangs++;
    later(delay, () => {
      if (res.destroyed) return;
      // The latency this answer was given (the draw, not the wall time), so a test can check the draws without timing them.
      res.setHeader('X-Stub-Delay-Ms', delay.toFixed(1));
      if (failure) {
        stats.injectedErrors++;
        const status = options['error-status'];
        return sendJson(res, status, oktaError(status === 429 ? 'E0000047' : 'E0000009', status === 429 ? 'API call exceeded rate limit due to too many requests.' : 'Internal Server Error'), status === 429 ? { 'Retry-After': '1' } : {});
      }
      return answer(req, res, url, target);
    });
  });

  /** Stops answering, drops held requests and idle keep-alive connections. */
  function stop() {
    for (const timer of pending) clearTimeout(timer);
    pending.clear();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  return { server, stats, stop };
}

function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`stub-upstream: ${err.message}\n${usage()}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (options.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const stub = createStubUpstream(options);
  let stopping = false;
  const shutdown = (reason) => {
    if (stopping) return;
    stopping = true;
    stub.stop().then(() => {
      process.stdout.write(`${JSON.stringify({ event: 'stopped', reason, stats: stub.stats })}\n`);
      process.exit(0);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  stub.server.on('error', (err) => {
    process.stderr.write(`stub-upstream: ${err.message}\n`);
    process.exit(1);
  });
  stub.server.listen(options.port, options.host, () => {
    const address = stub.server.address();
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const shown = { ...options, 'require-auth': options['require-auth'] === '' ? '' : '(set)' };
    process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://${host}:${address.port}`, options: shown })}\n`);
    if (options['max-seconds'] > 0) setTimeout(() => shutdown('max-seconds'), options['max-seconds'] * 1000).unref();
  });
}

module.exports = { createStubUpstream, parseOptions, UsageError, OPTIONS };

if (require.main === module) main();

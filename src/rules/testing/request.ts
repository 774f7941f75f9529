/**
 * Test requests: a payload (a file or a built-in template) with overrides written as the paths
 * rules read (`client.id`, `user.profile.department`, `scopes`, `grantType`, `session.amr`,
 * `identity.employee_profile`, `params.clinic_hint`...), so a test reads like the rule it tests.
 * A `null` override deletes the field (`session: null`, `identity: null` for "no ID token").
 */
import type { TokenHookEvent } from '../../hook/types';
import { cloneJson, isJsonObject } from '../../shared/values';

export type PathSegment = string | number;

export class OverrideError extends Error {}

/** `user.profile.department`, `access["https://example.com/claims/tier"]`, `session.amr[0]`. */
export function parseOverridePath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new OverrideError(`"${path}": ${why} (write paths as a.b.c, with ["..."] for names that contain dots or slashes)`);
  };
  while (i < path.length) {
    if (path[i] === '[') {
      const end = path.indexOf(']', i);
      if (end === -1) fail('unclosed [');
      const inner = path.slice(i + 1, end).trim();
      if (/^\d+$/.test(inner)) segments.push(Number(inner));
      else if (/^"(?:[^"\\]|\\.)*"$/.test(inner) || /^'[^']*'$/.test(inner)) segments.push(inner.startsWith('"') ? (JSON.parse(inner) as string) : inner.slice(1, -1));
      else fail(`[${inner}] is neither an index nor a quoted name`);
      i = end + 1;
      if (path[i] === '.') i++;
      continue;
    }
    const match = /^[^.[\]]+/.exec(path.slice(i));
    if (!match) fail('empty segment');
    segments.push((match as RegExpExecArray)[0]);
    i += (match as RegExpExecArray)[0].length;
    if (path[i] === '.') {
      i++;
      if (i === path.length) fail('ends with a dot');
    }
  }
  if (segments.length === 0) fail('empty path');
  return segments;
}

/** Where each first segment lives in the payload: the same names as the CEL variables. */
const ROOTS: Record<string, PathSegment[]> = {
  event: [],
  request: ['data', 'context', 'request'],
  protocol: ['data', 'context', 'protocol', 'request'],
  client: ['data', 'context', 'protocol', 'client'],
  user: ['data', 'context', 'user'],
  session: ['data', 'context', 'session'],
  policy: ['data', 'context', 'policy'],
  identity: ['data', 'identity', 'claims'],
  id: ['data', 'identity', 'claims'],
  access: ['data', 'access', 'claims'],
};

export const OVERRIDE_ROOTS = [...Object.keys(ROOTS), 'issuer', 'grantType', 'scopes', 'requestedScopes', 'params'];

function setAt(target: Record<string, unknown>, path: PathSegment[], value: unknown): void {
  let node: unknown = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as PathSegment;
    const container = node as Record<string | number, unknown>;
    let next = container[key];
    if (next === undefined || next === null) {
      if (value === null) return; // deleting under something absent: nothing to do
      next = typeof path[i + 1] === 'number' ? [] : {};
      container[key] = next;
    }
    if (typeof next !== 'object') throw new OverrideError(`cannot set a field inside ${JSON.stringify(next)}`);
    node = next;
  }
  const last = path.at(-1) as PathSegment;
  const container = node as Record<string | number, unknown>;
  if (value === null && !Array.isArray(container)) delete container[last];
  else container[last] = cloneJson(value);
}

function protocolRequest(event: TokenHookEvent): Record<string, unknown> {
  const data = event.data as Record<string, unknown>;
  const context = (data.context ??= {}) as Record<string, unknown>;
  const protocol = (context.protocol ??= {}) as Record<string, unknown>;
  return (protocol.request ??= {}) as Record<string, unknown>;
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string')) throw new OverrideError(`${what} must be a list of strings`);
  return value as string[];
}

function setParam(event: TokenHookEvent, name: string, value: unknown): void {
  const data = event.data as Record<string, unknown>;
  const context = (data.context ??= {}) as Record<string, unknown>;
  const request = (context.request ??= {}) as Record<string, unknown>;
  const url = (request.url ??= {}) as Record<string, unknown>;
  const parsed = new URL(typeof url.value === 'string' && url.value ? url.value : 'https://example.okta.com/oauth2/default/v1/authorize');
  if (value === null) parsed.searchParams.delete(name);
  else parsed.searchParams.set(name, String(value));
  url.value = parsed.toString();
}

/** Applies one override (mutates `event`). */
export function applyOverride(event: TokenHookEvent, path: string, value: unknown): void {
  const segments = parseOverridePath(path);
  const [root, ...rest] = segments;
  const root0 = String(root);
  switch (root0) {
    case 'issuer':
      if (rest.length > 0) throw new OverrideError(`"${path}": issuer is a string`);
      setAt(event as unknown as Record<string, unknown>, ['data', 'context', 'protocol', 'issuer', 'uri'], value);
      return;
    case 'grantType':
      if (rest.length > 0) throw new OverrideError(`"${path}": grantType is a string`);
      if (value === null) delete protocolRequest(event).grant_type;
      else protocolRequest(event).grant_type = value;
      return;
    case 'scopes': {
      // Granted scopes are the keys of data.access.scopes; the request's scope string follows them.
      const scopes = stringList(value, 'scopes');
      const data = event.data as Record<string, unknown>;
      const access = (data.access ??= { claims: {} }) as Record<string, unknown>;
      access.scopes = Object.fromEntries(scopes.map((s, i) => [s, { id: `scpTest${String(i).padStart(4, '0')}`, action: 'GRANT' }]));
      protocolRequest(event).scope = scopes.join(' ');
      return;
    }
    case 'requestedScopes':
      protocolRequest(event).scope = stringList(value, 'requestedScopes').join(' ');
      return;
    case 'params':
      if (rest.length !== 1) throw new OverrideError(`"${path}": write params.<name>`);
      setParam(event, String(rest[0]), value);
      return;
    default:
      break;
  }
  const base = ROOTS[root0];
  if (!base) throw new OverrideError(`"${path}": unknown root "${root0}" (use one of ${OVERRIDE_ROOTS.join(', ')})`);
  if ((root0 === 'identity' || root0 === 'id' || root0 === 'access') && rest.length === 0) {
    // `identity: null`: no ID token is minted; `access: {...}`: replace the claims.
    const kind = root0 === 'access' ? 'access' : 'identity';
    if (value === null) delete event.data[kind];
    else if (!isJsonObject(value)) throw new OverrideError(`"${path}" must be a mapping of claims or null`);
    else setAt(event as unknown as Record<string, unknown>, ['data', kind, 'claims'], value);
    return;
  }
  if (rest.length === 0 && value !== null && !isJsonObject(value)) throw new OverrideError(`"${path}" must be a mapping or null`);
  if (root0 === 'client' && rest.length === 1 && rest[0] === 'id' && typeof value === 'string') protocolRequest(event).client_id = value;
  setAt(event as unknown as Record<string, unknown>, [...base, ...rest], value);
}

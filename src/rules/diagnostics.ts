/**
 * Static checks of rule expressions against what Okta sends, beyond CEL's own type check (which
 * sees most variables as `dyn`):
 * - the fields of the known objects (`client`, `session`, `user`, `request`, `protocol`, `policy`)
 *   from the contract reference and the fixtures: `client.idd` is an error with "did you mean";
 *   open maps stay open (`user.profile`, `identity`/`access` claims, `params`, `event`, lookups);
 * - comparisons of closed-set values (`grantType`, `client.type`, `session.status`...) with a
 *   literal outside the set;
 * - conditions that can never be true (warnings).
 * Pure; positions are offsets into the expression, turned into line/column by the loader.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import type { CompiledExpression } from './cel';
import { closest, didYouMean } from '../shared/values';

export type Shape =
  | { kind: 'object'; fields: Readonly<Record<string, Shape>>; note?: string }
  | { kind: 'open' }
  | { kind: 'string'; values?: readonly string[] }
  | { kind: 'other' };

const OPEN: Shape = { kind: 'open' };
const OTHER: Shape = { kind: 'other' };
const STRING: Shape = { kind: 'string' };
const closedString = (values: readonly string[]): Shape => ({ kind: 'string', values });
const object = (fields: Record<string, Shape>, note?: string): Shape => (note ? { kind: 'object', fields, note } : { kind: 'object', fields });

/** `protocol.request.grant_type` (Okta's GrantType enum). */
export const GRANT_TYPES = [
  'authorization_code',
  'client_credentials',
  'implicit',
  'interaction_code',
  'password',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:ietf:params:oauth:grant-type:saml2-bearer',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:openid:params:grant-type:ciba',
  'urn:okta:params:oauth:grant-type:otp',
  'urn:okta:params:oauth:grant-type:oob',
  'http://auth0.com/oauth/grant-type/mfa-otp',
  'http://auth0.com/oauth/grant-type/mfa-oob',
] as const;

const PROTOCOL_REQUEST = object({
  client_id: STRING,
  scope: STRING,
  state: STRING,
  redirect_uri: STRING,
  response_mode: closedString(['form_post', 'fragment', 'okta_post_message', 'query']),
  response_type: STRING,
  grant_type: closedString(GRANT_TYPES),
});

/** What each request variable holds (contract §1.4, fixtures). `event` is the raw payload: open, the escape hatch. */
export const VARIABLE_SHAPES: Readonly<Record<string, Shape>> = {
  event: OPEN,
  request: object({ id: STRING, method: closedString(['GET', 'POST']), url: object({ value: STRING }), ipAddress: STRING }),
  params: OPEN,
  protocol: PROTOCOL_REQUEST,
  client: object({ id: STRING, name: STRING, type: closedString(['PUBLIC', 'CONFIDENTIAL']) }),
  issuer: STRING,
  grantType: closedString(GRANT_TYPES),
  scopes: OTHER,
  requestedScopes: OTHER,
  user: object(
    {
      id: STRING,
      passwordChanged: STRING,
      profile: OPEN,
      _links: object({ groups: object({ href: STRING }), factors: object({ href: STRING }) }),
    },
    'profile attributes are under user.profile (Okta sends login, firstName, lastName, locale, timeZone; others need a lookup)',
  ),
  session: object({
    id: STRING,
    userId: STRING,
    login: STRING,
    createdAt: STRING,
    expiresAt: STRING,
    status: closedString(['ACTIVE', 'MFA_ENROLL', 'MFA_REQUIRED']),
    lastPasswordVerification: STRING,
    lastFactorVerification: STRING,
    amr: OTHER,
    idp: object({ id: STRING, type: closedString(['OKTA', 'ACTIVE_DIRECTORY', 'LDAP', 'FEDERATION', 'SOCIAL']) }),
    mfaActive: OTHER,
  }),
  identity: OPEN,
  access: OPEN,
  policy: object({ id: STRING, rule: object({ id: STRING }) }),
  lookup: OPEN,
};

/** Where each known object sits in the raw payload (`event`), for fields newer than this release. */
const RAW_PATHS: Readonly<Record<string, string>> = {
  request: 'event.data.context.request',
  protocol: 'event.data.context.protocol.request',
  client: 'event.data.context.protocol.client',
  user: 'event.data.context.user',
  session: 'event.data.context.session',
  policy: 'event.data.context.policy',
};

export interface Finding {
  severity: 'error' | 'warning';
  message: string;
  /** 0-based offset in the expression source. */
  offset?: number;
  /** Characters to underline from `offset`. */
  length?: number;
}

interface Chain {
  root: string;
  path: string[];
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && typeof (value as { op?: unknown }).op === 'string';
}

const pos = (node: ASTNode): { start: number; end: number } => {
  const n = node as unknown as { start?: number; end?: number; pos?: number };
  const start = n.start ?? n.pos ?? 0;
  return { start, end: n.end ?? start };
};

/** `client.id`, `client["type"]`, `client.?id` down to a variable; undefined for anything else. */
function chainOf(node: unknown): Chain | undefined {
  if (!isNode(node)) return undefined;
  if (node.op === 'id') return typeof node.args === 'string' ? { root: node.args, path: [] } : undefined;
  if (node.op === '.' || node.op === '.?' || node.op === '[]' || node.op === '[?]') {
    const [target, key] = node.args as [unknown, unknown];
    const field = node.op === '.' || node.op === '.?' ? key : isNode(key) && key.op === 'value' && typeof key.args === 'string' ? key.args : undefined;
    if (typeof field !== 'string') return undefined;
    const inner = chainOf(target);
    return inner ? { root: inner.root, path: [...inner.path, field] } : undefined;
  }
  return undefined;
}

const chainText = (chain: Chain): string => [chain.root, ...chain.path].join('.');

function shapeOf(chain: Chain): Shape | undefined {
  let shape = VARIABLE_SHAPES[chain.root];
  for (const field of chain.path) {
    if (!shape) return undefined;
    if (shape.kind === 'open') return OPEN;
    if (shape.kind !== 'object') return undefined;
    shape = shape.fields[field];
  }
  return shape;
}

const literalString = (node: unknown): string | undefined => (isNode(node) && node.op === 'value' && typeof node.args === 'string' ? node.args : undefined);

function closedSetFinding(chain: Chain, values: readonly string[], literal: string, node: ASTNode, consequence: string): Finding | undefined {
  if (values.includes(literal)) return undefined;
  const { start, end } = pos(node);
  return {
    severity: 'error',
    message: `${chainText(chain)} is never "${literal}"${didYouMean(literal, values)} (${chainText(chain)} is one of: ${values.join(', ')})${consequence}`,
    offset: start,
    length: Math.max(1, end - start),
  };
}

/** Unknown fields of known objects and closed-set comparisons, anywhere in the expression. */
export function checkExpression(expression: CompiledExpression): Finding[] {
  const findings: Finding[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (!isNode(node)) return;
    if (node.op === '.' || node.op === '.?' || node.op === '[]' || node.op === '[?]') {
      const chain = chainOf(node);
      if (chain && chain.path.length > 0) {
        const parent = { root: chain.root, path: chain.path.slice(0, -1) };
        const parentShape = shapeOf(parent);
        const field = chain.path.at(-1) as string;
        if (parentShape?.kind === 'object' && !(field in parentShape.fields)) {
          const fields = Object.keys(parentShape.fields);
          const { end } = pos(node);
          const where = chainText(parent);
          const suggestion = closest(field, fields);
          const note = parentShape.note && !suggestion ? `; ${parentShape.note}` : '';
          const raw = RAW_PATHS[parent.root];
          const escape = raw && !suggestion ? `; a field Okta sends that this release does not know can be read as ${[raw, ...parent.path].join('.')}[${JSON.stringify(field)}]` : '';
          findings.push({
            severity: 'error',
            message: `${where} has no field "${field}"${didYouMean(field, fields)} (${where} has ${fields.join(', ')}${note}${escape})`,
            offset: end - field.length - (node.op === '[]' || node.op === '[?]' ? 2 : 0),
            length: field.length,
          });
        }
      }
    }
    if (node.op === '==' || node.op === '!=') {
      const [a, b] = node.args as [unknown, unknown];
      for (const [side, other] of [
        [a, b],
        [b, a],
      ] as const) {
        const chain = chainOf(side);
        const literal = literalString(other);
        const shape = chain ? shapeOf(chain) : undefined;
        if (chain && literal !== undefined && shape?.kind === 'string' && shape.values) {
          const finding = closedSetFinding(chain, shape.values, literal, other as ASTNode, `, so this comparison is always ${node.op === '==' ? 'false' : 'true'}`);
          if (finding) findings.push(finding);
        }
      }
    }
    if (node.op === 'in') {
      const [item, list] = node.args as [unknown, unknown];
      const chain = chainOf(item);
      const shape = chain ? shapeOf(chain) : undefined;
      if (chain && shape?.kind === 'string' && shape.values && isNode(list) && list.op === 'list') {
        for (const element of list.args as unknown[]) {
          const literal = literalString(element);
          if (literal === undefined) continue;
          const finding = closedSetFinding(chain, shape.values, literal, element as ASTNode, '');
          if (finding) findings.push(finding);
        }
      }
    }
    visit(node.args);
  };
  visit(expression.run.ast);
  return findings;
}

/** The `&&` conjuncts of a condition. */
function conjuncts(node: unknown): unknown[] {
  if (isNode(node) && node.op === '&&') return (node.args as unknown[]).flatMap(conjuncts);
  return [node];
}

const NO_CLIENT_CREDENTIALS_USER = new Set(['user', 'session', 'identity']);

/** A condition that cannot be true for any request Okta sends; undefined when it can (or we cannot tell). */
export function neverMatches(when: CompiledExpression): string | undefined {
  if (when.references.variables.size === 0) {
    try {
      if (when.run({}) === false) return 'the condition is always false';
    } catch {
      return undefined;
    }
    return undefined;
  }
  const equal = new Map<string, string>();
  let clientCredentials = false;
  let needsUser: string | undefined;
  for (const part of conjuncts(when.run.ast)) {
    if (!isNode(part)) continue;
    if (part.op === '==') {
      const [a, b] = part.args as [unknown, unknown];
      const chain = chainOf(a) ?? chainOf(b);
      const literal = literalString(b) ?? literalString(a);
      if (chain && literal !== undefined) {
        const text = chainText(chain);
        const previous = equal.get(text);
        if (previous !== undefined && previous !== literal) return `${text} cannot be both "${previous}" and "${literal}"`;
        equal.set(text, literal);
        if ((text === 'grantType' || text === 'protocol.grant_type') && literal === 'client_credentials') clientCredentials = true;
      }
    }
    if (part.op === '!=') {
      const [a, b] = part.args as [unknown, unknown];
      const chain = chainOf(a);
      if (chain && chain.path.length === 0 && NO_CLIENT_CREDENTIALS_USER.has(chain.root) && isNode(b) && b.op === 'value' && b.args === null) needsUser = chain.root;
    }
  }
  if (clientCredentials && needsUser) return `client_credentials calls carry no user, session or ID token, so ${needsUser} != null is never true with grantType == "client_credentials"`;
  return undefined;
}

/** True when the condition holds for every request (no `when`, or a constant true). */
export function alwaysMatches(when: CompiledExpression | undefined): boolean {
  if (!when) return true;
  if (when.references.variables.size > 0) return false;
  try {
    return when.run({}) === true;
  } catch {
    return false;
  }
}

/** Whether the condition requires a client-credentials call (no ID token is minted then). */
export function requiresClientCredentials(when: CompiledExpression | undefined): boolean {
  if (!when) return false;
  return conjuncts(when.run.ast).some((part) => {
    if (!isNode(part) || part.op !== '==') return false;
    const [a, b] = part.args as [unknown, unknown];
    const chain = chainOf(a) ?? chainOf(b);
    const text = chain ? chainText(chain) : '';
    return (text === 'grantType' || text === 'protocol.grant_type') && (literalString(b) ?? literalString(a)) === 'client_credentials';
  });
}

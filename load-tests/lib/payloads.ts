/**
 * The payload mix: realistic Okta token hook requests built from the JSON templates in
 * `load-tests/payloads/`, weighted like a production login mix, each with a fresh eventId.
 *
 * Pure module (no k6 imports, no relative imports) so jest can test it and k6 can run it.
 * Templates are compiled once into literal parts and slots, so one iteration costs a string
 * join instead of a JSON parse + stringify of a 5 KB document.
 */

export const TOKEN_HOOK_EVENT_TYPE = 'com.okta.oauth2.tokens.transform';

/** One kind per template file `load-tests/payloads/<kind>.json`. */
export const PAYLOAD_KINDS = [
  'authcode-full',
  'refresh',
  'client-credentials',
  'authcode-access-only',
  'implicit',
  'preview',
] as const;
export type PayloadKind = (typeof PAYLOAD_KINDS)[number];

/** What each kind stands for (README and summary use these). */
export const PAYLOAD_DESCRIPTIONS: Readonly<Record<PayloadKind, string>> = {
  'authcode-full': 'authorization code + PKCE at /authorize: ID + access token + refresh_token',
  refresh: 'refresh_token grant at /token with protocol.OriginalGrant',
  'client-credentials': 'client_credentials at /token: access token only, no user/session/identity',
  'authcode-access-only': 'authorization code with a custom scope only (no openid): access token only',
  implicit: "implicit flow, response_type 'token id_token'",
  preview: 'Admin Console Preview-style request: user but no session and no identity',
};

/** Default weights (percent) of a login-heavy production mix. */
export const DEFAULT_MIX: Readonly<Record<PayloadKind, number>> = {
  'authcode-full': 40,
  refresh: 30,
  'client-credentials': 15,
  'authcode-access-only': 5,
  implicit: 5,
  preview: 5,
};

export type Weights = Record<PayloadKind, number>;

export interface TokenHookEventLike {
  eventId?: unknown;
  eventType?: unknown;
  data?: { identity?: unknown; access?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

/** Which tokens a request carried: the hook may only patch those. */
export interface SentTokens {
  identity: boolean;
  access: boolean;
}

export interface PreparedPayload {
  kind: PayloadKind;
  eventId: string;
  /** The JSON request body, ready to send. */
  body: string;
  tokens: SentTokens;
}

export interface NextContext {
  /** Globally unique VU id (k6 `exec.vu.idInTest`), 1-based. */
  vuId: number;
  /** Iteration number of this VU (k6 `exec.vu.iterationInScenario`). */
  vuIteration: number;
  /** Iteration number across the whole test (k6 `exec.scenario.iterationInTest`). */
  testIteration: number;
  /** Epoch milliseconds for eventTime. */
  now: number;
  /** Uniform [0, 1) source (Math.random in k6, seeded in tests). */
  random: () => number;
}

export interface MixOptions {
  weights?: Weights;
  /** Number of distinct synthetic users to spread user-bearing payloads over; 0 keeps the template's user. */
  userPoolSize?: number;
}

export interface PayloadMix {
  readonly weights: Readonly<Weights>;
  /** Kinds with a weight above zero, in PAYLOAD_KINDS order. */
  readonly activeKinds: readonly PayloadKind[];
  readonly userPoolSize: number;
  /** Picks a kind: the first iterations of a test cover every active kind once, then weighted random. */
  pickKind(testIteration: number, random: () => number): PayloadKind;
  build(kind: PayloadKind, fields: { eventId: string; eventTime: string; userIndex?: number }): PreparedPayload;
  next(ctx: NextContext): PreparedPayload;
}

/** Parses `PAYLOAD_MIX` like `authcode-full=40,refresh=30`; kinds not named get weight 0. Empty: DEFAULT_MIX. */
export function parseMix(spec: string | undefined): Weights {
  const weights: Weights = { ...DEFAULT_MIX };
  if (spec === undefined || spec.trim() === '') return weights;
  for (const kind of PAYLOAD_KINDS) weights[kind] = 0;
  for (const item of spec.split(',')) {
    const entry = item.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`PAYLOAD_MIX entry "${entry}" must look like kind=weight`);
    const kind = entry.slice(0, eq).trim();
    const weight = Number(entry.slice(eq + 1).trim());
    if (!isPayloadKind(kind)) {
      throw new Error(`PAYLOAD_MIX: unknown payload kind "${kind}" (known: ${PAYLOAD_KINDS.join(', ')})`);
    }
    if (!Number.isFinite(weight) || weight < 0) {
      throw new Error(`PAYLOAD_MIX: weight of "${kind}" must be a number >= 0`);
    }
    weights[kind] = weight;
  }
  if (PAYLOAD_KINDS.every((kind) => weights[kind] === 0)) {
    throw new Error('PAYLOAD_MIX: at least one payload kind needs a weight above 0');
  }
  return weights;
}

export function isPayloadKind(value: string): value is PayloadKind {
  return (PAYLOAD_KINDS as readonly string[]).indexOf(value) !== -1;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Unpadded base64url of a byte array (k6 has no Buffer; `k6/encoding` is not available to jest). */
export function base64url(bytes: readonly number[]): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += BASE64URL.charAt((n >> 18) & 63) + BASE64URL.charAt((n >> 12) & 63) + BASE64URL.charAt((n >> 6) & 63) + BASE64URL.charAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] ?? 0) << 16;
    out += BASE64URL.charAt((n >> 18) & 63) + BASE64URL.charAt((n >> 12) & 63);
  } else if (rest === 2) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += BASE64URL.charAt((n >> 18) & 63) + BASE64URL.charAt((n >> 12) & 63) + BASE64URL.charAt((n >> 6) & 63);
  }
  return out;
}

/**
 * A 22-character base64url eventId (16 bytes, like Okta's). Nine random bytes keep ids distinct
 * across runs (the service may use eventId as a dedupe key); three bytes of VU id and four of
 * iteration make them unique within a run by construction.
 */
export function makeEventId(vuId: number, vuIteration: number, random: () => number): string {
  const bytes: number[] = [];
  for (let i = 0; i < 9; i++) bytes.push(Math.floor(random() * 256) & 0xff);
  const vu = vuId >>> 0;
  const iter = vuIteration >>> 0;
  bytes.push((vu >>> 16) & 0xff, (vu >>> 8) & 0xff, vu & 0xff);
  bytes.push((iter >>> 24) & 0xff, (iter >>> 16) & 0xff, (iter >>> 8) & 0xff, iter & 0xff);
  return base64url(bytes);
}

export interface SyntheticUser {
  id: string;
  login: string;
}

/** Deterministic synthetic user number `index`: an Okta-shaped 20-char id (`00u` + 17) and an example.com login. */
export function syntheticUser(index: number): SyntheticUser {
  const digits = String(Math.max(0, Math.floor(index)));
  const id = '00uload' + '0000000000000'.slice(digits.length) + digits;
  return { id: id.slice(0, 20), login: `load.user${digits}@example.com` };
}

type Slot = 'EVENT_ID' | 'EVENT_TIME' | 'USER_ID' | 'USER_LOGIN';
const SENTINEL = (slot: Slot): string => `@@${slot}@@`;
const SLOT_PATTERN = /@@(EVENT_ID|EVENT_TIME|USER_ID|USER_LOGIN)@@/;

interface CompiledTemplate {
  kind: PayloadKind;
  /** literals[0] slot[0] literals[1] slot[1] ... literals[n] */
  literals: string[];
  slots: Slot[];
  tokens: SentTokens;
  personalized: boolean;
  user: SyntheticUser | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function replaceStrings(value: unknown, replace: (s: string) => string): unknown {
  if (typeof value === 'string') return replace(value);
  if (Array.isArray(value)) return value.map((item) => replaceStrings(item, replace));
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = replaceStrings(value[key], replace);
    return out;
  }
  return value;
}

/** Checks the envelope every Okta token hook call has; throws with the template's kind on failure. */
export function assertTokenHookEvent(kind: string, event: unknown): asserts event is TokenHookEventLike {
  if (!isRecord(event)) throw new Error(`payload template ${kind}: not a JSON object`);
  if (event.eventType !== TOKEN_HOOK_EVENT_TYPE) throw new Error(`payload template ${kind}: eventType must be ${TOKEN_HOOK_EVENT_TYPE}`);
  if (!isRecord(event.data) || !isRecord(event.data.context)) throw new Error(`payload template ${kind}: data.context missing`);
  if (!isRecord(event.data.access) && !isRecord(event.data.identity)) {
    throw new Error(`payload template ${kind}: carries neither data.access nor data.identity`);
  }
}

function compileTemplate(kind: PayloadKind, text: string, personalize: boolean): CompiledTemplate {
  const event: unknown = JSON.parse(text);
  assertTokenHookEvent(kind, event);
  const data = event.data as Record<string, unknown>;
  const context = data.context as Record<string, unknown>;
  const user = isRecord(context.user) ? context.user : undefined;
  const userId = user && typeof user.id === 'string' ? user.id : undefined;
  const profile = user && isRecord(user.profile) ? user.profile : undefined;
  const login = profile && typeof profile.login === 'string' ? profile.login : undefined;
  const personalized = personalize && userId !== undefined && login !== undefined;

  let shaped: Record<string, unknown> = { ...event };
  if (personalized && userId !== undefined && login !== undefined) {
    shaped = replaceStrings(shaped, (s) => s.split(userId).join(SENTINEL('USER_ID')).split(login).join(SENTINEL('USER_LOGIN'))) as Record<string, unknown>;
  }
  shaped.eventId = SENTINEL('EVENT_ID');
  shaped.eventTime = SENTINEL('EVENT_TIME');

  const pieces = JSON.stringify(shaped).split(SLOT_PATTERN);
  const literals: string[] = [];
  const slots: Slot[] = [];
  pieces.forEach((piece, i) => {
    if (i % 2 === 0) literals.push(piece);
    else slots.push(piece as Slot);
  });
  return {
    kind,
    literals,
    slots,
    tokens: { identity: isRecord(data.identity), access: isRecord(data.access) },
    personalized,
    user: userId !== undefined && login !== undefined ? { id: userId, login } : undefined,
  };
}

/**
 * Builds the mix from template texts (one JSON document per kind). Only kinds with a weight above
 * zero need a template.
 */
export function createPayloadMix(templates: Partial<Record<PayloadKind, string>>, options: MixOptions = {}): PayloadMix {
  const weights: Weights = { ...(options.weights ?? DEFAULT_MIX) };
  const userPoolSize = Math.max(0, Math.floor(options.userPoolSize ?? 0));
  const activeKinds = PAYLOAD_KINDS.filter((kind) => weights[kind] > 0);
  if (activeKinds.length === 0) throw new Error('payload mix: no kind has a weight above 0');

  const compiled: Partial<Record<PayloadKind, CompiledTemplate>> = {};
  for (const kind of activeKinds) {
    const text = templates[kind];
    if (text === undefined) throw new Error(`payload mix: no template for kind ${kind}`);
    compiled[kind] = compileTemplate(kind, text, userPoolSize > 0);
  }

  const total = activeKinds.reduce((sum, kind) => sum + weights[kind], 0);
  const cumulative: number[] = [];
  let running = 0;
  for (const kind of activeKinds) {
    running += weights[kind] / total;
    cumulative.push(running);
  }

  function pickKind(testIteration: number, random: () => number): PayloadKind {
    if (testIteration >= 0 && testIteration < activeKinds.length) return activeKinds[testIteration] as PayloadKind;
    const r = random();
    for (let i = 0; i < cumulative.length; i++) {
      if (r < (cumulative[i] as number)) return activeKinds[i] as PayloadKind;
    }
    return activeKinds[activeKinds.length - 1] as PayloadKind;
  }

  function build(kind: PayloadKind, fields: { eventId: string; eventTime: string; userIndex?: number }): PreparedPayload {
    const template = compiled[kind];
    if (template === undefined) throw new Error(`payload mix: kind ${kind} has weight 0 or no template`);
    const user = template.personalized ? syntheticUser(fields.userIndex ?? 0) : template.user;
    let body = template.literals[0] as string;
    for (let i = 0; i < template.slots.length; i++) {
      const slot = template.slots[i];
      if (slot === 'EVENT_ID') body += fields.eventId;
      else if (slot === 'EVENT_TIME') body += fields.eventTime;
      else if (slot === 'USER_ID') body += user ? user.id : '';
      else body += user ? user.login : '';
      body += template.literals[i + 1] as string;
    }
    return { kind, eventId: fields.eventId, body, tokens: template.tokens };
  }

  function next(ctx: NextContext): PreparedPayload {
    const kind = pickKind(ctx.testIteration, ctx.random);
    return build(kind, {
      eventId: makeEventId(ctx.vuId, ctx.vuIteration, ctx.random),
      eventTime: new Date(ctx.now).toISOString(),
      userIndex: userPoolSize > 0 ? Math.floor(ctx.random() * userPoolSize) : 0,
    });
  }

  return { weights, activeKinds, userPoolSize, pickKind, build, next };
}

/** Which tokens an event carries (for callers holding a parsed event rather than a PreparedPayload). */
export function sentTokensOf(event: TokenHookEventLike): SentTokens {
  return { identity: isRecord(event.data?.identity), access: isRecord(event.data?.access) };
}

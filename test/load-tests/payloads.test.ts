import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_MIX,
  PAYLOAD_KINDS,
  base64url,
  createPayloadMix,
  makeEventId,
  parseMix,
  syntheticUser,
  type PayloadKind,
  type PreparedPayload,
} from '../../load-tests/lib/payloads';

const payloadsDir = join(__dirname, '..', '..', 'load-tests', 'payloads');
const templates = Object.fromEntries(PAYLOAD_KINDS.map((kind) => [kind, readFileSync(join(payloadsDir, `${kind}.json`), 'utf8')])) as Record<PayloadKind, string>;

/** Seeded uniform [0, 1) so the statistical assertions are reproducible. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function generate(count: number, options: Parameters<typeof createPayloadMix>[1] = {}, seed = 1): Array<PreparedPayload & { event: Json }> {
  const mix = createPayloadMix(templates, options);
  const random = seeded(seed);
  const out: Array<PreparedPayload & { event: Json }> = [];
  for (let i = 0; i < count; i++) {
    // Four VUs taking turns, as an arrival-rate executor would hand out iterations.
    const payload = mix.next({ vuId: (i % 4) + 1, vuIteration: Math.floor(i / 4), testIteration: i, now: Date.UTC(2025, 2, 4, 12, 0, 0) + i, random });
    out.push({ ...payload, event: JSON.parse(payload.body) });
  }
  return out;
}

describe('payload templates', () => {
  it.each(PAYLOAD_KINDS)('%s is an Okta token hook event with context.request, protocol and policy', (kind) => {
    const event = JSON.parse(templates[kind]);
    expect(event.eventType).toBe('com.okta.oauth2.tokens.transform');
    expect(event.eventTypeVersion).toBe('1.0');
    expect(event.cloudEventVersion).toBe('0.1');
    expect(event.contentType).toBe('application/json');
    expect(event.eventId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(event.source).toMatch(/^https:\/\/login\.example\.com\/oauth2\/[^/]+\/v1\/(authorize|token)$/);
    expect(event.data.context.request.url.value).toMatch(/^https:\/\//);
    expect(event.data.context.protocol.type).toBe('OAUTH2.0');
    expect(event.data.context.protocol.client.id).toMatch(/^0oa/);
    expect(event.data.context.policy.id).toMatch(/^00p/);
    expect(event.data.access.token.lifetime.expiration).toBe(3600);
  });

  it('models each flow the way Okta sends it', () => {
    const t = Object.fromEntries(PAYLOAD_KINDS.map((kind) => [kind, JSON.parse(templates[kind])])) as Record<PayloadKind, Json>;

    expect(t['authcode-full'].data.identity).toBeDefined();
    expect(t['authcode-full'].data.refresh_token.jti).toMatch(/^oar/);
    expect(t['authcode-full'].source).toMatch(/\/v1\/authorize$/);

    const refresh = t.refresh.data;
    expect(t.refresh.source).toMatch(/\/v1\/token$/);
    expect(refresh.context.request.method).toBe('POST');
    expect(refresh.context.protocol.request.grant_type).toBe('refresh_token');
    expect(refresh.context.protocol.OriginalGrant.refresh_token.jti).toBe(refresh.refresh_token.jti);
    expect(refresh.context.protocol.OriginalGrant.authorization.response_type).toBe('code');
    expect(refresh.identity).toBeDefined();
    expect(refresh.access).toBeDefined();

    const cc = t['client-credentials'].data;
    expect(cc.context.protocol.request.grant_type).toBe('client_credentials');
    expect(cc.context.user).toBeUndefined();
    expect(cc.context.session).toBeUndefined();
    expect(cc.identity).toBeUndefined();

    expect(t['authcode-access-only'].data.identity).toBeUndefined();
    expect(t['authcode-access-only'].data.context.protocol.request.scope).not.toMatch(/openid/);

    const implicit = t.implicit.data;
    expect(implicit.context.protocol.request.response_type).toBe('token id_token');
    expect(implicit.context.protocol.request.response_mode).toBe('fragment');
    expect(implicit.identity).toBeDefined();
    expect(implicit.refresh_token).toBeUndefined();

    const preview = t.preview.data;
    expect(preview.identity).toBeUndefined();
    expect(preview.context.user.id).toMatch(/^00u/);
    expect(preview.context.session).toBeUndefined();
    expect(preview.context.protocol.request.scope).toMatch(/openid/); // asked for openid, yet no identity: the Preview quirk
  });
});

describe('payload mix', () => {
  it('produces valid Okta events of every kind, with the tokens they claim to carry', () => {
    for (const payload of generate(600)) {
      const { event } = payload;
      expect(event.eventType).toBe('com.okta.oauth2.tokens.transform');
      expect(event.eventId).toBe(payload.eventId);
      expect(new Date(event.eventTime).toISOString()).toBe(event.eventTime);
      expect(typeof event.data.context).toBe('object');
      expect(payload.tokens).toEqual({ identity: event.data.identity !== undefined, access: event.data.access !== undefined });
    }
  });

  it('gives every event a unique 22-character base64url eventId', () => {
    const payloads = generate(20000);
    const ids = new Set(payloads.map((p) => p.eventId));
    expect(ids.size).toBe(payloads.length);
    // 16 bytes in 22 characters: the last one carries 2 bits, as in Okta's own eventIds.
    expect([...ids].filter((id) => !/^[A-Za-z0-9_-]{21}[AQgw]$/.test(id))).toEqual([]);
  });

  it('keeps eventIds unique within a run even when the random source repeats itself', () => {
    const constant = () => 0.5;
    const ids = new Set<string>();
    for (let vu = 1; vu <= 50; vu++) for (let iter = 0; iter < 200; iter++) ids.add(makeEventId(vu, iter, constant));
    expect(ids.size).toBe(50 * 200);
  });

  it('covers every active kind in the first iterations, then follows the weights', () => {
    const payloads = generate(20000);
    expect(payloads.slice(0, PAYLOAD_KINDS.length).map((p) => p.kind)).toEqual([...PAYLOAD_KINDS]);
    const total = Object.values(DEFAULT_MIX).reduce((a, b) => a + b, 0);
    for (const kind of PAYLOAD_KINDS) {
      const share = payloads.filter((p) => p.kind === kind).length / payloads.length;
      expect(Math.abs(share - DEFAULT_MIX[kind] / total)).toBeLessThan(0.015);
    }
  });

  it('honours a custom mix and never sends a kind with weight 0', () => {
    const payloads = generate(2000, { weights: parseMix('refresh=3,client-credentials=1') });
    const kinds = new Set(payloads.map((p) => p.kind));
    expect([...kinds].sort()).toEqual(['client-credentials', 'refresh']);
    const refreshShare = payloads.filter((p) => p.kind === 'refresh').length / payloads.length;
    expect(refreshShare).toBeGreaterThan(0.7);
    expect(refreshShare).toBeLessThan(0.8);
  });

  it('spreads user-bearing payloads over a pool of synthetic users, consistently across the event', () => {
    const payloads = generate(1500, { userPoolSize: 50 });
    const users = new Set<string>();
    for (const { kind, event } of payloads) {
      const user = event.data.context.user;
      if (kind === 'client-credentials') {
        expect(user).toBeUndefined();
        expect(event.data.access.claims.sub).toBe('0oa9s1d3f5G7h9J1k3l5');
        continue;
      }
      users.add(user.id);
      expect(user.id).toMatch(/^00uload\d{13}$/);
      expect(user.profile.login).toMatch(/^load\.user\d+@example\.com$/);
      expect(user._links.groups.href).toBe(`https://login.example.com/api/v1/users/${user.id}/groups`);
      expect(event.data.access.claims.uid).toBe(user.id);
      if (event.data.context.session) {
        expect(event.data.context.session.userId).toBe(user.id);
        expect(event.data.context.session.login).toBe(user.profile.login);
      }
      if (event.data.identity) {
        expect(event.data.identity.claims.sub).toBe(user.id);
        expect(event.data.identity.claims.preferred_username).toBe(user.profile.login);
      }
      expect(JSON.stringify(event)).not.toMatch(/jordan\.lee|00u3e5r7t9Y1u3I5o7p9|alex\.rivera|sam\.okafor/);
    }
    expect(users.size).toBe(50);
  });

  it('keeps the template user when USER_POOL is 0', () => {
    const payloads = generate(200, { userPoolSize: 0 });
    const full = payloads.find((p) => p.kind === 'authcode-full');
    expect(full?.event.data.context.user.id).toBe('00u3e5r7t9Y1u3I5o7p9');
  });

  it('rejects a template that is not a token hook event, and a missing template', () => {
    expect(() => createPayloadMix({ ...templates, refresh: '{"eventType":"com.okta.event_hook","data":{"context":{}}}' })).toThrow(/refresh: eventType/);
    expect(() => createPayloadMix({ ...templates, preview: undefined })).toThrow(/no template for kind preview/);
    expect(() => createPayloadMix({ refresh: templates.refresh }, { weights: parseMix('refresh=1') })).not.toThrow();
  });
});

describe('parseMix', () => {
  it('returns the default mix for an empty spec', () => {
    expect(parseMix(undefined)).toEqual(DEFAULT_MIX);
    expect(parseMix(' ')).toEqual(DEFAULT_MIX);
  });

  it('gives unnamed kinds weight 0', () => {
    expect(parseMix('implicit=2, preview = 1')).toEqual({ 'authcode-full': 0, refresh: 0, 'client-credentials': 0, 'authcode-access-only': 0, implicit: 2, preview: 1 });
  });

  it.each([
    ['unknown=1', /unknown payload kind "unknown"/],
    ['refresh', /kind=weight/],
    ['refresh=-1', /weight of "refresh"/],
    ['refresh=abc', /weight of "refresh"/],
    ['refresh=0', /at least one/],
  ])('rejects %s', (spec, message) => {
    expect(() => parseMix(spec)).toThrow(message);
  });
});

describe('helpers', () => {
  it('base64url-encodes like Node, without padding', () => {
    const random = seeded(7);
    for (let length = 0; length < 40; length++) {
      const bytes = Array.from({ length }, () => Math.floor(random() * 256));
      expect(base64url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
    }
  });

  it('builds Okta-shaped synthetic users', () => {
    expect(syntheticUser(42)).toEqual({ id: '00uload0000000000042', login: 'load.user42@example.com' });
    expect(syntheticUser(42).id).toHaveLength(20);
  });
});

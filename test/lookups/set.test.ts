import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LookupSet } from '../../src/lookups/set';
import { LookupSetupError } from '../../src/lookups/types';
import { reply, startUpstream, type Upstream } from '../helpers/upstream';
import { contextForUser, defineLookups, secretDir } from './helpers';

describe('LookupSet: files, reloads and shutdown', () => {
  let upstream: Upstream;
  let secrets: Awaited<ReturnType<typeof secretDir>>;
  const sets: LookupSet[] = [];

  beforeEach(async () => {
    upstream = await startUpstream(reply.json({ tier: 'gold' }));
    secrets = await secretDir();
  });
  afterEach(async () => {
    for (const set of sets.splice(0)) await set.close();
    await upstream.close();
    await secrets.cleanup();
  });

  const create = async (spec: Record<string, unknown>, previous?: LookupSet): Promise<LookupSet> => {
    const set = await LookupSet.create(defineLookups(spec), { previous });
    sets.push(set);
    return set;
  };

  it('refuses to build when a named file is missing, naming the lookup, the field and the file', async () => {
    const definitions = defineLookups({
      crm: { type: 'http', url: `${upstream.origin}/u/{user.id}`, auth: { bearerTokenFile: `${secrets.dir}/missing-token` } },
      groups: { type: 'oktaGroups', orgUrl: upstream.origin, auth: { oauth: { clientId: 'c', privateKeyFile: `${secrets.dir}/missing.pem` } } },
      tls: { type: 'http', url: `${upstream.origin}/`, tls: { caFile: `${secrets.dir}/missing-ca.pem` } },
    });
    const error = await LookupSet.create(definitions).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LookupSetupError);
    expect((error as LookupSetupError).errors).toEqual([
      `lookup "crm": auth.bearerTokenFile: cannot read ${secrets.dir}/missing-token (ENOENT)`,
      `lookup "groups": auth.oauth.privateKeyFile: cannot read ${secrets.dir}/missing.pem (ENOENT)`,
      `lookup "tls": tls.caFile: cannot read ${secrets.dir}/missing-ca.pem (ENOENT)`,
    ]);
  });

  it('refuses an empty secret file and a key file that holds no key', async () => {
    const empty = await secrets.write('empty', '\n');
    const notKey = await secrets.write('not-a-key.pem', 'hello');
    const error = (await LookupSet.create(
      defineLookups({
        crm: { type: 'http', url: `${upstream.origin}/`, auth: { header: 'X-Key', valueFile: empty } },
        groups: { type: 'oktaGroups', orgUrl: upstream.origin, auth: { oauth: { clientId: 'c', privateKeyFile: notKey } } },
      }),
    ).catch((err: unknown) => err)) as LookupSetupError;
    expect(error.errors).toEqual([`lookup "crm": auth.valueFile: ${empty} is empty`, `lookup "groups": auth.oauth.privateKeyFile: ${notKey} is not a private key (PEM or JWK)`]);
  });

  it('keeps the cache and breaker of an unchanged lookup across a reload, with the credential re-read', async () => {
    const tokenFile = await secrets.write('token', 'first');
    const spec = { crm: { type: 'http', url: `${upstream.origin}/u/{user.id}`, auth: { bearerTokenFile: tokenFile } } };
    const first = await create(spec);
    await first.get('crm')!.resolve(contextForUser('u1'));
    await secrets.write('token', 'second');
    const second = await create(spec, first);
    expect(second.get('crm')).toBe(first.get('crm'));
    expect(await second.get('crm')!.resolve(contextForUser('u1'))).toMatchObject({ cache: 'hit' });
    await second.get('crm')!.resolve(contextForUser('u2'));
    expect(upstream.requests.map((r) => r.headers.authorization)).toEqual(['Bearer first', 'Bearer second']);
    // Closing the superseded set does not close what the new one uses.
    await first.close();
    expect(await second.get('crm')!.resolve(contextForUser('u3'))).toMatchObject({ ok: true, status: 'success' });
  });

  it('starts a changed lookup afresh and closes the lookups a reload dropped', async () => {
    const first = await create({
      crm: { type: 'http', url: `${upstream.origin}/u/{user.id}` },
      old: { type: 'http', url: `${upstream.origin}/old/{user.id}` },
    });
    const oldLookup = first.get('old')!;
    await first.get('crm')!.resolve(contextForUser('u1'));
    const second = await create({ crm: { type: 'http', url: `${upstream.origin}/u/{user.id}`, timeoutMs: 400 } }, first);
    expect(second.get('crm')).not.toBe(first.get('crm'));
    expect(await second.get('crm')!.resolve(contextForUser('u1'))).toMatchObject({ cache: 'miss' });
    expect(second.names).toEqual(['crm']);
    // The dropped lookup's connection pool is closed.
    expect(await oldLookup.resolve(contextForUser('u1'))).toMatchObject({ ok: false, status: 'error' });
  });

  it('leaves the previous set working when the reload fails', async () => {
    const first = await create({ crm: { type: 'http', url: `${upstream.origin}/u/{user.id}` } });
    const failed = await LookupSet.create(defineLookups({ crm: { type: 'http', url: `${upstream.origin}/u/{user.id}`, auth: { bearerTokenFile: `${secrets.dir}/nope` } } }), { previous: first }).catch(
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(LookupSetupError);
    expect(await first.get('crm')!.resolve(contextForUser('u1'))).toMatchObject({ ok: true });
  });

  it('resolves several lookups in parallel and reports an unknown name', async () => {
    upstream.handler = reply.slow(1000, reply.json({ tier: 'gold' }));
    const set = await create({ a: { type: 'http', url: `${upstream.origin}/a/{user.id}`, timeoutMs: 2900 }, b: { type: 'http', url: `${upstream.origin}/b/{user.id}`, timeoutMs: 2900 } });
    const outcomes = await set.resolve(['a', 'b', 'nope'], contextForUser('u1'));
    // In parallel: both calls were at the upstream at the same time (no timing involved).
    expect(upstream.maxInFlight).toBe(2);
    expect(outcomes.get('a')).toMatchObject({ ok: true });
    expect(outcomes.get('b')).toMatchObject({ ok: true });
    expect(outcomes.get('nope')).toMatchObject({ ok: false, error: 'unknown lookup' });
  });
});

describe('lookup spans', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let upstream: Upstream;

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });
  beforeEach(async () => {
    exporter.reset();
    upstream = await startUpstream(reply.json({ tier: 'gold' }));
  });
  afterEach(() => upstream.close());

  it('records one child span per lookup with templated target, cache and result, and no user data', async () => {
    const set = await LookupSet.create(defineLookups({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}/tier` } }));
    try {
      const tracer = trace.getTracer('test');
      await tracer.startActiveSpan('okta.token_hook', async (parent) => {
        await set.get('crm')!.resolve(contextForUser('00uPrivateUser'));
        await set.get('crm')!.resolve(contextForUser('00uPrivateUser'));
        parent.end();
      });
      const spans = exporter.getFinishedSpans();
      const parent = spans.find((s) => s.name === 'okta.token_hook')!;
      const lookups = spans.filter((s) => s.name === 'lookup crm');
      expect(lookups).toHaveLength(2);
      expect(lookups.every((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId)).toBe(true);
      expect(lookups[0]!.attributes).toEqual({
        'lookup.name': 'crm',
        'lookup.type': 'http',
        'lookup.target': `GET ${upstream.origin}/users/{user.id}/tier`,
        'lookup.result': 'success',
        'lookup.cache': 'miss',
        'http.response.status_code': 200,
      });
      expect(lookups[1]!.attributes['lookup.cache']).toBe('hit');
      expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain('00uPrivateUser');
    } finally {
      await set.close();
    }
  });

  it('marks a failed lookup span as an error', async () => {
    upstream.handler = reply.fail(500);
    const set = await LookupSet.create(defineLookups({ crm: { type: 'http', url: `${upstream.origin}/users/{user.id}` } }));
    try {
      await set.get('crm')!.resolve(contextForUser('u1'));
      const [span] = exporter.getFinishedSpans();
      expect(span!.status).toEqual({ code: 2, message: 'upstream answered HTTP 500' });
      expect(span!.attributes['lookup.result']).toBe('error');
    } finally {
      await set.close();
    }
  });
});

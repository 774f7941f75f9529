/**
 * The lookups of one loaded rules file, ready to call. `LookupSet.create` reads every file the
 * definitions name (secrets, CA bundles, private keys) with async I/O, so it runs at startup and
 * on every rules reload, never per request. A lookup whose definition and CA are unchanged since
 * the previous set keeps its cache, breaker and connections (only its credentials are re-read),
 * so a reload does not empty the caches or reset a breaker that is protecting a dead upstream.
 */
import { createHash } from 'node:crypto';
import type { Agent } from 'undici';
import { ClientCredentialsClient, FileReadError, readPemFile, readSecretFile, readSigningKey } from './credentials';
import { createAgent, PreopenedConnections, UpstreamError, type PreopenReport } from './http-client';
import { Lookup, type ResolveOptions } from './lookup';
import { HttpSource, OktaGroupsSource, type HttpCredential, type OktaAuthorization } from './sources';
import { LookupSetupError, type LookupContext, type LookupDefinition, type LookupEvents, type LookupOutcome } from './types';

/** What `LookupSet.preopen` did for one lookup: its connections, and for OAuth 2.0 its first access token. */
export interface LookupPreopenReport extends PreopenReport {
  accessToken?: 'fetched' | 'failed';
  /** Why the token request failed (`token endpoint answered HTTP 401 (invalid_client)`), never a URL or secret. */
  accessTokenError?: string;
}

export interface LookupSetOptions {
  events?: LookupEvents;
  /** The set being replaced (reload): unchanged lookups are carried over. */
  previous?: LookupSet;
  now?: () => number;
}

interface Runtime {
  lookup: Lookup;
  agent: Agent;
  /** Connections opened ahead of the first call, handed to `agent` first. */
  preopened: PreopenedConnections;
  /** Definition fingerprint plus CA content hash. */
  identity: string;
  definition: LookupDefinition;
}

type Credentials = { kind: 'http'; credential: HttpCredential | undefined } | { kind: 'okta'; authorization: OktaAuthorization };

async function loadCa(definition: LookupDefinition, errors: string[]): Promise<{ ca?: string; hash: string }> {
  if (!definition.caFile) return { hash: 'public-roots' };
  try {
    const ca = await readPemFile(definition.caFile);
    return { ca, hash: createHash('sha256').update(ca).digest('hex').slice(0, 16) };
  } catch (err) {
    errors.push(`lookup "${definition.name}": tls.caFile: ${(err as Error).message}`);
    return { hash: 'unreadable' };
  }
}

async function loadCredentials(definition: LookupDefinition, agent: Agent, errors: string[], now?: () => number): Promise<Credentials | undefined> {
  const fail = (field: string, err: unknown): undefined => {
    errors.push(`lookup "${definition.name}": ${field}: ${err instanceof FileReadError ? err.message : String(err)}`);
    return undefined;
  };
  if (definition.type === 'http') {
    const auth = definition.auth;
    if (!auth) return { kind: 'http', credential: undefined };
    if (auth.kind === 'bearer') {
      try {
        return { kind: 'http', credential: { header: 'authorization', value: `Bearer ${await readSecretFile(auth.tokenFile)}` } };
      } catch (err) {
        return fail('auth.bearerTokenFile', err);
      }
    }
    try {
      return { kind: 'http', credential: { header: auth.header, value: await readSecretFile(auth.valueFile) } };
    } catch (err) {
      return fail('auth.valueFile', err);
    }
  }
  const auth = definition.auth;
  if (auth.kind === 'apiToken') {
    try {
      return { kind: 'okta', authorization: { kind: 'ssws', token: await readSecretFile(auth.tokenFile) } };
    } catch (err) {
      return fail('auth.apiTokenFile', err);
    }
  }
  try {
    const signingKey = await readSigningKey(auth.privateKeyFile, auth.algorithm, auth.keyId);
    const client = new ClientCredentialsClient({
      tokenUrl: `${definition.orgUrl}/oauth2/v1/token`,
      clientId: auth.clientId,
      scopes: auth.scopes,
      signingKey,
      dispatcher: agent,
      timeoutMs: definition.timeoutMs,
      maxBytes: 64 * 1024,
      now,
    });
    return { kind: 'okta', authorization: { kind: 'oauth', client } };
  } catch (err) {
    return fail('auth.oauth.privateKeyFile', err);
  }
}

export class LookupSet {
  readonly #runtimes: ReadonlyMap<string, Runtime>;
  /** The lookups this set created (not carried over from the previous set): their pools are empty. */
  #fresh: readonly Runtime[];
  #closed = false;

  private constructor(runtimes: Map<string, Runtime>, fresh: readonly Runtime[] = []) {
    this.#runtimes = runtimes;
    this.#fresh = fresh;
  }

  /** An empty set (rules without lookups). */
  static readonly EMPTY = new LookupSet(new Map());

  /**
   * Reads the lookups' files and builds them. Rejects with `LookupSetupError` (one line per
   * problem, naming the lookup, the field and the file) when a file is missing or unusable;
   * nothing of the previous set is touched then. On success the previous set's lookups that were
   * not carried over are closed.
   */
  static async create(definitions: readonly LookupDefinition[], options: LookupSetOptions = {}): Promise<LookupSet> {
    if (definitions.length === 0 && !options.previous) return LookupSet.EMPTY;
    const errors: string[] = [];
    const previous = options.previous ? options.previous.#runtimes : undefined;
    const runtimes = new Map<string, Runtime>();
    const created: Runtime[] = [];
    await Promise.all(
      definitions.map(async (definition) => {
        const { ca, hash } = await loadCa(definition, errors);
        const identity = `${definition.type}:${definition.fingerprint}:${hash}`;
        const old = previous?.get(definition.name);
        const reuse = old && old.identity === identity ? old : undefined;
        const preopened =
          reuse?.preopened ?? new PreopenedConnections({ ca, onEvent: (result) => options.events?.preopened?.({ lookup: definition.name, result }) });
        const agent = reuse?.agent ?? createAgent({ connections: definition.concurrency.limit, preopened });
        const credentials = await loadCredentials(definition, agent, errors, options.now);
        if (!credentials) {
          if (!reuse) await agent.close();
          return;
        }
        if (reuse) {
          // Same definition and CA: keep cache, breaker and connections; take the fresh credentials.
          const source = reuse.lookup.source;
          if (source instanceof HttpSource && credentials.kind === 'http') source.credential = credentials.credential;
          if (source instanceof OktaGroupsSource && credentials.kind === 'okta') source.authorization = credentials.authorization;
          runtimes.set(definition.name, reuse);
          return;
        }
        const source =
          definition.type === 'http'
            ? new HttpSource(definition, agent, credentials.kind === 'http' ? credentials.credential : undefined)
            : new OktaGroupsSource(definition, agent, (credentials as Extract<Credentials, { kind: 'okta' }>).authorization);
        const runtime: Runtime = { lookup: new Lookup(definition, source, { events: options.events, now: options.now }), agent, preopened, identity, definition };
        runtimes.set(definition.name, runtime);
        created.push(runtime);
      }),
    );
    if (errors.length > 0) {
      await Promise.all(created.map((runtime) => closeRuntime(runtime)));
      throw new LookupSetupError(errors.sort());
    }
    if (options.previous && previous) {
      // The previous set is superseded: what was not carried over closes now, and closing the old
      // set later must not close what the new one reuses.
      options.previous.#closed = true;
      const kept = new Set(runtimes.values());
      await Promise.all([...previous.values()].filter((runtime) => !kept.has(runtime)).map((runtime) => closeRuntime(runtime)));
      for (const name of previous.keys()) if (!runtimes.has(name)) options.events?.removed?.({ lookup: name });
    }
    return new LookupSet(runtimes, created);
  }

  get names(): string[] {
    return [...this.#runtimes.keys()];
  }

  get size(): number {
    return this.#runtimes.size;
  }

  get(name: string): Lookup | undefined {
    return this.#runtimes.get(name)?.lookup;
  }

  /** Resolves the named lookups in parallel. Never rejects; unknown names are reported as errors. */
  async resolve(names: Iterable<string>, ctx: LookupContext, options: ResolveOptions = {}): Promise<Map<string, LookupOutcome>> {
    const entries = await Promise.all(
      [...new Set(names)].map(async (name): Promise<[string, LookupOutcome]> => {
        const lookup = this.get(name);
        if (!lookup) return [name, { lookup: name, type: 'http', ok: false, status: 'error', error: 'unknown lookup', durationMs: 0 }];
        return [name, await lookup.resolve(ctx, options)];
      }),
    );
    return new Map(entries);
  }

  /**
   * Opens up to `connections` connections (at most the lookup's concurrency limit) to the upstream
   * of every lookup this set created, so their first calls do not open them (lookups carried over
   * from the previous set already have theirs). An `oktaGroups` lookup with OAuth 2.0 also gets its
   * access token now, over one of them. Waits at most each lookup's `timeoutMs` for the
   * connections, then as long again for the token: a slower connection is kept when it opens, a
   * failure is only reported. Runs once; never rejects.
   */
  async preopen(connections: number): Promise<Record<string, LookupPreopenReport>> {
    const fresh = this.#fresh;
    this.#fresh = [];
    const reports: Record<string, LookupPreopenReport> = {};
    if (connections <= 0 || this.#closed) return reports;
    await Promise.all(
      fresh.map(async (runtime) => {
        const { definition } = runtime;
        const count = Math.min(connections, definition.concurrency.limit);
        const report: LookupPreopenReport = await runtime.preopened.open(definition.type === 'oktaGroups' ? definition.orgUrl : definition.origin, count, definition.timeoutMs);
        const source = runtime.lookup.source;
        if (source instanceof OktaGroupsSource && source.authorization.kind === 'oauth') {
          try {
            await source.authorization.client.accessToken(AbortSignal.timeout(definition.timeoutMs));
            report.accessToken = 'fetched';
          } catch (err) {
            report.accessToken = 'failed';
            report.accessTokenError = err instanceof UpstreamError ? err.message : 'token request failed';
          }
        }
        reports[definition.name] = report;
      }),
    );
    return reports;
  }

  /** Closes every lookup and connection pool (shutdown). Idempotent; a no-op on a set superseded by a reload. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#runtimes.values()].map((runtime) => closeRuntime(runtime)));
  }
}

async function closeRuntime(runtime: Runtime): Promise<void> {
  runtime.lookup.close();
  runtime.preopened.close();
  // Graceful: requests already sent finish (their own timeouts bound this).
  await runtime.agent.close().catch(() => undefined);
}

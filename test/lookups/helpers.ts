import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseLookups } from '../../src/lookups/definition';
import { LookupSet } from '../../src/lookups/set';
import type { CacheResult, CircuitStateName, LookupCallEvent, LookupContext, LookupDefinition, LookupEvents } from '../../src/lookups/types';
import { createRulesEnvironment } from '../../src/rules/cel';
import { RequestContext } from '../../src/rules/context';
import type { TokenHookEvent } from '../../src/hook/types';
import { oktaFixture } from '../helpers/fixtures';

/** The rules environment with `lookup` declared, as the rules loader builds it. */
export const LOOKUP_ENV = createRulesEnvironment([{ name: 'lookup', type: 'map<string, dyn>', description: 'lookup values' }]);

/** Definitions from a `lookups:` mapping; fails the test with every problem when invalid. */
export function defineLookups(spec: Record<string, unknown>): LookupDefinition[] {
  const parsed = parseLookups(spec, LOOKUP_ENV);
  if (parsed.problems.length > 0) throw new Error(`unexpected lookup problems:\n${parsed.problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('\n')}`);
  return parsed.definitions;
}

/** Problems for an invalid `lookups:` mapping as `path: message` lines. */
export function lookupProblems(spec: unknown): string[] {
  return parseLookups(spec, LOOKUP_ENV).problems.map((p) => `${p.path.join('.')}: ${p.message}`);
}

/** The CEL context of a real Okta payload (authorization code, full) for the given user id. */
export function contextForUser(userId: string | null, clientId = '0oa7h3j5k7L9z1X3c5v7'): LookupContext {
  const event: TokenHookEvent = oktaFixture('token-hook-authcode-full');
  const context = event.data.context as { user?: { id?: string } | null; protocol?: { client?: { id?: string } } };
  if (userId === null) delete context.user;
  else if (context.user) context.user.id = userId;
  if (context.protocol?.client) context.protocol.client.id = clientId;
  return new RequestContext(event) as unknown as LookupContext;
}

/** Records every lookup event. */
export class EventLog implements LookupEvents {
  readonly calls: LookupCallEvent[] = [];
  readonly caches: CacheResult[] = [];
  readonly states: CircuitStateName[] = [];
  call = (event: LookupCallEvent): void => void this.calls.push(event);
  cache = (event: { result: CacheResult }): void => void this.caches.push(event.result);
  circuit = (event: { state: CircuitStateName }): void => void this.states.push(event.state);
  callResults(): string[] {
    return this.calls.map((c) => c.result);
  }
}

/** An AbortSignal that fires after `ms`, and its cleanup. */
export function deadline(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('request deadline exceeded')), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function eventually(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** A temp directory for secret files; `cleanup` removes it. */
export async function secretDir(): Promise<{ dir: string; write(name: string, content: string): Promise<string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lookups-'));
  return {
    dir,
    write: async (name, content) => {
      const path = join(dir, name);
      await writeFile(path, content);
      return path;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Builds a set for one definition map; remember `await set.close()`. */
export async function lookupSet(spec: Record<string, unknown>, events?: LookupEvents): Promise<LookupSet> {
  return LookupSet.create(defineLookups(spec), { events });
}

export interface TestPki {
  /** The server's key and certificate (for 127.0.0.1), PEM. */
  key: string;
  cert: string;
  /** The CA that signed it: PEM, and a file holding it. */
  ca: string;
  caFile: string;
  cleanup(): Promise<void>;
}

/** A one-day CA and a server certificate for 127.0.0.1, made with the openssl CLI; undefined when openssl is not installed. */
export async function testPki(): Promise<TestPki | undefined> {
  const execFileAsync = promisify(execFile);
  try {
    await execFileAsync('openssl', ['version']);
  } catch {
    return undefined;
  }
  const secrets = await secretDir();
  const run = (args: string[]): Promise<unknown> => execFileAsync('openssl', args, { cwd: secrets.dir });
  await secrets.write('server.ext', 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=lookup test CA']);
  await run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  await run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'server.ext']);
  const read = (name: string): Promise<string> => readFile(join(secrets.dir, name), 'utf8');
  return { key: await read('server.key'), cert: await read('server.pem'), ca: await read('ca.pem'), caFile: join(secrets.dir, 'ca.pem'), cleanup: secrets.cleanup };
}

/**
 * The test PKI for a describe block: made before its tests, removed after. The returned function
 * gives it to a test, or undefined (with a warning that the test is skipped) without openssl.
 */
export function useTestPki(): () => TestPki | undefined {
  let pki: TestPki | undefined;
  beforeAll(async () => {
    pki = await testPki();
  }, 30_000);
  afterAll(async () => {
    await pki?.cleanup();
  });
  return () => {
    if (!pki) console.warn('skipped: the openssl CLI is not installed, so no test CA can be generated');
    return pki;
  };
}

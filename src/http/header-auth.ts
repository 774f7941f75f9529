/**
 * Header-secret authentication (Okta's "HTTP header" auth scheme). The accepted values come from a
 * file (one per line, so two are valid during a rotation) that is re-read when it changes, as a
 * mounted Kubernetes Secret does, or from a single value for local use.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Authenticator, AuthResult, RequestHeaders } from './auth-types';

/** Secrets are compared as SHA-256 digests: equal length, so timingSafeEqual applies to any input. */
const digest = (value: string): Buffer => hash('sha256', value, 'buffer');

export function parseSecretFile(content: string): string[] {
  return content
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

/**
 * Why a new set of secrets looks like a file caught half-way through a write, or undefined. A
 * secret is never a proper prefix of a secret accepted now (a truncated write), and never holds
 * control characters (a binary or partly written file).
 */
export function implausibleSecrets(secrets: readonly string[], current: readonly string[]): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (secrets.some((secret) => /[\u0000-\u001f\u007f]/.test(secret))) return 'a line holds control characters';
  for (const secret of secrets) {
    if (current.some((accepted) => accepted !== secret && accepted.startsWith(secret))) return 'a line is a truncated copy of an accepted secret';
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface SecretStoreEvents {
  onReload?: (result: { ok: true; count: number } | { ok: false; error: string }) => void;
}

/**
 * Holds the digests of the accepted secrets; replaced atomically on reload. A file is used only
 * when two reads `settleMs` apart agree and it looks whole (see `implausibleSecrets`): an in-place
 * write caught half-way would otherwise make both the old and the new secret fail. Replace the
 * file atomically (write a temporary file, then rename; a Kubernetes Secret mount does this).
 */
export class SecretStore {
  private digests: Buffer[] = [];
  /** The accepted values, kept only to recognise a truncated copy of one on reload. */
  private values: string[] = [];
  /** Time between the two reads that must agree before a file is used. */
  settleMs = 100;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastContentDigest = '';
  private closed = false;

  private constructor(private readonly file: string | undefined, private readonly events: SecretStoreEvents) {}

  static fromValues(values: string[]): SecretStore {
    const store = new SecretStore(undefined, {});
    store.digests = values.map(digest);
    store.values = [...values];
    return store;
  }

  /** Reads the file once (fails if unreadable or empty), then watches it. */
  static async fromFile(file: string, events: SecretStoreEvents = {}, pollIntervalMs = 30000): Promise<SecretStore> {
    const store = new SecretStore(file, events);
    const count = await store.reload(true);
    if (count === 0) throw new Error(`Secret file ${file} contains no secret`);
    store.watch(pollIntervalMs);
    return store;
  }

  get size(): number {
    return this.digests.length;
  }

  /** Index (0-based) of the matching secret, or -1. Compares against every slot, always. */
  match(presented: string): number {
    const candidate = digest(presented);
    let found = -1;
    for (let i = 0; i < this.digests.length; i++) {
      if (timingSafeEqual(candidate, this.digests[i] as Buffer) && found === -1) found = i;
    }
    return found;
  }

  /** Re-reads the file; keeps the current secrets when it is unreadable or empty. */
  async reload(initial = false): Promise<number> {
    if (!this.file) return this.digests.length;
    let content: string;
    try {
      content = await readFile(this.file, 'utf8');
      if (!initial && digest(content).toString('hex') === this.lastContentDigest) return this.digests.length;
      // Stable across two reads, or it is still being written: keep the current secrets, look again soon.
      await sleep(this.settleMs);
      const again = await readFile(this.file, 'utf8');
      if (again !== content) {
        if (initial) throw new Error(`Secret file ${this.file} changed while it was read; write it atomically (temporary file, then rename)`);
        this.events.onReload?.({ ok: false, error: 'secret file changed while it was read (a non-atomic write?); keeping the previous secrets, reading it again' });
        this.scheduleReload();
        return this.digests.length;
      }
    } catch (err) {
      if (err instanceof Error && !(err as NodeJS.ErrnoException).code && initial) throw err;
      if (initial) throw new Error(`Cannot read secret file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      this.events.onReload?.({ ok: false, error: `cannot read secret file: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
      return this.digests.length;
    }
    const contentDigest = digest(content).toString('hex');
    const secrets = parseSecretFile(content);
    if (secrets.length === 0 && !initial) {
      this.events.onReload?.({ ok: false, error: 'secret file is empty; keeping the previous secrets' });
      return this.digests.length;
    }
    const implausible = implausibleSecrets(secrets, this.values);
    if (implausible) {
      if (initial) throw new Error(`Secret file ${this.file} is not usable: ${implausible}`);
      this.events.onReload?.({ ok: false, error: `secret file looks partly written (${implausible}); keeping the previous secrets` });
      return this.digests.length;
    }
    this.lastContentDigest = contentDigest;
    this.values = secrets;
    this.digests = secrets.map(digest);
    if (!initial) this.events.onReload?.({ ok: true, count: this.digests.length });
    return this.digests.length;
  }

  private scheduleReload(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), 100);
    this.debounce.unref();
  }

  private watch(pollIntervalMs: number): void {
    if (!this.file) return;
    const name = basename(this.file);
    const schedule = (): void => this.scheduleReload();
    try {
      // Watch the directory: a Secret mount swaps a `..data` symlink rather than writing the file.
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (!changed || changed === name || changed.startsWith('..')) schedule();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // Watching is an optimisation; the poll below still picks changes up.
    }
    this.pollTimer = setInterval(() => void this.reload(), pollIntervalMs);
    this.pollTimer.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounce) clearTimeout(this.debounce);
  }
}

export function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

export class HeaderAuthenticator implements Authenticator {
  readonly method = 'header' as const;
  constructor(private readonly headerName: string, private readonly store: SecretStore) {}

  async authenticate(headers: RequestHeaders): Promise<AuthResult> {
    return this.check(headers);
  }

  check(headers: RequestHeaders): AuthResult {
    if (this.store.size === 0) return { ok: false, method: 'header', reason: 'no_secret_configured' };
    const presented = headerValue(headers, this.headerName);
    if (presented === undefined || presented.length === 0) return { ok: false, method: 'header', reason: 'missing_credentials' };
    const slot = this.store.match(presented);
    if (slot === -1) return { ok: false, method: 'header', reason: 'invalid_credentials' };
    return { ok: true, method: 'header', credential: `slot-${slot + 1}` };
  }
}

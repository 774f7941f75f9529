/**
 * Hot reload of the rules file. The manager owns the current `RulesEngine` and replaces it whole
 * (one reference assignment, so a request sees either the old or the new rule set, never a mix)
 * when the file changes or `reload()` is called (SIGHUP). An invalid new file is logged and
 * reported through `onReload`; the previous rules keep serving.
 *
 * Watching: the *directory* is watched, not the file, because a Kubernetes ConfigMap mount updates
 * by swapping the `..data` symlink (the file itself is a symlink into it and never changes in
 * place), and editors replace files by rename. Events are debounced, and the content hash decides
 * whether anything changed. Only async fs calls are used after startup.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { NO_RULES_ENGINE, type ClaimsEngine } from '../hook/engine';
import type { LookupPreopenReport, LookupSet } from '../lookups/set';
import { LookupSetupError, type LookupEvents } from '../lookups/types';
import type { LookupContext, LookupOutcome } from '../lookups/types';
import { lookupFingerprints, RulesEngine, type LookupResolver } from './engine';
import type { Diagnostic, ParseRulesOptions } from './load';
import { isDirectory, readRulesSource, type RulesSource } from './source';
import { RulesFileError, type RuleSet } from './types';

/** The subset of a pino logger the manager uses. */
export interface RulesLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ReloadResult {
  result: 'success' | 'failure';
  /** Version now serving (the old one after a failure). */
  version: string;
  /** Number of rules now serving. */
  rules: number;
  /** False when the file content was identical to what is already loaded. */
  changed: boolean;
  /** What triggered the reload. */
  trigger: 'signal' | 'watch' | 'api';
  /** Every problem found, one line each (failure only). */
  errors?: string[];
  /** `errors` joined, for log lines (failure only). */
  error?: string;
}

export interface RulesManagerOptions {
  /** Rules file path; empty means no rules (`NO_RULES_ENGINE`, nothing watched). */
  file: string;
  /** Watch the file's directory and reload on change. */
  watch: boolean;
  logger?: RulesLogger;
  /** Called after every reload attempt (not for the initial load): wire metrics here. */
  onReload?: (result: ReloadResult) => void;
  /** Quiet period after the last file-system event before reading the file. */
  debounceMs?: number;
  parseOptions?: ParseRulesOptions;
  /** Where the lookups report calls, cache results and breaker states (wire `lookupMetricsEvents(metrics)`). */
  lookupEvents?: LookupEvents;
  /**
   * Shadow rules: the live rules' engine. A lookup defined identically in both files is resolved
   * through the live rules' lookup (one cache, breaker and connection pool); others use this
   * manager's own.
   */
  shareLookupsWith?: () => ClaimsEngine;
  /**
   * Connections to open to each new lookup's upstream before its first call (at most its
   * concurrency limit): by `preopenLookups()` at start-up, and by every reload that adds or
   * changes a lookup. 0 (the default) opens none.
   */
  preopenConnections?: number;
}

/** Resolves through the live engine's lookup when its definition is identical, else through `own`. */
class SharedLookups implements LookupResolver {
  constructor(
    private readonly own: LookupSet,
    private readonly fingerprints: ReadonlyMap<string, string>,
    private readonly live: () => ClaimsEngine,
  ) {}

  async resolve(names: Iterable<string>, ctx: LookupContext, options: { signal?: AbortSignal }): Promise<Map<string, LookupOutcome>> {
    const live = this.live();
    const shared: string[] = [];
    const own: string[] = [];
    for (const name of names) {
      const fingerprint = this.fingerprints.get(name);
      if (live instanceof RulesEngine && fingerprint !== undefined && live.lookupFingerprints.get(name) === fingerprint) shared.push(name);
      else own.push(name);
    }
    if (shared.length === 0) return this.own.resolve(own, ctx, options);
    const [a, b] = await Promise.all([(live as RulesEngine).lookupResolver.resolve(shared, ctx, options), own.length > 0 ? this.own.resolve(own, ctx, options) : new Map<string, LookupOutcome>()]);
    for (const [name, outcome] of b) a.set(name, outcome);
    return a;
  }
}

const silentLogger: RulesLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class RulesManager {
  readonly file: string;
  #engine: ClaimsEngine;
  /** Hash of the content now serving, and of the last content rejected (not re-reported by the watcher). */
  #loadedHash: string | undefined;
  #rejectedHash: string | undefined;
  /** Bad content seen once by the watcher; reported only if still there after the next quiet period. */
  #suspectHash: string | undefined;
  /** The last reload attempt failed: the next attempt that serves the current rules reports success. */
  #failing = false;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** The lookups of the rules now serving (their caches, breakers and connection pools). */
  #lookups: LookupSet | undefined;
  readonly #options: RulesManagerOptions;
  readonly #logger: RulesLogger;

  private constructor(options: RulesManagerOptions, engine: ClaimsEngine, contentHash: string | undefined, lookups?: LookupSet) {
    this.#options = options;
    this.file = options.file;
    this.#logger = options.logger ?? silentLogger;
    this.#engine = engine;
    this.#loadedHash = contentHash;
    this.#lookups = lookups;
  }

  /**
   * Reads the lookups' files (secrets, CA, keys) and builds the engine. Unchanged lookups of the
   * rules now serving keep their cache and breaker. Rejects with `LookupSetupError`.
   */
  static async #build(ruleSet: RuleSet, options: RulesManagerOptions, previous: LookupSet | undefined): Promise<{ engine: RulesEngine; lookups: LookupSet | undefined }> {
    // Rules without lookups (and none to close) never load the lookup modules (undici, jose): a
    // faster start-up (docs/performance.md).
    if (ruleSet.lookups.length === 0 && !previous) return { engine: new RulesEngine(ruleSet), lookups: undefined };
    const { LookupSet } = require('../lookups/set') as typeof import('../lookups/set');
    const lookups = await LookupSet.create(ruleSet.lookups, { events: options.lookupEvents, previous });
    const fingerprints = lookupFingerprints(ruleSet.lookups);
    const resolver = options.shareLookupsWith ? new SharedLookups(lookups, fingerprints, options.shareLookupsWith) : lookups;
    return { engine: new RulesEngine(ruleSet, { lookups: resolver }), lookups };
  }

  /**
   * Loads the file (async) and starts watching. Rejects with `RulesFileError` (every problem in
   * `errors`) when the file is missing or invalid: the service must not start with broken rules.
   */
  static async create(options: RulesManagerOptions): Promise<RulesManager> {
    if (!options.file) return new RulesManager(options, NO_RULES_ENGINE, undefined);
    const source = await readRulesSource(options.file);
    const parsed = source.parse(options.parseOptions);
    if (!parsed.ok) throw new RulesFileError(parsed.errors);
    let built: { engine: RulesEngine; lookups: LookupSet | undefined };
    try {
      built = await RulesManager.#build(parsed.ruleSet, options, undefined);
    } catch (err) {
      if (err instanceof LookupSetupError) throw new RulesFileError(err.errors.map((e) => `${options.file}: ${e}`));
      throw err;
    }
    const manager = new RulesManager(options, built.engine, source.hash, built.lookups);
    if (options.watch) await manager.#startWatching();
    const sets = parsed.ruleSet.scopes.map((scope) => scope.name);
    manager.#logger.info(
      {
        rulesFile: options.file,
        rulesVersion: parsed.ruleSet.version,
        rules: parsed.ruleSet.rules.length,
        lookups: parsed.ruleSet.lookups.map((l) => l.name),
        ...(source.directory ? { files: source.files.length } : {}),
        ...(sets.length > 0 ? { ruleSets: sets } : {}),
      },
      'rules loaded',
    );
    manager.#warn(parsed.warnings);
    return manager;
  }

  /** The `EngineProvider`: the engine to use for the request starting now. */
  current(): ClaimsEngine {
    return this.#engine;
  }

  /** Bound `current`, to pass as an `EngineProvider`. */
  readonly provider = (): ClaimsEngine => this.#engine;

  get version(): string {
    return this.#engine.version;
  }

  get ruleCount(): number {
    return this.#engine instanceof RulesEngine ? this.#engine.ruleCount : 0;
  }

  /** Re-reads the file now (SIGHUP). Never rejects: failures are reported in the result. */
  reload(trigger: ReloadResult['trigger'] = 'signal'): Promise<ReloadResult> {
    // With `force`, #reloadNow always produces a result.
    const next = this.#queue.then(() => this.#reloadNow(trigger, true) as Promise<ReloadResult>);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Opens the configured number of connections to the upstream of every lookup not opened yet
   * (`preopenConnections`); waits at most each lookup's timeout. A lookup that could not be
   * reached is logged as a warning and keeps working (its first call opens its own connection).
   * Never rejects.
   */
  async preopenLookups(): Promise<Record<string, LookupPreopenReport>> {
    const lookups = this.#lookups;
    const connections = this.#options.preopenConnections ?? 0;
    if (!lookups || connections <= 0) return {};
    const reports = await lookups.preopen(connections);
    for (const [lookup, report] of Object.entries(reports)) {
      if (report.failed > 0) this.#logger.warn({ rulesFile: this.file, lookup, ...report }, 'lookup connection could not be opened ahead of its first call');
      if (report.accessToken === 'failed') this.#logger.warn({ rulesFile: this.file, lookup, error: report.accessTokenError }, 'lookup access token could not be fetched ahead of its first call');
    }
    return reports;
  }

  /** Stops watching and closes the lookups' connection pools (shutdown, after the drain). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#lookups?.close();
  }

  async #reloadNow(trigger: ReloadResult['trigger'], force: boolean): Promise<ReloadResult | undefined> {
    if (!this.file) {
      const result: ReloadResult = { result: 'success', version: this.version, rules: 0, changed: false, trigger };
      this.#options.onReload?.(result);
      return result;
    }
    let source: RulesSource;
    try {
      source = await readRulesSource(this.file);
    } catch (err) {
      const errors = err instanceof RulesFileError ? [...err.errors] : [String(err)];
      const key = `unreadable:${errors.join()}`;
      if (key === this.#rejectedHash && !force) return undefined;
      if (this.#unconfirmed(trigger, key)) return undefined;
      this.#rejectedHash = key;
      return this.#failed(trigger, errors);
    }
    const hash = source.hash;
    if (hash === this.#rejectedHash && !force) return undefined;
    if (hash === this.#loadedHash) {
      this.#rejectedHash = undefined;
      this.#suspectHash = undefined;
      // Rolling back to the rules being served ends a failure: it must be reported as a success, or
      // the last-failure timestamp stays newer than the last success and the alert never resolves.
      if (!force && !this.#failing) return undefined;
      // Same rules, but lookup credentials (mounted Secrets) may have been rotated: read them again.
      const current = this.#engine;
      if (current instanceof RulesEngine && current.ruleSet.lookups.length > 0) {
        const rebuilt = await this.#rebuild(current.ruleSet, trigger);
        if ('failure' in rebuilt) return rebuilt.failure;
        this.#engine = rebuilt.engine;
      }
      this.#failing = false;
      const result: ReloadResult = { result: 'success', version: this.version, rules: this.ruleCount, changed: false, trigger };
      this.#logger.info({ rulesFile: this.file, rulesVersion: result.version, rules: result.rules, trigger }, 'rules unchanged');
      this.#options.onReload?.(result);
      return result;
    }
    let parsed: ReturnType<typeof source.parse>;
    try {
      parsed = source.parse(this.#options.parseOptions);
    } catch (err) {
      // A validator bug must still be a reported, counted failure, never a silent one.
      const message = `${this.file}: the rules file could not be validated (${(err as Error).name}: ${(err as Error).message})`;
      parsed = { ok: false, errors: [message], diagnostics: [{ severity: 'error', text: message }], warnings: [] };
    }
    if (!parsed.ok) {
      if (this.#unconfirmed(trigger, hash)) return undefined;
      // Remember the bad content so the watcher does not report the same failure on every event.
      this.#rejectedHash = hash;
      return this.#failed(trigger, parsed.errors);
    }
    const rebuilt = await this.#rebuild(parsed.ruleSet, trigger);
    if ('failure' in rebuilt) {
      this.#rejectedHash = hash;
      return rebuilt.failure;
    }
    const previous = this.version;
    this.#engine = rebuilt.engine;
    this.#loadedHash = hash;
    this.#rejectedHash = undefined;
    this.#suspectHash = undefined;
    this.#failing = false;
    const result: ReloadResult = { result: 'success', version: parsed.ruleSet.version, rules: parsed.ruleSet.rules.length, changed: true, trigger };
    this.#logger.info({ rulesFile: this.file, rulesVersion: result.version, previousRulesVersion: previous, rules: result.rules, trigger }, 'rules reloaded');
    this.#warn(parsed.warnings);
    this.#options.onReload?.(result);
    return result;
  }

  /** Builds the engine and lookups for `ruleSet`, carrying unchanged lookups over; the old ones keep serving on failure. */
  async #rebuild(ruleSet: RuleSet, trigger: ReloadResult['trigger']): Promise<{ engine: RulesEngine } | { failure: ReloadResult }> {
    let built: { engine: RulesEngine; lookups: LookupSet | undefined };
    try {
      built = await RulesManager.#build(ruleSet, this.#options, this.#lookups);
    } catch (err) {
      const errors = err instanceof LookupSetupError ? err.errors.map((e) => `${this.file}: ${e}`) : [`${this.file}: ${String(err)}`];
      return { failure: this.#failed(trigger, errors) };
    }
    this.#lookups = built.lookups;
    if (this.#closed) await built.lookups?.close();
    // New or changed lookups open their connections in the background: the reload does not wait.
    else void this.preopenLookups();
    return { engine: built.engine };
  }

  /**
   * The watcher can read a file half-way through a write (truncate, then write). A failure seen
   * for the first time is confirmed on the next quiet period before it is reported; SIGHUP reports
   * at once.
   */
  #unconfirmed(trigger: ReloadResult['trigger'], key: string): boolean {
    if (trigger !== 'watch' || key === this.#suspectHash) {
      this.#suspectHash = undefined;
      return false;
    }
    this.#suspectHash = key;
    this.#scheduleCheck();
    return true;
  }

  #failed(trigger: ReloadResult['trigger'], errors: string[]): ReloadResult {
    this.#failing = true;
    const result: ReloadResult = {
      result: 'failure',
      version: this.version,
      rules: this.ruleCount,
      changed: false,
      trigger,
      errors,
      error: errors.join('\n'),
    };
    this.#logger.error({ rulesFile: this.file, rulesVersion: result.version, errors, trigger }, 'rules reload failed; previous rules keep serving');
    this.#options.onReload?.(result);
    return result;
  }

  /** Warnings (overlapping rule sets, rules that never match...) do not stop loading, but are worth a look. */
  #warn(warnings: readonly Diagnostic[]): void {
    if (warnings.length > 0) this.#logger.warn({ rulesFile: this.file, warnings: warnings.map((w) => w.text) }, 'rules loaded with warnings');
  }

  /** A rules directory is watched itself (files added, changed, removed; ConfigMap symlink swaps); a file through its directory. */
  async #startWatching(): Promise<void> {
    const directory = (await isDirectory(this.file)) ? this.file : dirname(this.file);
    try {
      this.#watcher = watch(directory, { persistent: false }, () => this.#scheduleCheck());
      this.#watcher.on('error', (err) => {
        this.#logger.warn({ rulesFile: this.file, err: String(err) }, 'rules file watcher failed; SIGHUP still reloads');
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      this.#logger.warn({ rulesFile: this.file, err: String(err) }, 'cannot watch rules directory; SIGHUP still reloads');
      return;
    }
    this.#logger.info({ rulesFile: this.file, directory, file: basename(this.file) }, 'watching rules file');
  }

  #scheduleCheck(): void {
    if (this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      if (this.#closed) return;
      const next = this.#queue.then(() => this.#reloadNow('watch', false));
      this.#queue = next.catch(() => undefined);
    }, this.#options.debounceMs ?? 250);
    this.#debounce.unref();
  }
}

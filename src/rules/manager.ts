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
import { RulesEngine } from './engine';
import { parseRules, readRulesText, rulesVersion, type ParseRulesOptions } from './load';
import { RulesFileError } from './types';

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
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #options: RulesManagerOptions;
  readonly #logger: RulesLogger;

  private constructor(options: RulesManagerOptions, engine: ClaimsEngine, contentHash: string | undefined) {
    this.#options = options;
    this.file = options.file;
    this.#logger = options.logger ?? silentLogger;
    this.#engine = engine;
    this.#loadedHash = contentHash;
  }

  /**
   * Loads the file (async) and starts watching. Rejects with `RulesFileError` (every problem in
   * `errors`) when the file is missing or invalid: the service must not start with broken rules.
   */
  static async create(options: RulesManagerOptions): Promise<RulesManager> {
    if (!options.file) return new RulesManager(options, NO_RULES_ENGINE, undefined);
    const text = await readRulesText(options.file);
    const parsed = parseRules(text, options.file, options.parseOptions);
    if (!parsed.ok) throw new RulesFileError(parsed.errors);
    const manager = new RulesManager(options, new RulesEngine(parsed.ruleSet), parsed.ruleSet.version);
    if (options.watch) manager.#startWatching();
    manager.#logger.info({ rulesFile: options.file, version: parsed.ruleSet.version, rules: parsed.ruleSet.rules.length }, 'rules loaded');
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

  /** Stops watching; the current engine keeps working. */
  close(): void {
    this.#closed = true;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  async #reloadNow(trigger: ReloadResult['trigger'], force: boolean): Promise<ReloadResult | undefined> {
    if (!this.file) {
      const result: ReloadResult = { result: 'success', version: this.version, rules: 0, changed: false, trigger };
      this.#options.onReload?.(result);
      return result;
    }
    let text: string;
    try {
      text = await readRulesText(this.file);
    } catch (err) {
      const errors = err instanceof RulesFileError ? [...err.errors] : [String(err)];
      const key = `unreadable:${errors.join()}`;
      if (key === this.#rejectedHash && !force) return undefined;
      if (this.#unconfirmed(trigger, key)) return undefined;
      this.#rejectedHash = key;
      return this.#failed(trigger, errors);
    }
    const hash = rulesVersion(text);
    if (hash === this.#rejectedHash && !force) return undefined;
    if (hash === this.#loadedHash) {
      this.#rejectedHash = undefined;
      this.#suspectHash = undefined;
      if (!force) return undefined;
      const result: ReloadResult = { result: 'success', version: this.version, rules: this.ruleCount, changed: false, trigger };
      this.#logger.info({ rulesFile: this.file, version: result.version, rules: result.rules, trigger }, 'rules unchanged');
      this.#options.onReload?.(result);
      return result;
    }
    const parsed = parseRules(text, this.file, this.#options.parseOptions);
    if (!parsed.ok) {
      if (this.#unconfirmed(trigger, hash)) return undefined;
      // Remember the bad content so the watcher does not report the same failure on every event.
      this.#rejectedHash = hash;
      return this.#failed(trigger, parsed.errors);
    }
    const previous = this.version;
    this.#engine = new RulesEngine(parsed.ruleSet);
    this.#loadedHash = hash;
    this.#rejectedHash = undefined;
    this.#suspectHash = undefined;
    const result: ReloadResult = { result: 'success', version: parsed.ruleSet.version, rules: parsed.ruleSet.rules.length, changed: true, trigger };
    this.#logger.info({ rulesFile: this.file, version: result.version, previousVersion: previous, rules: result.rules, trigger }, 'rules reloaded');
    this.#options.onReload?.(result);
    return result;
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
    const result: ReloadResult = {
      result: 'failure',
      version: this.version,
      rules: this.ruleCount,
      changed: false,
      trigger,
      errors,
      error: errors.join('\n'),
    };
    this.#logger.error({ rulesFile: this.file, version: result.version, errors, trigger }, 'rules reload failed; previous rules keep serving');
    this.#options.onReload?.(result);
    return result;
  }

  #startWatching(): void {
    const directory = dirname(this.file);
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

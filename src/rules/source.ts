/**
 * Where rules come from: one file, or a directory of files (RULES_FILE may point at either). A
 * directory is what a ConfigMap with several keys mounts: every `*.yaml`, `*.yml` and `*.json` in
 * it, in name order, each validated on its own like a single file; dotfiles and dot-directories
 * (`..data`, `..2025_01_01_…`, the mount's bookkeeping) are ignored and symlinks are followed.
 *
 * In a directory each file owns its scope: a file with `match:` is one rule set named after the
 * file; a file without it holds rules for every call (and may declare `ruleSets:`). Rule names are
 * prefixed with their file's (or set's) name so every name stays unique. A lookup may be defined
 * in several files only identically (it is then shared). Rule sets are checked across files.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LookupDefinition } from '../lookups/types';
import { parseRules, readRulesText, rulesVersion, type Diagnostic, type ParseRulesOptions, type ParseRulesResult } from './load';
import { analyzeScopes, fileScopeName } from './sets';
import { RulesFileError, type CompiledRule, type RuleScope } from './types';

export const RULES_FILE_PATTERN = /\.(ya?ml|json)$/i;

export interface RulesSource {
  /** Path as given (file or directory). */
  path: string;
  directory: boolean;
  /** Content hash (the version the rules will have): unchanged content is not reloaded. */
  hash: string;
  /** Files read, in order (one for a file). */
  files: string[];
  /** Validates and compiles (pure, no I/O). */
  parse(options?: ParseRulesOptions): ParseRulesResult;
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The rules files of a directory, in name order (dotfiles ignored, symlinks followed). */
async function listRulesFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new RulesFileError([`${dir}: cannot read rules directory (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  const files: string[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.') || !RULES_FILE_PATTERN.test(name)) continue;
    const path = join(dir, name);
    // A dangling symlink (a key being swapped) is skipped: the watcher sees the swap finish.
    if ((await stat(path).catch(() => undefined))?.isFile()) files.push(path);
  }
  if (files.length === 0) throw new RulesFileError([`${dir}: no rules files (*.yaml, *.yml, *.json) in the directory`]);
  return files;
}

/** Reads a rules file or directory (async I/O). Throws `RulesFileError` when it cannot be read. */
export async function readRulesSource(path: string): Promise<RulesSource> {
  if (!(await isDirectory(path))) {
    const text = await readRulesText(path);
    return { path, directory: false, hash: rulesVersion(text), files: [path], parse: (options) => parseRules(text, path, options) };
  }
  const files = await listRulesFiles(path);
  const texts = await Promise.all(files.map((file) => readRulesText(file)));
  const hash = rulesVersion(files.map((file, i) => `${file.slice(path.length)}\u0000${texts[i] ?? ''}\u0000`).join(''));
  return { path, directory: true, hash, files, parse: (options) => combine(path, hash, files, texts, options) };
}

const problem = (text: string): Diagnostic => ({ severity: 'error', text });

function combine(dir: string, version: string, files: string[], texts: string[], options: ParseRulesOptions | undefined): ParseRulesResult {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const unscoped: CompiledRule[] = [];
  const scoped: CompiledRule[] = [];
  const scopes: RuleScope[] = [];
  const lookups = new Map<string, { definition: LookupDefinition; file: string }>();
  const setFiles = new Map<string, string>();
  files.forEach((file, i) => {
    // Each file is validated on its own; rule sets are checked once, across the files, below.
    const parsed = parseRules(texts[i] ?? '', file, { ...options, skipScopeAnalysis: true });
    warnings.push(...parsed.warnings);
    if (!parsed.ok) {
      errors.push(...parsed.diagnostics);
      return;
    }
    const stem = fileScopeName(file);
    const { ruleSet } = parsed;
    if (!stem && ruleSet.rules.some((rule) => rule.set === undefined)) {
      errors.push(problem(`${file}: the file name must be lower-case letters, digits and - (with .yaml, .yml or .json): its rules are named after it`));
      return;
    }
    for (const rule of ruleSet.rules) {
      if (rule.set === undefined) unscoped.push({ ...rule, name: `${stem}/${rule.name}` });
      else scoped.push({ ...rule });
    }
    for (const scope of ruleSet.scopes) {
      const first = setFiles.get(scope.name);
      if (first) errors.push(problem(`${file}: rule set "${scope.name}" is also declared in ${first}: set names must be unique in the directory`));
      else setFiles.set(scope.name, file);
      scopes.push(scope);
    }
    for (const definition of ruleSet.lookups) {
      const known = lookups.get(definition.name);
      if (!known) lookups.set(definition.name, { definition, file });
      else if (known.definition.fingerprint !== definition.fingerprint || known.definition.type !== definition.type) {
        errors.push(problem(`${file}: lookup "${definition.name}" is also defined, differently, in ${known.file}: a lookup shared by several files must be defined identically`));
      }
    }
  });
  const analysis = errors.length > 0 ? { errors: [], warnings: [] } : analyzeScopes(scopes);
  errors.push(...analysis.errors.map(problem));
  warnings.push(...analysis.warnings.map((text): Diagnostic => ({ severity: 'warning', text })));
  if (errors.length > 0) return { ok: false, errors: errors.map((d) => d.text), diagnostics: errors, warnings };
  const rules = [...unscoped, ...scoped];
  rules.forEach((rule, index) => (rule.index = index));
  return { ok: true, ruleSet: { file: dir, version, rules, lookups: [...lookups.values()].map((entry) => entry.definition), scopes }, warnings };
}

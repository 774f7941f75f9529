/**
 * File arguments of `okta-token-hook test`: plain names, or globs (`*`, `?`, `**`) for shells that
 * do not expand them (CI YAML, Windows, a quoted argument). node_modules and dot-directories are
 * not searched.
 */
import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';

const GLOB = /[*?]/;

function segmentRegex(segment: string): RegExp {
  const body = segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

async function walk(dir: string, segments: string[], out: string[]): Promise<void> {
  const [head, ...rest] = segments;
  if (head === undefined) return;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir === '' ? '.' : dir, { withFileTypes: true });
  } catch {
    return;
  }
  if (head === '**') {
    await walk(dir, rest, out);
    for (const entry of entries) {
      if (entry.isDirectory() && entry.name !== 'node_modules' && !entry.name.startsWith('.')) await walk(join(dir, entry.name), segments, out);
    }
    return;
  }
  const match = segmentRegex(head);
  for (const entry of entries) {
    if (!match.test(entry.name) || (entry.name.startsWith('.') && !head.startsWith('.'))) continue;
    const path = dir === '' ? entry.name : join(dir, entry.name);
    if (rest.length === 0) {
      if (entry.isFile()) out.push(path);
    } else if (entry.isDirectory()) await walk(path, rest, out);
  }
}

/** Expands globs; plain names are kept as given (a missing file is reported by the runner). */
export async function expandFileArguments(patterns: readonly string[]): Promise<{ files: string[]; unmatched: string[] }> {
  const files: string[] = [];
  const unmatched: string[] = [];
  for (const pattern of patterns) {
    if (!GLOB.test(pattern)) {
      files.push(pattern);
      continue;
    }
    const parts = pattern.split(/[\\/]/);
    const fixed: string[] = [];
    while (parts.length > 0 && !GLOB.test(parts[0] as string)) fixed.push(parts.shift() as string);
    const base = pattern.startsWith('/') ? `/${fixed.filter(Boolean).join(sep)}` : fixed.join(sep);
    const found: string[] = [];
    await walk(base, parts, found);
    if (found.length === 0) unmatched.push(pattern);
    files.push(...found.sort());
  }
  return { files: [...new Set(files)], unmatched };
}

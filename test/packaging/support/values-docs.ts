/**
 * helm-docs conventions for values.yaml: a key is documented by a `# -- description` comment right
 * above it (continuation lines follow; `# @default -- text` replaces the shown default). A key
 * without one must be a plain grouping map whose keys are all documented. The chart README's
 * values table is generated from these comments (same columns as helm-docs).
 */
import { readFileSync } from 'node:fs';
import YAML, { isMap, isScalar, type Pair, type YAMLMap } from 'yaml';

export interface ValueDoc {
  key: string;
  type: string;
  default: string;
  description: string;
}

export interface ValuesDocs {
  documented: ValueDoc[];
  undocumented: string[];
}

function parseComment(comment: string | null | undefined): { description: string; defaultText?: string } | undefined {
  if (!comment) return undefined;
  // Only the paragraph right above the key counts (a file header may precede it).
  const paragraph = comment.split(/\n\s*\n/).pop()!;
  const lines = paragraph.split('\n').map((l) => l.trim());
  const start = lines.findIndex((l) => l.startsWith('-- '));
  if (start < 0) return undefined;
  const description: string[] = [];
  let defaultText: string | undefined;
  for (const line of lines.slice(start)) {
    if (line.startsWith('@default -- ')) defaultText = line.slice('@default -- '.length);
    else if (line.startsWith('-- ')) description.push(line.slice(3));
    else if (!line.startsWith('@')) description.push(line);
  }
  return { description: description.join(' ').trim(), defaultText };
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'string';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'boolean') return 'bool';
  return 'string';
}

export function valuesDocs(file: string): ValuesDocs {
  const doc = YAML.parseDocument(readFileSync(file, 'utf8'));
  const documented: ValueDoc[] = [];
  const undocumented: string[] = [];
  const walk = (map: YAMLMap, prefix: string): void => {
    map.items.forEach((item, index) => {
      const pair = item as Pair;
      const key = `${prefix}${isScalar(pair.key) ? String(pair.key.value) : String(pair.key)}`;
      // The comment above a map's first key is attached to the map itself by the YAML parser.
      const comment = (isScalar(pair.key) ? pair.key.commentBefore : undefined) ?? (index === 0 ? map.commentBefore : undefined);
      const parsed = parseComment(comment);
      const value: unknown = isScalar(pair.value) || pair.value === null ? (pair.value as { value?: unknown } | null)?.value ?? null : (pair.value as { toJSON(): unknown }).toJSON();
      if (parsed) {
        documented.push({
          key,
          type: typeOf(value),
          default: parsed.defaultText ?? `\`${JSON.stringify(value)}\``,
          description: parsed.description,
        });
      } else if (isMap(pair.value) && pair.value.items.length > 0) {
        walk(pair.value, `${key}.`);
      } else {
        undocumented.push(key);
      }
    });
  };
  walk(doc.contents as YAMLMap, '');
  return { documented, undocumented };
}

/** The values table of the chart README (helm-docs columns). */
export function valuesTable(docs: ValueDoc[]): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    '| Key | Type | Default | Description |',
    '|-----|------|---------|-------------|',
    ...docs.map((d) => `| ${d.key} | ${d.type} | ${cell(d.default)} | ${cell(d.description)} |`),
  ].join('\n');
}

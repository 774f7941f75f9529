/**
 * The YAML parse shared by rules files and rule test files. yaml's own `uniqueKeys` check compares
 * every key of a map with every other one: a 600 KB map of 50,000 keys took 13 s of the event loop
 * (on a hot reload, every pod reading the ConfigMap would stop answering). Keys are checked here
 * in one pass instead, with the same message and position.
 */
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';

export interface YamlProblem {
  message: string;
  /** Offsets in the text, as yaml reports them. */
  pos: [number, number];
  linePos?: readonly { line: number; col: number }[];
}

export function parseYaml(text: string, lineCounter: LineCounter): { doc: Document.Parsed; errors: YamlProblem[] } {
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const errors: YamlProblem[] = [...doc.errors];
  if (errors.length === 0) errors.push(...duplicateKeys(doc));
  return { doc, errors };
}

/** Keys repeated in a map (scalars compared by type and value, as yaml does); collections as keys are not compared. */
export function duplicateKeys(doc: Document.Parsed): YamlProblem[] {
  const problems: YamlProblem[] = [];
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map) || map.items.length < 2) return;
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key)) continue;
        const id = `${typeof key.value}:${String(key.value)}`;
        if (seen.has(id)) {
          const start = key.range?.[0] ?? 0;
          problems.push({ message: 'Map keys must be unique', pos: [start, start + 1] });
        } else seen.add(id);
      }
    },
  });
  return problems;
}

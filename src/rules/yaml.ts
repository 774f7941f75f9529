/**
 * The YAML parse shared by rules files and rule test files, guarded against the inputs that made
 * yaml take the process down or hold the event loop for seconds (on a hot reload, every pod
 * reading the ConfigMap at once): flow collections nested past a limit are refused before yaml
 * sees them, and repeated keys are found in one pass (yaml's own `uniqueKeys` compares every key of
 * a map with every other one: a 600 KB map of 50,000 keys took 13 s), same message and position.
 */
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';

export interface YamlProblem {
  message: string;
  /** Offsets in the text, as yaml reports them. */
  pos: [number, number];
  linePos?: readonly { line: number; col: number }[];
}

/** The document, or (without one) every problem found; `maxFlowNesting` bounds `[` / `{` nesting. */
export function parseYaml(text: string, lineCounter: LineCounter, maxFlowNesting: number): { doc: Document.Parsed; errors: [] } | { doc: undefined; errors: YamlProblem[] } {
  const tooDeep = flowNestingProblem(text, maxFlowNesting);
  if (tooDeep) {
    return { doc: undefined, errors: [{ message: `[ or { nested deeper than ${maxFlowNesting} levels`, pos: [tooDeep.offset, tooDeep.offset + 1], linePos: [{ line: tooDeep.line, col: tooDeep.column }] }] };
  }
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const errors: YamlProblem[] = doc.errors.length > 0 ? [...doc.errors] : duplicateKeys(doc);
  return errors.length > 0 ? { doc: undefined, errors } : { doc, errors: [] };
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

/** Deepest `[` / `{` nesting a rules file may have: far above what any rule needs (values are capped at 32 levels). */
export const MAX_FLOW_NESTING = 64;

/**
 * Where a flow collection (`[` or `{`) opens deeper than `MAX_FLOW_NESTING`, found in one linear
 * pass that skips quoted scalars and comments. The YAML parser is recursive: a few tens of kilobytes
 * of `[[[[…` made it spend a second and then hundreds of MB building errors, until V8 aborted the
 * process (out of memory in its RegExp compiler), so such text is refused before it is parsed.
 */
export function flowNestingProblem(text: string, max: number): { line: number; column: number; offset: number } | undefined {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 /* \n */) {
      line++;
      lineStart = i + 1;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return { line, column: i - lineStart + 1, offset: i };
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      if (depth > 0) depth--;
    } else if (c === 35 /* # */ && (i === lineStart || text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9)) {
      const end = text.indexOf('\n', i);
      if (end === -1) break;
      i = end - 1;
    } else if (c === 39 /* ' */ || c === 34 /* " */) {
      // A quoted scalar: '' escapes a single quote, \ escapes in double quotes. Newlines inside still count lines.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 10) {
          line++;
          lineStart = i + 1;
        } else if (c === 34 && d === 92 /* \\ */) i++;
        else if (d === c) {
          if (c === 39 && text.charCodeAt(i + 1) === 39) i++;
          else break;
        }
      }
    }
  }
  return undefined;
}

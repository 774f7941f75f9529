/**
 * Every rules snippet in README.md and docs/ passes `okta-token-hook check --strict` (the real command,
 * run in-process on a temporary file: no errors and no warnings). A ```yaml block is a rules snippet when it has a top-level
 * `rules:` list or `lookups:` map, or is a list of rules (checked as `rules:` of a file). Markers in an
 * HTML comment right above a block:
 *   <!-- rules-file -->                    check it whatever it looks like (e.g. a JSON rules file)
 *   <!-- rules-invalid: <part of error> --> a deliberately wrong example: check must reject it with that message
 *   <!-- yaml-fragment -->                 not a whole YAML document (e.g. "..." elisions): not parsed
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { docPages, type CodeBlock, type Page } from './support/markdown';
import { cliOutput } from './support/reference';

interface Snippet {
  where: string;
  text: string;
  expectError: string | undefined;
  /** For a rules-invalid snippet followed by a ```text block: the output the page shows. */
  shownOutput?: string;
}

const RULE_KEYS = ['claims', 'remove', 'lifetime', 'deny'];

function isRuleList(value: unknown): value is Array<Record<string, unknown>> {
  return Array.isArray(value) && value.length > 0 && value.every((r) => r !== null && typeof r === 'object' && 'name' in r && RULE_KEYS.some((k) => k in r));
}

/** The rules snippets of some pages, plus problems with blocks that could not be classified. */
function rulesSnippets(pages: Page[]): { snippets: Snippet[]; problems: string[] } {
  const snippets: Snippet[] = [];
  const problems: string[] = [];
  const visit = (page: Page, block: CodeBlock): void => {
    const where = `${page.path}:${block.line}`;
    const marker = block.marker ?? '';
    if (marker === 'rules-file') return void snippets.push({ where, text: block.text, expectError: undefined });
    const invalid = /^rules-invalid:\s*(.+)$/.exec(marker);
    if (invalid) {
      const next = page.blocks[page.blocks.indexOf(block) + 1];
      const shownOutput = next && next.lang === 'text' && next.line - block.line - block.text.split('\n').length <= 3 ? next.text : undefined;
      return void snippets.push({ where, text: block.text, expectError: invalid[1] as string, shownOutput });
    }
    if (!['yaml', 'yml'].includes(block.lang) || marker === 'yaml-fragment') return;
    let doc: unknown;
    try {
      doc = parse(block.text);
    } catch (err) {
      return void problems.push(`${where}: not valid YAML (${(err as Error).message.split('\n')[0]}); fix it or mark it <!-- yaml-fragment -->`);
    }
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
      const top = doc as Record<string, unknown>;
      if (Array.isArray(top.rules) || (top.lookups !== null && typeof top.lookups === 'object' && !Array.isArray(top.lookups) && !('content' in top))) {
        snippets.push({ where, text: block.text, expectError: undefined });
      }
    } else if (isRuleList(doc)) {
      snippets.push({ where, text: stringify({ rules: doc }), expectError: undefined });
    }
  };
  for (const page of pages) for (const block of page.blocks) visit(page, block);
  return { snippets, problems };
}

async function checkSnippet(snippet: Snippet, dir: string, index: number): Promise<string | undefined> {
  const file = join(dir, `snippet-${index}.yaml`);
  writeFileSync(file, snippet.text);
  const { code, out, err } = await cliOutput(['check', '--strict', file]);
  if (snippet.expectError === undefined) return code === 0 ? undefined : `${snippet.where}: check exited ${code}:\n${err}${out}`;
  if (code !== 1) return `${snippet.where}: marked rules-invalid but check exited ${code}:\n${err}${out}`;
  if (!err.includes(snippet.expectError)) return `${snippet.where}: check rejected it, but not with "${snippet.expectError}":\n${err}`;
  if (snippet.shownOutput === undefined) return undefined;
  // The page names the file as the reader would (my-rules.yaml); the output is otherwise verbatim.
  const shownName = /^(\S+?):/.exec(snippet.shownOutput)?.[1] ?? '';
  const actual = err.split(file).join(shownName).trimEnd();
  return actual === snippet.shownOutput.trimEnd() ? undefined : `${snippet.where}: the output shown after the snippet is not what check prints:\n${actual}`;
}

describe('rules snippets in the docs', () => {
  const { snippets, problems } = rulesSnippets(docPages());
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'docs-snippets-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every YAML block is valid YAML or marked as a fragment', () => {
    expect(problems).toEqual([]);
  });

  it('finds the snippets (README, rules reference, lookups, tutorial...)', () => {
    const places = new Set(snippets.map((s) => s.where.split(':')[0]));
    expect([...places]).toEqual(expect.arrayContaining(['README.md', 'docs/rules/reference.md', 'docs/lookups.md']));
  });

  it('each passes `okta-token-hook check --strict` (or is rejected as its marker says)', async () => {
    const failures: string[] = [];
    for (const [index, snippet] of snippets.entries()) {
      const failure = await checkSnippet(snippet, dir, index);
      if (failure) failures.push(failure);
    }
    expect(failures).toEqual([]);
  });

  it('reports a snippet that check rejects, and classifies blocks by content and marker', async () => {
    const page: Page = {
      path: 'x.md',
      text: '',
      prose: '',
      blocks: [
        { lang: 'yaml', line: 1, marker: undefined, text: 'rules:\n  - name: Bad_Name\n    claims: [{ name: a, value: 1 }]' },
        { lang: 'yaml', line: 5, marker: undefined, text: '- name: ok\n  claims: [{ name: a, value: 1 }]' },
        { lang: 'yaml', line: 9, marker: 'rules-invalid: is reserved', text: 'rules:\n  - name: r\n    claims: [{ name: sub, value: x, tokens: [id] }]' },
        { lang: 'yaml', line: 13, marker: undefined, text: 'rules:\n  content: ""' },
        { lang: 'yaml', line: 17, marker: undefined, text: 'a: [' },
        { lang: 'yaml', line: 21, marker: 'yaml-fragment', text: 'a: [' },
      ],
    };
    const { snippets: found, problems: bad } = rulesSnippets([page]);
    expect(found.map((s) => s.where)).toEqual(['x.md:1', 'x.md:5', 'x.md:9']);
    expect(bad).toEqual([expect.stringMatching(/^x\.md:17: not valid YAML/)]);
    const results = await Promise.all(found.map((s, i) => checkSnippet(s, dir, 100 + i)));
    expect(results[0]).toMatch(/^x\.md:1: check exited 1:[\s\S]*Bad_Name/);
    expect(results.slice(1)).toEqual([undefined, undefined]);
  });
});

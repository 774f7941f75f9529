/**
 * The rules documentation stays true: every rules snippet in README.md and docs/ passes `check`
 * (no errors, no warnings), every test-file snippet is a valid test file, and the first example of
 * "Testing your rules" prints exactly the output the page shows.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parseRules } from '../../src/rules/load';
import { parseTestFile } from '../../src/rules/testing/spec';
import { ROOT, assertBuilt } from '../helpers/process';

const run = promisify(execFile);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

interface Block {
  file: string;
  line: number;
  lang: string;
  text: string;
}

function blocks(file: string): Block[] {
  const source = readFileSync(file, 'utf8');
  const found: Block[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```/gm;
  for (let match = fence.exec(source); match; match = fence.exec(source)) {
    found.push({ file: relative(ROOT, file), line: source.slice(0, match.index).split('\n').length, lang: match[1] ?? '', text: match[2] ?? '' });
  }
  return found;
}

const docs = [join(ROOT, 'README.md'), ...markdownFiles(join(ROOT, 'docs'))].flatMap(blocks);
const yamlBlocks = docs.filter((b) => b.lang === 'yaml' || b.lang === 'yml');
const rulesSnippets = yamlBlocks.filter((b) => /^rules:\s*$/m.test(b.text) && !/^tests:/m.test(b.text));
const testSnippets = yamlBlocks.filter((b) => /^tests:/m.test(b.text));

describe('rules snippets in the documentation', () => {
  it('finds the snippets', () => {
    expect(rulesSnippets.length).toBeGreaterThanOrEqual(4);
    expect(testSnippets.length).toBeGreaterThanOrEqual(1);
  });

  it.each(rulesSnippets.map((b) => [`${b.file}:${b.line}`, b] as const))('%s passes check without warnings', (_where, block) => {
    const result = parseRules(block.text, `${block.file}:${block.line}`);
    expect(result.ok ? [] : result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.text)).toEqual([]);
  });

  it.each(testSnippets.map((b) => [`${b.file}:${b.line}`, b] as const))('%s is a valid test file', (_where, block) => {
    const result = parseTestFile(block.text, `${block.file}:${block.line}`);
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it('"Testing your rules" shows the output its first example really prints', async () => {
    assertBuilt();
    const page = blocks(join(ROOT, 'docs', 'rules', 'testing.md'));
    const rules = page.find((b) => b.text.startsWith('# rules.yaml\n'));
    const tests = page.find((b) => b.text.startsWith('# rules.test.yaml\n'));
    const output = page.find((b) => b.lang === 'text' && b.text.startsWith('Unit Testing: rules.test.yaml'));
    expect([rules, tests, output].every(Boolean)).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'docs-testing-'));
    try {
      await writeFile(join(dir, 'rules.yaml'), rules!.text);
      await writeFile(join(dir, 'rules.test.yaml'), tests!.text);
      const result = await run(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'test', 'rules.test.yaml'], { cwd: dir }).catch(
        (err: { code: number; stdout: string }) => err,
      );
      expect(result).toMatchObject({ code: 1, stdout: output!.text });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

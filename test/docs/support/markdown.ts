/**
 * Just enough Markdown for the docs tests: the pages of README.md and docs/, their headings with
 * GitHub's anchors, their links, fenced code blocks (with the HTML comment right above them) and
 * inline code spans outside those blocks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../../helpers/process';

export interface CodeBlock {
  lang: string;
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The HTML comment on the line(s) right above the fence, if any (e.g. `<!-- rules: fragment -->`). */
  marker: string | undefined;
}

export interface Page {
  /** Path relative to the repository root, with `/` separators. */
  path: string;
  text: string;
  /** The text with fenced code blocks blanked out (line numbers kept). */
  prose: string;
  blocks: CodeBlock[];
}

/** README.md and every Markdown file under docs/. */
export function docPages(): Page[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.md')) files.push(rel);
    }
  };
  walk('docs');
  return files.sort().map((file) => readPage(file));
}

export function readPage(path: string): Page {
  const text = readFileSync(join(ROOT, path), 'utf8');
  const { prose, blocks } = splitFences(text);
  return { path, text, prose, blocks };
}

export function repoPath(absolute: string): string {
  return relative(ROOT, absolute).split('\\').join('/');
}

function splitFences(text: string): { prose: string; blocks: CodeBlock[] } {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  const prose: string[] = [];
  let open: { fence: string; lang: string; line: number; body: string[]; marker: string | undefined } | undefined;
  lines.forEach((line, index) => {
    if (open) {
      if (line.trimStart().startsWith(open.fence) && line.trim().replace(/`+|~+/, '') === '') {
        blocks.push({ lang: open.lang, text: open.body.join('\n'), line: open.line, marker: open.marker });
        open = undefined;
      } else {
        // Indented fences (inside list items) carry the list indentation on every line.
        open.body.push(line);
      }
      prose.push('');
      return;
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (fence) {
      let marker: string | undefined;
      for (let i = index - 1; i >= 0 && i >= index - 2; i--) {
        const m = /^\s*<!--\s*(.*?)\s*-->\s*$/.exec(lines[i] ?? '');
        if (m) {
          marker = m[1];
          break;
        }
        if ((lines[i] ?? '').trim() !== '') break;
      }
      open = { fence: fence[2] as string, lang: (fence[3] ?? '').toLowerCase(), line: index + 1, body: [], marker };
      prose.push('');
      return;
    }
    prose.push(line);
  });
  return { prose: prose.join('\n'), blocks: blocks.map((b) => ({ ...b, text: dedent(b.text) })) };
}

function dedent(text: string): string {
  const lines = text.split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length);
  const min = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(min)).join('\n');
}

/** Inline code spans of the prose (outside fenced blocks). */
export function codeSpans(prose: string): string[] {
  const spans: string[] = [];
  const re = /(`+)([\s\S]*?[^`])\1(?!`)/g;
  for (let m = re.exec(prose); m; m = re.exec(prose)) spans.push((m[2] as string).trim());
  return spans;
}

/** Heading text as GitHub renders it: inline code, emphasis and links reduced to their text. */
function headingText(raw: string): string {
  return raw
    .replace(/\s+#+\s*$/, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim();
}

/** GitHub's anchor for a heading text (github-slugger): lower case, punctuation dropped, spaces to `-`. */
export function githubSlug(text: string): string {
  return headingText(text)
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers: its headings (with GitHub's -1, -2 suffixes for repeats) and HTML ids. */
export function anchorsOf(page: Page): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of page.prose.split('\n')) {
    const heading = /^ {0,3}#{1,6}\s+(.*)$/.exec(line);
    if (heading) {
      const slug = githubSlug(heading[1] as string);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
  }
  for (const m of page.prose.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1] as string);
  return anchors;
}

export interface Link {
  target: string;
  line: number;
}

/** Links of the prose: `[text](target)`, `[text]: target` definitions and `<a href>`. */
export function linksOf(page: Page): Link[] {
  const links: Link[] = [];
  page.prose.split('\n').forEach((line, index) => {
    // Inline code is not a link: `a[0](b)` in a span must not count.
    const text = line.replace(/(`+)[^`]*?\1/g, '');
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1] as string, line: index + 1 });
    const def = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(text);
    if (def) links.push({ target: def[1] as string, line: index + 1 });
    for (const m of text.matchAll(/<a\s[^>]*href="([^"]+)"/g)) links.push({ target: m[1] as string, line: index + 1 });
  });
  return links;
}

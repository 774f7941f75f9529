/**
 * Every relative link in README.md and docs/ points at a file of the repository, and every `#anchor`
 * at a heading of the target page (GitHub's anchor rules), so the docs render and navigate on a forge.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { ROOT } from '../helpers/process';
import { anchorsOf, docPages, githubSlug, linksOf, readPage, repoPath, type Page } from './support/markdown';

const pages = docPages();
const anchorCache = new Map<string, Set<string>>();

function anchors(path: string): Set<string> {
  let set = anchorCache.get(path);
  if (!set) {
    set = anchorsOf(readPage(path));
    anchorCache.set(path, set);
  }
  return set;
}

/** Problems of one page's links, as readable strings. */
function brokenLinks(page: Page): string[] {
  const problems: string[] = [];
  for (const { target, line } of linksOf(page)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
    const where = `${page.path}:${line}: ${target}`;
    if (target.startsWith('/')) {
      problems.push(`${where}: absolute path; use a path relative to the page`);
      continue;
    }
    if (pathPart === '') {
      if (anchor && !anchorsOf(page).has(decodeURIComponent(anchor))) problems.push(`${where}: no heading with this anchor in ${page.path}`);
      continue;
    }
    const file = normalize(join(ROOT, dirname(page.path), decodeURIComponent(pathPart)));
    if (!file.startsWith(ROOT) || !existsSync(file)) {
      problems.push(`${where}: no such file`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (statSync(file).isDirectory()) {
      problems.push(`${where}: anchor on a directory`);
      continue;
    }
    if (!file.endsWith('.md')) {
      if (!/^L\d+(-L\d+)?$/.test(anchor)) problems.push(`${where}: only #L<line> anchors work on non-Markdown files`);
      continue;
    }
    if (!anchors(repoPath(file)).has(decodeURIComponent(anchor))) problems.push(`${where}: no heading with this anchor in ${repoPath(file)}`);
  }
  return problems;
}

describe('links in README.md and docs/', () => {
  it('finds the pages (README.md, docs/README.md index and more)', () => {
    const paths = pages.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['README.md', 'docs/README.md', 'docs/runbook.md']));
  });

  it.each(pages.map((p) => [p.path, p] as const))('%s: every relative link and anchor resolves', (_path, page) => {
    expect(brokenLinks(page)).toEqual([]);
  });

  it('every page under docs/ is reachable from the docs index or another page', () => {
    const linked = new Set<string>();
    for (const page of pages) {
      for (const { target } of linksOf(page)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const pathPart = target.split('#')[0] as string;
        if (pathPart) linked.add(repoPath(normalize(join(ROOT, dirname(page.path), pathPart))));
      }
    }
    const orphans = pages.map((p) => p.path).filter((p) => p.startsWith('docs/') && p !== 'docs/README.md' && !linked.has(p));
    expect(orphans).toEqual([]);
  });
});

describe('the link checker itself', () => {
  it('computes GitHub anchors: lower case, punctuation dropped, spaces to dashes, code and links reduced to text', () => {
    expect(githubSlug('OktaTokenHookErrorBudgetBurnFast')).toBe('oktatokenhookerrorbudgetburnfast');
    expect(githubSlug('Migrating from a header secret to OAuth 2.0 (`AUTH_MODE=either`)')).toBe('migrating-from-a-header-secret-to-oauth-20-auth_modeeither');
    expect(githubSlug('External data (lookups)')).toBe('external-data-lookups');
    expect(githubSlug('2. A local cluster: kind or minikube with skaffold')).toBe('2-a-local-cluster-kind-or-minikube-with-skaffold');
    expect(githubSlug('Why is my claim missing?')).toBe('why-is-my-claim-missing');
    expect(githubSlug('[Okta](https://okta.com) setup')).toBe('okta-setup');
  });

  it('reports a missing file and a missing anchor, and numbers repeated headings like GitHub', () => {
    const page: Page = {
      path: 'docs/example.md',
      text: '',
      prose: '# Title\n## Same\n## Same\n[a](runbook.md#no-such-alert) [b](nope.md) [c](#same-1) [d](#same-2) [e](runbook.md#oktatokenhookdown)',
      blocks: [],
    };
    expect(anchorsOf(page)).toEqual(new Set(['title', 'same', 'same-1']));
    expect(brokenLinks(page)).toEqual([
      'docs/example.md:4: runbook.md#no-such-alert: no heading with this anchor in docs/runbook.md',
      'docs/example.md:4: nope.md: no such file',
      'docs/example.md:4: #same-2: no heading with this anchor in docs/example.md',
    ]);
  });
});

/**
 * The reference pages generated from the code are up to date. Regenerate them with
 * `npm run docs:generate` (which runs this file with UPDATE_DOCS=1, and the chart values table).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/process';
import { GENERATED, withSection } from './support/reference';

describe('generated reference sections', () => {
  it.each(GENERATED.map((s) => [`${s.page} (${s.name})`, s] as const))('%s matches the code (npm run docs:generate)', async (_title, section) => {
    const file = join(ROOT, section.page);
    const actual = readFileSync(file, 'utf8');
    const expected = withSection(section.page, actual, section.name, await section.build());
    if (actual !== expected && process.env.UPDATE_DOCS === '1') writeFileSync(file, expected);
    else expect(actual).toBe(expected);
  });

  it('fails on a stale section and says where the markers are missing', () => {
    const page = 'intro\n<!-- generated: demo (npm run docs:generate) -->\n\nold\n\n<!-- /generated: demo -->\nafter\n';
    expect(withSection('x.md', page, 'demo', 'new')).toBe('intro\n<!-- generated: demo (npm run docs:generate) -->\n\nnew\n\n<!-- /generated: demo -->\nafter\n');
    expect(() => withSection('x.md', 'no markers', 'demo', 'new')).toThrow('x.md: markers <!-- generated: demo --> ... <!-- /generated: demo --> not found');
  });
});

/**
 * The rules and payloads the packaging ships go through the service's own code: the example rules
 * of the chart and of the kustomize base load with the rules parser, and the requests `helm test`
 * and NOTES.txt send get the Okta commands those checks expect.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildResponse } from '../../src/hook/builder';
import { parseTokenHookEvent } from '../../src/hook/parse';
import { RulesEngine } from '../../src/rules/engine';
import { parseRules } from '../../src/rules/load';
import { renderChart } from './support/helm';
import { chartDir, readYaml, repoRoot } from './support/paths';

const chartRules = ((readYaml(path.join(chartDir, 'values.yaml')) as Record<string, Record<string, string>>).rules!.content)!;
const baseRules = readFileSync(path.join(repoRoot, 'k8s/base/rules.yaml'), 'utf8');

function engineFor(text: string, file: string): RulesEngine {
  const parsed = parseRules(text, file);
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return new RulesEngine(parsed.ruleSet);
}

async function respond(engine: RulesEngine, body: unknown): Promise<Record<string, unknown>> {
  const parsed = parseTokenHookEvent(body);
  if (!parsed.ok) throw new Error(parsed.message);
  const evaluation = await engine.evaluate(parsed.event);
  return buildResponse(parsed.event, evaluation, { debugContext: false, version: engine.version }).response as unknown as Record<string, unknown>;
}

describe('shipped example rules and requests', () => {
  it.each([
    ['chart values.yaml rules.content', chartRules],
    ['k8s/base/rules.yaml', baseRules],
  ])('%s loads with the service rules parser', (file, text) => {
    const parsed = parseRules(text, file);
    expect(parsed.ok ? [] : parsed.errors).toEqual([]);
  });

  it('the helm test sample request gets Okta commands from the default rules', async () => {
    const sample = JSON.parse(readFileSync(path.join(chartDir, 'files/sample-request.json'), 'utf8')) as unknown;
    const response = await respond(engineFor(chartRules, 'values.yaml'), sample);
    expect(response).toEqual({
      commands: [
        { type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' }] },
        {
          type: 'com.okta.access.patch',
          value: [
            { op: 'add', path: '/claims/custom-claim', value: 'hello-from-hook' },
            { op: 'add', path: '/claims/tier', value: 'gold' },
          ],
        },
      ],
    });
  });

  it('the request NOTES.txt posts (files/sample-request.json) is accepted and patched by the chart\'s rules', async () => {
    const notes = renderChart([{ auth: { secret: 's' } }]).notes;
    expect(notes).toContain('--data-binary @okta-token-hook/files/sample-request.json');
    const body = JSON.parse(readFileSync(path.join(chartDir, 'files/sample-request.json'), 'utf8')) as unknown;
    const response = await respond(engineFor(chartRules, 'values.yaml'), body);
    expect(JSON.stringify(response.commands)).toContain('hello-from-hook');
  });
});

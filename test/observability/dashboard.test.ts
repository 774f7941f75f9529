import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/process';

/**
 * The dashboard's structure: what the Grafana sidecar needs to load it unattended, and what an
 * operator needs to find. Its queries are evaluated against a real Prometheus in prometheus.test.ts.
 */
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string; exemplar?: boolean; datasource?: { uid: string } }>;
  fieldConfig?: { defaults: { unit?: string; custom?: { thresholdsStyle?: { mode: string } }; thresholds?: { steps: Array<{ value: number | null }> } } };
}
interface Variable {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  includeAll?: boolean;
  multi?: boolean;
}

const raw = readFileSync(join(ROOT, 'charts', 'okta-token-hook', 'files', 'grafana-dashboard.json'), 'utf8');
const dashboard = JSON.parse(raw) as { uid: string; title: string; schemaVersion: number; id: unknown; panels: Panel[]; templating: { list: Variable[] } } & Record<string, unknown>;
const panels = dashboard.panels.filter((p) => p.type !== 'row');

describe('the Grafana dashboard', () => {
  it('loads without an import step: fixed uid, no __inputs/__requires, no numeric id', () => {
    expect(dashboard.uid).toBe('okta-token-hook');
    expect(dashboard).not.toHaveProperty('__inputs');
    expect(dashboard).not.toHaveProperty('__requires');
    expect(dashboard.id).toBeNull();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
  });

  it('has a Prometheus datasource variable and namespace/pod variables from label_values', () => {
    const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.namespace).toMatchObject({ type: 'query', definition: 'label_values(okta_hook_build_info, namespace)' });
    expect(vars.pod).toMatchObject({ type: 'query', includeAll: true, multi: true });
    expect(vars.pod?.definition).toBe('label_values(okta_hook_build_info{namespace="$namespace"}, pod)');
  });

  it('queries through the datasource variable only, and filters every okta_hook_* query by namespace and pod', () => {
    for (const panel of panels) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({ panel: panel.title, uid: '${datasource}' });
      for (const target of panel.targets ?? []) {
        expect(target.datasource?.uid).toBe('${datasource}');
        for (const selector of target.expr.match(/(okta_hook_|process_|nodejs_)[a-z_]+\{[^}]*\}/g) ?? []) {
          expect({ panel: panel.title, selector, filtered: selector.includes('namespace="$namespace"') && selector.includes('pod=~"$pod"') }).toMatchObject({
            filtered: true,
          });
        }
        expect(target.expr).not.toMatch(/(okta_hook_|process_|nodejs_)[a-z_]+\[/);
      }
    }
  });

  it.each([
    'Call rate by outcome',
    'Error and deny ratios',
    'Latency p50 / p95 / p99 (Okta budget 3 s)',
    'Auth failures by reason',
    'Auth success by credential slot',
    'Rule matches by rule',
    'Rule errors by rule',
    'Claims changed by token and op',
    'Skipped changes by reason',
    'Rules reloads',
    'Rules version',
    'Lookup duration p95 by lookup',
    'Lookup cache',
    'Lookup circuit breaker state',
    'Shadow comparisons by result',
    'Shadow differences by kind',
    'Shadow agreement ratio',
    'Calls by rule set',
    'Event-loop lag p99 per pod',
    'CPU per pod',
    'Memory per pod',
    'Replicas',
  ])('has the panel "%s"', (title) => {
    expect(panels.map((p) => p.title)).toContain(title);
  });

  it('shows the 3 s Okta budget as a threshold line and exemplars on the latency panel', () => {
    const latency = panels.find((p) => p.title.startsWith('Latency p50'));
    expect(latency?.fieldConfig?.defaults.unit).toBe('s');
    expect(latency?.fieldConfig?.defaults.custom?.thresholdsStyle?.mode).toBe('line');
    expect(latency?.fieldConfig?.defaults.thresholds?.steps.map((s) => s.value)).toContain(3);
    expect(latency?.targets?.some((t) => t.exemplar === true && t.expr.includes('okta_hook_request_duration_seconds_bucket'))).toBe(true);
  });

  it('lays panels out on the 24-column grid without overlaps, with unique ids', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const cell = `${row}:${col}`;
          expect({ panel: panel.title, cell, free: !cells.has(cell) }).toEqual({ panel: panel.title, cell, free: true });
          cells.add(cell);
        }
      }
    }
  });
});

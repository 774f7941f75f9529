/**
 * A strict-enough reader of the Prometheus text and OpenMetrics formats for assertions: every
 * sample line must parse, belong to the family declared by the preceding TYPE line, and carry
 * well-formed labels. Anything else throws, so a malformed exposition fails the test.
 */

export interface Exemplar {
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  exemplar?: Exemplar;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN' || text === 'Nan') return NaN;
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value)) throw new Error(`not a number: ${text}`);
  return value;
}

/** Parses `{a="x",b="y"}` starting at `start` (the `{`); returns labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (line[i] !== '}') {
    const match = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!match) throw new Error(`bad label name at ${i}: ${line}`);
    const labelName = match[0];
    i += labelName.length;
    if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`bad label syntax at ${i}: ${line}`);
    i += 2;
    let value = '';
    while (line[i] !== '"') {
      if (i >= line.length) throw new Error(`unterminated label value: ${line}`);
      if (line[i] === '\\') {
        const escaped = line[i + 1];
        value += escaped === 'n' ? '\n' : escaped;
        i += 2;
      } else {
        value += line[i];
        i += 1;
      }
    }
    i += 1;
    if (labelName in labels) throw new Error(`duplicate label ${labelName}: ${line}`);
    labels[labelName] = value;
    if (line[i] === ',') i += 1;
    else if (line[i] !== '}') throw new Error(`expected , or } at ${i}: ${line}`);
  }
  return { labels, end: i + 1 };
}

function parseSample(line: string, openMetrics: boolean): Sample {
  const nameMatch = NAME.exec(line);
  if (!nameMatch) throw new Error(`bad sample line: ${line}`);
  const name = nameMatch[0];
  let i = name.length;
  let labels: Record<string, string> = {};
  if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i));
  const rest = line.slice(i).trim();
  const [samplePart, exemplarPart] = rest.split(' # ');
  const fields = (samplePart ?? '').split(' ');
  if (fields.length < 1 || fields.length > 2) throw new Error(`bad value/timestamp: ${line}`);
  const sample: Sample = { name, labels, value: parseValue(fields[0] ?? '') };
  if (exemplarPart !== undefined) {
    if (!openMetrics) throw new Error(`exemplar in Prometheus text format: ${line}`);
    if (!exemplarPart.startsWith('{')) throw new Error(`bad exemplar: ${line}`);
    const parsed = parseLabels(exemplarPart, 0);
    const [value, timestamp] = exemplarPart.slice(parsed.end).trim().split(' ');
    sample.exemplar = { labels: parsed.labels, value: parseValue(value ?? ''), ...(timestamp ? { timestamp: parseValue(timestamp) } : {}) };
  }
  return sample;
}

const SUFFIXES: Record<string, string[]> = {
  counter: ['_total', '_created', ''],
  histogram: ['_bucket', '_sum', '_count', '_created'],
  summary: ['', '_sum', '_count', '_created'],
  gauge: [''],
  untyped: [''],
  unknown: [''],
  info: ['_info'],
};

export function parseExposition(text: string, format: 'prometheus' | 'openmetrics'): Map<string, Family> {
  const openMetrics = format === 'openmetrics';
  const families = new Map<string, Family>();
  const lines = text.split('\n');
  if (openMetrics) {
    if (lines[lines.length - 1] !== '' || lines[lines.length - 2] !== '# EOF') throw new Error('OpenMetrics exposition must end with "# EOF\\n"');
    lines.splice(lines.length - 2, 2);
  }
  let current: Family | undefined;
  for (const line of lines) {
    if (line === '') {
      if (openMetrics) throw new Error('blank line in OpenMetrics exposition');
      continue;
    }
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      let family = families.get(name);
      if (!family) {
        family = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, family);
      }
      if (kind === 'HELP') family.help = rest;
      else family.type = rest;
      current = family;
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment: ${line}`);
    const sample = parseSample(line, openMetrics);
    if (!current) throw new Error(`sample before any TYPE line: ${line}`);
    const suffixes = SUFFIXES[current.type] ?? [''];
    const belongs = suffixes.some((suffix) => sample.name === `${current?.name}${suffix}`);
    if (!belongs) throw new Error(`sample ${sample.name} does not belong to family ${current.name} (${current.type})`);
    if (!openMetrics && current.type === 'counter' && !sample.name.endsWith('_total')) {
      // Not a format error, but every counter here is named *_total; losing the suffix broke queries once.
      throw new Error(`counter sample without _total: ${line}`);
    }
    current.samples.push(sample);
  }
  return families;
}

/** Label names used by the samples of a family, without the histogram's `le`. */
export function labelNames(family: Family): string[] {
  const names = new Set<string>();
  for (const sample of family.samples) for (const name of Object.keys(sample.labels)) if (name !== 'le' && name !== 'quantile') names.add(name);
  return [...names].sort();
}

/** Finds a family by the name a PromQL query uses (`x_total` is family `x` in OpenMetrics). */
export function family(families: Map<string, Family>, name: string): Family | undefined {
  return families.get(name) ?? (name.endsWith('_total') ? families.get(name.slice(0, -'_total'.length)) : undefined);
}

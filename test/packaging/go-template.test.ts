/**
 * The chart renderer used by the packaging tests must behave like Helm's Go templates where chart
 * bugs hide: whitespace trimming, number printing, nindent, scoping and strictness.
 */
import { Engine, FailError, formatFloat, TemplateError, toYaml } from './support/go-template';

function render(source: string, data: Record<string, unknown> = {}): string {
  const engine = new Engine();
  return engine.render(engine.parse('test.tpl', source), data);
}

describe('Go template subset used by the chart', () => {
  it('trims white space only on the side of the "-" marker', () => {
    expect(render('a  \n  {{- "b" }}  \n')).toBe('ab  \n');
    expect(render('a {{ "b" -}}  \n c')).toBe('a bc');
    expect(render('x\n{{- /* comment */}}\ny')).toBe('x\ny');
  });

  it('prints float64 values from values files as Go does, and integers after `int`', () => {
    expect(formatFloat(65000)).toBe('65000');
    expect(formatFloat(1048576)).toBe('1.048576e+06');
    expect(formatFloat(0.1)).toBe('0.1');
    expect(formatFloat(0.00001)).toBe('1e-05');
    expect(render('{{ .n | quote }} {{ .n | int | quote }}', { n: 1048576 })).toBe('"1.048576e+06" "1048576"');
  });

  it('indents with nindent on every line, as Sprig does', () => {
    expect(render('k:{{- .v | toYaml | nindent 2 }}', { v: { b: [1, 2], a: 'x' } })).toBe('k:\n  a: x\n  b:\n  - 1\n  - 2');
  });

  it('evaluates if / else if / else, with and range with Go truth rules', () => {
    const tpl = '{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}';
    expect(render(tpl, { a: 0, b: [] })).toBe('C');
    expect(render(tpl, { a: '', b: { k: 1 } })).toBe('B');
    expect(render('{{ with .m }}{{ .k }}{{ end }}{{ range .l }}[{{ . }}]{{ else }}none{{ end }}', { m: { k: 'v' }, l: ['x', 'y'] })).toBe('v[x][y]');
    expect(render('{{ range .l }}x{{ else }}none{{ end }}', { l: [] })).toBe('none');
  });

  it('scopes variables to their block and lets `=` assign an outer one', () => {
    expect(render('{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ $y := "c" }}{{ end }}{{ $x }}')).toBe('b');
    expect(() => render('{{ if true }}{{ $y := "c" }}{{ end }}{{ $y }}')).toThrow(TemplateError);
  });

  it('calls defined templates with include and pipes into functions as the last argument', () => {
    const tpl = '{{- define "n" -}}{{ .Release.Name | trunc 5 | trimSuffix "-" }}{{- end -}}[{{ include "n" . }}]';
    expect(render(tpl, { Release: { Name: 'abcd-efgh' } })).toBe('[abcd]');
    expect(render('{{ printf "%s-%s" .a (default "d" .b) }}', { a: 'x', b: '' })).toBe('x-d');
  });

  it('separates `(x).Field` from `(x) .Field`', () => {
    expect(render('{{ (.m).k }}', { m: { k: 'v' } })).toBe('v');
    expect(render('{{ default (printf "%s" .a) .b }}', { a: 'x', b: 'y' })).toBe('y');
  });

  it('is strict where Helm would fail or silently print nothing', () => {
    expect(() => render('{{ .a.b.c }}', { a: {} })).toThrow(/nil pointer/);
    expect(() => render('{{ .missing }}', {})).toThrow(/missing value/);
    expect(() => render('{{ le .f (int 3) }}', { f: 2.5 })).toThrow(/incompatible types/);
    expect(() => render('{{ nosuchfn 1 }}')).toThrow(/not defined/);
    expect(() => render('{{ if .a }}x')).toThrow(/without end/);
    expect(() => render('{{ fail "nope" }}')).toThrow(FailError);
  });

  it('short-circuits and/or like Go 1.18+', () => {
    expect(render('{{ if and .a (fail "evaluated") }}x{{ end }}ok', { a: false })).toBe('ok');
    expect(render('{{ or .a "fallback" }}', { a: '' })).toBe('fallback');
  });

  it('serializes toYaml with sorted keys and no trailing newline, quoting YAML 1.1 booleans', () => {
    expect(toYaml({ b: 'on', a: { k: 1 } })).toBe('a:\n  k: 1\nb: "on"');
  });
});
